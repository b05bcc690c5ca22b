// A min-heap of (deadline, owner) with lazy deletion: owners push a new entry whenever their
// deadline changes, and stale entries (whose time no longer matches the owner's deadline) are
// skipped when they surface. Parallel arrays, no allocation per push.

export interface HasDeadline {
  /** The owner's current deadline, or Infinity. */
  readonly pollAt: number;
}

export class TimerQueue<T extends HasDeadline> {
  private times: number[] = [];
  private owners: T[] = [];

  get size(): number {
    return this.times.length;
  }

  push(at: number, owner: T): void {
    if (at === Number.POSITIVE_INFINITY) return;
    const t = this.times;
    const o = this.owners;
    let i = t.length;
    t.push(at);
    o.push(owner);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p] <= at) break;
      t[i] = t[p];
      o[i] = o[p];
      i = p;
    }
    t[i] = at;
    o[i] = owner;
  }

  /** The earliest live deadline, dropping stale entries on the way; Infinity when none. */
  peek(): number {
    while (this.times.length > 0) {
      const at = this.times[0];
      if (this.owners[0].pollAt === at) return at;
      this.pop();
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Removes and returns the owner of the earliest live entry due at or before `now`. */
  popDue(now: number): T | undefined {
    const at = this.peek();
    if (at > now) return undefined;
    return this.pop();
  }

  private pop(): T {
    const t = this.times;
    const o = this.owners;
    const top = o[0];
    const lastT = t.pop()!;
    const lastO = o.pop()!;
    const n = t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && t[r] < t[l] ? r : l;
        if (t[c] >= lastT) break;
        t[i] = t[c];
        o[i] = o[c];
        i = c;
      }
      t[i] = lastT;
      o[i] = lastO;
    }
    return top;
  }
}
