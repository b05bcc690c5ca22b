// ICMP echo for the uplink health probes: build echo requests and read what comes back (echo
// replies, and the errors that quote one of our requests), for IPv4 (RFC 792) and IPv6 (RFC 4443).
// Reading never throws: malformed input gives a typed error value.

export type Family = 4 | 6;

/** RFC 792: echo 8, echo reply 0, destination unreachable 3, time exceeded 11. */
const V4 = { ECHO: 8, REPLY: 0, UNREACH: 3, TIME_EXCEEDED: 11 } as const;
/** RFC 4443 2.1: echo 128, echo reply 129, destination unreachable 1, time exceeded 3. */
const V6 = { ECHO: 128, REPLY: 129, UNREACH: 1, TIME_EXCEEDED: 3 } as const;

export type IcmpRead =
  | { kind: 'reply'; id: number; seq: number; from: string }
  | { kind: 'error'; id: number; seq: number; from: string; reason: string }
  | { kind: 'other' };

export type IcmpError =
  | { kind: 'truncated'; length: number }
  | { kind: 'not-icmp'; detail: string }
  | { kind: 'bad-checksum' };

export type IcmpResult = { ok: true; read: IcmpRead } | { ok: false; error: IcmpError };

/** RFC 1071 internet checksum. */
export function checksum(buf: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (buf.length % 2) s += buf[buf.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * An echo request: type, code 0, checksum, identifier, sequence number, data (RFC 792 "Echo or
 * Echo Reply Message"; RFC 4443 4.1). The ICMPv6 checksum covers a pseudo header the kernel knows
 * and fills in on raw ICMPv6 sockets, so it is left zero here.
 */
export function echoRequest(family: Family, id: number, seq: number, size = 16): Buffer {
  const b = Buffer.alloc(8 + size);
  b[0] = family === 4 ? V4.ECHO : V6.ECHO;
  b.writeUInt16BE(id & 0xffff, 4);
  b.writeUInt16BE(seq & 0xffff, 6);
  for (let i = 0; i < size; i++) b[8 + i] = (0x20 + i) & 0xff;
  if (family === 4) b.writeUInt16BE(checksum(b), 2);
  return b;
}

function ip4(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function unreachV4(code: number): string {
  const names = [
    'net unreachable',
    'host unreachable',
    'protocol unreachable',
    'port unreachable',
    'fragmentation needed',
    'source route failed',
  ];
  return `destination unreachable (${names[code] ?? `code ${code}`})`;
}

function unreachV6(code: number): string {
  const names = [
    'no route',
    'administratively prohibited',
    'beyond scope of source',
    'address unreachable',
    'port unreachable',
  ];
  return `destination unreachable (${names[code] ?? `code ${code}`})`;
}

/**
 * Reads one packet from a raw IPv4 ICMP socket (it starts with the IPv4 header). Errors quoting one
 * of our echo requests carry its id and sequence (RFC 792: the quoted IP header + 64 bits of data).
 */
export function readV4(pkt: Buffer): IcmpResult {
  if (pkt.length < 20) return { ok: false, error: { kind: 'truncated', length: pkt.length } };
  if (pkt[0] >> 4 !== 4) return { ok: false, error: { kind: 'not-icmp', detail: 'not IPv4' } };
  const ihl = (pkt[0] & 15) * 4;
  if (pkt[9] !== 1) return { ok: false, error: { kind: 'not-icmp', detail: `protocol ${pkt[9]}` } };
  if (ihl < 20 || pkt.length < ihl + 8)
    return { ok: false, error: { kind: 'truncated', length: pkt.length } };
  const from = ip4(pkt, 12);
  const icmp = pkt.subarray(ihl);
  if (checksum(icmp) !== 0) return { ok: false, error: { kind: 'bad-checksum' } };
  const type = icmp[0];
  if (type === V4.REPLY)
    return { ok: true, read: { kind: 'reply', id: icmp.readUInt16BE(4), seq: icmp.readUInt16BE(6), from } };
  if (type === V4.UNREACH || type === V4.TIME_EXCEEDED) {
    const inner = icmp.subarray(8);
    if (inner.length < 20 || inner[0] >> 4 !== 4) return { ok: true, read: { kind: 'other' } };
    const iihl = (inner[0] & 15) * 4;
    if (inner[9] !== 1 || inner.length < iihl + 8 || inner[iihl] !== V4.ECHO)
      return { ok: true, read: { kind: 'other' } };
    const reason = type === V4.UNREACH ? unreachV4(icmp[1]) : 'time exceeded';
    return {
      ok: true,
      read: {
        kind: 'error',
        id: inner.readUInt16BE(iihl + 4),
        seq: inner.readUInt16BE(iihl + 6),
        from,
        reason,
      },
    };
  }
  return { ok: true, read: { kind: 'other' } };
}

/**
 * Reads one ICMPv6 message from a raw ICMPv6 socket (no IPv6 header; the kernel has checked the
 * checksum). `from` is the source address the socket reported.
 */
export function readV6(msg: Buffer, from: string): IcmpResult {
  if (msg.length < 8) return { ok: false, error: { kind: 'truncated', length: msg.length } };
  const type = msg[0];
  if (type === V6.REPLY)
    return { ok: true, read: { kind: 'reply', id: msg.readUInt16BE(4), seq: msg.readUInt16BE(6), from } };
  if (type === V6.UNREACH || type === V6.TIME_EXCEEDED) {
    // RFC 4443 3.1: the invoking packet follows: IPv6 header (40 octets) then our echo request
    // (assuming no extension headers, which our requests do not carry).
    const inner = msg.subarray(8);
    if (inner.length < 48 || inner[0] >> 4 !== 6 || inner[6] !== 58 || inner[40] !== V6.ECHO) {
      return { ok: true, read: { kind: 'other' } };
    }
    const reason = type === V6.UNREACH ? unreachV6(msg[1]) : 'time exceeded';
    return {
      ok: true,
      read: { kind: 'error', id: inner.readUInt16BE(44), seq: inner.readUInt16BE(46), from, reason },
    };
  }
  return { ok: true, read: { kind: 'other' } };
}
