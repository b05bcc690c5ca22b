// The CPE's side of the handshake with the HAG over a fresh MPTCP connection: the Convert header
// with a Connect TLV (RFC 8803 4.2.2) naming the LAN client's original destination, or the SOCKS5
// greeting, optional RFC 1929 credentials and CONNECT (RFC 1928). It reads the HAG's answer and
// says what it was, as a value (method transparent has no handshake: the MPTCP connection went to
// the destination itself, and its handshake completing is the answer): go ahead (with any bytes that came after the reply), refused by the
// HAG for this destination (the LAN client is reset), or the HAG not answering (go direct).
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type BondingPolicy,
  CONVERT_ERROR,
  type ConvertTlv,
  convertErrorName,
  decodeConvert,
  encodeConvert,
  encodePolicy,
  POLICY_TLV,
} from '../../src/convert/index.js';
import {
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  parseMethodSelection,
  parseReply,
  parseUserPassStatus,
  SOCKS_CMD,
  SOCKS_METHOD,
  type SocksReply,
  socksReplyName,
} from '../../src/socks/index.js';
import { parseAddress } from './ip.js';

export interface HagMethod {
  method: 'convert' | 'socks5' | 'transparent';
  cookie?: string;
  username?: string;
  password?: string;
}

export type HandshakeResult =
  /** The HAG connected to the destination; `early` are bytes from the server that followed the reply. */
  | { kind: 'ok'; early: Buffer }
  /** The HAG answered with an error for this connection (RFC 8803 4.2.8 Error TLV, a SOCKS5 reply code). */
  | { kind: 'refused'; reason: string }
  /** No usable answer: the HAG is unreachable, reset us, closed, timed out or spoke nonsense. */
  | { kind: 'unreachable'; reason: string }
  /** An older HAG refused our policy TLV (RFC 8803 4.2.8 Unsupported Message naming it). */
  | { kind: 'no-policy' };

/** Reads a stream until `parse` accepts what arrived; everything is a value, nothing throws. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private failure: string | undefined;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.waiter?.();
  };
  private readonly onEnd = () => this.fail('the HAG closed the connection before answering');
  private readonly onError = (e: Error) => this.fail(`connection to the HAG failed: ${e.message}`);

  constructor(
    private readonly stream: Duplex,
    deadline: number,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
    const t = setTimeout(
      () => this.fail(`no answer from the HAG within ${Math.round(deadline)} ms`),
      deadline,
    );
    t.unref();
    this.timer = t;
  }
  private readonly timer: NodeJS.Timeout;

  private fail(reason: string): void {
    this.failure ??= reason;
    this.waiter?.();
  }

  /** Waits until `parse` returns a result other than undefined (not enough bytes yet). */
  async read<T>(
    parse: (b: Buffer) => { value: T; consumed: number } | undefined,
  ): Promise<T | { failed: string }> {
    for (;;) {
      const r = parse(this.buf);
      if (r) {
        this.buf = this.buf.subarray(r.consumed);
        return r.value;
      }
      if (this.failure) return { failed: this.failure };
      await new Promise<void>((res) => {
        this.waiter = res;
      });
      this.waiter = undefined;
    }
  }

  /** Stops reading; returns what arrived beyond the handshake. The stream is left paused. */
  detach(): Buffer {
    clearTimeout(this.timer);
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('error', this.onError);
    this.stream.pause();
    return this.buf;
  }
}

const isFailed = (v: unknown): v is { failed: string } =>
  typeof v === 'object' && v !== null && 'failed' in (v as object);

/** Runs the handshake for `dst` on `stream` (an MPTCP connection to the HAG). */
export async function hagHandshake(
  stream: Duplex,
  dst: { address: string; port: number },
  m: HagMethod,
  timeoutMs: number,
  policy?: BondingPolicy,
): Promise<HandshakeResult> {
  if (m.method === 'transparent') return connected(stream, timeoutMs);
  const reader = new Reader(stream, timeoutMs);
  try {
    const r =
      m.method === 'convert'
        ? await convert(stream, reader, dst, m, policy)
        : await socks(stream, reader, dst, m);
    const early = reader.detach();
    return r.kind === 'ok' ? { kind: 'ok', early } : r;
  } catch (e) {
    reader.detach();
    return { kind: 'unreachable', reason: `handshake failed: ${(e as Error).message}` };
  }
}

async function convert(
  stream: Duplex,
  reader: Reader,
  dst: { address: string; port: number },
  m: HagMethod,
  policy: BondingPolicy | undefined,
): Promise<HandshakeResult> {
  const address = parseAddress(dst.address);
  if (!address) return { kind: 'refused', reason: `bad destination address ${dst.address}` };
  // RFC 8803 4.2.2: the Connect TLV carries the destination (IPv4 as an IPv4-mapped address on the wire).
  const tlvs: ConvertTlv[] = [{ type: 'connect', port: dst.port, address, tcpOptions: new Uint8Array() }];
  // RFC 8803 4.2.5: the Cookie TLV the converter handed this CPE.
  if (m.cookie) tlvs.push({ type: 'cookie', cookie: Buffer.from(m.cookie, 'hex') });
  // Our private-use TLV (RFC 8803 10.2): the home's bonding policy, for the HAG's download side.
  if (policy) tlvs.push({ type: 'unknown', code: POLICY_TLV, value: encodePolicy(policy) });
  stream.write(encodeConvert(tlvs));
  const reply = await reader.read<{ malformed: string } | { tlvs: ConvertTlv[] }>((b) => {
    const d = decodeConvert(b);
    if (d.kind === 'incomplete') return undefined;
    if (d.kind === 'error') return { value: { malformed: d.error.reason }, consumed: 0 };
    return { value: { tlvs: d.message.tlvs }, consumed: d.consumed };
  });
  if (isFailed(reply)) return { kind: 'unreachable', reason: reply.failed };
  if ('malformed' in reply)
    return { kind: 'unreachable', reason: `malformed Convert reply: ${reply.malformed}` };
  // RFC 8803 5: an Error TLV in the converter's reply means the connection to the server failed.
  const err = reply.tlvs.find((t) => t.type === 'error');
  if (
    err &&
    err.type === 'error' &&
    err.code === CONVERT_ERROR.unsupportedMessage &&
    err.value[0] === POLICY_TLV
  )
    return { kind: 'no-policy' };
  if (err && err.type === 'error')
    return { kind: 'refused', reason: `HAG Convert error ${err.code} (${convertErrorName(err.code)})` };
  return { kind: 'ok', early: Buffer.alloc(0) };
}

async function socks(
  stream: Duplex,
  reader: Reader,
  dst: { address: string; port: number },
  m: HagMethod,
): Promise<HandshakeResult> {
  const auth = m.username !== undefined;
  // RFC 1928 3: offer no-auth, or username/password (RFC 1929) when configured.
  stream.write(encodeGreeting([auth ? SOCKS_METHOD.userPass : SOCKS_METHOD.noAuth]));
  const sel = await reader.read<{ bad: string } | { method: number }>((b) => {
    const r = parseMethodSelection(b);
    if (r.kind === 'incomplete') return undefined;
    return r.kind === 'ok'
      ? { value: r.value, consumed: r.consumed }
      : { value: { bad: r.error.reason }, consumed: 0 };
  });
  if (isFailed(sel)) return { kind: 'unreachable', reason: sel.failed };
  if ('bad' in sel) return { kind: 'unreachable', reason: `malformed SOCKS5 reply: ${sel.bad}` };
  if (sel.method === SOCKS_METHOD.noAcceptable)
    return { kind: 'unreachable', reason: 'the HAG accepts none of our SOCKS5 methods' };
  if (sel.method === SOCKS_METHOD.userPass) {
    if (!auth) return { kind: 'unreachable', reason: 'the HAG wants credentials; none configured' };
    stream.write(encodeUserPass(m.username ?? '', m.password ?? ''));
    const st = await reader.read((b) => {
      const r = parseUserPassStatus(b);
      if (r.kind === 'incomplete') return undefined;
      return r.kind === 'ok'
        ? { value: r.value, consumed: r.consumed }
        : { value: { ok: false }, consumed: 0 };
    });
    if (isFailed(st)) return { kind: 'unreachable', reason: st.failed };
    // RFC 1929 2: a failure status means the server closes the connection.
    if (!st.ok) return { kind: 'unreachable', reason: 'the HAG refused our SOCKS5 credentials' };
  } else if (sel.method !== SOCKS_METHOD.noAuth) {
    return { kind: 'unreachable', reason: `the HAG chose SOCKS5 method ${sel.method}` };
  }
  const address = parseAddress(dst.address);
  if (!address) return { kind: 'refused', reason: `bad destination address ${dst.address}` };
  stream.write(
    encodeRequest({
      cmd: SOCKS_CMD.connect,
      dst: { type: isIP(dst.address) === 4 ? 'ipv4' : 'ipv6', address },
      port: dst.port,
    }),
  );
  const rep = await reader.read<{ bad: string } | SocksReply>((b) => {
    const r = parseReply(b);
    if (r.kind === 'incomplete') return undefined;
    return r.kind === 'ok'
      ? { value: r.value, consumed: r.consumed }
      : { value: { bad: r.error.reason }, consumed: 0 };
  });
  if (isFailed(rep)) return { kind: 'unreachable', reason: rep.failed };
  if ('bad' in rep) return { kind: 'unreachable', reason: `malformed SOCKS5 reply: ${rep.bad}` };
  // RFC 1928 6: anything but "succeeded" ends the connection.
  if (rep.rep !== 0)
    return { kind: 'refused', reason: `HAG SOCKS5 reply ${rep.rep} (${socksReplyName(rep.rep)})` };
  return { kind: 'ok', early: Buffer.alloc(0) };
}

/**
 * Method transparent: the connection's handshake with the destination (a HAG on the path answers
 * it) completes (ok), is reset (refused: the server's, or the HAG's access rules', RST), or does
 * not complete in time (unreachable).
 */
function connected(stream: Duplex, timeoutMs: number): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    const done = (r: HandshakeResult) => {
      clearTimeout(timer);
      stream.off('connect', onConnect);
      stream.off('error', onError);
      stream.off('close', onClose);
      resolve(r);
    };
    const onConnect = () => done({ kind: 'ok', early: Buffer.alloc(0) });
    const onError = (e: Error) => done({ kind: 'refused', reason: `reset by the destination: ${e.message}` });
    const onClose = () => done({ kind: 'refused', reason: 'closed before it was established' });
    const timer = setTimeout(
      () => done({ kind: 'unreachable', reason: `no handshake within ${Math.round(timeoutMs)} ms` }),
      timeoutMs,
    );
    timer.unref();
    stream.once('connect', onConnect);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/**
 * RFC 8803 4.2.1: an Info TLV alone asks the converter what it supports; any valid reply means it
 * is alive. Method transparent has no protocol of its own to ask: the HAG's Convert port answers
 * (a bare handshake would be a client that sent nothing, a refusal in the HAG's logs).
 */
export async function hagAlive(stream: Duplex, m: HagMethod, timeoutMs: number): Promise<true | string> {
  const reader = new Reader(stream, timeoutMs);
  if (m.method === 'convert' || m.method === 'transparent') {
    stream.write(encodeConvert([{ type: 'info' }]));
    const r = await reader.read((b) => {
      const d = decodeConvert(b);
      return d.kind === 'incomplete' ? undefined : { value: d.kind, consumed: 0 };
    });
    reader.detach();
    if (isFailed(r)) return r.failed;
    return r === 'ok' ? true : 'malformed Convert reply';
  }
  stream.write(encodeGreeting([m.username !== undefined ? SOCKS_METHOD.userPass : SOCKS_METHOD.noAuth]));
  const r = await reader.read((b) => {
    const d = parseMethodSelection(b);
    return d.kind === 'incomplete' ? undefined : { value: d.kind, consumed: 0 };
  });
  reader.detach();
  if (isFailed(r)) return r.failed;
  return r === 'ok' ? true : 'malformed SOCKS5 reply';
}
