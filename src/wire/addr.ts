// IP addresses and prefixes in text (configuration and tests): text to bytes (IPv4 dotted quad,
// IPv6 per RFC 4291 section 2.2 with "::" compression and a trailing dotted quad), bytes to text
// (RFC 5952 canonical form), and prefix matching against an address inside a packet buffer.

/** An address prefix: 4 or 16 bytes and a length in bits. */
export interface Prefix {
  readonly bytes: Uint8Array;
  readonly len: number;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    out[i] = v;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  let text = s;
  const out = new Uint8Array(16);
  // A trailing dotted quad fills the last 32 bits.
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    tail = parseV4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const group = (g: string): number | undefined =>
    /^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : undefined;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + rest.length > 7) return undefined;
  const words: number[] = [];
  for (const g of head) {
    const v = group(g);
    if (v === undefined) return undefined;
    words.push(v);
  }
  if (halves.length === 2) {
    for (let i = head.length + rest.length; i < 8; i++) words.push(0);
    for (const g of rest) {
      const v = group(g);
      if (v === undefined) return undefined;
      words.push(v);
    }
  }
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/**
 * Parses an IPv4 or IPv6 address (an IPv6 zone, "%eth0", is dropped): 4 or 16 bytes, or
 * undefined when `text` is not an address (input from a peer or a user).
 */
export function tryParseIp(text: string): Uint8Array | undefined {
  if (!text.includes(':')) return parseV4(text);
  const zone = text.indexOf('%');
  return parseV6(zone < 0 ? text : text.slice(0, zone));
}

/** Parses an IPv4 or IPv6 address; throws on malformed text (configuration, not network input). */
export function parseIp(text: string): Uint8Array {
  const b = tryParseIp(text);
  if (!b) throw new SyntaxError(`not an IP address: ${JSON.stringify(text)}`);
  return b;
}

/** An IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 2.5.5.2) as its IPv4 address; others as they are. */
export function unmapV4(a: Uint8Array): Uint8Array {
  if (a.length !== 16) return a;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return a;
  if (a[10] !== 0xff || a[11] !== 0xff) return a;
  return a.subarray(12);
}

/** Parses "198.18.0.0/15" or "2001:db8::/32"; a bare address is a host prefix. */
export function parsePrefix(text: string): Prefix {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  const max = bytes.length * 8;
  let len = max;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > max) throw new SyntaxError(`bad prefix length in ${text}`);
    len = Number(l);
  }
  // Host bits are cleared so that the prefix compares by its network part only.
  for (let bit = len; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { bytes, len };
}

/** True when the address of the prefix's family at buf[off] lies inside the prefix. */
export function prefixMatches(p: Prefix, buf: Uint8Array, off: number): boolean {
  const pb = p.bytes;
  const full = p.len >> 3;
  for (let i = 0; i < full; i++) if (buf[off + i] !== pb[i]) return false;
  const rem = p.len & 7;
  if (rem === 0) return true;
  const mask = (0xff00 >> rem) & 0xff;
  return (buf[off + full] & mask) === pb[full];
}

/**
 * An endpoint as text: `198.18.3.2:8000`, `[2001:db8::2]:8000` (an IPv6 address in brackets,
 * RFC 5952 section 6), for logs, sessions and status.
 */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The address at buf[off] (4 or 16 bytes) as text, IPv6 in RFC 5952 form. */
export function formatIp(buf: Uint8Array, off = 0, len = buf.length - off): string {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  if (len !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${len}`);
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  // The longest run of two or more zero groups (the first one on a tie) becomes "::".
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}
