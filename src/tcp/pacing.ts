// Pacing of bursts: a token bucket ten segments deep filled at twice cwnd/srtt (Linux's pacing
// rate in slow start; it paces at 1.2x after, but only under the fq qdisc or BBR). ACK-clocked
// sending (two or three segments per ACK, at most twice the delivery rate) goes out as before,
// also right after a window reduction (when srtt still holds the queue a 1.2x rate would lag);
// only a burst is spread. Bursts come when a window opens at once: the
// peer's MPTCP data window reopening after head-of-line blocking hands a subflow a whole
// congestion window, which at line rate overflows a bottleneck queue shorter than that window.
// A rate-based controller (BBR) sets the rate itself; then every new segment is paced at it, the
// bucket one send quantum deep (draft-ietf-ccwg-bbr 5.6.3: 1 ms at the rate, 2 to 64 KB segments).
const GAIN = 2;
const DEPTH_SEGMENTS = 10;
/** The bucket also holds this long at the rate, for fast paths (where ten segments take < 1 ms). */
const DEPTH_MS = 1;
const MAX_QUANTUM = 65536;
/**
 * Under a controller's rate, a wake-up later than the pacer asked also sends what the delay owes,
 * up to this long at the rate (the bucket otherwise holds one quantum, as before): a userspace sender's timer fires milliseconds late on a busy host, and a bucket of one
 * quantum then sends one quantum per wake-up, below the rate; BBR takes the lower delivery rate
 * for the path's and paces lower still (measured on the lab under load: LTE 40 Mbit/s carried
 * 5.7). Linux keeps the schedule the same way (EDT: a late packet leaves at once, the next ones
 * after it at the rate), with timers late by microseconds.
 */
const CATCH_UP_MS = 10;

/** Bytes per ms: the controller's rate, else twice cwnd per srtt. */
function rateOf(cwnd: number, srtt: number, setRate: number): number {
  return setRate > 0 ? setRate : (GAIN * cwnd) / srtt;
}

function depthOf(rate: number, mss: number, setRate: number): number {
  return setRate > 0
    ? Math.max(2 * mss, Math.min(MAX_QUANTUM, rate * DEPTH_MS))
    : Math.max(DEPTH_SEGMENTS * mss, rate * DEPTH_MS);
}

/**
 * The most bytes one segment may carry at this rate: the bucket's depth (with a device that cuts
 * super-segments, a segment larger than that would wait for credit the bucket never holds; Linux
 * sizes its TSO segments from the pacing rate the same way, tcp_tso_autosize). Infinity before
 * the first RTT sample, when the sender does not pace.
 */
export function pacingQuantum(cwnd: number, srtt: number, mss: number, setRate = 0): number {
  if (!(srtt > 0)) return Number.POSITIVE_INFINITY;
  return depthOf(rateOf(cwnd, srtt, setRate), mss, setRate);
}

export class Pacer {
  private credit = Number.NaN;
  private last = 0;
  /** When the pacer last asked to be woken, or 0 (it did not hold the latest segment). */
  private due = 0;

  /**
   * Whether `len` bytes may leave at `now` (then they are charged); otherwise the time at which
   * they may. RTT in ms, windows in bytes; `setRate` (bytes per ms), when the controller sets one.
   */
  wait(now: number, len: number, cwnd: number, srtt: number, mss: number, setRate = 0): number {
    const rate = rateOf(cwnd, srtt, setRate);
    const depth = depthOf(rate, mss, setRate);
    // A wake-up later than asked may send what the delay owes; credit granted so is spent at
    // once (the segments of this wake-up), never grows past one quantum otherwise.
    let cap = depth;
    if (setRate > 0 && this.due > 0 && now > this.due) cap += rate * Math.min(now - this.due, CATCH_UP_MS);
    this.due = 0;
    const c = Number.isNaN(this.credit)
      ? depth
      : Math.min(Math.max(cap, this.credit), this.credit + (now - this.last) * rate);
    this.last = now;
    // A byte of slack: the wake-up time is rounded, and must find the credit there.
    if (c + 1 >= len) {
      this.credit = Math.max(0, c - len);
      return 0;
    }
    this.credit = c;
    this.due = now + (len - c) / rate;
    return this.due;
  }
}
