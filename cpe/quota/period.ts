// Quota periods as carriers bill them, in local time: a day (from midnight), a week (from
// midnight of an ISO weekday, 1 = Monday) or a month (from midnight of a day 1-28 of the month,
// so that every month has it). Pure functions of a clock reading, for the fake-clock tests.

export type QuotaPeriod = 'day' | 'week' | 'month';

export interface PeriodSpan {
  /** Local midnight the period began (ms since the epoch). */
  start: number;
  /** Local midnight the next period begins. */
  end: number;
}

/**
 * The period that contains `now`. `resetDay`: the day of the month (1-28) a month starts on, or
 * the ISO weekday (1-7) a week starts on; ignored for days.
 */
export function periodAt(period: QuotaPeriod, resetDay: number, now: number): PeriodSpan {
  const d = new Date(now);
  const y = d.getFullYear();
  const m = d.getMonth();
  const day = d.getDate();
  if (period === 'day')
    return { start: new Date(y, m, day).getTime(), end: new Date(y, m, day + 1).getTime() };
  if (period === 'week') {
    const iso = d.getDay() === 0 ? 7 : d.getDay();
    const back = (iso - resetDay + 7) % 7;
    return { start: new Date(y, m, day - back).getTime(), end: new Date(y, m, day - back + 7).getTime() };
  }
  const first = day >= resetDay ? m : m - 1;
  return { start: new Date(y, first, resetDay).getTime(), end: new Date(y, first + 1, resetDay).getTime() };
}
