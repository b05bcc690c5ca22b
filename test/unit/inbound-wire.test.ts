// The inbound port-forwarding protocol's wire format (src/inbound/wire.ts): every message round
// trips, a message split anywhere is "incomplete" until its last byte, and malformed input gives a
// reason, never an exception; the control connection's reader takes messages off a byte stream.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeInbound,
  encodeInbound,
  FORWARD_STATUS,
  forwardStatusName,
  INBOUND_MAX_FORWARDS,
  INBOUND_MSG,
  type InboundMessage,
  InboundReader,
} from '../../src/inbound/index.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const port = fc.integer({ min: 0, max: 65535 });

const message: fc.Arbitrary<InboundMessage> = fc.oneof(
  fc.record({
    type: fc.constant('register' as const),
    version: fc.integer({ min: 0, max: 255 }),
    owner: bytes(16),
    ranges: fc.array(fc.record({ first: port, last: port }), { maxLength: INBOUND_MAX_FORWARDS }),
  }),
  fc.record({
    type: fc.constant('registered' as const),
    status: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: INBOUND_MAX_FORWARDS }),
  }),
  fc.record({
    type: fc.constant('incoming' as const),
    ticket: bytes(16),
    index: fc.integer({ min: 0, max: 255 }),
    port,
    address: fc.oneof(bytes(4), bytes(16)),
    peerPort: port,
  }),
  fc.record({ type: fc.constant('attach' as const), ticket: bytes(16) }),
  fc.record({
    type: fc.constant('reject' as const),
    ticket: bytes(16),
    reason: fc.integer({ min: 0, max: 255 }),
  }),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
);

/** The decoded form with its byte views as plain arrays, to compare with what was encoded. */
const plain = (m: InboundMessage) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]));

describe('inbound wire format', () => {
  it('every message round trips, and is incomplete until its last byte', () => {
    fc.assert(
      fc.property(message, (m) => {
        const b = encodeInbound(m);
        const d = decodeInbound(b);
        expect(d.kind).toBe('ok');
        if (d.kind !== 'ok') return;
        expect(d.consumed).toBe(b.length);
        expect(plain(d.message)).toEqual(plain(m));
        for (let cut = 0; cut < b.length; cut++)
          expect(decodeInbound(b.subarray(0, cut)).kind).toBe('incomplete');
      }),
    );
  });

  it('known bytes: ATTACH is type 4, length 16, the ticket', () => {
    const ticket = new Uint8Array(16).fill(0xab);
    expect([...encodeInbound({ type: 'attach', ticket })]).toEqual([4, 0, 16, ...ticket]);
    const reg = encodeInbound({
      type: 'register',
      version: 1,
      owner: new Uint8Array(16),
      ranges: [{ first: 8080, last: 8081 }],
    });
    expect([...reg.subarray(0, 4)]).toEqual([INBOUND_MSG.register, 0, 22, 1]);
    expect([...reg.subarray(-5)]).toEqual([1, 0x1f, 0x90, 0x1f, 0x91]);
  });

  it('malformed input: a reason, never an exception', () => {
    const bad: [number[], RegExp][] = [
      [[99, 0, 0], /unknown message type 99/],
      [[INBOUND_MSG.ping, 0, 1, 0], /ping: body of 1 bytes/],
      [[INBOUND_MSG.attach, 0, 15, ...new Array(15).fill(0)], /attach: body of 15/],
      [[INBOUND_MSG.register, 0xff, 0xff], /register: body of 65535/],
      [[INBOUND_MSG.register, 0, 18, 1, ...new Array(16).fill(0), 1], /for 1 ranges/],
      [[INBOUND_MSG.register, 0, 18, 1, ...new Array(16).fill(0), 65], /65 ranges/],
      [[INBOUND_MSG.incoming, 0, 26, ...new Array(21).fill(0), 5, 1, 2, 3, 4], /address family 5/],
      [[INBOUND_MSG.registered, 0, 2, 3, 0], /registered: body of 2/],
    ];
    for (const [b, why] of bad) {
      const d = decodeInbound(Uint8Array.from(b));
      expect(d.kind, String(b)).toBe('error');
      if (d.kind === 'error') expect(d.reason).toMatch(why);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const d = decodeInbound(b);
        expect(['ok', 'incomplete', 'error']).toContain(d.kind);
      }),
    );
  });

  it('the reader takes messages off a stream cut anywhere, and keeps the bytes after them', () => {
    const ticket = new Uint8Array(16).fill(7);
    const wire = Buffer.concat([
      encodeInbound({ type: 'registered', status: [FORWARD_STATUS.ok, FORWARD_STATUS.notAllowed] }),
      encodeInbound({ type: 'pong' }),
      encodeInbound({ type: 'attach', ticket }),
      Buffer.from('GET / HTTP/1.1\r\n'),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = new InboundReader();
      const got: string[] = [];
      for (const part of [wire.subarray(0, cut), wire.subarray(cut)]) {
        r.push(part);
        for (let m = r.next(); m; m = r.next()) got.push(m.type);
      }
      expect(got).toEqual(['registered', 'pong', 'attach']);
      expect(r.error).toMatch(/unknown message type 71/); // "G" of the HTTP bytes: not a message
    }
    const r = new InboundReader();
    r.push(Buffer.concat([encodeInbound({ type: 'attach', ticket }), Buffer.from('hello')]));
    expect(r.next()?.type).toBe('attach');
    expect(r.rest().toString()).toBe('hello');
    expect(forwardStatusName(FORWARD_STATUS.notAllowed)).toBe('not-allowed');
  });

  it('a value out of its field is a programmer mistake (TypeError)', () => {
    expect(() => encodeInbound({ type: 'attach', ticket: new Uint8Array(3) })).toThrow(TypeError);
    const ranges = new Array(65).fill({ first: 1, last: 1 });
    expect(() => encodeInbound({ type: 'register', version: 1, owner: new Uint8Array(16), ranges })).toThrow(
      TypeError,
    );
  });
});
