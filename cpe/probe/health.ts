// Uplink health from probe results. Down when N consecutive rounds fail (the fast path: a dead
// line), when the loss rate over the last `window` rounds passes `maxLoss`, or when the mean RTT of
// the window's replies passes `maxRtt` (a line that works badly). Up again after M consecutive
// successes with the window's loss and RTT back within the limits (hysteresis, so one lost echo
// does not flap the path manager); the window restarts when N failures in a row called the line dead.
// A smoothed RTT with its variation the way RFC 6298 2.3 smooths
// TCP's (alpha 1/8, beta 1/4). Every transition carries a reason kind and a text. Pure.

export type Health = 'unknown' | 'up' | 'down';

/** Why the probe called the uplink down (or what made it up). */
export type HealthReason = 'echo-replies' | 'echo-lost' | 'loss-high' | 'rtt-high';

export interface HealthConfig {
  /** Consecutive failures that make the uplink down (default 3). */
  failuresToDown?: number;
  /** Consecutive successes that make the uplink up (default 2). */
  successesToUp?: number;
  /** Rounds the loss rate and mean RTT are taken over (default 10). */
  window?: number;
  /** Loss share (0..1) of a full window above which the uplink is down (default 0.5; 1 turns it off). */
  maxLoss?: number;
  /** Mean RTT of the window's replies, ms, above which the uplink is down (default: no limit). */
  maxRttMs?: number;
}

export interface Transition {
  from: Health;
  to: 'up' | 'down';
  kind: HealthReason;
  reason: string;
}

/** A lost round in the window. */
const LOST = -1;

export class HealthMachine {
  readonly failuresToDown: number;
  readonly successesToUp: number;
  readonly maxLoss: number;
  readonly maxRttMs: number;
  #state: Health = 'unknown';
  #fails = 0;
  #oks = 0;
  #srtt: number | undefined;
  #rttvar: number | undefined;
  #lastFailure: string | undefined;
  /** The last `window` rounds: the RTT in ms, or LOST. */
  readonly #window: Float64Array;
  #next = 0;
  #filled = 0;

  constructor(cfg: HealthConfig = {}) {
    this.failuresToDown = cfg.failuresToDown ?? 3;
    this.successesToUp = cfg.successesToUp ?? 2;
    this.maxLoss = cfg.maxLoss ?? 0.5;
    this.maxRttMs = cfg.maxRttMs ?? Number.POSITIVE_INFINITY;
    const window = cfg.window ?? 10;
    if (!(this.failuresToDown >= 1 && this.successesToUp >= 1)) {
      throw new RangeError('failuresToDown and successesToUp must be at least 1');
    }
    if (!(Number.isInteger(window) && window >= 1)) throw new RangeError('window must be an integer >= 1');
    if (!(this.maxLoss > 0 && this.maxLoss <= 1)) throw new RangeError('maxLoss must be in (0, 1]');
    this.#window = new Float64Array(window);
  }

  get state(): Health {
    return this.#state;
  }

  /** Smoothed RTT, ms (undefined before the first success). */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  get rttvar(): number | undefined {
    return this.#rttvar;
  }

  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  /** Share of the window's rounds that were lost (0 before any round). */
  get loss(): number {
    if (this.#filled === 0) return 0;
    let lost = 0;
    for (let i = 0; i < this.#filled; i++) if (this.#window[i] === LOST) lost++;
    return lost / this.#filled;
  }

  /** Mean RTT of the window's replies, ms (undefined without any). */
  get meanRtt(): number | undefined {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < this.#filled; i++) {
      const v = this.#window[i];
      if (v !== LOST) {
        sum += v;
        n++;
      }
    }
    return n > 0 ? sum / n : undefined;
  }

  #record(v: number): void {
    this.#window[this.#next] = v;
    this.#next = (this.#next + 1) % this.#window.length;
    if (this.#filled < this.#window.length) this.#filled++;
  }

  /** Too lossy: only judged on a full window, so that two early losses do not count as 100%. */
  #lossy(): boolean {
    return this.#filled === this.#window.length && this.loss > this.maxLoss;
  }

  #slow(): boolean {
    const m = this.meanRtt;
    return m !== undefined && m > this.maxRttMs;
  }

  #down(kind: HealthReason, reason: string): Transition | undefined {
    if (this.#state === 'down') return undefined;
    const from = this.#state;
    this.#state = 'down';
    return { from, to: 'down', kind, reason };
  }

  #lossText(): string {
    return `${Math.round(this.loss * 100)}% of the last ${this.#filled} echoes lost (limit ${Math.round(this.maxLoss * 100)}%)`;
  }

  success(rttMs: number): Transition | undefined {
    // RFC 6298 2.2/2.3: the first sample sets SRTT = R, RTTVAR = R/2; later ones are smoothed.
    if (this.#srtt === undefined || this.#rttvar === undefined) {
      this.#srtt = rttMs;
      this.#rttvar = rttMs / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rttMs);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rttMs;
    }
    this.#record(rttMs);
    this.#fails = 0;
    this.#oks++;
    if (this.#slow())
      return this.#down(
        'rtt-high',
        `mean RTT ${this.meanRtt?.toFixed(1)} ms over the last ${this.#filled} echoes (limit ${this.maxRttMs} ms)`,
      );
    if (this.#state !== 'up' && this.#oks >= this.successesToUp && !this.#lossy()) {
      const from = this.#state;
      this.#state = 'up';
      return { from, to: 'up', kind: 'echo-replies', reason: `${this.#oks} consecutive echo replies` };
    }
    return undefined;
  }

  failure(reason: string): Transition | undefined {
    this.#lastFailure = reason;
    this.#record(LOST);
    this.#oks = 0;
    this.#fails++;
    if (this.#fails >= this.failuresToDown) {
      const t = this.#down('echo-lost', `${this.#fails} consecutive failures, last: ${reason}`);
      // A dead line: its loss history says nothing about the line that answers again, so the
      // window starts afresh (up after M replies; the loss rate is judged once it is full again).
      if (t) this.#filled = this.#next = 0;
      return t;
    }
    if (this.#lossy()) return this.#down('loss-high', `${this.#lossText()}, last: ${reason}`);
    return undefined;
  }
}
