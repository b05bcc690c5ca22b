// The SOCKS5 server side (RFC 1928, RFC 1929): method negotiation (username/password when users
// are configured, else none), CONNECT to an IPv4, IPv6 or domain destination, and the reply codes
// of RFC 1928 6 for refusals and failures. Other commands get "command not supported".
import { timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassStatus,
  parseGreeting,
  parseRequest,
  parseUserPass,
  SOCKS_CMD,
  SOCKS_METHOD,
  SOCKS_REPLY,
  type SocksAddress,
} from '../src/socks/index.js';
import { formatIp, hostPort, parseIp } from './addr.js';
import { connectEgress, type Destination, type EgressFailure, type EgressOptions } from './egress.js';
import type { HandshakeReader } from './handshake-reader.js';
import type { Outcome } from './outcome.js';

export interface SocksSettings {
  users: readonly { username: string; password: string }[];
  egress: EgressOptions;
}

/** RFC 1928 6: reply codes for why the server connection failed. */
function replyFor(f: EgressFailure): number {
  switch (f) {
    case 'forbidden-destination':
      return SOCKS_REPLY.notAllowed;
    case 'destination-refused':
      return SOCKS_REPLY.connectionRefused;
    case 'network-unreachable':
      return SOCKS_REPLY.networkUnreachable;
    case 'dns-failure':
    case 'destination-unreachable':
    case 'connect-timeout':
      return SOCKS_REPLY.hostUnreachable;
    default:
      return SOCKS_REPLY.generalFailure;
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function checkUser(users: SocksSettings['users'], username: string, password: string): boolean {
  let ok = false;
  // Every entry is compared, so the time taken does not tell which usernames exist.
  for (const u of users) if (sameSecret(u.username, username) && sameSecret(u.password, password)) ok = true;
  return ok;
}

function describe(a: SocksAddress, port: number): string {
  return a.type === 'domain' ? `${a.name}:${port}` : hostPort(formatIp(a.address), port);
}

function truncated(r: { kind: string; received?: number }): Outcome {
  if (r.kind === 'timeout')
    return { kind: 'refused', reason: 'handshake-timeout', detail: `${r.received} bytes` };
  if (r.kind === 'too-long') return { kind: 'refused', reason: 'malformed-socks', detail: 'too long' };
  return { kind: 'refused', reason: 'truncated-handshake', detail: `${r.received} bytes then end` };
}

export async function socksHandshake(
  reader: HandshakeReader,
  out: Duplex,
  settings: SocksSettings,
): Promise<Outcome> {
  // RFC 1928 3: the greeting and our choice of method.
  const g = await reader.read(parseGreeting);
  if (g.kind === 'error') return { kind: 'refused', reason: 'malformed-socks', detail: g.error.reason };
  if (g.kind !== 'ok') return truncated(g);
  const wantAuth = settings.users.length > 0;
  const method = wantAuth ? SOCKS_METHOD.userPass : SOCKS_METHOD.noAuth;
  if (!g.value.methods.includes(method)) {
    return {
      kind: 'refused',
      reason: 'no-acceptable-auth',
      detail: `offered ${g.value.methods.join(',')}`,
      reply: encodeMethodSelection(SOCKS_METHOD.noAcceptable),
    };
  }
  out.write(encodeMethodSelection(method));

  if (wantAuth) {
    // RFC 1929 2: a failed check gets a non-zero status and the connection closes.
    const u = await reader.read(parseUserPass);
    if (u.kind === 'error') return { kind: 'refused', reason: 'malformed-socks', detail: u.error.reason };
    if (u.kind !== 'ok') return truncated(u);
    if (!checkUser(settings.users, u.value.username, u.value.password)) {
      return {
        kind: 'refused',
        reason: 'bad-credentials',
        detail: `user ${JSON.stringify(u.value.username)}`,
        reply: encodeUserPassStatus(false),
      };
    }
    out.write(encodeUserPassStatus(true));
  }

  // RFC 1928 4: the request.
  const q = await reader.read(parseRequest);
  if (q.kind === 'error') {
    return {
      kind: 'refused',
      reason: 'malformed-socks',
      detail: q.error.reason,
      reply: encodeReply(q.error.reply ?? SOCKS_REPLY.generalFailure),
    };
  }
  if (q.kind !== 'ok') return truncated(q);
  const { cmd, dst, port } = q.value;
  const where = describe(dst, port);
  if (cmd !== SOCKS_CMD.connect) {
    return {
      kind: 'refused',
      reason: 'unsupported-command',
      detail: `command ${cmd}`,
      dst: where,
      reply: encodeReply(SOCKS_REPLY.commandNotSupported),
    };
  }
  const target: Destination = dst.type === 'domain' ? { name: dst.name } : { address: dst.address };
  const e = await connectEgress(target, port, settings.egress);
  if (!e.ok) {
    return {
      kind: 'refused',
      reason: e.failure,
      detail: e.detail,
      dst: where,
      reply: encodeReply(replyFor(e.failure)),
    };
  }
  // RFC 1928 6: BND.ADDR and BND.PORT are the egress socket's own address and port.
  const local = parseIp(e.socket.localAddress ?? '') ?? new Uint8Array(4);
  const bnd: SocksAddress =
    local.length === 4 ? { type: 'ipv4', address: local } : { type: 'ipv6', address: local };
  return {
    kind: 'connected',
    socket: e.socket,
    dst: `${where}${dst.type === 'domain' ? ` (${e.address})` : ''}`,
    reply: encodeReply(SOCKS_REPLY.succeeded, bnd, e.socket.localPort ?? 0),
  };
}
