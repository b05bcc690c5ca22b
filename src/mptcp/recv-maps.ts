// The DSS mappings a subflow has received and not yet used up (RFC 8684 3.3.1). They are kept
// sorted by subflow offset in parallel number arrays (no object per mapping): a mapping that
// arrives in order, the normal case, is appended; one that arrives out of order (the mapping of a
// retransmission that fills a hole) is inserted at the place a binary search finds; the ones
// whose bytes have been read go from the front. How many are kept is bounded: a peer cannot make
// the table, or the cost of using it, grow without limit (issue 13: 3,000 ACKs a second, each with
// a new mapping, once took the HAG to 95% CPU).

/** No checksum with this mapping. */
export const NO_CSUM = -1;

/** What add() did with a mapping. */
export const MAP_ADDED = 0;
/** The same mapping (offset, length, DSN) is already kept: Linux repeats it on every segment. */
export const MAP_DUPLICATE = 1;
/** The table was full: this mapping, or the one furthest ahead, was dropped. */
export const MAP_FULL = 2;

const FIRST_CAPACITY = 8;
/** A subflow that never receives a mapping (fallback, a handshake that stalls), or is idle, holds no arrays. */
const NONE64 = new Float64Array(0);
const NONE32 = new Int32Array(0);

export class RecvMaps {
  /** Subflow offset (from the first data byte), DSN, length, data-level length, checksum or NO_CSUM. */
  private offs: Float64Array = NONE64;
  private dsns: Float64Array = NONE64;
  private lens: Int32Array = NONE32;
  private dlls: Int32Array = NONE32;
  private csums: Int32Array = NONE32;
  /** Live mappings are [head, end). */
  private head = 0;
  private end = 0;

  /** At most `limit` mappings are kept. */
  constructor(readonly limit: number) {}

  get count(): number {
    return this.end - this.head;
  }

  off(i: number): number {
    return this.offs[i];
  }
  dsn(i: number): number {
    return this.dsns[i];
  }
  len(i: number): number {
    return this.lens[i];
  }
  dll(i: number): number {
    return this.dlls[i];
  }
  csum(i: number): number {
    return this.csums[i];
  }

  clear(): void {
    this.head = 0;
    this.end = 0;
  }

  /** Bytes the arrays take. */
  get memory(): number {
    return this.offs.length * 28;
  }

  /** Gives the arrays back when no mapping is kept (an idle subflow); the next add makes them again. */
  freeArrays(): void {
    if (this.end > this.head) return;
    this.offs = this.dsns = NONE64;
    this.lens = this.dlls = this.csums = NONE32;
    this.head = this.end = 0;
  }

  add(off: number, dsn: number, len: number, csum: number, dll: number): number {
    // Where it goes: after every mapping that starts at or before it.
    let at = this.end;
    if (at > this.head && this.offs[at - 1] > off) at = this.upperBound(off);
    for (let i = at - 1; i >= this.head && this.offs[i] === off; i--)
      if (this.lens[i] === len && this.dsns[i] === dsn) return MAP_DUPLICATE;
    let full = false;
    if (this.count >= this.limit) {
      // Full: the mapping furthest ahead goes, the new one if that is it. The ones nearest to
      // what is read next are what the subflow needs first (the mapping of a hole being filled).
      if (at === this.end) return MAP_FULL;
      this.end--;
      full = true;
    } else if (this.end === this.offs.length) at -= this.makeRoom();
    if (at < this.end) {
      // Out of order: move the later ones up by one.
      this.offs.copyWithin(at + 1, at, this.end);
      this.dsns.copyWithin(at + 1, at, this.end);
      this.lens.copyWithin(at + 1, at, this.end);
      this.dlls.copyWithin(at + 1, at, this.end);
      this.csums.copyWithin(at + 1, at, this.end);
    }
    this.offs[at] = off;
    this.dsns[at] = dsn;
    this.lens[at] = len;
    this.dlls[at] = dll;
    this.csums[at] = csum;
    this.end++;
    return full ? MAP_FULL : MAP_ADDED;
  }

  /**
   * The mapping to read subflow offset `readOff` by, or -1: one that starts there if there is one
   * (a checksummed mapping can only be verified whole), else the one that started last before it
   * and still covers it. Forgets the used ones first (release).
   */
  find(readOff: number): number {
    if (this.release(readOff) === 0) return -1;
    const j = this.upperBound(readOff) - 1;
    if (j < this.head) return -1;
    if (this.offs[j] + this.lens[j] > readOff) return j;
    // Later-starting ones were shorter and are used up; the front one may still cover readOff.
    return this.offs[this.head] <= readOff ? this.head : -1;
  }

  /**
   * Where the run of checksummed mappings from `i` ends: mapping i and every mapping that starts
   * inside the run and ends beyond it, as long as the run stays within `max` bytes.
   */
  chainEnd(i: number, max: number): number {
    const start = this.offs[i];
    let end = start + this.lens[i];
    for (let j = i + 1; j < this.end && this.offs[j] < end; j++) {
      const e = this.offs[j] + this.lens[j];
      if (e > end && e - start <= max) end = e;
    }
    return end;
  }

  /** First index whose mapping starts at or after `off`. */
  upTo(off: number): number {
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offs[mid] < off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Forgets, from the front, the mappings that end at or before `readOff`; returns how many are left. */
  release(readOff: number): number {
    while (this.head < this.end && this.offs[this.head] + this.lens[this.head] <= readOff) this.head++;
    if (this.head === this.end) this.clear();
    return this.end - this.head;
  }

  /** First index in [head, end) whose offset is greater than `off`. */
  private upperBound(off: number): number {
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offs[mid] <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Makes room for one more at the end: moves the live mappings to the front when a quarter or
   * more of the arrays is used up, else doubles them (up to the limit; the first mapping allocates
   * them). Returns how far indices moved down.
   */
  private makeRoom(): number {
    const shift = this.head;
    if (shift > 0 && shift * 4 >= this.offs.length) {
      this.offs.copyWithin(0, shift, this.end);
      this.dsns.copyWithin(0, shift, this.end);
      this.lens.copyWithin(0, shift, this.end);
      this.dlls.copyWithin(0, shift, this.end);
      this.csums.copyWithin(0, shift, this.end);
      this.head = 0;
      this.end -= shift;
      return shift;
    }
    const cap = Math.max(FIRST_CAPACITY, this.offs.length * 2);
    this.offs = grow64(this.offs, cap, shift, this.end);
    this.dsns = grow64(this.dsns, cap, shift, this.end);
    this.lens = grow32(this.lens, cap, shift, this.end);
    this.dlls = grow32(this.dlls, cap, shift, this.end);
    this.csums = grow32(this.csums, cap, shift, this.end);
    this.head = 0;
    this.end -= shift;
    return shift;
  }
}

function grow64(a: Float64Array, cap: number, from: number, to: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a.subarray(from, to));
  return b;
}

function grow32(a: Int32Array, cap: number, from: number, to: number): Int32Array {
  const b = new Int32Array(cap);
  b.set(a.subarray(from, to));
  return b;
}
