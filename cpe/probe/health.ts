// Uplink health from probe results: N consecutive failures make an uplink down, M consecutive
// successes make it up (hysteresis, so one lost echo does not flap the path manager), and a smoothed
// RTT with its variation the way RFC 6298 2.3 smooths TCP's (alpha 1/8, beta 1/4). Pure.

export type Health = 'unknown' | 'up' | 'down';

export interface HealthConfig {
  /** Consecutive failures that make the uplink down (default 3). */
  failuresToDown?: number;
  /** Consecutive successes that make the uplink up (default 2). */
  successesToUp?: number;
}

export interface Transition {
  from: Health;
  to: 'up' | 'down';
  reason: string;
}

export class HealthMachine {
  readonly failuresToDown: number;
  readonly successesToUp: number;
  #state: Health = 'unknown';
  #fails = 0;
  #oks = 0;
  #srtt: number | undefined;
  #rttvar: number | undefined;
  #lastFailure: string | undefined;

  constructor(cfg: HealthConfig = {}) {
    this.failuresToDown = cfg.failuresToDown ?? 3;
    this.successesToUp = cfg.successesToUp ?? 2;
    if (!(this.failuresToDown >= 1 && this.successesToUp >= 1)) {
      throw new RangeError('failuresToDown and successesToUp must be at least 1');
    }
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

  success(rttMs: number): Transition | undefined {
    // RFC 6298 2.2/2.3: the first sample sets SRTT = R, RTTVAR = R/2; later ones are smoothed.
    if (this.#srtt === undefined || this.#rttvar === undefined) {
      this.#srtt = rttMs;
      this.#rttvar = rttMs / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rttMs);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rttMs;
    }
    this.#fails = 0;
    this.#oks++;
    if (this.#state !== 'up' && this.#oks >= this.successesToUp) {
      const from = this.#state;
      this.#state = 'up';
      return { from, to: 'up', reason: `${this.#oks} consecutive echo replies` };
    }
    return undefined;
  }

  failure(reason: string): Transition | undefined {
    this.#lastFailure = reason;
    this.#oks = 0;
    this.#fails++;
    if (this.#state !== 'down' && this.#fails >= this.failuresToDown) {
      const from = this.#state;
      this.#state = 'down';
      return { from, to: 'down', reason: `${this.#fails} consecutive failures, last: ${reason}` };
    }
    return undefined;
  }
}
