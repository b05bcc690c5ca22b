// When the CPE sends its router advertisements (RFC 4861 6.2.4 and 6.2.6), as a clock-free state
// machine: the caller says when an advertisement went out and when a solicitation came in, and
// reads when the next one is due. Unsolicited ones come at a uniformly random interval between
// MinRtrAdvInterval and MaxRtrAdvInterval, the first MAX_INITIAL_RTR_ADVERTISEMENTS of them no
// more than MAX_INITIAL_RTR_ADVERT_INTERVAL apart; a solicitation is answered (by a multicast
// advertisement) after a random delay of up to MAX_RA_DELAY_TIME, but never sooner than
// MIN_DELAY_BETWEEN_RAS after the last one, and not at all if one is due sooner anyway.

/** RFC 4861 10, router constants (milliseconds). */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS = 3000;
export const MAX_RA_DELAY_TIME = 500;

export class RaSchedule {
  private sent = 0;
  private lastSent = Number.NEGATIVE_INFINITY;
  /** When the next advertisement is due (ms, the caller's clock). */
  due: number;

  /**
   * `minInterval`/`maxInterval`: MinRtrAdvInterval and MaxRtrAdvInterval in ms (RFC 4861 6.2.1);
   * `random` gives [0, 1). The first advertisement is due at `now`.
   */
  constructor(
    now: number,
    private readonly minInterval: number,
    private readonly maxInterval: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!(minInterval > 0 && minInterval <= maxInterval))
      throw new RangeError(`RA intervals ${minInterval}..${maxInterval} ms`);
    this.due = now;
  }

  /** An advertisement went out at `now` (RFC 4861 6.2.4: each multicast one resets the timer). */
  sentAt(now: number): void {
    this.sent++;
    this.lastSent = now;
    let interval = this.minInterval + this.random() * (this.maxInterval - this.minInterval);
    if (this.sent < MAX_INITIAL_RTR_ADVERTISEMENTS)
      interval = Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL);
    this.due = now + interval;
  }

  /** A valid solicitation arrived at `now` (RFC 4861 6.2.6). */
  solicited(now: number): void {
    let at = now + this.random() * MAX_RA_DELAY_TIME;
    if (at < this.lastSent + MIN_DELAY_BETWEEN_RAS) at = this.lastSent + MIN_DELAY_BETWEEN_RAS;
    // One already due sooner answers it.
    if (at < this.due) this.due = at;
  }
}
