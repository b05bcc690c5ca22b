// Which refused client connections were already counted and logged. A connection refused after a
// SYN cookie comes back with each of its segments still in flight, since every one carries a
// valid cookie (RFC 4987 3.6: the connection is rebuilt from any such ACK), and a SYN whose RST was
// lost comes again; each is the same connection (4-tuple and the client's initial sequence
// number), refused again but counted once. Kept for a cookie's lifetime, at most `max` of them.

export class RefusalMemo {
  /** Connection key -> when it may be forgotten; insertion order is expiry order. */
  private readonly until = new Map<string, number>();

  constructor(
    private readonly lifetimeMs: number,
    private readonly max: number,
  ) {}

  /** Whether this is the first refusal of connection `key` (which is remembered from now). */
  first(key: string, now: number): boolean {
    const t = this.until.get(key);
    if (t !== undefined && t > now) return false;
    if (t !== undefined) this.until.delete(key);
    if (this.until.size >= this.max) this.until.delete(this.until.keys().next().value!);
    this.until.set(key, now + this.lifetimeMs);
    return true;
  }

  /** Forgets the connections whose cookies have expired. */
  sweep(now: number): void {
    for (const [k, t] of this.until) {
      if (t > now) break;
      this.until.delete(k);
    }
  }

  get size(): number {
    return this.until.size;
  }
}
