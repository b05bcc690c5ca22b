// The simulator's virtual clock: a binary min-heap of events keyed by (time, insertion number), so
// events at the same instant run in the order they were scheduled and every run is deterministic.
// Events carry a target object, an argument and a numeric tag instead of a closure, so the hot
// path (one delivery per packet) allocates one small entry and nothing else. Cancellation is lazy:
// a cancelled entry stays in the heap and is skipped when it comes to the top.

/** What an event calls when it fires. */
export interface EventTarget {
  onEvent(now: number, arg: unknown, tag: number): void;
}

export class EventEntry {
  cancelled = false;
  constructor(
    readonly time: number,
    readonly seq: number,
    readonly target: EventTarget,
    readonly arg: unknown,
    readonly tag: number,
  ) {}
}

function before(a: EventEntry, b: EventEntry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** A binary heap of events ordered by time, then by insertion. */
export class EventQueue {
  private heap: EventEntry[] = [];
  private seq = 0;
  /** Live (not cancelled) entries. */
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(time: number, target: EventTarget, arg: unknown = undefined, tag = 0): EventEntry {
    if (Number.isNaN(time)) throw new RangeError('EventQueue: event time is NaN');
    const e = new EventEntry(time, this.seq++, target, arg, tag);
    const h = this.heap;
    let i = h.length;
    h.push(e);
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent];
      if (!before(e, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = e;
    this.live++;
    return e;
  }

  cancel(e: EventEntry): void {
    if (e.cancelled) return;
    e.cancelled = true;
    this.live--;
  }

  /** Time of the next live event, or Infinity when there is none. */
  peekTime(): number {
    this.dropCancelled();
    return this.heap.length > 0 ? this.heap[0].time : Infinity;
  }

  /** Removes and returns the next live event. */
  pop(): EventEntry | undefined {
    this.dropCancelled();
    if (this.heap.length === 0) return undefined;
    const top = this.removeTop();
    this.live--;
    // Marked so that a later cancel() of a fired entry does not miscount.
    top.cancelled = true;
    return top;
  }

  private dropCancelled(): void {
    const h = this.heap;
    while (h.length > 0 && h[0].cancelled) this.removeTop();
  }

  private removeTop(): EventEntry {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      // Sift down the last entry from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(h[r], h[l]) ? r : l;
        if (!before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

/** Virtual time plus the queue of what happens next. */
export class Clock {
  readonly queue = new EventQueue();
  private t = 0;

  constructor(start = 0) {
    this.t = start;
  }

  get now(): number {
    return this.t;
  }

  /** Schedules an event; a time in the past runs at the current time. */
  at(time: number, target: EventTarget, arg?: unknown, tag?: number): EventEntry {
    return this.queue.push(Math.max(time, this.t), target, arg, tag);
  }

  cancel(e: EventEntry): void {
    this.queue.cancel(e);
  }

  /** Time of the next event, or Infinity. */
  nextTime(): number {
    return this.queue.peekTime();
  }

  /**
   * Runs the next event if it is due at or before `limit`: advances the time to it and fires it.
   * Returns false (and leaves the time alone) when there is none.
   */
  step(limit = Infinity): boolean {
    if (this.queue.peekTime() > limit) return false;
    const e = this.queue.pop();
    if (!e) return false;
    this.t = e.time;
    e.target.onEvent(e.time, e.arg, e.tag);
    return true;
  }

  /** Moves the time forward to `time` without running anything (never backwards). */
  advanceTo(time: number): void {
    if (time > this.t) this.t = time;
  }
}
