// SOCKS5 (RFC 1928) and username/password (RFC 1929): client encodings parsed by the server-side
// parsers and back, byte by byte (incremental), and malformed input as typed errors with the reply
// code the server sends.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeGreeting,
  encodeMethodSelection,
  encodeReply,
  encodeRequest,
  encodeUserPass,
  encodeUserPassStatus,
  parseGreeting,
  parseMethodSelection,
  parseReply,
  parseRequest,
  parseUserPass,
  parseUserPassStatus,
  SOCKS_ATYP,
  SOCKS_CMD,
  SOCKS_METHOD,
  SOCKS_REPLY,
  type SocksAddress,
  type SocksParse,
  socksReplyName,
} from '../../src/socks/index.js';

/** Every strict prefix is incomplete; the whole is ok and consumes exactly its length. */
function incremental<T>(buf: Uint8Array, parse: (b: Uint8Array) => SocksParse<T>): T {
  for (let n = 0; n < buf.length; n++) expect(parse(buf.subarray(0, n)).kind).toBe('incomplete');
  const r = parse(buf);
  if (r.kind !== 'ok') throw new Error(`expected ok: ${JSON.stringify(r)}`);
  expect(r.consumed).toBe(buf.length);
  return r.value;
}

const addrArb: fc.Arbitrary<SocksAddress> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((address) => ({ type: 'ipv4' as const, address })),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((address) => ({ type: 'ipv6' as const, address })),
  fc.stringMatching(/^[a-z0-9.-]{1,60}$/).map((name) => ({ type: 'domain' as const, name })),
);

function norm(a: SocksAddress) {
  return a.type === 'domain' ? a : { type: a.type, address: [...a.address] };
}

describe('SOCKS5 round trips', () => {
  it('greeting and method selection', () => {
    const g = incremental(encodeGreeting([SOCKS_METHOD.noAuth, SOCKS_METHOD.userPass]), parseGreeting);
    expect(g.methods).toEqual([0, 2]);
    expect(incremental(encodeMethodSelection(2), parseMethodSelection).method).toBe(2);
  });

  it('username/password and status (RFC 1929)', () => {
    const u = incremental(encodeUserPass('cpe-1', 'pässword'), parseUserPass);
    expect(u).toEqual({ username: 'cpe-1', password: 'pässword' });
    expect(incremental(encodeUserPassStatus(true), parseUserPassStatus).ok).toBe(true);
    expect(incremental(encodeUserPassStatus(false), parseUserPassStatus).ok).toBe(false);
  });

  it('CONNECT requests to IPv4, IPv6 and domain names, and replies (property)', () => {
    fc.assert(
      fc.property(addrArb, fc.integer({ min: 1, max: 65535 }), (dst, port) => {
        const r = incremental(encodeRequest({ cmd: SOCKS_CMD.connect, dst, port }), parseRequest);
        expect(r.cmd).toBe(1);
        expect(r.port).toBe(port);
        expect(norm(r.dst)).toEqual(norm(dst));
        const rep = incremental(encodeReply(SOCKS_REPLY.succeeded, dst, port), parseReply);
        expect(rep.rep).toBe(0);
        expect(norm(rep.bnd)).toEqual(norm(dst));
      }),
    );
  });

  it('bytes after a message are left for the next step', () => {
    const req = encodeRequest({
      cmd: 1,
      dst: { type: 'ipv4', address: Uint8Array.of(1, 2, 3, 4) },
      port: 80,
    });
    const both = new Uint8Array(req.length + 5);
    both.set(req);
    const r = parseRequest(both);
    expect(r.kind === 'ok' && r.consumed).toBe(req.length);
  });
});

describe('SOCKS5 malformed input', () => {
  it('a greeting that is not version 5 or offers no method', () => {
    expect(parseGreeting(Uint8Array.of(4, 1, 0))).toMatchObject({ kind: 'error' });
    expect(parseGreeting(Uint8Array.of(5, 0))).toMatchObject({ kind: 'error' });
  });

  it('username/password with a wrong version or empty fields', () => {
    expect(parseUserPass(Uint8Array.of(5, 1, 0x61, 1, 0x62))).toMatchObject({ kind: 'error' });
    expect(parseUserPass(Uint8Array.of(1, 0))).toMatchObject({ kind: 'error' });
    expect(parseUserPass(Uint8Array.of(1, 1, 0x61, 0))).toMatchObject({ kind: 'error' });
  });

  it('requests: bad version, reserved byte, address type, empty or odd domain, port 0', () => {
    expect(parseRequest(Uint8Array.of(4, 1, 0, 1, 1, 2, 3, 4, 0, 80))).toMatchObject({
      kind: 'error',
      error: { reply: SOCKS_REPLY.generalFailure },
    });
    expect(parseRequest(Uint8Array.of(5, 1, 7, 1, 1, 2, 3, 4, 0, 80))).toMatchObject({ kind: 'error' });
    expect(parseRequest(Uint8Array.of(5, 1, 0, 9, 1, 2, 3, 4, 0, 80))).toMatchObject({
      kind: 'error',
      error: { reply: SOCKS_REPLY.addressTypeNotSupported },
    });
    expect(parseRequest(Uint8Array.of(5, 1, 0, SOCKS_ATYP.domain, 0, 0, 80))).toMatchObject({
      kind: 'error',
    });
    expect(parseRequest(Uint8Array.of(5, 1, 0, SOCKS_ATYP.domain, 3, 0x61, 0x20, 0x62, 0, 80))).toMatchObject(
      {
        kind: 'error',
      },
    );
    expect(parseRequest(Uint8Array.of(5, 1, 0, 1, 1, 2, 3, 4, 0, 0))).toMatchObject({ kind: 'error' });
  });

  it('other commands parse (the server answers "command not supported")', () => {
    const r = parseRequest(
      encodeRequest({ cmd: SOCKS_CMD.bind, dst: { type: 'domain', name: 'x' }, port: 1 }),
    );
    expect(r.kind === 'ok' && r.value.cmd).toBe(2);
  });

  it('random bytes never throw (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        for (const p of [parseGreeting, parseUserPass, parseRequest, parseReply, parseMethodSelection]) {
          expect(['ok', 'incomplete', 'error']).toContain(p(b).kind);
        }
      }),
    );
  });

  it('encoders refuse impossible values', () => {
    expect(() => encodeUserPass('', 'x')).toThrow(RangeError);
    expect(() => encodeGreeting([])).toThrow(RangeError);
    expect(() => encodeReply(0, { type: 'ipv4', address: new Uint8Array(3) })).toThrow(RangeError);
    expect(socksReplyName(5)).toBe('connectionRefused');
  });
});
