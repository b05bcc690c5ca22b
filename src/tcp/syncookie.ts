// SYN cookies (RFC 4987 section 3.6): when a listener's SYN queue is full, the SYN/ACK's initial
// sequence number carries everything needed to rebuild the connection from the third ACK, and
// nothing is kept. The 32 bits are, from the top: a 64-second time counter (2 bits), a MAC
// (27 bits) and an index into a table of MSS values (3 bits). The MAC is SipHash-2-4 under a
// 128-bit secret (src/crypto/siphash.ts: a keyed PRF that allocates nothing per SYN) over the 4-tuple, the client's ISN, the full counter and the MSS index, so a cookie can
// neither be forged nor moved to another connection, and it expires: one older than
// MAX_COOKIE_AGE ticks (2-3 minutes, as Linux's MAX_SYNCOOKIE_AGE) is refused. The secret is
// replaced every COOKIE_ROTATE_MS; the one before stays valid, which covers every live cookie.
//
// Window scale and SACK-permitted do not fit in 32 bits. As Linux does, they ride in the low
// 6 bits of the SYN/ACK's TSval (4 bits shift + 1, 0 for none; 1 bit SACK), which the client
// echoes in TSecr; without timestamps the rebuilt connection has neither (RFC 4987 3.6 names this
// cost). Those bits are not in the MAC: a client can only choose its own connection's options.
import { type SipKey, sipHash24, sipKey } from '../crypto/siphash.js';
import { type RandomFill, systemRandom } from '../util/random.js';

/** Peer MSS values a cookie can name (the largest not above the SYN's MSS is used). */
export const COOKIE_MSS_TABLE: readonly number[] = [64, 536, 1220, 1300, 1380, 1420, 1440, 1460];

/** The time counter ticks every 64 seconds (Linux's coarse counter). */
export const COOKIE_TICK_MS = 64_000;

/** A cookie from this many ticks ago is still taken; older ones are stale. */
export const MAX_COOKIE_AGE = 2;

/** What a valid cookie gives back. */
export interface CookieSyn {
  /** The MSS the client announced (rounded down to the table). */
  mss: number;
}

/** What the TSval bits give back (wscale -1: none). */
export interface CookieTsOptions {
  wscale: number;
  sack: boolean;
}

export type CookieVerdict = 'ok' | 'forged' | 'stale';

/** The secret changes this often (at least MAX_COOKIE_AGE + 1 ticks, so one previous secret suffices). */
export const COOKIE_ROTATE_MS = 4 * COOKIE_TICK_MS;

export class SynCookies {
  private secret: SipKey;
  /** The secret before the last rotation: its cookies still validate until they are stale. */
  private previous: SipKey | undefined;
  /** When the secret is next replaced (set by the first use). */
  private rotateAt = Number.NaN;
  private readonly msg = Buffer.alloc(16 + 16 + 4 + 4 + 4 + 1);

  /** `rotateMs` 0: the secret is only changed by rotate(). New secrets are drawn from `random`. */
  constructor(
    secret?: Uint8Array,
    private readonly rotateMs = COOKIE_ROTATE_MS,
    private readonly random: RandomFill = systemRandom,
  ) {
    if (rotateMs !== 0 && rotateMs <= MAX_COOKIE_AGE * COOKIE_TICK_MS)
      throw new RangeError('cookie secrets must outlive the cookies they made');
    this.secret = sipKey(secret ?? random(new Uint8Array(16)));
  }

  /** Replaces the secret every rotateMs of the time the stack passes in (no clock read here). */
  private age(now: number): void {
    if (this.rotateMs === 0) return;
    if (Number.isNaN(this.rotateAt)) this.rotateAt = now + this.rotateMs;
    else if (now >= this.rotateAt) {
      this.rotate();
      this.rotateAt = now + this.rotateMs;
    }
  }

  /** A new secret; cookies made under the old one stay valid until they expire. */
  rotate(secret?: Uint8Array): void {
    this.previous = this.secret;
    this.secret = sipKey(secret ?? this.random(new Uint8Array(16)));
  }

  /** The MSS table index for a SYN's MSS option value. */
  static mssIndex(mss: number): number {
    let i = COOKIE_MSS_TABLE.length - 1;
    while (i > 0 && COOKIE_MSS_TABLE[i] > mss) i--;
    return i;
  }

  private mac(
    key: SipKey,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    irs: number,
    count: number,
    mssIdx: number,
  ): number {
    const m = this.msg;
    m.fill(0);
    m.set(local, 0);
    m.set(remote, 16);
    m.writeUInt16BE(localPort, 32);
    m.writeUInt16BE(remotePort, 34);
    m.writeUInt32BE(irs >>> 0, 36);
    m.writeUInt32BE(count >>> 0, 40);
    m[44] = mssIdx;
    return sipHash24(key, m, 0, m.length) >>> 5; // 27 bits
  }

  /** The ISN of a cookie SYN/ACK answering a SYN with sequence number `irs` and MSS `mss`. */
  make(
    now: number,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    irs: number,
    mss: number,
  ): number {
    this.age(now);
    const count = Math.floor(now / COOKIE_TICK_MS);
    const idx = SynCookies.mssIndex(mss);
    const h = this.mac(this.secret, local, localPort, remote, remotePort, irs, count, idx);
    return (((count & 3) << 30) | (h << 3) | idx) >>> 0;
  }

  /**
   * Checks the cookie `iss` (the third ACK's ack number less one) of a connection whose client
   * ISN was `irs` (the ACK's sequence number less one). Fills `out` when it is valid.
   */
  check(
    now: number,
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
    irs: number,
    iss: number,
    out: CookieSyn,
  ): CookieVerdict {
    this.age(now);
    const nowCount = Math.floor(now / COOKIE_TICK_MS);
    const low = iss >>> 30;
    // The counter the cookie was made at: the latest one with these two low bits, not in the future.
    const count = nowCount - ((nowCount - low) & 3);
    const idx = iss & 7;
    const h = (iss >>> 3) & 0x7ffffff;
    const prev = this.previous;
    if (
      this.mac(this.secret, local, localPort, remote, remotePort, irs, count, idx) !== h &&
      (prev === undefined || this.mac(prev, local, localPort, remote, remotePort, irs, count, idx) !== h)
    )
      return 'forged';
    if (nowCount - count > MAX_COOKIE_AGE) return 'stale';
    out.mss = COOKIE_MSS_TABLE[idx];
    return 'ok';
  }

  /**
   * The TSval of a cookie SYN/ACK: the clock value with window scale and SACK-permitted in its
   * low 6 bits, never ahead of the clock (later TSvals of the connection must not go backwards).
   */
  static encodeTs(tsval: number, wscale: number, sack: boolean): number {
    const bits = (wscale >= 0 ? Math.min(wscale, 14) + 1 : 0) | (sack ? 0x20 : 0);
    let v = ((tsval & ~0x3f) | bits) >>> 0;
    if (v > tsval >>> 0) v = (v - 64) >>> 0;
    return v;
  }

  /** The options hidden in a TSecr by encodeTs. */
  static decodeTs(tsecr: number, out: CookieTsOptions): void {
    const ws = tsecr & 0x0f;
    out.wscale = ws === 0 ? -1 : ws - 1;
    out.sack = (tsecr & 0x20) !== 0;
  }
}
