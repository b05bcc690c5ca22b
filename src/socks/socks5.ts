// SOCKS version 5 (RFC 1928) and its username/password authentication (RFC 1929): pure,
// incremental parsers for both sides and the matching encoders. Each parser looks at the bytes
// received so far and answers "incomplete", a typed error (with the reply the server should send,
// when the protocol has one), or the message and how many bytes it took. Nothing here throws on
// wire input; encoders throw RangeError only for values a caller should never pass.

export const SOCKS_VERSION = 5;
/** RFC 1929 2: the subnegotiation's own version. */
export const USERPASS_VERSION = 1;

/** RFC 1928 3: METHOD values. */
export const SOCKS_METHOD = { noAuth: 0x00, gssapi: 0x01, userPass: 0x02, noAcceptable: 0xff } as const;
/** RFC 1928 4: CMD values. */
export const SOCKS_CMD = { connect: 0x01, bind: 0x02, udpAssociate: 0x03 } as const;
/** RFC 1928 4 and 5: ATYP values. */
export const SOCKS_ATYP = { ipv4: 0x01, domain: 0x03, ipv6: 0x04 } as const;
/** RFC 1928 6: REP values. */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type SocksAddress =
  | { type: 'ipv4'; address: Uint8Array }
  | { type: 'ipv6'; address: Uint8Array }
  | { type: 'domain'; name: string };

export interface SocksRequest {
  cmd: number;
  dst: SocksAddress;
  port: number;
}

export interface SocksReply {
  rep: number;
  bnd: SocksAddress;
  port: number;
}

export interface SocksParseError {
  reason: string;
  /** RFC 1928 6: the reply code to send back before closing, where one applies. */
  reply?: number;
}

export type SocksParse<T> =
  | { kind: 'ok'; value: T; consumed: number }
  | { kind: 'incomplete' }
  | { kind: 'error'; error: SocksParseError };

const incomplete = { kind: 'incomplete' } as const;
function fail(reason: string, reply?: number): { kind: 'error'; error: SocksParseError } {
  return { kind: 'error', error: { reason, reply } };
}

// ------------------------------------------------------------------ server side: parse requests

/** RFC 1928 3: VER, NMETHODS, METHODS. */
export function parseGreeting(b: Uint8Array): SocksParse<{ methods: number[] }> {
  if (b.length < 1) return incomplete;
  if (b[0] !== SOCKS_VERSION) return fail(`not SOCKS5 (version byte ${b[0]})`);
  if (b.length < 2) return incomplete;
  const n = b[1];
  if (n === 0) return fail('greeting offers no method');
  if (b.length < 2 + n) return incomplete;
  return { kind: 'ok', value: { methods: [...b.subarray(2, 2 + n)] }, consumed: 2 + n };
}

/** RFC 1929 2: VER=1, ULEN, UNAME, PLEN, PASSWD (each 1..255 bytes). */
export function parseUserPass(b: Uint8Array): SocksParse<{ username: string; password: string }> {
  if (b.length < 1) return incomplete;
  if (b[0] !== USERPASS_VERSION) return fail(`username/password version ${b[0]}, expected 1`);
  if (b.length < 2) return incomplete;
  const ulen = b[1];
  if (ulen === 0) return fail('empty username');
  if (b.length < 3 + ulen) return incomplete;
  const plen = b[2 + ulen];
  if (plen === 0) return fail('empty password');
  const end = 3 + ulen + plen;
  if (b.length < end) return incomplete;
  const dec = new TextDecoder();
  return {
    kind: 'ok',
    value: { username: dec.decode(b.subarray(2, 2 + ulen)), password: dec.decode(b.subarray(3 + ulen, end)) },
    consumed: end,
  };
}

/** ATYP, address and port, as in requests and replies (RFC 1928 4, 5); `off` points at ATYP. */
function parseAddrPort(b: Uint8Array, off: number): SocksParse<{ addr: SocksAddress; port: number }> {
  if (b.length < off + 1) return incomplete;
  const atyp = b[off];
  let addr: SocksAddress;
  let end: number;
  if (atyp === SOCKS_ATYP.ipv4) {
    end = off + 1 + 4;
    if (b.length < end + 2) return incomplete;
    addr = { type: 'ipv4', address: b.subarray(off + 1, end) };
  } else if (atyp === SOCKS_ATYP.ipv6) {
    end = off + 1 + 16;
    if (b.length < end + 2) return incomplete;
    addr = { type: 'ipv6', address: b.subarray(off + 1, end) };
  } else if (atyp === SOCKS_ATYP.domain) {
    if (b.length < off + 2) return incomplete;
    const n = b[off + 1];
    if (n === 0) return fail('empty domain name', SOCKS_REPLY.generalFailure);
    end = off + 2 + n;
    if (b.length < end + 2) return incomplete;
    const name = new TextDecoder().decode(b.subarray(off + 2, end));
    // A host name is letters, digits, '-', '.', '_' (RFC 1123 2.1, lenient about '_').
    if (!/^[A-Za-z0-9._-]+$/.test(name))
      return fail('domain name has invalid characters', SOCKS_REPLY.generalFailure);
    addr = { type: 'domain', name };
  } else {
    return fail(`address type ${atyp}`, SOCKS_REPLY.addressTypeNotSupported);
  }
  const port = (b[end] << 8) | b[end + 1];
  return { kind: 'ok', value: { addr, port }, consumed: end + 2 };
}

/** RFC 1928 4: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT. */
export function parseRequest(b: Uint8Array): SocksParse<SocksRequest> {
  if (b.length < 1) return incomplete;
  if (b[0] !== SOCKS_VERSION) return fail(`request version ${b[0]}`, SOCKS_REPLY.generalFailure);
  if (b.length < 3) return incomplete;
  const cmd = b[1];
  // RFC 1928 4: RSV must be 0.
  if (b[2] !== 0) return fail(`reserved byte ${b[2]}`, SOCKS_REPLY.generalFailure);
  const ap = parseAddrPort(b, 3);
  if (ap.kind !== 'ok') return ap;
  if (ap.value.port === 0) return fail('destination port 0', SOCKS_REPLY.generalFailure);
  return { kind: 'ok', value: { cmd, dst: ap.value.addr, port: ap.value.port }, consumed: ap.consumed };
}

// ------------------------------------------------------------------ server side: encode answers

/** RFC 1928 3: VER, METHOD. */
export function encodeMethodSelection(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

/** RFC 1929 2: VER, STATUS (0 = success; anything else fails and the server closes). */
export function encodeUserPassStatus(ok: boolean): Uint8Array {
  return Uint8Array.of(USERPASS_VERSION, ok ? 0 : 1);
}

function encodeAddrPort(addr: SocksAddress, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port ${port}`);
  let body: Uint8Array;
  if (addr.type === 'domain') {
    const name = new TextEncoder().encode(addr.name);
    if (name.length < 1 || name.length > 255) throw new RangeError(`domain name of ${name.length} bytes`);
    body = new Uint8Array(2 + name.length);
    body[0] = SOCKS_ATYP.domain;
    body[1] = name.length;
    body.set(name, 2);
  } else {
    const want = addr.type === 'ipv4' ? 4 : 16;
    if (addr.address.length !== want)
      throw new RangeError(`${addr.type} address of ${addr.address.length} bytes`);
    body = new Uint8Array(1 + want);
    body[0] = addr.type === 'ipv4' ? SOCKS_ATYP.ipv4 : SOCKS_ATYP.ipv6;
    body.set(addr.address, 1);
  }
  const out = new Uint8Array(body.length + 2);
  out.set(body);
  out[body.length] = port >> 8;
  out[body.length + 1] = port & 0xff;
  return out;
}

/** RFC 1928 6: VER, REP, RSV, ATYP, BND.ADDR, BND.PORT. */
export function encodeReply(
  rep: number,
  bnd: SocksAddress = { type: 'ipv4', address: new Uint8Array(4) },
  port = 0,
): Uint8Array {
  const ap = encodeAddrPort(bnd, port);
  const out = new Uint8Array(3 + ap.length);
  out[0] = SOCKS_VERSION;
  out[1] = rep;
  out.set(ap, 3);
  return out;
}

// ------------------------------------------------------------------ client side

/** RFC 1928 3: the client's greeting. */
export function encodeGreeting(methods: readonly number[]): Uint8Array {
  if (methods.length < 1 || methods.length > 255) throw new RangeError(`${methods.length} methods`);
  return Uint8Array.of(SOCKS_VERSION, methods.length, ...methods);
}

/** RFC 1929 2: the client's username and password. */
export function encodeUserPass(username: string, password: string): Uint8Array {
  const u = new TextEncoder().encode(username);
  const p = new TextEncoder().encode(password);
  if (u.length < 1 || u.length > 255 || p.length < 1 || p.length > 255) {
    throw new RangeError('username and password must be 1..255 bytes');
  }
  const out = new Uint8Array(3 + u.length + p.length);
  out[0] = USERPASS_VERSION;
  out[1] = u.length;
  out.set(u, 2);
  out[2 + u.length] = p.length;
  out.set(p, 3 + u.length);
  return out;
}

/** RFC 1928 4: the client's request. */
export function encodeRequest(req: SocksRequest): Uint8Array {
  const ap = encodeAddrPort(req.dst, req.port);
  const out = new Uint8Array(3 + ap.length);
  out[0] = SOCKS_VERSION;
  out[1] = req.cmd;
  out.set(ap, 3);
  return out;
}

/** RFC 1928 3: the server's chosen method. */
export function parseMethodSelection(b: Uint8Array): SocksParse<{ method: number }> {
  if (b.length < 2) return incomplete;
  if (b[0] !== SOCKS_VERSION) return fail(`method selection version ${b[0]}`);
  return { kind: 'ok', value: { method: b[1] }, consumed: 2 };
}

/** RFC 1929 2: the server's verdict on the credentials. */
export function parseUserPassStatus(b: Uint8Array): SocksParse<{ ok: boolean }> {
  if (b.length < 2) return incomplete;
  if (b[0] !== USERPASS_VERSION) return fail(`username/password status version ${b[0]}`);
  return { kind: 'ok', value: { ok: b[1] === 0 }, consumed: 2 };
}

/** RFC 1928 6: the server's reply to a request. */
export function parseReply(b: Uint8Array): SocksParse<SocksReply> {
  if (b.length < 3) return incomplete;
  if (b[0] !== SOCKS_VERSION) return fail(`reply version ${b[0]}`);
  const ap = parseAddrPort(b, 3);
  if (ap.kind !== 'ok') return ap;
  return { kind: 'ok', value: { rep: b[1], bnd: ap.value.addr, port: ap.value.port }, consumed: ap.consumed };
}

const REPLY_NAMES = new Map<number, string>(Object.entries(SOCKS_REPLY).map(([k, v]) => [v, k]));

/** A readable name for a reply code ("connectionRefused", or "reply 9"). */
export function socksReplyName(rep: number): string {
  return REPLY_NAMES.get(rep) ?? `reply ${rep}`;
}
