// DHCPv6 wire format (RFC 8415 8, 21): client/server messages <-> a plain Dhcp6Message, and the
// options the CPE's client uses (client and server DUID, IA_NA with IAADDR, IA_PD with IAPREFIX,
// status code, preference, elapsed time, option request, DNS servers, RFC 3646). Parsing never
// throws and never reads out of bounds: malformed input gives an error value (a string).
import { formatIp, parseIp } from '../../src/wire/addr.js';
import { hwAddrBytes } from '../net/hw-addr.js';

export const CLIENT_PORT = 546;
export const SERVER_PORT = 547;
/** RFC 8415 7.1: All_DHCP_Relay_Agents_and_Servers. */
export const ALL_SERVERS = 'ff02::1:2';

/** RFC 8415 7.3: message types. */
export enum Msg {
  SOLICIT = 1,
  ADVERTISE = 2,
  REQUEST = 3,
  CONFIRM = 4,
  RENEW = 5,
  REBIND = 6,
  REPLY = 7,
  RELEASE = 8,
  DECLINE = 9,
}

/** RFC 8415 21 (and RFC 3646 3): option codes. */
export enum Opt6 {
  CLIENTID = 1,
  SERVERID = 2,
  IA_NA = 3,
  IAADDR = 5,
  ORO = 6,
  PREFERENCE = 7,
  ELAPSED_TIME = 8,
  STATUS_CODE = 13,
  RAPID_COMMIT = 14,
  DNS_SERVERS = 23,
  IA_PD = 25,
  IAPREFIX = 26,
}

/** RFC 8415 21.13: status codes. */
export enum Status {
  Success = 0,
  UnspecFail = 1,
  NoAddrsAvail = 2,
  NoBinding = 3,
  NotOnLink = 4,
  UseMulticast = 5,
  NoPrefixAvail = 6,
}

export interface Dhcp6Option {
  code: number;
  data: Buffer;
}

export interface Dhcp6Message {
  type: number;
  /** RFC 8415 8: 24 bits. */
  xid: number;
  options: Dhcp6Option[];
}

/** RFC 8415 21.6: an address of an IA_NA, lifetimes in seconds. */
export interface IaAddress {
  address: string;
  preferred: number;
  valid: number;
}

/** RFC 8415 21.22: a delegated prefix of an IA_PD. */
export interface IaPrefix {
  prefix: string;
  length: number;
  preferred: number;
  valid: number;
}

/** RFC 8415 21.4 / 21.21: an IA_NA or IA_PD as read, with its status (Success when absent). */
export interface Ia<T> {
  iaid: number;
  t1: number;
  t2: number;
  status: number;
  statusMessage: string;
  items: T[];
}

/** Options in a buffer (RFC 8415 21.1: code, length, data); an error when one runs past the end. */
export function parseOptions(buf: Buffer): Dhcp6Option[] | string {
  const out: Dhcp6Option[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) return `option header cut short at offset ${off}`;
    const code = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    if (off + 4 + len > buf.length) return `option ${code} of length ${len} runs past the end`;
    out.push({ code, data: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return out;
}

/** RFC 8415 8: msg-type, transaction-id (3 octets), options; an error string when malformed. */
export function parse6(buf: Buffer): Dhcp6Message | string {
  if (buf.length < 4) return `message of ${buf.length} bytes, shorter than its 4-byte header`;
  const options = parseOptions(buf.subarray(4));
  if (typeof options === 'string') return options;
  return { type: buf[0], xid: buf.readUIntBE(1, 3), options };
}

export function encodeOption(code: number, data: Buffer): Buffer {
  const b = Buffer.alloc(4 + data.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

export function emit6(m: Dhcp6Message): Buffer {
  const head = Buffer.alloc(4);
  head[0] = m.type;
  head.writeUIntBE(m.xid & 0xffffff, 1, 3);
  return Buffer.concat([head, ...m.options.map((o) => encodeOption(o.code, o.data))]);
}

export function option(m: Dhcp6Message, code: number): Buffer | undefined {
  return m.options.find((o) => o.code === code)?.data;
}

/** RFC 8415 11.4: DUID-LL (type 3), hardware type 1 (Ethernet), the MAC. */
export function duidLl(mac: string): Buffer {
  return Buffer.concat([Buffer.from([0, 3, 0, 1]), Buffer.from(hwAddrBytes(mac))]);
}

/** RFC 8415 21.13: the status code option's code and message; Success when there is none. */
export function statusOf(opts: Dhcp6Option[]): { status: number; message: string } | string {
  const o = opts.find((x) => x.code === Opt6.STATUS_CODE);
  if (!o) return { status: Status.Success, message: '' };
  if (o.data.length < 2) return `status code option of ${o.data.length} bytes`;
  return { status: o.data.readUInt16BE(0), message: o.data.subarray(2).toString('utf8') };
}

function readIa<T>(
  data: Buffer,
  what: string,
  item: number,
  read: (d: Buffer) => T | string,
): Ia<T> | string {
  // RFC 8415 21.4, 21.21: IAID, T1, T2 (4 octets each), then options.
  if (data.length < 12) return `${what} of ${data.length} bytes, shorter than 12`;
  const opts = parseOptions(data.subarray(12));
  if (typeof opts === 'string') return `${what}: ${opts}`;
  const st = statusOf(opts);
  if (typeof st === 'string') return `${what}: ${st}`;
  const items: T[] = [];
  for (const o of opts) {
    if (o.code !== item) continue;
    const r = read(o.data);
    if (typeof r === 'string') return `${what}: ${r}`;
    items.push(r);
  }
  return {
    iaid: data.readUInt32BE(0),
    t1: data.readUInt32BE(4),
    t2: data.readUInt32BE(8),
    status: st.status,
    statusMessage: st.message,
    items,
  };
}

/** RFC 8415 21.6: IPv6 address (16), preferred and valid lifetimes (4 each), options. */
function readIaAddr(d: Buffer): IaAddress | string {
  if (d.length < 24) return `IAADDR of ${d.length} bytes, shorter than 24`;
  return { address: formatIp(d, 0, 16), preferred: d.readUInt32BE(16), valid: d.readUInt32BE(20) };
}

/** RFC 8415 21.22: preferred, valid (4 each), prefix length (1), prefix (16), options. */
function readIaPrefix(d: Buffer): IaPrefix | string {
  if (d.length < 25) return `IAPREFIX of ${d.length} bytes, shorter than 25`;
  const length = d[8];
  if (length > 128) return `IAPREFIX with prefix length ${length}`;
  return {
    prefix: formatIp(d, 9, 16),
    length,
    preferred: d.readUInt32BE(0),
    valid: d.readUInt32BE(4),
  };
}

/** The message's IA_NAs (RFC 8415 21.4). */
export function iaNas(m: Dhcp6Message): Ia<IaAddress>[] | string {
  return readIas(m, Opt6.IA_NA, 'IA_NA', Opt6.IAADDR, readIaAddr);
}

/** The message's IA_PDs (RFC 8415 21.21). */
export function iaPds(m: Dhcp6Message): Ia<IaPrefix>[] | string {
  return readIas(m, Opt6.IA_PD, 'IA_PD', Opt6.IAPREFIX, readIaPrefix);
}

function readIas<T>(
  m: Dhcp6Message,
  code: number,
  what: string,
  item: number,
  read: (d: Buffer) => T | string,
): Ia<T>[] | string {
  const out: Ia<T>[] = [];
  for (const o of m.options) {
    if (o.code !== code) continue;
    const r = readIa(o.data, what, item, read);
    if (typeof r === 'string') return r;
    out.push(r);
  }
  return out;
}

/** RFC 8415 21.4: an IA_NA with T1 = T2 = 0 (the server chooses) and the addresses to ask for. */
export function encodeIaNa(iaid: number, addresses: IaAddress[] = []): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(iaid >>> 0, 0);
  const items = addresses.map((a) => {
    const d = Buffer.alloc(24);
    Buffer.from(parseIp(a.address)).copy(d, 0);
    d.writeUInt32BE(a.preferred >>> 0, 16);
    d.writeUInt32BE(a.valid >>> 0, 20);
    return encodeOption(Opt6.IAADDR, d);
  });
  return encodeOption(Opt6.IA_NA, Buffer.concat([head, ...items]));
}

/** RFC 8415 21.21: an IA_PD; with a prefix (RFC 8415 18.2.1: `::/len` as the length hint). */
export function encodeIaPd(iaid: number, prefixes: IaPrefix[] = []): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32BE(iaid >>> 0, 0);
  const items = prefixes.map((p) => {
    const d = Buffer.alloc(25);
    d.writeUInt32BE(p.preferred >>> 0, 0);
    d.writeUInt32BE(p.valid >>> 0, 4);
    d[8] = p.length;
    Buffer.from(parseIp(p.prefix)).copy(d, 9);
    return encodeOption(Opt6.IAPREFIX, d);
  });
  return encodeOption(Opt6.IA_PD, Buffer.concat([head, ...items]));
}

/** RFC 3646 3: DNS servers, 16 octets each; an error when the length is not a multiple of 16. */
export function dnsServers(m: Dhcp6Message): string[] | string {
  const d = option(m, Opt6.DNS_SERVERS);
  if (!d) return [];
  if (d.length % 16 !== 0) return `DNS servers option of ${d.length} bytes, not a multiple of 16`;
  const out: string[] = [];
  for (let i = 0; i < d.length; i += 16) out.push(formatIp(d, i, 16));
  return out;
}

/** RFC 8415 21.8: the server's preference (0 when absent). */
export function preference(m: Dhcp6Message): number {
  const d = option(m, Opt6.PREFERENCE);
  return d && d.length === 1 ? d[0] : 0;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff, 0);
  return b;
}
