// Round-trip time estimation and the retransmission timeout (RFC 6298), plus the windowed minimum
// RTT that CUBIC's HyStart and the MPTCP schedulers read. Karn's rule (no samples from
// retransmitted segments unless timestamps disambiguate them) is the caller's job.
import type { RttView } from './cc/congestion.js';

export interface RttOptions {
  /** Lower bound of the RTO. RFC 6298 2.4 says 1 s; Linux and our default use 200 ms. */
  minRto?: number;
  /** Upper bound; RFC 6298 2.5 allows any value of at least 60 s. */
  maxRto?: number;
  /** Clock granularity G of RFC 6298 2.2. */
  granularity?: number;
  /** How long a minimum RTT sample stays valid. */
  minRttWindow?: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;

export class RttEstimator implements RttView {
  srtt = 0;
  rttvar = 0;
  latest = 0;
  private baseRto = 1000; // RFC 6298 2.1: 1 s before the first measurement
  private backoffs = 0;
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly g: number;
  private readonly window: number;
  /** Windowed minimum: the best sample and when it was taken, plus a runner-up. */
  private min1 = 0;
  private min1At = 0;
  private min2 = 0;
  private min2At = 0;
  /** srtt and rttvar came from the path's earlier connections (seed), not from a sample yet. */
  private seeded = false;

  constructor(o: RttOptions = {}) {
    this.minRto = o.minRto ?? 200;
    this.maxRto = o.maxRto ?? 120_000;
    this.g = o.granularity ?? 1;
    this.window = o.minRttWindow ?? 10_000;
  }

  get hasSample(): boolean {
    return this.srtt > 0 || this.latest > 0;
  }

  /** Smallest RTT within the last window (0 before any sample). */
  get minRtt(): number {
    return this.min1;
  }

  /**
   * Starts from what earlier connections on the path measured (RFC 9040 temporal sharing, as
   * Linux's tcp_metrics): an RTO from their srtt and rttvar rather than RFC 6298's 1 s, and an
   * srtt the pacer can spread the first flight over. The first measurement replaces them (RFC
   * 6298 2.2), and the minimum RTT waits for it.
   */
  seed(srtt: number, rttvar: number): void {
    if (this.hasSample || !(srtt > 0)) return;
    this.srtt = srtt;
    this.rttvar = rttvar;
    this.baseRto = srtt + Math.max(this.g, 4 * rttvar);
    this.seeded = true;
  }

  /** RFC 6298 2.2 and 2.3: fold in a measurement R (ms). Also ends any backoff (5.7). */
  sample(now: number, r: number): void {
    const first = !this.hasSample || this.seeded;
    this.seeded = false;
    this.latest = r;
    if (first) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - r);
      this.srtt = (1 - ALPHA) * this.srtt + ALPHA * r;
    }
    this.baseRto = this.srtt + Math.max(this.g, 4 * this.rttvar);
    this.backoffs = 0;
    this.updateMin(now, r, first);
  }

  private updateMin(now: number, r: number, first: boolean): void {
    if (first || r <= this.min1 || now - this.min1At > this.window) {
      // A new best, or the best expired: the runner-up (if still fresh and better) takes over.
      if (!first && r > this.min1 && now - this.min2At <= this.window && this.min2 < r) {
        this.min1 = this.min2;
        this.min1At = this.min2At;
        this.min2 = r;
        this.min2At = now;
        return;
      }
      this.min1 = r;
      this.min1At = now;
      this.min2 = r;
      this.min2At = now;
    } else if (r <= this.min2 || now - this.min2At > this.window / 2) {
      this.min2 = r;
      this.min2At = now;
    }
  }

  /** The current RTO (ms): bounded, and doubled per backoff (RFC 6298 5.5). */
  get rto(): number {
    const base = Math.min(Math.max(this.baseRto, this.minRto), this.maxRto);
    return Math.min(base * 2 ** this.backoffs, this.maxRto);
  }

  /** RFC 6298 5.5: the timer expired; back off. */
  backoff(): void {
    if (this.rto < this.maxRto) this.backoffs++;
  }
}
