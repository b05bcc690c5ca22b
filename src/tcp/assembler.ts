// Out-of-order bookkeeping for the receive side: which byte ranges beyond rcv.nxt have arrived,
// as sorted, disjoint [start, end) offsets from rcv.nxt. It also yields the SACK blocks to send
// (RFC 2018 section 4: the block holding the most recent segment first).

export const MAX_RANGES = 256;

export class Assembler {
  /**
   * `maxRanges`: TCP's receive side keeps the default (a dropped segment is sent again); MPTCP's
   * data level, whose bytes the subflows have already acknowledged, needs room for its window.
   */
  constructor(readonly maxRanges = MAX_RANGES) {}

  /** start0, end0, start1, end1, ... sorted and disjoint. */
  private readonly r: number[] = [];
  /** Index of the range that received the latest segment, for the first SACK block. */
  private latest = -1;

  get isEmpty(): boolean {
    return this.r.length === 0;
  }

  get rangeCount(): number {
    return this.r.length >> 1;
  }

  start(i: number): number {
    return this.r[2 * i];
  }

  end(i: number): number {
    return this.r[2 * i + 1];
  }

  /**
   * Records [start, end). Returns false (and records nothing) when it would need more than
   * maxRanges ranges: the caller then drops the segment, which the sender will repeat.
   */
  add(start: number, end: number): boolean {
    if (end <= start) return true;
    const r = this.r;
    let i = 0;
    while (i < r.length && r[i + 1] < start) i += 2;
    let j = i;
    let s = start;
    let e = end;
    while (j < r.length && r[j] <= end) {
      s = Math.min(s, r[j]);
      e = Math.max(e, r[j + 1]);
      j += 2;
    }
    if (j === i && r.length >= 2 * this.maxRanges) return false;
    r.splice(i, j - i, s, e);
    this.latest = i >> 1;
    return true;
  }

  /**
   * In-order bytes [0, n) arrived: ranges they reach are joined, everything is re-based to the
   * new rcv.nxt, and the total advance (n plus what was waiting right after it) is returned.
   * Never fails, however many ranges there are.
   */
  advance(n: number): number {
    const r = this.r;
    let adv = n;
    let drop = 0;
    while (drop < r.length && r[drop] <= adv) {
      if (r[drop + 1] > adv) adv = r[drop + 1];
      drop += 2;
    }
    if (drop) {
      r.splice(0, drop);
      this.latest -= drop >> 1;
    }
    for (let i = 0; i < r.length; i++) r[i] -= adv;
    return adv;
  }

  /** Index order for SACK blocks: the latest range first, then the others from the highest. */
  sackOrder(out: number[]): number {
    out.length = 0;
    const count = this.rangeCount;
    if (this.latest >= 0 && this.latest < count) out.push(this.latest);
    for (let i = count - 1; i >= 0; i--) if (i !== this.latest) out.push(i);
    return out.length;
  }

  clear(): void {
    this.r.length = 0;
    this.latest = -1;
  }
}
