// A limit on new connections per client address: one token bucket per client (rate per second,
// burst), refilled lazily from the clock the caller passes in. Full buckets are forgotten in a
// sweep, so the table holds only clients seen recently (bounded by `maxClients`, beyond which the
// oldest entries go).

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private ratePerSecond: number,
    private burst: number,
    private readonly maxClients = 100_000,
  ) {}

  /** New limits (config reload); buckets keep their state. */
  configure(ratePerSecond: number, burst: number): void {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
  }

  /** Takes one token for `client` at time `now` (ms); false when the client is over its limit. */
  take(client: string, now: number): boolean {
    if (this.ratePerSecond <= 0) return true; // 0 = no limit
    let b = this.buckets.get(client);
    if (!b) {
      if (this.buckets.size >= this.maxClients) this.sweep(now, true);
      b = { tokens: this.burst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that have refilled (they behave as new ones); `force` also drops the oldest half. */
  sweep(now: number, force = false): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.ratePerSecond >= this.burst) this.buckets.delete(k);
    }
    if (force && this.buckets.size >= this.maxClients) {
      let n = this.buckets.size >> 1;
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
