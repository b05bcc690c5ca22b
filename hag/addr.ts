// IP prefixes for the HAG's policies: IPv4-mapped IPv6 unwrapped to IPv4 (so ::ffff:127.0.0.1 is
// judged as 127.0.0.1), each prefix keeping its text for logs. Addresses in text and back are the
// core's (src/wire/addr.ts).
import { tryParseIp, unmapV4 } from '../src/wire/addr.js';

export { formatIp, hostPort } from '../src/wire/addr.js';

/** 4 or 16 bytes, or undefined when `s` is not an address. */
export const parseIp = tryParseIp;

/** An IPv4-mapped IPv6 address as its IPv4 address (policies judge ::ffff:127.0.0.1 as 127.0.0.1). */
export const unmap = unmapV4;

export interface Prefix {
  bytes: Uint8Array;
  len: number;
  text: string;
}

/** "ADDR/LEN" or a bare address (a host prefix). Undefined when malformed. */
export function parsePrefix(s: string): Prefix | undefined {
  const [a, l] = s.split('/');
  const raw = parseIp(a);
  if (!raw) return undefined;
  // A prefix written in IPv4-mapped form is an IPv4 prefix.
  const bytes = unmap(raw);
  const maxLen = raw.length * 8;
  let len = l === undefined ? maxLen : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > maxLen) return undefined;
  if (bytes !== raw) len = Math.max(0, len - 96);
  return { bytes, len, text: s };
}

export function inPrefix(a: Uint8Array, p: Prefix): boolean {
  if (a.length !== p.bytes.length) return false;
  const full = p.len >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== p.bytes[i]) return false;
  const bits = p.len & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (a[full] & mask) === (p.bytes[full] & mask);
}

/** The first prefix of `list` holding `a` (after unmapping), or undefined. */
export function matchPrefix(a: Uint8Array, list: readonly Prefix[]): Prefix | undefined {
  const u = unmap(a);
  for (const p of list) if (inPrefix(u, p)) return p;
  return undefined;
}
