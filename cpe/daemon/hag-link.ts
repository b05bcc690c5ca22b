// Whether new LAN connections are bonded through the HAG or go direct (via the active uplink).
// A connection that cannot reach the HAG (no usable uplink, no MPTCP handshake, no reply within
// the timeout) marks the HAG down; while it is down every new connection goes direct at once, and
// a check every `retryAfter` (an RFC 8803 4.2.1 Info TLV, or a SOCKS5 greeting) brings bonding back
// as soon as the HAG answers again. With several HAG addresses, each failure moves on to the next
// one (the check tries them in turn), so a second HAG takes over when the first is gone.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export type HagState = 'up' | 'down';

export interface HagLinkEvents {
  /** The HAG became reachable again, or unreachable (with why, and the address that failed). */
  state: [state: HagState, reason: string, address: string];
}

export class HagLink extends EventEmitter<HagLinkEvents> {
  state: HagState = 'up';
  reason = '';
  since = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** Which of the configured addresses is in use. */
  private index = 0;

  constructor(
    private readonly log: Logger,
    /** Opens a connection to the HAG at `address` and asks it something; true when it answered. */
    private readonly check: (address: string) => Promise<true | string>,
    public retryAfterMs: number,
    public addresses: readonly string[],
  ) {
    super();
  }

  /** The HAG address new connections use. */
  get address(): string {
    return this.addresses[this.index % this.addresses.length];
  }

  /**
   * The address new connections use, or the first after it that `fits` (an address of a family
   * some usable uplink has: an IPv6-only line reaches only the HAG's IPv6 address); none fits: it.
   */
  pick(fits: (address: string) => boolean): string {
    for (let i = 0; i < this.addresses.length; i++) {
      const a = this.addresses[(this.index + i) % this.addresses.length];
      if (fits(a)) return a;
    }
    return this.address;
  }

  /** A reload gave another list: start from its first address. */
  setAddresses(list: readonly string[]): void {
    if (list.join() === this.addresses.join()) return;
    this.addresses = list;
    this.index = 0;
  }

  /** Whether new connections should try the HAG. */
  get usable(): boolean {
    return this.state === 'up';
  }

  /** The HAG answered a connection. */
  ok(): void {
    if (this.state === 'up') return;
    this.state = 'up';
    this.reason = '';
    this.since = Date.now();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.log.info(
      { event: 'hag-up', address: this.address },
      `HAG ${this.address} reachable: new connections are bonded`,
    );
    this.emit('state', 'up', '', this.address);
  }

  /** A connection could not reach the HAG. */
  failed(reason: string): void {
    if (this.state === 'down') return;
    this.state = 'down';
    this.reason = reason;
    this.since = Date.now();
    const failed = this.address;
    this.index = (this.index + 1) % this.addresses.length;
    this.log.warn(
      { event: 'hag-down', reason, address: failed, next: this.address },
      `HAG unreachable (${reason}): new connections go direct`,
    );
    this.emit('state', 'down', reason, failed);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.recheck(), this.retryAfterMs);
    this.timer.unref();
  }

  private async recheck(): Promise<void> {
    this.timer = undefined;
    if (this.state === 'up' || this.checking) return;
    this.checking = true;
    const r = await this.check(this.address).catch((e: Error) => e.message);
    this.checking = false;
    if (r === true) this.ok();
    else {
      this.reason = r;
      this.index = (this.index + 1) % this.addresses.length;
      this.log.debug({ event: 'hag-check-failed', reason: r }, 'HAG still unreachable');
      if (this.state === 'down') this.schedule();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
