// Neighbor Discovery messages of the CPE's LAN router role, as the ICMPv6 body a raw ICMPv6 socket
// sends and receives (no IP header; the kernel computes the checksum, RFC 3542 3.1): the Router
// Advertisement (RFC 4861 4.2) with the options a LAN host needs to configure itself (Source
// Link-Layer Address 4.6.1, Prefix Information 4.6.2 with L and A for SLAAC per RFC 4862 5.5.3,
// MTU 4.6.4, RDNSS and DNSSL per RFC 8106 5.1 and 5.2), and the Router Solicitation (4.1) that asks
// for one. Encoding takes a plain object; reading never throws and never reads out of bounds:
// malformed input gives a typed error value (the checks of RFC 4861 6.1.1 and 6.1.2 that the
// ICMPv6 body allows; the IP hop limit of 255 is not visible here).
import { formatIp, tryParseIp } from '../../src/wire/addr.js';
import { hwAddrBytes, hwAddrText } from '../net/hw-addr.js';

/** ICMPv6 types (RFC 4861 4.1, 4.2). */
export const ROUTER_SOLICITATION = 133;
export const ROUTER_ADVERTISEMENT = 134;

/** ND option types (RFC 4861 4.6; RFC 8106 5.1, 5.2). */
export const OPT = { SOURCE_LL: 1, PREFIX: 3, MTU: 5, RDNSS: 25, DNSSL: 31 } as const;

export interface RaPrefix {
  /** The prefix's address (host bits zero), e.g. "2001:db8:1::". */
  prefix: string;
  /** Prefix length in bits (64 for SLAAC). */
  length: number;
  /** L: the prefix is on this link (RFC 4861 4.6.2). */
  onLink: boolean;
  /** A: hosts may form addresses in it (SLAAC, RFC 4862 5.5.3). */
  autonomous: boolean;
  /** Seconds (0xffffffff: infinity). */
  validLifetime: number;
  preferredLifetime: number;
}

export interface RouterAdvertisement {
  /** The hop limit hosts should use (0: unspecified). */
  curHopLimit: number;
  /** M: addresses from DHCPv6; O: other configuration from DHCPv6. */
  managed: boolean;
  other: boolean;
  /** Seconds this router is a default router for (0: it is not one; at most 9000, RFC 4861 6.2.1). */
  routerLifetime: number;
  /** Milliseconds (0: unspecified). */
  reachableTime: number;
  retransTimer: number;
  /** The router's MAC on the link ("02:00:00:00:00:01"), when known. */
  sourceLinkLayer?: string;
  mtu?: number;
  prefixes: RaPrefix[];
  /** RDNSS: recursive DNS servers (IPv6) and their lifetime in seconds. */
  dns?: { servers: string[]; lifetime: number };
  /** DNSSL: the DNS search list and its lifetime in seconds. */
  domains?: { names: string[]; lifetime: number };
}

export type NdError =
  | { kind: 'truncated'; length: number }
  | { kind: 'not-type'; type: number; expected: number }
  | { kind: 'bad-code'; code: number }
  | { kind: 'bad-option'; offset: number; detail: string };

export type RaResult = { ok: true; ra: RouterAdvertisement } | { ok: false; error: NdError };
export type RsResult = { ok: true; sourceLinkLayer?: string } | { ok: false; error: NdError };

/** A 6-byte MAC's bytes (the source link-layer address option on Ethernet, RFC 2464 6). */
function macBytes(mac: string): Buffer {
  const b = hwAddrBytes(mac);
  if (b.length !== 6) throw new TypeError(`not a MAC address: ${mac}`);
  return b;
}

const macText = (b: Uint8Array, off: number): string => hwAddrText(b, off, 6);

/** A domain name in DNS wire form (RFC 1035 3.1: length-prefixed labels, a zero at the end). */
function encodeName(name: string): number[] {
  const labels = name.replace(/\.$/, '').split('.');
  if (name.length > 253 || labels.some((l) => l.length === 0 || l.length > 63))
    throw new TypeError(`not a domain name: ${name}`);
  const out: number[] = [];
  for (const l of labels) out.push(l.length, ...Buffer.from(l, 'ascii'));
  out.push(0);
  return out;
}

function ipv6Bytes(a: string): Uint8Array {
  const b = tryParseIp(a);
  if (b?.length !== 16) throw new TypeError(`not an IPv6 address: ${a}`);
  return b;
}

/**
 * The Router Advertisement message (RFC 4861 4.2) with its options, checksum left zero for the
 * kernel. Throws a TypeError on values no RA can carry (programmer's mistakes: the config checks
 * them first).
 */
export function encodeRa(ra: RouterAdvertisement): Buffer {
  const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  const u16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];
  if (!Number.isInteger(ra.routerLifetime) || ra.routerLifetime < 0 || ra.routerLifetime > 0xffff)
    throw new TypeError(`router lifetime ${ra.routerLifetime} is not 0..65535 s`);
  const out: number[] = [
    ROUTER_ADVERTISEMENT,
    0,
    0,
    0,
    ra.curHopLimit & 0xff,
    (ra.managed ? 0x80 : 0) | (ra.other ? 0x40 : 0),
    ...u16(ra.routerLifetime),
    ...u32(ra.reachableTime),
    ...u32(ra.retransTimer),
  ];
  if (ra.sourceLinkLayer) out.push(OPT.SOURCE_LL, 1, ...macBytes(ra.sourceLinkLayer));
  if (ra.mtu !== undefined) out.push(OPT.MTU, 1, 0, 0, ...u32(ra.mtu));
  for (const p of ra.prefixes) {
    if (!Number.isInteger(p.length) || p.length < 0 || p.length > 128)
      throw new TypeError(`prefix length ${p.length} is not 0..128`);
    out.push(
      OPT.PREFIX,
      4,
      p.length,
      (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0),
      ...u32(p.validLifetime),
      ...u32(p.preferredLifetime),
      0,
      0,
      0,
      0,
      ...ipv6Bytes(p.prefix),
    );
  }
  if (ra.dns && ra.dns.servers.length > 0) {
    // RFC 8106 5.1: Length is 1 + 2 x the number of addresses (units of 8 octets).
    out.push(OPT.RDNSS, 1 + 2 * ra.dns.servers.length, 0, 0, ...u32(ra.dns.lifetime));
    for (const s of ra.dns.servers) out.push(...ipv6Bytes(s));
  }
  if (ra.domains && ra.domains.names.length > 0) {
    // RFC 8106 5.2: the names, then zero padding to a multiple of 8 octets.
    const names = ra.domains.names.flatMap(encodeName);
    const len = Math.ceil((8 + names.length) / 8);
    out.push(OPT.DNSSL, len, 0, 0, ...u32(ra.domains.lifetime), ...names);
    while (out.length % 8 !== 0) out.push(0);
  }
  return Buffer.from(out);
}

/** The options after `start` as (type, offset, length in bytes); an error where one is malformed. */
function* options(
  b: Uint8Array,
  start: number,
): Generator<{ type: number; off: number; len: number } | NdError> {
  let off = start;
  while (off < b.length) {
    if (off + 2 > b.length) {
      yield { kind: 'bad-option', offset: off, detail: 'an option header past the end' };
      return;
    }
    // RFC 4861 4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
    const len = b[off + 1] * 8;
    if (len === 0) {
      yield { kind: 'bad-option', offset: off, detail: 'an option of length zero' };
      return;
    }
    if (off + len > b.length) {
      yield { kind: 'bad-option', offset: off, detail: `option ${b[off]} runs past the end` };
      return;
    }
    yield { type: b[off], off, len };
    off += len;
  }
}

const u32At = (b: Uint8Array, o: number) =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

/** Reads DNSSL names from b[from, to): labels until a zero; zero bytes after the last name are padding. */
function readNames(b: Uint8Array, from: number, to: number): string[] | string {
  const names: string[] = [];
  let o = from;
  while (o < to && b[o] !== 0) {
    const labels: string[] = [];
    while (o < to && b[o] !== 0) {
      const l = b[o];
      if (l > 63 || o + 1 + l > to) return `a label of ${l} bytes at ${o}`;
      labels.push(Buffer.from(b.subarray(o + 1, o + 1 + l)).toString('latin1'));
      o += 1 + l;
    }
    if (o >= to) return 'a name without its terminating zero';
    o++;
    names.push(labels.join('.'));
  }
  for (; o < to; o++) if (b[o] !== 0) return `padding that is not zero at ${o}`;
  return names;
}

/** Reads a Router Advertisement (RFC 4861 4.2; validity per 6.1.2 except the IP header's checks). */
export function parseRa(b: Uint8Array): RaResult {
  if (b.length < 16) return { ok: false, error: { kind: 'truncated', length: b.length } };
  if (b[0] !== ROUTER_ADVERTISEMENT)
    return { ok: false, error: { kind: 'not-type', type: b[0], expected: ROUTER_ADVERTISEMENT } };
  if (b[1] !== 0) return { ok: false, error: { kind: 'bad-code', code: b[1] } };
  const ra: RouterAdvertisement = {
    curHopLimit: b[4],
    managed: (b[5] & 0x80) !== 0,
    other: (b[5] & 0x40) !== 0,
    routerLifetime: (b[6] << 8) | b[7],
    reachableTime: u32At(b, 8),
    retransTimer: u32At(b, 12),
    prefixes: [],
  };
  for (const o of options(b, 16)) {
    if ('kind' in o) return { ok: false, error: o };
    const bad = (detail: string): RaResult => ({
      ok: false,
      error: { kind: 'bad-option', offset: o.off, detail },
    });
    switch (o.type) {
      case OPT.SOURCE_LL:
        ra.sourceLinkLayer = macText(b, o.off + 2);
        break;
      case OPT.MTU:
        if (o.len !== 8) return bad('an MTU option is 8 bytes');
        ra.mtu = u32At(b, o.off + 4);
        break;
      case OPT.PREFIX:
        if (o.len !== 32) return bad('a prefix option is 32 bytes');
        if (b[o.off + 2] > 128) return bad(`prefix length ${b[o.off + 2]}`);
        ra.prefixes.push({
          length: b[o.off + 2],
          onLink: (b[o.off + 3] & 0x80) !== 0,
          autonomous: (b[o.off + 3] & 0x40) !== 0,
          validLifetime: u32At(b, o.off + 4),
          preferredLifetime: u32At(b, o.off + 8),
          prefix: formatIp(b, o.off + 16, 16),
        });
        break;
      case OPT.RDNSS: {
        // RFC 8106 5.1: at least one address (Length >= 3, odd).
        if (o.len < 24 || (o.len - 8) % 16 !== 0) return bad('an RDNSS option holds whole addresses');
        const servers: string[] = [];
        for (let a = o.off + 8; a < o.off + o.len; a += 16) servers.push(formatIp(b, a, 16));
        ra.dns = { servers, lifetime: u32At(b, o.off + 4) };
        break;
      }
      case OPT.DNSSL: {
        if (o.len < 16) return bad('a DNSSL option holds at least one name');
        const names = readNames(b, o.off + 8, o.off + o.len);
        if (typeof names === 'string') return bad(names);
        ra.domains = { names, lifetime: u32At(b, o.off + 4) };
        break;
      }
      default:
        // RFC 4861 4.6: options a node does not recognize are skipped.
        break;
    }
  }
  return { ok: true, ra };
}

/**
 * Reads a Router Solicitation (RFC 4861 4.1; validity per 6.1.1 except the hop limit) that came
 * from IP address `source` (the unspecified address "::" when the host has none yet).
 */
export function parseRs(b: Uint8Array, source?: string): RsResult {
  if (b.length < 8) return { ok: false, error: { kind: 'truncated', length: b.length } };
  if (b[0] !== ROUTER_SOLICITATION)
    return { ok: false, error: { kind: 'not-type', type: b[0], expected: ROUTER_SOLICITATION } };
  if (b[1] !== 0) return { ok: false, error: { kind: 'bad-code', code: b[1] } };
  let sourceLinkLayer: string | undefined;
  for (const o of options(b, 8)) {
    if ('kind' in o) return { ok: false, error: o };
    if (o.type === OPT.SOURCE_LL && o.len >= 8) sourceLinkLayer = macText(b, o.off + 2);
  }
  // RFC 4861 6.1.1: from the unspecified address, no source link-layer address option.
  if (sourceLinkLayer !== undefined && source === '::')
    return {
      ok: false,
      error: { kind: 'bad-option', offset: 8, detail: 'a link-layer address from the unspecified address' },
    };
  return { ok: true, sourceLinkLayer };
}

/** A one-line description of a reading error, for logs. */
export function describeNdError(e: NdError): string {
  switch (e.kind) {
    case 'truncated':
      return `${e.length} bytes, too short`;
    case 'not-type':
      return `ICMPv6 type ${e.type}, not ${e.expected}`;
    case 'bad-code':
      return `code ${e.code}, not 0`;
    case 'bad-option':
      return `at byte ${e.offset}: ${e.detail}`;
  }
}
