// CUBIC congestion control (RFC 9438): after a loss the window follows
// W_cubic(t) = C * (t - K)^3 + W_max (section 4.2), concave up to the last maximum and convex
// beyond, never below the Reno-friendly estimate W_est (section 4.3). Windows are kept in bytes
// and converted to segments where the RFC's constants are defined per segment; t in seconds.
// Slow start (RFC 5681 with RFC 3465 byte counting, without its limit L: newreno.ts) ends early
// when the RTT of a round rises above the previous round's by the delay threshold of HyStart++
// (RFC 9406 section 4.2); unlike RFC 9406 it then goes straight to congestion avoidance, as
// Linux's HyStart does, without the conservative slow-start phase.
import type { CongestionController, RttView } from './congestion.js';
import { initialWindow } from './newreno.js';

const C = 0.4; // section 5.1
const BETA = 0.7; // section 4.6
const ALPHA = (3 * (1 - BETA)) / (1 + BETA); // section 4.3

export class Cubic implements CongestionController {
  readonly name = 'cubic';
  window: number;
  ssthresh = Number.POSITIVE_INFINITY;
  /** Window (segments) just before the last reduction, and the one before (fast convergence). */
  private wMax = 0;
  private wLastMax = 0;
  private k = 0;
  /** Start of the current avoidance epoch (ms), or -1 when a new one must start. */
  private epochStart = -1;
  private origin = 0;
  /** Reno-friendly estimate (segments). */
  private wEst = 0;
  private lastAckAt = 0;
  // HyStart++ delay detection (RFC 9406 4.2): rounds approximated as one smoothed RTT long.
  private roundEnd = 0;
  private lastRoundMin = Number.POSITIVE_INFINITY;
  private roundMin = Number.POSITIVE_INFINITY;
  private roundSamples = 0;

  constructor(private mss: number) {
    this.window = initialWindow(mss);
  }

  /** W_cubic at time t seconds into the epoch, in segments (section 4.2, equation 1). */
  private wCubic(t: number): number {
    return C * (t - this.k) ** 3 + this.origin;
  }

  onAck(now: number, acked: number, _inFlight: number, cwndLimited: boolean, rtt: RttView): void {
    this.lastAckAt = now;
    if (!cwndLimited) return; // section 5.8 / RFC 7661
    if (this.window < this.ssthresh) {
      this.window += acked; // RFC 9406 4.2: L = infinity for a paced sender (newreno.ts)
      this.hystart(now, rtt);
      return;
    }
    const mss = this.mss;
    const cwnd = this.window / mss;
    if (this.epochStart < 0) {
      this.epochStart = now;
      if (cwnd < this.wMax) {
        this.k = Math.cbrt((this.wMax - cwnd) / C); // section 4.2, equation 2
        this.origin = this.wMax;
      } else {
        this.k = 0;
        this.origin = cwnd;
      }
      this.wEst = cwnd;
    }
    const segs = acked / mss;
    // Section 4.3: Reno-friendly region; alpha becomes 1 once W_est passes the last maximum.
    this.wEst += ((this.wEst >= this.wMax ? 1 : ALPHA) * segs) / cwnd;
    const t = (now - this.epochStart + (rtt.srtt || 0)) / 1000;
    let target = this.wCubic(t);
    // Section 4.4/4.5: the target for the next RTT, clamped to [cwnd, 1.5 cwnd].
    if (target < cwnd) target = cwnd;
    if (target > 1.5 * cwnd) target = 1.5 * cwnd;
    let next: number;
    if (this.wCubic((now - this.epochStart) / 1000) < this.wEst) {
      next = this.wEst; // Reno-friendly region
    } else {
      next = cwnd + ((target - cwnd) / cwnd) * segs; // concave or convex region
    }
    this.window = Math.max(this.window, next * mss);
  }

  /** RFC 9406 4.2: leave slow start when this round's minimum RTT exceeds the last one's + eta. */
  private hystart(now: number, rtt: RttView): void {
    if (rtt.latest <= 0) return;
    if (now >= this.roundEnd) {
      this.lastRoundMin = this.roundMin;
      this.roundMin = Number.POSITIVE_INFINITY;
      this.roundSamples = 0;
      this.roundEnd = now + (rtt.srtt || rtt.latest);
    }
    if (rtt.latest < this.roundMin) this.roundMin = rtt.latest;
    this.roundSamples++;
    // MIN_RTT_THRESH 4 ms, MAX_RTT_THRESH 16 ms, N_RTT_SAMPLE 8, and no exit below 16 segments.
    if (
      this.roundSamples < 8 ||
      this.window < 16 * this.mss ||
      this.lastRoundMin === Number.POSITIVE_INFINITY
    )
      return;
    const eta = Math.min(Math.max(this.lastRoundMin / 8, 4), 16);
    if (this.roundMin >= this.lastRoundMin + eta) this.ssthresh = this.window;
  }

  onCongestionEvent(_now: number, _inFlight: number): void {
    const cwnd = this.window / this.mss;
    // Section 4.7: fast convergence.
    if (cwnd < this.wLastMax) {
      this.wLastMax = cwnd;
      this.wMax = (cwnd * (1 + BETA)) / 2;
    } else {
      this.wLastMax = cwnd;
      this.wMax = cwnd;
    }
    // Section 4.6: multiplicative decrease.
    this.ssthresh = Math.max(this.window * BETA, 2 * this.mss);
    this.window = this.ssthresh;
    this.epochStart = -1;
  }

  onRetransmissionTimeout(now: number, inFlight: number): void {
    // Section 4.8: as a congestion event for ssthresh and W_max, then the loss window.
    this.onCongestionEvent(now, inFlight);
    this.window = this.mss;
  }

  onRecoveryEnd(): void {}

  onIdleRestart(now: number): void {
    // Section 5.8: the epoch does not count idle time; RFC 5681 4.1 restart window.
    if (this.epochStart >= 0) this.epochStart += Math.max(0, now - this.lastAckAt);
    this.window = Math.min(this.window, initialWindow(this.mss));
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  seed(window: number, ssthresh: number): void {
    this.window = window;
    this.ssthresh = ssthresh;
  }
}
