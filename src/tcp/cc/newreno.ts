// NewReno congestion control: slow start and congestion avoidance of RFC 5681 with appropriate
// byte counting (RFC 3465, without its limit L in slow start: see onAck), the window reductions
// of RFC 6582 fast recovery, the
// initial window of RFC 6928, and restart after idle (RFC 5681 4.1).
import type { CongestionController, RttView } from './congestion.js';

/** RFC 6928: min(10 * SMSS, max(2 * SMSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

export class NewReno implements CongestionController {
  readonly name = 'newreno';
  window: number;
  ssthresh = Number.POSITIVE_INFINITY;
  /** Bytes acknowledged in congestion avoidance not yet turned into window growth. */
  private caAcked = 0;

  constructor(private mss: number) {
    this.window = initialWindow(mss);
  }

  onAck(_now: number, acked: number, _inFlight: number, cwndLimited: boolean, _rtt: RttView): void {
    if (!cwndLimited) return; // RFC 7661: no growth while the application limits the sender
    if (this.window < this.ssthresh) {
      // RFC 3465 2.2 caps the growth at L = 2 SMSS per ACK against the bursts of stretch ACKs;
      // RFC 9406 4.2: a paced sender SHOULD use L = infinity, and ours paces (pacing.ts).
      // Stretch ACKs are the rule behind GRO (a receiver ACKs each super-packet once, as Linux
      // does): with L = 2 an ACK of ten segments grew the window by two, and slow start no longer
      // doubled per round (a 100 KB download on the lab took a round trip more).
      this.window += acked;
      return;
    }
    // RFC 5681 3.1 equation 3 in byte-counting form: one SMSS per window of data acknowledged.
    this.caAcked += acked;
    if (this.caAcked >= this.window) {
      this.caAcked -= this.window;
      this.window += this.mss;
    }
  }

  onCongestionEvent(_now: number, inFlight: number): void {
    // RFC 5681 3.2 step 2 (equation 4) and RFC 6582 3.2 step 2.
    this.ssthresh = Math.max(inFlight / 2, 2 * this.mss);
    this.window = this.ssthresh;
    this.caAcked = 0;
  }

  onRetransmissionTimeout(_now: number, inFlight: number): void {
    this.ssthresh = Math.max(inFlight / 2, 2 * this.mss);
    this.window = this.mss; // RFC 5681 3.1: the loss window
    this.caAcked = 0;
  }

  onRecoveryEnd(): void {
    this.window = Math.max(this.ssthresh, 2 * this.mss); // RFC 6582 3.2 step 6, option 1
  }

  onIdleRestart(): void {
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
