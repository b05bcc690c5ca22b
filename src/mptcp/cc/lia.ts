// LIA, the Linked Increases Algorithm (RFC 6356): coupled congestion avoidance for MPTCP
// subflows, so that the connection takes no more than one TCP flow would on its best path at a
// shared bottleneck and moves traffic away from congested paths. Slow start, the loss response
// and the RTO are NewReno's (RFC 6356 section 3: only the increase is coupled).
import type { CongestionController, RttView } from '../../tcp/cc/congestion.js';
import { initialWindow } from '../../tcp/cc/newreno.js';
import { type CoupledMember, type CouplingGroup, rttSec } from './coupling.js';

export class Lia implements CongestionController, CoupledMember {
  readonly name: string = 'lia';
  window: number;
  ssthresh = Number.POSITIVE_INFINITY;
  rtt: RttView = { srtt: 0, minRtt: 0, latest: 0 };
  private sinceLoss = 0;
  private betweenLosses = 0;

  constructor(
    protected mss: number,
    protected readonly group: CouplingGroup,
    start?: { window: number; ssthresh: number },
  ) {
    this.window = start?.window ?? initialWindow(mss);
    if (start) this.ssthresh = start.ssthresh;
    group.add(this);
  }

  get interLoss(): number {
    return Math.max(this.sinceLoss, this.betweenLosses);
  }

  onAck(_now: number, acked: number, _inFlight: number, cwndLimited: boolean, rtt: RttView): void {
    this.rtt = rtt;
    this.sinceLoss += acked;
    if (!cwndLimited) return; // RFC 7661
    if (this.window < this.ssthresh) {
      this.window += acked; // slow start as NewReno's (RFC 9406 4.2: L = infinity when paced)
      return;
    }
    this.window += this.increase(acked);
  }

  /**
   * RFC 6356 section 3: for each ACK of `acked` bytes on subflow i, grow cwnd_i by
   * min(alpha * acked * MSS_i / cwnd_total, acked * MSS_i / cwnd_i), where
   * alpha = cwnd_total * max_i(cwnd_i / rtt_i^2) / (sum_i cwnd_i / rtt_i)^2.
   */
  protected increase(acked: number): number {
    const ms = this.group.members;
    let total = 0;
    let best = 0;
    let sum = 0;
    for (const m of ms) {
      const r = rttSec(m);
      total += m.window;
      best = Math.max(best, m.window / (r * r));
      sum += m.window / r;
    }
    const alpha = sum > 0 ? (total * best) / (sum * sum) : 1;
    return Math.min((alpha * acked * this.mss) / total, (acked * this.mss) / this.window);
  }

  private lost(): void {
    this.betweenLosses = this.sinceLoss;
    this.sinceLoss = 0;
  }

  onCongestionEvent(_now: number, inFlight: number): void {
    this.lost();
    this.ssthresh = Math.max(inFlight / 2, 2 * this.mss);
    this.window = this.ssthresh;
  }

  onRetransmissionTimeout(_now: number, inFlight: number): void {
    this.lost();
    this.ssthresh = Math.max(inFlight / 2, 2 * this.mss);
    this.window = this.mss;
  }

  onRecoveryEnd(): void {
    this.window = Math.max(this.ssthresh, 2 * this.mss);
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

  /** The subflow is gone: it no longer counts in its siblings' formulas. */
  leave(): void {
    this.group.remove(this);
  }
}
