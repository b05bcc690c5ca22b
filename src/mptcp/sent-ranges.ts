// Which subflow first carried each range of new data, and when: a ring of DSN ranges in sending
// order, trimmed as DATA_ACKs arrive. Opportunistic retransmission (sched/opportunistic.ts) asks
// it who holds the oldest unacknowledged data (Raiciu et al., NSDI 2012, section 4.2). Kept in
// parallel arrays that grow only when full, so that recording a send allocates nothing (and made
// at the first send and given back when empty and idle, so that an idle connection holds none).
import type { Subflow } from './subflow.js';

/**
 * Contiguous sends to one subflow within this many ms share a range (and its send time): 1 ms is
 * nothing beside the RTTs compared, and it keeps a 4 MB window at some hundreds of ranges.
 */
const MERGE_MS = 1;
/** Ranges held at first (a power of two: indexes wrap with a mask). */
const FIRST_CAPACITY = 64;
const EMPTY = new Float64Array(0);

export class SentRanges {
  private start = EMPTY;
  private end = EMPTY;
  private at = EMPTY;
  private off = EMPTY;
  private by: (Subflow | undefined)[] = [];
  private head = 0;
  private count = 0;

  /**
   * New data [dsn, dsn + len) went to `sf` at time `now`, at subflow data offset `off` (ranges
   * come in DSN order).
   */
  add(sf: Subflow, dsn: number, len: number, now: number, off: number): void {
    if (len <= 0) return;
    if (this.count > 0) {
      const last = (this.head + this.count - 1) & (this.by.length - 1);
      const contiguous = this.off[last] + (this.end[last] - this.start[last]) === off;
      if (this.by[last] === sf && this.end[last] === dsn && now - this.at[last] < MERGE_MS && contiguous) {
        this.end[last] = dsn + len;
        return;
      }
    }
    if (this.count === this.by.length) this.grow();
    const i = (this.head + this.count) & (this.by.length - 1);
    this.start[i] = dsn;
    this.end[i] = dsn + len;
    this.at[i] = now;
    this.off[i] = off;
    this.by[i] = sf;
    this.count++;
  }

  /** Forgets the ranges wholly below `una` (acknowledged at the data level). */
  trim(una: number): void {
    const mask = this.by.length - 1;
    while (this.count > 0 && this.end[this.head] <= una) {
      this.by[this.head] = undefined;
      this.head = (this.head + 1) & mask;
      this.count--;
    }
  }

  /** Index of the range holding `dsn` (after trim, the first one holds the oldest data), or -1. */
  find(dsn: number): number {
    const mask = this.by.length - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      if (dsn < this.start[i]) return -1;
      if (dsn < this.end[i]) return i;
    }
    return -1;
  }

  subflowAt(i: number): Subflow | undefined {
    return this.by[i];
  }

  endAt(i: number): number {
    return this.end[i];
  }

  sentAt(i: number): number {
    return this.at[i];
  }

  /** Subflow data offset of `dsn` in range `i`. */
  offsetOf(i: number, dsn: number): number {
    return this.off[i] + (dsn - this.start[i]);
  }

  /** A subflow went away: its ranges stay (the data was still sent) but name no subflow. */
  forget(sf: Subflow): void {
    const mask = this.by.length - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      if (this.by[i] === sf) this.by[i] = undefined;
    }
  }

  get size(): number {
    return this.count;
  }

  /** Bytes the arrays take (8 per number, 8 per reference). */
  get memory(): number {
    return this.by.length * 40;
  }

  /** Gives the arrays back when no range is held (an idle connection); the next add makes them again. */
  release(): void {
    if (this.count > 0) return;
    this.start = this.end = this.at = this.off = EMPTY;
    this.by = [];
    this.head = 0;
  }

  private grow(): void {
    const n = this.by.length;
    const size = Math.max(FIRST_CAPACITY, 2 * n);
    const start = new Float64Array(size);
    const end = new Float64Array(size);
    const at = new Float64Array(size);
    const off = new Float64Array(size);
    const by: (Subflow | undefined)[] = new Array(size).fill(undefined);
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & (n - 1);
      start[k] = this.start[i];
      end[k] = this.end[i];
      at[k] = this.at[i];
      off[k] = this.off[i];
      by[k] = this.by[i];
    }
    this.start = start;
    this.end = end;
    this.at = at;
    this.off = off;
    this.by = by;
    this.head = 0;
  }
}
