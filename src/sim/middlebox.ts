// Middleboxes: functions that a link direction runs on every packet it accepts, before its queue.
// A middlebox sees the packet's bytes (its own copy: it may rewrite them in place), a lazily
// parsed view of them, the time and the link's own random stream, and returns 'deliver', 'drop',
// or a replacement packet. Ready-made ones here: drop what matches a predicate, corrupt TCP
// payload (with the TCP checksum fixed, so that only an end-to-end check such as the MPTCP DSS
// checksum notices, or left broken, so that the receiver's TCP drops the segment), and strip TCP
// options of a kind (MPTCP, kind 30, as some firewalls do). The NAT is in nat.ts.
import { setU16 } from '../wire/bytes.js';
import { finish, internetChecksum, pseudoSumV4, pseudoSumV6, sumWords } from '../wire/checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP, type PacketView } from '../wire/packet.js';
import { TCP_FLAG } from '../wire/tcp.js';
import { TCPOPT, TcpOptionCursor } from '../wire/tcp-options.js';
import type { Link } from './link.js';
import type { Rng } from './rng.js';

/** What a middlebox does with a packet: pass it on (possibly edited in place), drop it, or replace it. */
export type Verdict = 'deliver' | 'drop' | Uint8Array;

export interface MiddleboxContext {
  /** Virtual time in milliseconds. */
  readonly now: number;
  /** The link direction the packet is entering. */
  readonly link: Link;
  /** The link's middlebox random stream (seeded, deterministic). */
  readonly rng: Rng;
  /**
   * The packet parsed once per hop and shared by all middleboxes of the link, or undefined when
   * it is not a well-formed IP packet (or TCP that the wire layer rejects).
   */
  view(): PacketView | undefined;
  /** Call after editing header lengths in place, so that the next view() parses again. */
  invalidate(): void;
}

export type Middlebox = (packet: Uint8Array, ctx: MiddleboxContext) => Verdict;

/** A packet predicate for the ready-made middleboxes. */
export type PacketMatch = (packet: Uint8Array, ctx: MiddleboxContext) => boolean;

/** A middlebox that counts the packets it acted on. */
export type CountingMiddlebox = Middlebox & { hits: number };

function counting(fn: (packet: Uint8Array, ctx: MiddleboxContext, self: { hits: number }) => Verdict) {
  const self: CountingMiddlebox = Object.assign(
    (packet: Uint8Array, ctx: MiddleboxContext): Verdict => fn(packet, ctx, self),
    { hits: 0 },
  );
  return self;
}

// ---------------------------------------------------------------------------------------------
// Checksum repair

const ul = new Int32Array(2);

/**
 * Offset and length of the TCP or UDP header+payload of a viewed packet, written to out[0] and
 * out[1]; false for other protocols.
 */
export function transportRange(v: PacketView, out: Int32Array): boolean {
  if (v.isTcp) {
    out[0] = v.tcp.off;
    out[1] = v.tcp.len;
    return true;
  }
  if (v.protocol !== IPPROTO_UDP) return false;
  if (v.version === 4) {
    if (v.v4.fragOffset !== 0) return false;
    out[0] = v.v4.payloadOff;
    out[1] = v.v4.payloadLen;
  } else {
    if (v.v6.upperLayer(out)) return false;
    const l4 = out[1];
    out[0] = l4;
    out[1] = v.v6.off + v.v6.len - l4;
  }
  return out[1] >= 8;
}

/** Recomputes the IPv4 header checksum (after an address rewrite). */
export function fixIpv4HeaderChecksum(v: PacketView): void {
  if (v.version !== 4) return;
  const p = v.v4;
  setU16(p.buf, p.off + 10, 0);
  setU16(p.buf, p.off + 10, internetChecksum(p.buf, p.off, p.headerLen));
}

/**
 * Recomputes the TCP or UDP checksum of a viewed packet over its current bytes and addresses.
 * A UDP/IPv4 datagram sent without a checksum (0) keeps none.
 */
export function fixTransportChecksum(v: PacketView): void {
  if (!transportRange(v, ul)) return;
  const off = ul[0];
  const len = ul[1];
  const b = v.version === 4 ? v.v4.buf : v.v6.buf;
  const udp = !v.isTcp;
  const field = off + (udp ? 6 : 16);
  if (udp && v.version === 4 && b[field] === 0 && b[field + 1] === 0) return;
  setU16(b, field, 0);
  const proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
  const pseudo =
    v.version === 4
      ? pseudoSumV4(b, v.v4.srcOff, b, v.v4.dstOff, proto, len)
      : pseudoSumV6(b, v.v6.srcOff, b, v.v6.dstOff, proto, len);
  let c = finish(sumWords(b, off, len, pseudo));
  // UDP transmits a computed 0 as all ones (RFC 768); 0 means "no checksum" on IPv4.
  if (udp && c === 0) c = 0xffff;
  setU16(b, field, c);
}

// ---------------------------------------------------------------------------------------------
// Predicates

/** A TCP segment with SYN set. */
export const isTcpSyn: PacketMatch = (_p, ctx) => {
  const v = ctx.view();
  if (!v?.isTcp) return false;
  return (v.tcp.flags & TCP_FLAG.syn) !== 0;
};

/**
 * A TCP segment that carries an option of `kind`; for MPTCP (kind 30) optionally of the given
 * suboption subtype (the high nibble of its third byte, RFC 8684 section 3).
 */
export function hasTcpOption(kind: number, mptcpSubtype?: number): PacketMatch {
  const c = new TcpOptionCursor();
  return (_p, ctx) => {
    const v = ctx.view();
    if (!v?.isTcp) return false;
    c.reset(v.tcp.buf, v.tcp.optionsOff, v.tcp.optionsLen);
    while (c.next()) {
      if (c.kind !== kind) continue;
      if (mptcpSubtype === undefined) return true;
      if (c.n >= 3 && c.b[c.o + 2] >> 4 === mptcpSubtype) return true;
    }
    return false;
  };
}

/** Both predicates hold. */
export function both(a: PacketMatch, b: PacketMatch): PacketMatch {
  return (p, ctx) => a(p, ctx) && b(p, ctx);
}

// ---------------------------------------------------------------------------------------------
// Ready-made middleboxes

export interface WhenOptions {
  /** Acts only on packets that match (default: all). */
  match?: PacketMatch;
  /** Acts only from this virtual time on (ms, default 0). */
  from?: number;
  /** Acts only before this virtual time (ms, default forever). */
  until?: number;
  /** Acts on each matching packet with this probability (default 1), drawn from the link's stream. */
  probability?: number;
  /** Acts on at most this many packets (default unlimited). */
  limit?: number;
}

function applies(o: WhenOptions, packet: Uint8Array, ctx: MiddleboxContext, hits: number): boolean {
  if (o.limit !== undefined && hits >= o.limit) return false;
  if (o.from !== undefined && ctx.now < o.from) return false;
  if (o.until !== undefined && ctx.now >= o.until) return false;
  if (o.match && !o.match(packet, ctx)) return false;
  if (o.probability !== undefined && o.probability < 1 && !ctx.rng.chance(o.probability)) return false;
  return true;
}

/** Drops the packets that match (a firewall rule, a black hole for one flow). */
export function dropMatching(match: PacketMatch, opts: Omit<WhenOptions, 'match'> = {}): CountingMiddlebox {
  const o: WhenOptions = { ...opts, match };
  return counting((packet, ctx, self) => {
    if (!applies(o, packet, ctx, self.hits)) return 'deliver';
    self.hits++;
    return 'drop';
  });
}

export interface CorruptOptions extends WhenOptions {
  /**
   * true: recompute the TCP checksum after corrupting, so the segment passes TCP and only an
   * end-to-end check (the MPTCP DSS checksum) can notice. false: leave it broken.
   */
  fixChecksum: boolean;
  /** Bytes to corrupt per segment (default 1), at random payload positions. */
  bytes?: number;
}

/**
 * Corrupts payload bytes of TCP segments that carry data: each chosen byte is XORed with a random
 * non-zero value, so it always changes.
 */
export function corruptTcpPayload(opts: CorruptOptions): CountingMiddlebox {
  const n = opts.bytes ?? 1;
  return counting((packet, ctx, self) => {
    const v = ctx.view();
    if (!v?.isTcp || v.tcp.payloadLen === 0) return 'deliver';
    if (!applies(opts, packet, ctx, self.hits)) return 'deliver';
    self.hits++;
    const t = v.tcp;
    for (let i = 0; i < n; i++) {
      const at = t.payloadOff + ctx.rng.int(t.payloadLen);
      t.buf[at] ^= 1 + ctx.rng.int(255);
    }
    if (opts.fixChecksum) fixTransportChecksum(v);
    return 'deliver';
  });
}

export interface StripOptions extends WhenOptions {
  /** Only on segments with SYN set (default false: on every segment). */
  synOnly?: boolean;
  /** For MPTCP (kind 30): only suboptions of this subtype (default: all). */
  mptcpSubtype?: number;
}

/**
 * Replaces every TCP option of `kind` with NOPs (the header keeps its length) and fixes the TCP
 * checksum, as middleboxes that remove unknown options do (RFC 8684 section 3.7).
 */
export function stripTcpOption(kind: number, opts: StripOptions = {}): CountingMiddlebox {
  const c = new TcpOptionCursor();
  return counting((packet, ctx, self) => {
    const v = ctx.view();
    if (!v?.isTcp || v.tcp.optionsLen === 0) return 'deliver';
    if (opts.synOnly && (v.tcp.flags & TCP_FLAG.syn) === 0) return 'deliver';
    if (!applies(opts, packet, ctx, self.hits)) return 'deliver';
    const t = v.tcp;
    let stripped = false;
    c.reset(t.buf, t.optionsOff, t.optionsLen);
    while (c.next()) {
      if (c.kind !== kind) continue;
      if (opts.mptcpSubtype !== undefined && !(c.n >= 3 && c.b[c.o + 2] >> 4 === opts.mptcpSubtype)) continue;
      // The cursor has already read this option's length; overwriting it is safe.
      c.b.fill(TCPOPT.nop, c.o, c.o + c.n);
      stripped = true;
    }
    if (!stripped) return 'deliver';
    self.hits++;
    fixTransportChecksum(v);
    return 'deliver';
  });
}
