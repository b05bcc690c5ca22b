// IP addresses as bytes for the HAG's policies: text to bytes and back, IPv4-mapped IPv6 unwrapped
// to IPv4 (so ::ffff:127.0.0.1 is judged as 127.0.0.1), and prefixes with a fast byte-wise match.
import { isIP, isIPv4 } from 'node:net';

/** 4 or 16 bytes, or undefined when `s` is not an address. */
export function parseIp(s: string): Uint8Array | undefined {
  const fam = isIP(s);
  if (fam === 4) return Uint8Array.from(s.split('.').map(Number));
  if (fam !== 6) return undefined;
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (isIPv4(tail)) {
    const b = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...new Array(8 - hs.length - rs.length).fill('0'), ...rs];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** An IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 2.5.5.2) as its IPv4 address; others as they are. */
export function unmap(a: Uint8Array): Uint8Array {
  if (a.length !== 16) return a;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return a;
  if (a[10] !== 0xff || a[11] !== 0xff) return a;
  return a.subarray(12);
}

export function formatIp(a: Uint8Array): string {
  if (a.length === 4) return a.join('.');
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((a[i] << 8) | a[i + 1]);
  // RFC 5952 4.2: the longest run (2 or more) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

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
