// TCP Fast Open (RFC 7413): the server's cookies and the client's cache of them. A server cookie
// is a MAC of the client's IP address under a secret key (section 4.1.2), here HMAC-SHA256
// truncated to 8 bytes; it is checked only on SYNs that carry one, never per data packet. The
// client keeps, per server address, the cookie that server gave it and the MSS it announced
// (section 4.1.3.1: the SYN's data must fit that MSS).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Cookie length we hand out (RFC 7413 4.1.1 allows 4 to 16 bytes; 8 is what Linux uses). */
export const TFO_COOKIE_LEN = 8;

/** Server side: makes and checks cookies. */
export class TfoCookies {
  private key: Buffer;
  /** The key before the last rotation: its cookies stay valid until the next one (4.1.2). */
  private previous: Buffer | undefined;

  constructor(
    secret?: Uint8Array,
    readonly length = TFO_COOKIE_LEN,
  ) {
    if (length < 4 || length > 16) throw new RangeError('a TFO cookie has 4 to 16 bytes (RFC 7413 4.1.1)');
    this.key = secret ? Buffer.from(secret) : randomBytes(16);
  }

  /** A new secret (RFC 7413 4.1.2: the server may change it; the old one still validates). */
  rotate(secret?: Uint8Array): void {
    this.previous = this.key;
    this.key = secret ? Buffer.from(secret) : randomBytes(16);
  }

  private mac(key: Buffer, addr: Uint8Array): Buffer {
    return createHmac('sha256', key).update(addr).digest().subarray(0, this.length);
  }

  /** The cookie for a client address (4 or 16 bytes). */
  cookieFor(addr: Uint8Array): Uint8Array {
    return new Uint8Array(this.mac(this.key, addr));
  }

  /** Whether buf[off, off+len) is a cookie we made for `addr`. */
  valid(addr: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
    if (len !== this.length) return false;
    const got = buf.subarray(off, off + len);
    if (timingSafeEqual(this.mac(this.key, addr), got)) return true;
    return this.previous !== undefined && timingSafeEqual(this.mac(this.previous, addr), got);
  }
}

/** A listener's Fast Open policy. */
export interface TfoServerOptions {
  cookies: TfoCookies;
  /**
   * Server policy (RFC 7413 section 4.1.3 leaves it to the server): accept SYN data from this
   * client even without a valid cookie. A cookie is still sent back for next time.
   */
  acceptWithoutCookie?: (remote: Uint8Array) => boolean;
}

export interface TfoCacheEntry {
  /** The server's cookie; empty when we have none (only a failure is remembered). */
  cookie: Uint8Array;
  /** The MSS the server announced with it. */
  mss: number;
  /** When a SYN with Fast Open toward this server went unanswered (RFC 7413 4.1.3.1), if it did. */
  failedAt?: number;
}

/** How long Fast Open stays off toward a server after a SYN with it went unanswered. */
export const TFO_FAILURE_HOLD_MS = 10 * 60_000;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Client side: cookies by server address, at most `max` of them (the oldest goes first). */
export class TfoCookieCache {
  private readonly entries = new Map<string, TfoCacheEntry>();

  constructor(
    readonly max = 256,
    readonly holdMs = TFO_FAILURE_HOLD_MS,
  ) {}

  get(server: Uint8Array): TfoCacheEntry | undefined {
    return this.entries.get(hex(server));
  }

  /** Whether to use Fast Open toward `server` at `now`: not while a recent failure holds it off. */
  usable(server: Uint8Array, now: number): boolean {
    const f = this.entries.get(hex(server))?.failedAt;
    return f === undefined || now - f >= this.holdMs;
  }

  /**
   * RFC 7413 4.1.3.1: a negative response is cached. No SYN/ACK to a SYN with Fast Open may be a
   * middlebox that drops such SYNs: Fast Open stays off toward that server for holdMs.
   */
  markFailed(server: Uint8Array, now: number): void {
    const e = this.entries.get(hex(server));
    if (e) e.failedAt = now;
    else this.set(server, new Uint8Array(0), 536, now);
  }

  /** A SYN/ACK acknowledged our SYN's data: Fast Open works toward this server. */
  clearFailure(server: Uint8Array): void {
    const e = this.entries.get(hex(server));
    if (e) e.failedAt = undefined;
  }

  set(server: Uint8Array, cookie: Uint8Array, mss: number, failedAt?: number): void {
    const k = hex(server);
    this.entries.delete(k);
    this.entries.set(k, { cookie: Uint8Array.from(cookie), mss, failedAt });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(server: Uint8Array): void {
    this.entries.delete(hex(server));
  }

  get size(): number {
    return this.entries.size;
  }

  /** A plain form to keep across restarts (address hex, cookie hex, MSS). */
  toJSON(): { server: string; cookie: string; mss: number }[] {
    return [...this.entries].map(([server, e]) => ({ server, cookie: hex(e.cookie), mss: e.mss }));
  }

  static fromJSON(list: unknown): TfoCookieCache {
    const c = new TfoCookieCache();
    if (!Array.isArray(list)) return c;
    for (const e of list) {
      if (typeof e?.server !== 'string' || typeof e?.cookie !== 'string' || typeof e?.mss !== 'number')
        continue;
      c.set(Buffer.from(e.server, 'hex'), Buffer.from(e.cookie, 'hex'), e.mss);
    }
    return c;
  }
}

/** What became of Fast Open on one connection. */
export type TfoState =
  /** Not used. */
  | 'off'
  /** Client: our SYN asked for a cookie (no data). */
  | 'requested'
  /** Client: our SYN carried a cookie and data; no answer yet. */
  | 'sent'
  /** The SYN's data was accepted (client: acknowledged by the SYN/ACK; server: taken at once). */
  | 'accepted'
  /** The SYN's data was not accepted: it goes again after the handshake (client), or was ignored (server). */
  | 'refused';
