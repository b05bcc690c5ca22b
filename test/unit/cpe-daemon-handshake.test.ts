// The CPE's handshake with the HAG (cpe/daemon/hag-handshake.ts) against a scripted peer: the
// Convert Connect TLV it sends (IPv4 as IPv4-mapped, IPv6, a cookie), go-ahead with early bytes,
// Error TLVs as refusals, silence, a close, a malformed reply as "unreachable"; SOCKS5 without and
// with credentials, refused credentials, failure replies; the liveness check. Method transparent:
// no bytes at all, the connection's own handshake is the answer.
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { hagAlive, hagHandshake } from '../../cpe/daemon/hag-handshake.js';
import { CONVERT_ERROR, convertErrorMessage, decodeConvert, encodeConvert } from '../../src/convert/index.js';
import {
  encodeMethodSelection,
  encodeReply,
  encodeUserPassStatus,
  parseRequest,
  SOCKS_REPLY,
} from '../../src/socks/index.js';

/** A stream whose writes are recorded; `answer` pushes bytes from the "HAG". */
function peer(
  onWrite: (chunk: Buffer, all: Buffer[], push: (b: Uint8Array | null) => void) => void = () => {},
) {
  const written: Buffer[] = [];
  const d: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      onWrite(chunk, written, (b) => d.push(b === null ? null : Buffer.from(b)));
      cb();
    },
  });
  return { d, written };
}

const dst4 = { address: '198.18.3.2', port: 8000 };
const dst6 = { address: '2001:db8:3::2', port: 443 };

describe('Convert handshake', () => {
  it('sends a Connect TLV (IPv4-mapped on the wire) and a cookie; an empty reply is the go-ahead; bytes after it are early data', async () => {
    const { d, written } = peer((_c, _all, push) =>
      push(Buffer.concat([encodeConvert([]), Buffer.from('HTTP/1.1 200')])),
    );
    const r = await hagHandshake(d, dst4, { method: 'convert', cookie: '0a1b2c3d' }, 1000);
    expect(r.kind).toBe('ok');
    expect(r.kind === 'ok' && r.early.toString()).toBe('HTTP/1.1 200');
    const sent = Buffer.concat(written);
    // RFC 8803 4.2.2: the address field holds ::ffff:198.18.3.2.
    expect(sent.subarray(4 + 4, 4 + 20).toString('hex')).toBe('00000000000000000000ffffc6120302');
    const m = decodeConvert(sent);
    if (m.kind !== 'ok') throw new Error('not a Convert message');
    expect(m.consumed).toBe(sent.length);
    const [connect, cookie] = m.message.tlvs;
    expect(connect).toMatchObject({ type: 'connect', port: 8000 });
    expect(connect.type === 'connect' && [...connect.address]).toEqual([198, 18, 3, 2]);
    expect(cookie.type === 'cookie' && Buffer.from(cookie.cookie).toString('hex')).toBe('0a1b2c3d');
  });

  it('an IPv6 destination goes as 16 bytes', async () => {
    const { d, written } = peer((_c, _a, push) => push(encodeConvert([])));
    expect((await hagHandshake(d, dst6, { method: 'convert' }, 1000)).kind).toBe('ok');
    const m = decodeConvert(Buffer.concat(written));
    if (m.kind !== 'ok') throw new Error('not a Convert message');
    const c = m.message.tlvs[0];
    expect(c.type === 'connect' && Buffer.from(c.address).toString('hex')).toBe(
      '20010db8000300000000000000000002',
    );
  });

  it('a reply split into single bytes is reassembled', async () => {
    const reply = Buffer.concat([
      encodeConvert([{ type: 'supportedTcpExtensions', kinds: [2, 4] }]),
      Buffer.from('x'),
    ]);
    const { d } = peer((_c, _a, push) => {
      for (const b of reply) push(Uint8Array.of(b));
    });
    const r = await hagHandshake(d, dst4, { method: 'convert' }, 1000);
    expect(r.kind === 'ok' && r.early.toString()).toBe('x');
  });

  it('an Error TLV (RFC 8803 4.2.8) is a refusal naming the code', async () => {
    const { d } = peer((_c, _a, push) => push(convertErrorMessage(CONVERT_ERROR.connectionReset)));
    const r = await hagHandshake(d, dst4, { method: 'convert' }, 1000);
    expect(r).toEqual({ kind: 'refused', reason: 'HAG Convert error 96 (connectionReset)' });
  });

  it('silence, a close, a reset and a malformed reply mean the HAG is unreachable', async () => {
    const silent = await hagHandshake(peer().d, dst4, { method: 'convert' }, 50);
    expect(silent).toEqual({ kind: 'unreachable', reason: 'no answer from the HAG within 50 ms' });
    const closed = await hagHandshake(
      peer((_c, _a, push) => push(null)).d,
      dst4,
      { method: 'convert' },
      1000,
    );
    expect(closed).toEqual({ kind: 'unreachable', reason: 'the HAG closed the connection before answering' });
    const p = peer();
    setTimeout(() => p.d.destroy(new Error('connection reset')), 10);
    const reset = await hagHandshake(p.d, dst4, { method: 'convert' }, 1000);
    expect(reset).toEqual({ kind: 'unreachable', reason: 'connection to the HAG failed: connection reset' });
    const bad = await hagHandshake(
      peer((_c, _a, push) => push(Uint8Array.of(9, 1, 0, 0))).d,
      dst4,
      { method: 'convert' },
      1000,
    );
    expect(bad.kind).toBe('unreachable');
    expect(bad.kind === 'unreachable' && bad.reason).toMatch(/^malformed Convert reply/);
  });
});

describe('SOCKS5 handshake', () => {
  /** A SOCKS5 server script: method selection, optional auth status, then `rep` to the CONNECT. */
  function socksPeer(opts: { method: number; authOk?: boolean; rep: number }) {
    let step = 0;
    const requests: Buffer[] = [];
    const p = peer((chunk, _a, push) => {
      requests.push(chunk);
      if (step === 0) push(encodeMethodSelection(opts.method));
      else if (step === 1 && opts.method === 2) push(encodeUserPassStatus(opts.authOk ?? false));
      else push(Buffer.concat([encodeReply(opts.rep), Buffer.from('early')]));
      step++;
    });
    return { ...p, requests };
  }

  it('no auth: greeting, CONNECT for the destination, success with early bytes', async () => {
    const p = socksPeer({ method: 0, rep: SOCKS_REPLY.succeeded });
    const r = await hagHandshake(p.d, dst6, { method: 'socks5' }, 1000);
    expect(r.kind === 'ok' && r.early.toString()).toBe('early');
    expect([...p.requests[0]]).toEqual([5, 1, 0]);
    const req = parseRequest(p.requests[1]);
    if (req.kind !== 'ok') throw new Error('bad request');
    expect(req.value.port).toBe(443);
    expect(req.value.dst.type).toBe('ipv6');
  });

  it('username/password (RFC 1929): accepted, then a refused CONNECT is a refusal', async () => {
    const p = socksPeer({ method: 2, authOk: true, rep: SOCKS_REPLY.connectionRefused });
    const r = await hagHandshake(p.d, dst4, { method: 'socks5', username: 'cpe1', password: 's3cret' }, 1000);
    expect(r).toEqual({ kind: 'refused', reason: 'HAG SOCKS5 reply 5 (connectionRefused)' });
    expect([...p.requests[0]]).toEqual([5, 1, 2]);
    expect(p.requests[1].toString('latin1')).toBe('\x01\x04cpe1\x06s3cret');
  });

  it('refused credentials, no acceptable method, credentials asked but none configured: unreachable', async () => {
    const bad = await hagHandshake(
      socksPeer({ method: 2, authOk: false, rep: 0 }).d,
      dst4,
      { method: 'socks5', username: 'a', password: 'b' },
      1000,
    );
    expect(bad).toEqual({ kind: 'unreachable', reason: 'the HAG refused our SOCKS5 credentials' });
    const none = await hagHandshake(socksPeer({ method: 0xff, rep: 0 }).d, dst4, { method: 'socks5' }, 1000);
    expect(none).toEqual({ kind: 'unreachable', reason: 'the HAG accepts none of our SOCKS5 methods' });
    const want = await hagHandshake(socksPeer({ method: 2, rep: 0 }).d, dst4, { method: 'socks5' }, 1000);
    expect(want).toEqual({ kind: 'unreachable', reason: 'the HAG wants credentials; none configured' });
  });
});

describe('HAG liveness check', () => {
  it('Convert: an Info TLV; any well-formed reply means alive', async () => {
    const { d, written } = peer((_c, _a, push) =>
      push(encodeConvert([{ type: 'supportedTcpExtensions', kinds: [2] }])),
    );
    expect(await hagAlive(d, { method: 'convert' }, 1000)).toBe(true);
    const m = decodeConvert(Buffer.concat(written));
    expect(m.kind === 'ok' && m.message.tlvs).toEqual([{ type: 'info' }]);
    expect(await hagAlive(peer().d, { method: 'convert' }, 30)).toBe('no answer from the HAG within 30 ms');
  });

  it('SOCKS5: a method selection means alive', async () => {
    const { d } = peer((_c, _a, push) => push(encodeMethodSelection(0)));
    expect(await hagAlive(d, { method: 'socks5' }, 1000)).toBe(true);
  });
});

describe('method transparent', () => {
  it('sends nothing; established is the go-ahead, a reset a refusal, silence unreachable', async () => {
    const ok = peer();
    const r = hagHandshake(ok.d, dst4, { method: 'transparent' }, 1000);
    ok.d.emit('connect');
    expect(await r).toEqual({ kind: 'ok', early: Buffer.alloc(0) });
    expect(ok.written).toEqual([]);
    const reset = peer();
    const refused = hagHandshake(reset.d, dst4, { method: 'transparent' }, 1000);
    reset.d.destroy(new Error('connection reset'));
    expect(await refused).toEqual({ kind: 'refused', reason: 'reset by the destination: connection reset' });
    expect(await hagHandshake(peer().d, dst4, { method: 'transparent' }, 30)).toEqual({
      kind: 'unreachable',
      reason: 'no handshake within 30 ms',
    });
  });

  it("the liveness check asks the HAG's Convert port (an Info TLV)", async () => {
    const { d, written } = peer((_c, _a, push) => push(encodeConvert([])));
    expect(await hagAlive(d, { method: 'transparent' }, 1000)).toBe(true);
    const m = decodeConvert(Buffer.concat(written));
    expect(m.kind === 'ok' && m.message.tlvs).toEqual([{ type: 'info' }]);
  });
});
