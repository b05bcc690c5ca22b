// Pacing of bursts: a token bucket ten segments deep filled at twice cwnd/srtt (Linux's pacing
// rate in slow start; it paces at 1.2x after, but only under the fq qdisc or BBR). ACK-clocked
// sending (two or three segments per ACK, at most twice the delivery rate) goes out as before,
// also right after a window reduction (when srtt still holds the queue a 1.2x rate would lag);
// only a burst is spread. Bursts come when a window opens at once: the
// peer's MPTCP data window reopening after head-of-line blocking hands a subflow a whole
// congestion window, which at line rate overflows a bottleneck queue shorter than that window.
const GAIN = 2;
const DEPTH_SEGMENTS = 10;
/** The bucket also holds this long at the rate, for fast paths (where ten segments take < 1 ms). */
const DEPTH_MS = 1;

export class Pacer {
  private credit = Number.NaN;
  private last = 0;

  /**
   * Whether `len` bytes may leave at `now` (then they are charged); otherwise the time at which
   * they may. RTT in ms, windows in bytes.
   */
  wait(now: number, len: number, cwnd: number, srtt: number, mss: number): number {
    const rate = (GAIN * cwnd) / srtt; // bytes per ms
    const depth = Math.max(DEPTH_SEGMENTS * mss, rate * DEPTH_MS);
    const c = Number.isNaN(this.credit) ? depth : Math.min(depth, this.credit + (now - this.last) * rate);
    this.last = now;
    // A byte of slack: the wake-up time is rounded, and must find the credit there.
    if (c + 1 >= len) {
      this.credit = Math.max(0, c - len);
      return 0;
    }
    this.credit = c;
    return now + (len - c) / rate;
  }
}
