// The sender's view of loss (RFC 6675): which bytes above snd.una the receiver has SACKed, which
// holes count as lost, how much is in the pipe, and what to (re)transmit next. Offsets are from
// snd.una. Without SACK the same machinery runs with NewReno's single-hole view (RFC 6582): the
// caller marks the first segment lost on each partial ACK; after an RTO everything is lost.

/** RFC 6675 section 2: DupThresh. */
export const DUP_THRESH = 3;

export class Scoreboard {
  /** SACKed ranges as offsets from snd.una: s0, e0, s1, e1, ... sorted and disjoint. */
  private readonly r: number[] = [];
  sacked = 0;

  get isEmpty(): boolean {
    return this.r.length === 0;
  }

  /** The end of the highest SACKed range (0 when none). */
  get highestSacked(): number {
    return this.r.length ? this.r[this.r.length - 1] : 0;
  }

  /** snd.una moved up by n: forget what is now cumulatively acknowledged. */
  advance(n: number): void {
    const r = this.r;
    let drop = 0;
    while (drop < r.length && r[drop + 1] <= n) drop += 2;
    if (drop) r.splice(0, drop);
    for (let i = 0; i < r.length; i++) r[i] = Math.max(0, r[i] - n);
    this.recount();
  }

  /** Records one SACK block [start, end) in offsets; blocks outside (0, outstanding] are ignored. */
  add(start: number, end: number, outstanding: number): void {
    const s = Math.max(start, 0);
    const e = Math.min(end, outstanding);
    if (e <= s) return;
    const r = this.r;
    let i = 0;
    while (i < r.length && r[i + 1] < s) i += 2;
    let j = i;
    let ns = s;
    let ne = e;
    while (j < r.length && r[j] <= e) {
      ns = Math.min(ns, r[j]);
      ne = Math.max(ne, r[j + 1]);
      j += 2;
    }
    r.splice(i, j - i, ns, ne);
    this.recount();
  }

  clear(): void {
    this.r.length = 0;
    this.sacked = 0;
  }

  private recount(): void {
    let n = 0;
    for (let i = 0; i < this.r.length; i += 2) n += this.r[i + 1] - this.r[i];
    this.sacked = n;
  }

  /**
   * RFC 6675 IsLost: an unSACKed byte is lost when DupThresh discontiguous SACKed ranges, or more
   * than (DupThresh - 1) * SMSS SACKed bytes, lie above it. Returns the offset below which every
   * hole is lost (0 when none is).
   */
  lostBoundary(mss: number): number {
    const r = this.r;
    let bytes = 0;
    let count = 0;
    for (let i = r.length - 2; i >= 0; i -= 2) {
      bytes += r[i + 1] - r[i];
      count++;
      if (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss) return r[i];
    }
    return 0;
  }

  /** Un-SACKed bytes in [from, to). */
  holeBytes(from: number, to: number): number {
    if (to <= from) return 0;
    let n = to - from;
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) {
      const s = Math.max(r[i], from);
      const e = Math.min(r[i + 1], to);
      if (e > s) n -= e - s;
    }
    return n;
  }

  /**
   * The first un-SACKed offset at or above `from` and below `limit`, with the end of its hole
   * (capped at `limit`), written to out[0], out[1]. Returns false when there is none.
   */
  nextHole(from: number, limit: number, out: Float64Array): boolean {
    let x = from;
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) {
      if (r[i + 1] <= x) continue;
      if (r[i] <= x) {
        x = r[i + 1];
        continue;
      }
      if (x >= limit) return false;
      out[0] = x;
      out[1] = Math.min(r[i], limit);
      return true;
    }
    if (x >= limit) return false;
    out[0] = x;
    out[1] = limit;
    return true;
  }

  /** SACKed bytes at or above offset `from`. */
  sackedAbove(from: number): number {
    let n = 0;
    const r = this.r;
    for (let i = r.length - 2; i >= 0 && r[i + 1] > from; i -= 2) n += r[i + 1] - Math.max(r[i], from);
    return n;
  }

  isSacked(off: number): boolean {
    const r = this.r;
    for (let i = 0; i < r.length; i += 2) if (off >= r[i] && off < r[i + 1]) return true;
    return false;
  }
}
