// The private-use Convert policy TLV (src/convert/policy.ts): round trip through a Convert message,
// malformed values (a value error, never a throw), a newer version or scheduler ignored; the CPE's
// handshake sends it and treats an older HAG's refusal of it apart; the HAG's handler takes it,
// returns it with the connection, and still refuses other unknown TLVs.
import net from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hagHandshake } from '../../cpe/daemon/hag-handshake.js';
import { convertHandshake } from '../../hag/convert-handler.js';
import type { EgressOptions } from '../../hag/egress.js';
import { HandshakeReader } from '../../hag/handshake-reader.js';
import type { DestinationPolicy } from '../../hag/policy.js';
import {
  CONVERT_ERROR,
  convertErrorMessage,
  decodeConvert,
  decodePolicy,
  encodeConvert,
  encodePolicy,
  POLICY_TLV,
} from '../../src/convert/index.js';

const connect = (port: number) =>
  ({ type: 'connect', port, address: Uint8Array.of(127, 0, 0, 1), tcpOptions: new Uint8Array() }) as const;
const policyTlv = (value: Uint8Array) => ({ type: 'unknown', code: POLICY_TLV, value }) as const;

describe('policy TLV wire format', () => {
  it('round-trips inside a Convert message, padded to a word', () => {
    const value = encodePolicy({ scheduler: 'primary-first', overflow: [0, 2] });
    expect([...value]).toEqual([1, 1, 2, 0, 2]);
    const msg = encodeConvert([connect(80), policyTlv(value)]);
    expect(msg.length).toBe(4 + 20 + 8);
    const d = decodeConvert(msg);
    if (d.kind !== 'ok') throw new Error(JSON.stringify(d));
    const t = d.message.tlvs[1];
    if (t.type !== 'unknown') throw new Error(t.type);
    expect(t.code).toBe(200);
    expect(decodePolicy(t.value)).toEqual({
      kind: 'ok',
      policy: { scheduler: 'primary-first', overflow: [0, 2] },
    });
    for (const name of ['min-rtt', 'redundant'] as const)
      expect(decodePolicy(encodePolicy({ scheduler: name, overflow: [] }))).toEqual({
        kind: 'ok',
        policy: { scheduler: name, overflow: [] },
      });
  });

  it('carries the congestion control per address ID after the overflow IDs; an older CPE sends none', () => {
    const policy = {
      scheduler: 'min-rtt',
      overflow: [2],
      congestion: [
        { id: 1, cc: 'cubic' },
        { id: 0, cc: 'cubic' },
        { id: 2, cc: 'bbr' },
        { id: 3, cc: 'newreno' },
      ],
    } as const;
    const value = encodePolicy(policy);
    expect([...value]).toEqual([1, 0, 1, 2, 4, 1, 0, 0, 0, 2, 2, 3, 1]);
    const d = decodeConvert(encodeConvert([connect(80), policyTlv(value)]));
    if (d.kind !== 'ok') throw new Error(JSON.stringify(d));
    const t = d.message.tlvs[1];
    expect(t.type === 'unknown' && decodePolicy(t.value)).toEqual({ kind: 'ok', policy });
    // An older CPE's TLV: its zero padding after the overflow IDs reads as no congestion controls.
    const old = decodeConvert(encodeConvert([connect(80), policyTlv(Uint8Array.of(1, 1, 2, 0, 2))]));
    if (old.kind !== 'ok') throw new Error(JSON.stringify(old));
    const o = old.message.tlvs[1];
    expect(o.type === 'unknown' && o.value.length).toBe(6);
    expect(o.type === 'unknown' && decodePolicy(o.value)).toEqual({
      kind: 'ok',
      policy: { scheduler: 'primary-first', overflow: [0, 2] },
    });
  });

  it('a congestion-control list longer than the TLV is malformed, an unknown code is ignored', () => {
    expect(decodePolicy(Uint8Array.of(1, 0, 0, 2, 1, 2, 0))).toEqual({
      kind: 'malformed',
      reason: 'policy lists 2 congestion controls in 3 bytes',
    });
    expect(decodePolicy(Uint8Array.of(1, 0, 1, 2, 1, 2))).toMatchObject({ kind: 'malformed' });
    expect(decodePolicy(Uint8Array.of(1, 0, 0, 1, 1, 9, 0, 0))).toEqual({
      kind: 'ignored',
      reason: 'congestion control code 9',
    });
    expect(() =>
      encodePolicy({ scheduler: 'min-rtt', overflow: [], congestion: [{ id: 300, cc: 'bbr' }] }),
    ).toThrow(RangeError);
    expect(() =>
      encodePolicy({ scheduler: 'min-rtt', overflow: [], congestion: [{ id: 1, cc: 'vegas' as 'bbr' }] }),
    ).toThrow(RangeError);
  });

  it('malformed values are values, a newer version or scheduler is ignored, bad input to the encoder throws', () => {
    expect(decodePolicy(Uint8Array.of(1, 0))).toMatchObject({ kind: 'malformed' });
    expect(decodePolicy(Uint8Array.of(1, 1, 5, 1, 2))).toMatchObject({ kind: 'malformed' });
    expect(decodePolicy(Uint8Array.of(2, 1, 0, 0, 0, 0))).toEqual({
      kind: 'ignored',
      reason: 'policy version 2',
    });
    expect(decodePolicy(Uint8Array.of(1, 9, 0, 0, 0, 0))).toEqual({
      kind: 'ignored',
      reason: 'scheduler code 9',
    });
    expect(() => encodePolicy({ scheduler: 'min-rtt', overflow: [256] })).toThrow(RangeError);
    expect(() => encodePolicy({ scheduler: 'fastest' as 'min-rtt', overflow: [] })).toThrow(RangeError);
  });
});

/** A stream whose writes are recorded; `onWrite` answers as the HAG would. */
function peer(onWrite: (chunk: Buffer, push: (b: Uint8Array) => void) => void) {
  const written: Buffer[] = [];
  const d: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      onWrite(chunk, (b) => d.push(Buffer.from(b)));
      cb();
    },
  });
  return { d, written };
}

describe('the CPE sends its policy', () => {
  const dst = { address: '198.18.3.2', port: 443 };
  it('after the Connect and Cookie TLVs', async () => {
    const { d, written } = peer((_c, push) => push(encodeConvert([])));
    const policy = { scheduler: 'primary-first', overflow: [2] } as const;
    const r = await hagHandshake(d, dst, { method: 'convert', cookie: '0a1b2c3d' }, 1000, policy);
    expect(r.kind).toBe('ok');
    const m = decodeConvert(Buffer.concat(written));
    if (m.kind !== 'ok') throw new Error('not a Convert message');
    const t = m.message.tlvs[2];
    expect(t.type === 'unknown' && t.code).toBe(POLICY_TLV);
    expect(t.type === 'unknown' && decodePolicy(t.value)).toEqual({ kind: 'ok', policy });
  });

  it('an older HAG that refuses the TLV (Unsupported Message naming 200) is told apart from a refusal', async () => {
    const old = peer((_c, push) =>
      push(convertErrorMessage(CONVERT_ERROR.unsupportedMessage, Uint8Array.of(200))),
    );
    const policy = { scheduler: 'min-rtt', overflow: [] } as const;
    expect(await hagHandshake(old.d, dst, { method: 'convert' }, 1000, policy)).toEqual({
      kind: 'no-policy',
    });
    const other = peer((_c, push) =>
      push(convertErrorMessage(CONVERT_ERROR.unsupportedMessage, Uint8Array.of(201))),
    );
    expect((await hagHandshake(other.d, dst, { method: 'convert' }, 1000, policy)).kind).toBe('refused');
  });
});

describe('the HAG takes the policy', () => {
  let server: net.Server;
  let port = 0;
  beforeAll(async () => {
    server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => server.close());
  // Loopback is refused by the real policy; this test's own server is on it.
  const egress: EgressOptions = {
    policy: { check: () => ({ ok: true }) } as unknown as DestinationPolicy,
    connectTimeoutMs: 1000,
  };
  const handshake = async (bytes: Uint8Array) => {
    const input = new PassThrough();
    const stream = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
    input.on('data', (d) => stream.push(d));
    input.write(bytes);
    const o = await convertHandshake(new HandshakeReader(stream, Date.now() + 2000, 1024), {
      cookies: [],
      egress,
    });
    if (o.kind === 'connected') o.socket.destroy();
    return o;
  };

  it('returns it with the connection; a newer one is connected without it, with the reason', async () => {
    const congestion = [{ id: 3, cc: 'bbr' } as const];
    const value = encodePolicy({ scheduler: 'redundant', overflow: [3], congestion });
    const o = await handshake(encodeConvert([connect(port), policyTlv(value)]));
    expect(o).toMatchObject({
      kind: 'connected',
      policy: { scheduler: 'redundant', overflow: [3], congestion },
    });
    const newer = await handshake(encodeConvert([connect(port), policyTlv(Uint8Array.of(7, 0, 0))]));
    expect(newer).toMatchObject({ kind: 'connected', policy: undefined, policyIgnored: 'policy version 7' });
  });

  it('a malformed policy is a malformed message (error 1), another private TLV is unsupported (2)', async () => {
    const bad = await handshake(encodeConvert([connect(port), policyTlv(Uint8Array.of(1, 0, 9))]));
    expect(bad).toMatchObject({ kind: 'refused', reason: 'malformed-convert' });
    const other = await handshake(
      encodeConvert([connect(port), { type: 'unknown', code: 201, value: Uint8Array.of(1) }]),
    );
    expect(other).toMatchObject({ kind: 'refused', reason: 'unsupported-tlv' });
    for (const [o, code] of [
      [bad, 1],
      [other, 2],
    ] as const) {
      const r = o.kind === 'refused' && o.reply ? decodeConvert(o.reply) : undefined;
      expect(r?.kind === 'ok' && r.message.tlvs[0].type === 'error' && r.message.tlvs[0].code).toBe(code);
    }
  });
});
