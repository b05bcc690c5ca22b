// DHCP wire format (RFC 2131 section 2, RFC 2132 options): bytes <-> a plain DhcpMessage object.
// Parsing never throws and never reads out of bounds: malformed input gives a typed error value.
// Options are kept as raw bytes keyed by code; the typed getters below decode the ones the CPE uses.
import { isIPv4 } from 'node:net';
import { hwAddrBytes, hwAddrText } from '../net/hw-addr.js';

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;
/** RFC 2131 2: the four octets 99.130.83.99 that start the options field. */
export const MAGIC_COOKIE = 0x63825363;
/** RFC 2131 2: the fixed header is 236 octets, then the 4-octet cookie. */
const FIXED_LEN = 236;
/** RFC 2131 2 (flags): the leftmost bit of 'flags' is BROADCAST. */
export const FLAG_BROADCAST = 0x8000;

/** RFC 2132 9.6: DHCP message types (option 53). */
export enum MessageType {
  DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  DECLINE = 4,
  ACK = 5,
  NAK = 6,
  RELEASE = 7,
  INFORM = 8,
}

/** Option codes used by the CPE (RFC 2132). */
export enum Opt {
  PAD = 0,
  SUBNET_MASK = 1,
  ROUTER = 3,
  DNS = 6,
  HOSTNAME = 12,
  DOMAIN_NAME = 15,
  BROADCAST_ADDR = 28,
  REQUESTED_IP = 50,
  LEASE_TIME = 51,
  OVERLOAD = 52,
  MESSAGE_TYPE = 53,
  SERVER_ID = 54,
  PARAM_LIST = 55,
  MESSAGE = 56,
  MAX_SIZE = 57,
  T1 = 58,
  T2 = 59,
  CLIENT_ID = 61,
  END = 255,
}

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The first `hlen` octets of chaddr, lower-case hex with colons ("02:00:00:00:00:01"). */
  chaddr: string;
  sname: string;
  file: string;
  /** Raw option values by code; repeated options are concatenated (RFC 3396). */
  options: Map<number, Buffer>;
}

export type WireError =
  | { kind: 'too-short'; length: number }
  | { kind: 'bad-op'; op: number }
  | { kind: 'bad-hlen'; hlen: number }
  | { kind: 'bad-cookie'; cookie: number }
  | { kind: 'truncated-option'; code: number; offset: number }
  | { kind: 'no-end-option' }
  | { kind: 'no-message-type' }
  | { kind: 'bad-option'; code: number; reason: string };

export type ParseResult = { ok: true; msg: DhcpMessage } | { ok: false; error: WireError };

export function describeWireError(e: WireError): string {
  switch (e.kind) {
    case 'too-short':
      return `packet of ${e.length} octets is shorter than the 240-octet DHCP header and cookie`;
    case 'bad-op':
      return `op ${e.op} is neither BOOTREQUEST nor BOOTREPLY`;
    case 'bad-hlen':
      return `hardware address length ${e.hlen} exceeds the 16-octet chaddr field`;
    case 'bad-cookie':
      return `magic cookie 0x${e.cookie.toString(16)} is not 0x63825363`;
    case 'truncated-option':
      return `option ${e.code} at offset ${e.offset} runs past the end of its field`;
    case 'no-end-option':
      return 'options have no END (255) option';
    case 'no-message-type':
      return 'no DHCP message type (option 53)';
    case 'bad-option':
      return `option ${e.code}: ${e.reason}`;
  }
}

function ipAt(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

function cString(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.subarray(0, nul < 0 ? buf.length : nul).toString('latin1');
}

/**
 * Reads options from `field` into `into` (RFC 2132 2: code, length, value; PAD and END have no
 * length). Returns whether END was seen, or an error.
 */
function readOptions(
  field: Buffer,
  base: number,
  into: Map<number, Buffer>,
): { ok: true; end: boolean } | { ok: false; error: WireError } {
  let i = 0;
  while (i < field.length) {
    const code = field[i];
    if (code === Opt.PAD) {
      i += 1;
      continue;
    }
    if (code === Opt.END) return { ok: true, end: true };
    if (i + 1 >= field.length)
      return { ok: false, error: { kind: 'truncated-option', code, offset: base + i } };
    const len = field[i + 1];
    if (i + 2 + len > field.length) {
      return { ok: false, error: { kind: 'truncated-option', code, offset: base + i } };
    }
    const value = field.subarray(i + 2, i + 2 + len);
    // RFC 3396 5: several instances of one option are concatenated in order.
    const prev = into.get(code);
    into.set(code, prev ? Buffer.concat([prev, value]) : Buffer.from(value));
    i += 2 + len;
  }
  return { ok: true, end: false };
}

/** Parses one DHCP message (the UDP payload). Never throws. */
export function parse(bytes: Uint8Array): ParseResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < FIXED_LEN + 4) return { ok: false, error: { kind: 'too-short', length: buf.length } };
  const op = buf[0];
  if (op !== BOOTREQUEST && op !== BOOTREPLY) return { ok: false, error: { kind: 'bad-op', op } };
  const hlen = buf[2];
  if (hlen > 16) return { ok: false, error: { kind: 'bad-hlen', hlen } };
  const cookie = buf.readUInt32BE(FIXED_LEN);
  if (cookie !== MAGIC_COOKIE) return { ok: false, error: { kind: 'bad-cookie', cookie } };
  const options = new Map<number, Buffer>();
  const main = readOptions(buf.subarray(FIXED_LEN + 4), FIXED_LEN + 4, options);
  if (!main.ok) return main;
  // RFC 2132 2: the options field ends with the END option; a message without it is malformed.
  if (!main.end) return { ok: false, error: { kind: 'no-end-option' } };
  let sname = cString(buf.subarray(44, 108));
  let file = cString(buf.subarray(108, 236));
  // RFC 2132 9.3: option overload puts more options into 'file' (1), 'sname' (2) or both (3),
  // read after the options field, file before sname.
  const overload = options.get(Opt.OVERLOAD);
  if (overload !== undefined) {
    if (overload.length !== 1 || overload[0] < 1 || overload[0] > 3) {
      return {
        ok: false,
        error: { kind: 'bad-option', code: Opt.OVERLOAD, reason: 'value must be 1, 2 or 3' },
      };
    }
    if (overload[0] & 1) {
      const r = readOptions(buf.subarray(108, 236), 108, options);
      if (!r.ok) return r;
      file = '';
    }
    if (overload[0] & 2) {
      const r = readOptions(buf.subarray(44, 108), 44, options);
      if (!r.ok) return r;
      sname = '';
    }
  }
  const mt = options.get(Opt.MESSAGE_TYPE);
  if (mt === undefined) return { ok: false, error: { kind: 'no-message-type' } };
  // RFC 2132 9.6: length 1, value 1..8.
  if (mt.length !== 1 || mt[0] < 1 || mt[0] > 8) {
    return {
      ok: false,
      error: { kind: 'bad-option', code: Opt.MESSAGE_TYPE, reason: 'not a known message type' },
    };
  }
  const msg: DhcpMessage = {
    op,
    htype: buf[1],
    hlen,
    hops: buf[3],
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipAt(buf, 12),
    yiaddr: ipAt(buf, 16),
    siaddr: ipAt(buf, 20),
    giaddr: ipAt(buf, 24),
    chaddr: hwAddrText(buf, 28, hlen),
    sname,
    file,
    options,
  };
  const checked = checkOptionLengths(msg.options);
  if (checked) return { ok: false, error: checked };
  return { ok: true, msg };
}

/** RFC 2132 lengths of the options the CPE reads: a wrong one is a malformed message. */
function checkOptionLengths(options: Map<number, Buffer>): WireError | undefined {
  const exact: [number, number][] = [
    [Opt.SUBNET_MASK, 4], // RFC 2132 3.3
    [Opt.REQUESTED_IP, 4], // RFC 2132 9.1
    [Opt.LEASE_TIME, 4], // RFC 2132 9.2
    [Opt.SERVER_ID, 4], // RFC 2132 9.7
    [Opt.MAX_SIZE, 2], // RFC 2132 9.10
    [Opt.T1, 4], // RFC 2132 9.11
    [Opt.T2, 4], // RFC 2132 9.12
  ];
  for (const [code, len] of exact) {
    const v = options.get(code);
    if (v !== undefined && v.length !== len) {
      return { kind: 'bad-option', code, reason: `length ${v.length}, expected ${len}` };
    }
  }
  // RFC 2132 3.5 and 3.8: lists of addresses, at least one, a multiple of 4.
  for (const code of [Opt.ROUTER, Opt.DNS]) {
    const v = options.get(code);
    if (v !== undefined && (v.length < 4 || v.length % 4 !== 0)) {
      return { kind: 'bad-option', code, reason: `length ${v.length} is not a positive multiple of 4` };
    }
  }
  return undefined;
}

function ipBytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new TypeError(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split('.').map(Number));
}

/** RFC 1542 2.1: a BOOTP/DHCP message is at least 300 octets; relays and old clients drop shorter ones. */
const MIN_LEN = 300;

/** Serialises a message (options in ascending code order, message type first, END last). */
export function emit(msg: DhcpMessage): Buffer {
  const head = Buffer.alloc(FIXED_LEN + 4);
  head[0] = msg.op;
  head[1] = msg.htype;
  const mac = hwAddrBytes(msg.chaddr);
  head[2] = mac.length;
  head[3] = msg.hops;
  head.writeUInt32BE(msg.xid >>> 0, 4);
  head.writeUInt16BE(msg.secs, 8);
  head.writeUInt16BE(msg.flags, 10);
  ipBytes(msg.ciaddr).copy(head, 12);
  ipBytes(msg.yiaddr).copy(head, 16);
  ipBytes(msg.siaddr).copy(head, 20);
  ipBytes(msg.giaddr).copy(head, 24);
  mac.copy(head, 28);
  head.write(msg.sname.slice(0, 63), 44, 'latin1');
  head.write(msg.file.slice(0, 127), 108, 'latin1');
  head.writeUInt32BE(MAGIC_COOKIE, FIXED_LEN);
  const parts: Buffer[] = [head];
  const codes = [...msg.options.keys()].sort((a, b) => a - b);
  // Option order is free (RFC 2132 2); option 53 goes first because some clients look for it there.
  const ordered = [Opt.MESSAGE_TYPE, ...codes.filter((c) => c !== Opt.MESSAGE_TYPE)].filter((c) =>
    msg.options.has(c),
  );
  for (const code of ordered) {
    if (code === Opt.PAD || code === Opt.END) throw new TypeError(`option ${code} carries no value`);
    const value = msg.options.get(code)!;
    // RFC 3396 7: a value longer than 255 octets is split into consecutive instances.
    if (value.length === 0) parts.push(Buffer.from([code, 0]));
    for (let off = 0; off < value.length; off += 255) {
      const chunk = value.subarray(off, off + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
    }
  }
  parts.push(Buffer.from([Opt.END]));
  const out = Buffer.concat(parts);
  return out.length >= MIN_LEN ? out : Buffer.concat([out, Buffer.alloc(MIN_LEN - out.length)]);
}

// Typed option values.

export function messageType(msg: DhcpMessage): MessageType {
  return msg.options.get(Opt.MESSAGE_TYPE)![0] as MessageType;
}

export function optIp(msg: DhcpMessage, code: number): string | undefined {
  const v = msg.options.get(code);
  return v !== undefined && v.length >= 4 ? ipAt(v, 0) : undefined;
}

export function optIps(msg: DhcpMessage, code: number): string[] {
  const v = msg.options.get(code);
  const out: string[] = [];
  if (v === undefined) return out;
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(ipAt(v, i));
  return out;
}

export function optU32(msg: DhcpMessage, code: number): number | undefined {
  const v = msg.options.get(code);
  return v !== undefined && v.length === 4 ? v.readUInt32BE(0) : undefined;
}

export function optString(msg: DhcpMessage, code: number): string | undefined {
  const v = msg.options.get(code);
  return v === undefined ? undefined : v.toString('latin1');
}

export const encode = {
  u8: (n: number): Buffer => Buffer.from([n]),
  u16: (n: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    return b;
  },
  u32: (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  },
  ip: (ip: string): Buffer => ipBytes(ip),
  ips: (ips: readonly string[]): Buffer => Buffer.concat(ips.map(ipBytes)),
  str: (s: string): Buffer => Buffer.from(s, 'latin1'),
  bytes: (b: readonly number[]): Buffer => Buffer.from(b),
};

/** A message with the fixed fields zeroed, to be filled in by the caller. */
export function blank(op: number, xid: number, chaddr: string): DhcpMessage {
  return {
    op,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map(),
  };
}

// IPv4 arithmetic shared by the server and the client.

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function prefixToMask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

export function maskToPrefix(mask: string): number {
  const n = ipToInt(mask);
  let p = 0;
  while (p < 32 && n & (0x80000000 >>> p)) p++;
  return p;
}
