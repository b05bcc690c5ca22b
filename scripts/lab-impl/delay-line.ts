// The lab's delay line for one direction of a link: holds each packet for its one-way delay (plus
// jitter) and then hands it to `emit`; drops packets at random (seeded PRNG) for the configured loss
// and for a temporary loss burst. Packets leave in arrival order unless reordering is allowed. One
// timer is armed for the earliest deadline; the clock is performance.now() (fractional ms).
import { performance } from 'node:perf_hooks';

export interface DelayLineOptions {
  delayMs: number;
  jitterMs?: number;
  lossPercent?: number;
  /** Jitter may reorder packets; otherwise a packet never leaves before the one ahead of it. */
  reorder?: boolean;
  seed?: number;
  /** Receives each packet when its delay is over. */
  emit: (packet: Buffer) => void;
  /** Clock in ms (default performance.now). */
  now?: () => number;
}

export interface DelayLineStats {
  received: number;
  sent: number;
  dropped: number;
  queued: number;
}

/** Under load, packets due within this many ms leave on the current wakeup (timers have ms granularity). */
const SLACK_MS = 0.5;
/** Under light load (this many packets held or fewer), packets leave within this many ms of their deadline. */
const PRECISE_SLACK_MS = 0.02;
const PRECISE_MAX_QUEUED = 8;
/**
 * Each packet has spent about this long between the kernel and the delay line (the TUN read and the
 * write back each wake a process), so it is held that much less (calibrated with ping on the lab).
 */
export const PATH_LATENCY_MS = 0.15;

/** mulberry32: a small, fast, seeded 32-bit PRNG returning numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class DelayLine {
  readonly #emit: (packet: Buffer) => void;
  readonly #now: () => number;
  readonly #random: () => number;
  #delayMs: number;
  #jitterMs: number;
  #lossPercent: number;
  #reorder: boolean;
  #burstPercent = 0;
  #burstUntil = 0;
  // Queue sorted by deadline: parallel arrays from #head on (compacted now and then).
  #packets: Buffer[] = [];
  #deadlines: number[] = [];
  #head = 0;
  #lastDeadline = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** Mean of (timer fire time - requested time), learnt from the timers that fired. */
  #lateness = 0;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;
  readonly stats: DelayLineStats = { received: 0, sent: 0, dropped: 0, queued: 0 };

  constructor(options: DelayLineOptions) {
    this.#emit = options.emit;
    this.#now = options.now ?? (() => performance.now());
    this.#random = prng(options.seed ?? 1);
    this.#delayMs = options.delayMs;
    this.#jitterMs = options.jitterMs ?? 0;
    this.#lossPercent = options.lossPercent ?? 0;
    this.#reorder = options.reorder ?? false;
  }

  /** Takes a packet (copied: the caller may reuse its buffer). */
  push(packet: Uint8Array): void {
    if (this.#closed) return;
    this.stats.received++;
    const now = this.#now();
    const loss = now < this.#burstUntil ? Math.max(this.#burstPercent, this.#lossPercent) : this.#lossPercent;
    if (loss > 0 && this.#random() * 100 < loss) {
      this.stats.dropped++;
      return;
    }
    let deadline = now + Math.max(0, this.#delayMs - PATH_LATENCY_MS);
    if (this.#jitterMs > 0) deadline += (this.#random() * 2 - 1) * this.#jitterMs;
    const copy = Buffer.from(packet);
    if (!this.#reorder || this.#jitterMs === 0) {
      // In order: never before the packet ahead.
      deadline = Math.max(deadline, this.#lastDeadline);
      this.#lastDeadline = deadline;
      this.#packets.push(copy);
      this.#deadlines.push(deadline);
    } else {
      this.#insertSorted(copy, deadline);
    }
    this.stats.queued = this.#packets.length - this.#head;
    this.#arm();
  }

  /** Loss of `percent` for the next `seconds` (on top of the configured loss). */
  burst(percent: number, seconds: number): void {
    this.#burstPercent = percent;
    this.#burstUntil = this.#now() + seconds * 1000;
  }

  /** Changes delay, jitter or loss for packets that arrive from now on. */
  configure(options: { delayMs?: number; jitterMs?: number; lossPercent?: number; reorder?: boolean }): void {
    if (options.delayMs !== undefined) this.#delayMs = options.delayMs;
    if (options.jitterMs !== undefined) this.#jitterMs = options.jitterMs;
    if (options.lossPercent !== undefined) this.#lossPercent = options.lossPercent;
    if (options.reorder !== undefined) this.#reorder = options.reorder;
  }

  /** Sends every packet whose deadline has come (also called after each read batch: cheap). */
  flush(): void {
    const limit = this.#now() + (this.#precise() ? PRECISE_SLACK_MS : SLACK_MS);
    const packets = this.#packets;
    const deadlines = this.#deadlines;
    let i = this.#head;
    while (i < packets.length && deadlines[i] <= limit) {
      const p = packets[i];
      packets[i] = undefined as unknown as Buffer;
      i++;
      this.stats.sent++;
      this.#emit(p);
    }
    this.#head = i;
    if (i === packets.length) {
      this.#packets = [];
      this.#deadlines = [];
      this.#head = 0;
    } else if (i > 4096 && i * 2 > packets.length) {
      this.#packets = packets.slice(i);
      this.#deadlines = deadlines.slice(i);
      this.#head = 0;
    }
    this.stats.queued = this.#packets.length - this.#head;
    this.#arm();
  }

  /** Drops whatever is queued and stops the timer. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#timer = undefined;
    this.#packets = [];
    this.#deadlines = [];
    this.#head = 0;
    this.stats.queued = 0;
  }

  #insertSorted(packet: Buffer, deadline: number): void {
    let lo = this.#head;
    let hi = this.#deadlines.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#deadlines[mid] <= deadline) lo = mid + 1;
      else hi = mid;
    }
    this.#packets.splice(lo, 0, packet);
    this.#deadlines.splice(lo, 0, deadline);
  }

  /** Light load: few packets held, so the last fraction of a ms may be waited out on setImmediate. */
  #precise(): boolean {
    return this.#packets.length - this.#head <= PRECISE_MAX_QUEUED;
  }

  #arm(): void {
    if (this.#immediate !== undefined) return; // flush() runs soon and re-arms
    if (this.#closed || this.#head >= this.#packets.length) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    const at = this.#deadlines[this.#head];
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const armedAt = this.#now();
    const remaining = at - armedAt - this.#lateness;
    const precise = this.#precise();
    if (precise && remaining < 1) {
      // Under 1 ms to go and little traffic: poll on each event-loop turn (costs CPU only briefly).
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.flush();
      });
      return;
    }
    // Node timers have whole-ms waits and fire a fairly constant fraction of a ms late (learnt in
    // #lateness): under light load aim early and poll the rest; under load round to the nearest ms.
    const wait = Math.max(1, precise ? Math.floor(remaining) : Math.round(remaining));
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      const late = this.#now() - armedAt - wait;
      if (late > -1 && late < 2) this.#lateness += (late - this.#lateness) / 16;
      this.flush();
    }, wait);
  }
}
