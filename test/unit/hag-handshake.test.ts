// The HAG's handshakes on in-memory streams (no network): SOCKS5 method choice, RFC 1929
// credentials, request errors and policy refusals with their reply codes; Convert Error TLVs for
// malformed messages, cookies and forbidden destinations; truncated and timed-out handshakes.
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { convertHandshake } from '../../hag/convert-handler.js';
import type { EgressOptions } from '../../hag/egress.js';
import { HandshakeReader } from '../../hag/handshake-reader.js';
import { DestinationPolicy } from '../../hag/policy.js';
import { socksHandshake } from '../../hag/socks-handler.js';
import { decodeConvert, encodeConvert } from '../../src/convert/index.js';
import {
  encodeGreeting,
  encodeRequest,
  encodeUserPass,
  parseMethodSelection,
  parseReply,
  parseUserPassStatus,
} from '../../src/socks/index.js';

/** A duplex whose input we feed and whose output we collect. */
function fakeStream(): { stream: Duplex; feed(b: Uint8Array): void; end(): void; written(): Buffer } {
  const input = new PassThrough();
  const chunks: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  input.on('data', (d) => stream.push(d));
  input.on('end', () => stream.push(null));
  return {
    stream,
    feed: (b) => input.write(b),
    end: () => input.end(),
    written: () => Buffer.concat(chunks),
  };
}

const egress: EgressOptions = {
  policy: new DestinationPolicy(['10.0.0.0/8'], ['198.18.100.1']),
  connectTimeoutMs: 1000,
};
const users = [{ username: 'cpe1', password: 's3cret' }];
const reader = (s: Duplex, ms = 2000) => new HandshakeReader(s, Date.now() + ms, 1024);

describe('SOCKS5 handshake', () => {
  it('refuses a client that does not offer username/password when users are configured', async () => {
    const f = fakeStream();
    f.feed(encodeGreeting([0]));
    const o = await socksHandshake(reader(f.stream), f.stream, { users, egress });
    expect(o).toMatchObject({ kind: 'refused', reason: 'no-acceptable-auth' });
    if (o.kind === 'refused') expect([...o.reply!]).toEqual([5, 0xff]);
  });

  it('refuses wrong credentials with a failure status (RFC 1929)', async () => {
    const f = fakeStream();
    f.feed(encodeGreeting([0, 2]));
    f.feed(encodeUserPass('cpe1', 'wrong'));
    const o = await socksHandshake(reader(f.stream), f.stream, { users, egress });
    expect(o).toMatchObject({ kind: 'refused', reason: 'bad-credentials' });
    expect(parseMethodSelection(f.written())).toMatchObject({ kind: 'ok', value: { method: 2 } });
    if (o.kind === 'refused') expect(parseUserPassStatus(o.reply!)).toMatchObject({ value: { ok: false } });
  });

  it('accepts the credentials, then refuses a forbidden destination with reply 2', async () => {
    const f = fakeStream();
    f.feed(encodeGreeting([2]));
    f.feed(encodeUserPass('cpe1', 's3cret'));
    f.feed(encodeRequest({ cmd: 1, dst: { type: 'ipv4', address: Uint8Array.of(10, 1, 2, 3) }, port: 80 }));
    const o = await socksHandshake(reader(f.stream), f.stream, { users, egress });
    expect(o).toMatchObject({ kind: 'refused', reason: 'forbidden-destination', dst: '10.1.2.3:80' });
    if (o.kind === 'refused') expect(parseReply(o.reply!)).toMatchObject({ value: { rep: 2 } });
    // Method selection, then the success status of the sub-negotiation.
    expect([...f.written()]).toEqual([5, 2, 1, 0]);
  });

  it('refuses loopback named by an IPv4-mapped IPv6 address, and BIND', async () => {
    const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1);
    for (const [cmd, dst, reason] of [
      [1, { type: 'ipv6' as const, address: mapped }, 'forbidden-destination'],
      [2, { type: 'ipv4' as const, address: Uint8Array.of(1, 2, 3, 4) }, 'unsupported-command'],
    ] as const) {
      const f = fakeStream();
      f.feed(encodeGreeting([0]));
      f.feed(encodeRequest({ cmd, dst, port: 80 }));
      const o = await socksHandshake(reader(f.stream), f.stream, { users: [], egress });
      expect(o).toMatchObject({ kind: 'refused', reason });
    }
  });

  it('a truncated greeting, a timeout and garbage are refusals, never exceptions', async () => {
    const cut = fakeStream();
    cut.feed(Uint8Array.of(5, 2, 0));
    cut.end();
    expect(await socksHandshake(reader(cut.stream), cut.stream, { users: [], egress })).toMatchObject({
      reason: 'truncated-handshake',
    });
    const slow = fakeStream();
    slow.feed(Uint8Array.of(5));
    expect(await socksHandshake(reader(slow.stream, 100), slow.stream, { users: [], egress })).toMatchObject({
      reason: 'handshake-timeout',
    });
    const junk = fakeStream();
    junk.feed(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(await socksHandshake(reader(junk.stream), junk.stream, { users: [], egress })).toMatchObject({
      reason: 'malformed-socks',
    });
  });
});

describe('Convert handshake', () => {
  const connect = (address: Uint8Array, port = 80) =>
    ({ type: 'connect', port, address, tcpOptions: new Uint8Array() }) as const;
  const errorCode = (o: Awaited<ReturnType<typeof convertHandshake>>) => {
    if (o.kind !== 'refused' || !o.reply) throw new Error(`no reply: ${JSON.stringify(o)}`);
    const r = decodeConvert(o.reply);
    if (r.kind !== 'ok') throw new Error('bad reply');
    const t = r.message.tlvs[0];
    return t.type === 'error' ? t.code : -1;
  };

  it('malformed messages get the RFC 8803 error codes', async () => {
    for (const [bytes, code] of [
      [Uint8Array.of(2, 1, 0, 0), 0],
      [Uint8Array.of(1, 2, 0, 0, 10, 9, 0, 0), 1],
      [Uint8Array.of(1, 2, 0, 0, 99, 1, 0, 0), 2],
      [Uint8Array.of(1, 1, 0, 0), 1], // no Connect TLV
    ] as const) {
      const f = fakeStream();
      f.feed(bytes);
      expect(errorCode(await convertHandshake(reader(f.stream), { cookies: [], egress }))).toBe(code);
    }
  });

  it('cookies: missing is error 3, unknown is 32; forbidden destinations are 32; options it cannot honour 33', async () => {
    const dst = Uint8Array.of(198, 18, 3, 2);
    const cases: [Uint8Array, string[], number][] = [
      [encodeConvert([connect(dst)]), ['0a0b0c0d'], 3],
      [
        encodeConvert([connect(dst), { type: 'cookie', cookie: Uint8Array.of(1, 2, 3, 4) }]),
        ['0a0b0c0d'],
        32,
      ],
      [encodeConvert([connect(Uint8Array.of(127, 0, 0, 1))]), [], 32],
      [encodeConvert([connect(Uint8Array.of(198, 18, 100, 1))]), [], 32],
      [
        encodeConvert([{ type: 'connect', port: 80, address: dst, tcpOptions: Uint8Array.of(34, 2, 1, 1) }]),
        [],
        33,
      ],
    ];
    for (const [bytes, cookies, code] of cases) {
      const f = fakeStream();
      f.feed(bytes);
      expect(errorCode(await convertHandshake(reader(f.stream), { cookies, egress }))).toBe(code);
    }
  });

  it('an Info TLV alone gets the Supported TCP Extensions TLV', async () => {
    const f = fakeStream();
    f.feed(encodeConvert([{ type: 'info' }]));
    const o = await convertHandshake(reader(f.stream), { cookies: [], egress });
    expect(o).toMatchObject({ kind: 'refused', reason: 'info-only' });
    if (o.kind === 'refused') {
      const r = decodeConvert(o.reply!);
      expect(r.kind === 'ok' && r.message.tlvs[0]).toEqual({
        type: 'supportedTcpExtensions',
        kinds: [2, 3, 4, 8],
      });
    }
  });

  it('a header cut short by the client closing is a truncated handshake', async () => {
    const f = fakeStream();
    f.feed(encodeConvert([connect(Uint8Array.of(198, 18, 3, 2))]).subarray(0, 10));
    f.end();
    expect(await convertHandshake(reader(f.stream), { cookies: [], egress })).toMatchObject({
      reason: 'truncated-handshake',
    });
  });
});
