// One uplink's quota as the carrier bills it: the bytes its interface sent and received (both
// ways, cpe/quota/counters.ts) added up over the billing period (cpe/quota/period.ts), with the
// warning share and the limit. It is fed a counter reading once a second and reports what
// happened (a new period, the warning, the limit reached) as values; the uplink acts on them. Its
// state is what the state file keeps (cpe/quota/store.ts): with it a restart continues the count.
// Counters that started again (a reboot: another boot id; the interface recreated: another
// ifindex; or a reading below the last) count from zero, so nothing is lost or counted twice.
import type { InterfaceCounters } from './counters.js';
import { type PeriodSpan, periodAt, type QuotaPeriod } from './period.js';

export interface QuotaSettings {
  interface: string;
  limit: number;
  period: QuotaPeriod;
  resetDay: number;
  /** Share of the limit (0-1] at which the warning is given. */
  warnAt: number;
}

/** What the state file holds for one uplink. */
export interface QuotaState {
  interface: string;
  period: QuotaPeriod;
  resetDay: number;
  periodStart: number;
  periodEnd: number;
  used: number;
  /** The counters last read and their key (cpe/quota/counters.ts); none before the first reading. */
  counterKey: string | undefined;
  lastRx: number;
  lastTx: number;
  warned: boolean;
  exhausted: boolean;
}

export type QuotaEventKind = 'quota-reset' | 'quota-warning' | 'quota-exhausted';

export class QuotaMeter {
  private s: QuotaState;

  constructor(
    private cfg: QuotaSettings,
    now: number,
    saved?: QuotaState,
  ) {
    const span = periodAt(cfg.period, cfg.resetDay, now);
    this.s = saved
      ? { ...saved }
      : {
          interface: cfg.interface,
          period: cfg.period,
          resetDay: cfg.resetDay,
          periodStart: span.start,
          periodEnd: span.end,
          used: 0,
          counterKey: undefined,
          lastRx: 0,
          lastTx: 0,
          warned: false,
          exhausted: false,
        };
    // Counters of another interface say nothing about this one's: start from its next reading.
    if (this.s.interface !== cfg.interface) {
      this.s.interface = cfg.interface;
      this.s.counterKey = undefined;
    }
    this.reconfigure(cfg, now);
  }

  get used(): number {
    return this.s.used;
  }
  get limit(): number {
    return this.cfg.limit;
  }
  get warnAt(): number {
    return this.cfg.warnAt;
  }
  get span(): PeriodSpan {
    return { start: this.s.periodStart, end: this.s.periodEnd };
  }
  get warned(): boolean {
    return this.s.warned;
  }
  get exhausted(): boolean {
    return this.s.exhausted;
  }
  /** Which counters the count follows (cpe/quota/counters.ts); undefined before the first reading. */
  get counterKey(): string | undefined {
    return this.s.counterKey;
  }

  /** A copy of the state, for the state file. */
  state(): QuotaState {
    return { ...this.s };
  }

  /**
   * A new limit, period or reset day: the period is taken again from the clock; what was counted
   * in the current one is kept when the period did not change; warning and exhaustion follow the
   * new limit (a higher limit lifts them).
   */
  reconfigure(cfg: QuotaSettings, now: number): void {
    this.cfg = cfg;
    if (this.s.period !== cfg.period || this.s.resetDay !== cfg.resetDay) {
      const span = periodAt(cfg.period, cfg.resetDay, now);
      this.s.period = cfg.period;
      this.s.resetDay = cfg.resetDay;
      this.s.periodStart = span.start;
      this.s.periodEnd = span.end;
    }
    this.s.warned = this.s.used >= cfg.warnAt * cfg.limit;
    this.s.exhausted = this.s.used >= cfg.limit;
  }

  /**
   * Takes a counter reading at wall-clock time `now` (a string: the interface cannot be read now,
   * nothing is counted); returns what happened, in order (once a second: not the packet path).
   */
  update(c: InterfaceCounters | string, now: number): QuotaEventKind[] {
    const events: QuotaEventKind[] = [];
    // A clock set back before the period began also starts the period again.
    if (now >= this.s.periodEnd || now < this.s.periodStart) {
      const span = periodAt(this.cfg.period, this.cfg.resetDay, now);
      this.s.periodStart = span.start;
      this.s.periodEnd = span.end;
      this.s.used = 0;
      this.s.warned = false;
      this.s.exhausted = false;
      events.push('quota-reset');
    }
    if (typeof c !== 'string') {
      if (this.s.counterKey === c.key) {
        // Counters below the last reading were reset in place (a driver reset): all of it is new.
        this.s.used +=
          (c.rx >= this.s.lastRx ? c.rx - this.s.lastRx : c.rx) +
          (c.tx >= this.s.lastTx ? c.tx - this.s.lastTx : c.tx);
      } else if (this.s.counterKey !== undefined) {
        // Counters that started again since the last reading (reboot, interface recreated).
        this.s.used += c.rx + c.tx;
      }
      this.s.counterKey = c.key;
      this.s.lastRx = c.rx;
      this.s.lastTx = c.tx;
    }
    if (!this.s.warned && this.s.used >= this.cfg.warnAt * this.cfg.limit) {
      this.s.warned = true;
      events.push('quota-warning');
    }
    if (!this.s.exhausted && this.s.used >= this.cfg.limit) {
      this.s.exhausted = true;
      events.push('quota-exhausted');
    }
    return events;
  }
}
