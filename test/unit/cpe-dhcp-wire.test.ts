// DHCP wire format (cpe/dhcp/wire.ts): round trips, a cross-check against the dhcp npm package's
// independent codec, RFC 3396 long options, option overload, and malformed input as error values.
import protocol from 'dhcp/lib/protocol.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BOOTREPLY,
  BOOTREQUEST,
  blank,
  type DhcpMessage,
  emit,
  encode,
  MessageType,
  messageType,
  Opt,
  optIp,
  optIps,
  optU32,
  parse,
} from '../../cpe/dhcp/wire.js';

const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const macArb = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const optionsArb = fc
  .dictionary(fc.integer({ min: 1, max: 254 }).map(String), fc.uint8Array({ minLength: 0, maxLength: 600 }), {
    maxKeys: 8,
  })
  .map((d) => {
    const m = new Map<number, Buffer>();
    for (const [k, v] of Object.entries(d)) m.set(Number(k), Buffer.from(v));
    return m;
  });
const msgArb: fc.Arbitrary<DhcpMessage> = fc
  .record({
    op: fc.constantFrom(BOOTREQUEST, BOOTREPLY),
    hops: fc.nat(255),
    xid: fc.nat(0xffffffff),
    secs: fc.nat(0xffff),
    flags: fc.nat(0xffff),
    ciaddr: ipArb,
    yiaddr: ipArb,
    siaddr: ipArb,
    giaddr: ipArb,
    chaddr: macArb,
    sname: fc.stringMatching(/^[a-z0-9.]{0,63}$/),
    file: fc.stringMatching(/^[a-z0-9./]{0,127}$/),
    type: fc.integer({ min: 1, max: 8 }),
    options: optionsArb,
  })
  .map(({ type, options, ...r }) => {
    // Options the parser checks the length of get valid lengths here; the others are random.
    for (const code of [1, 3, 6, 50, 51, 52, 54, 57, 58, 59]) options.delete(code);
    options.set(Opt.MESSAGE_TYPE, encode.u8(type));
    return { ...r, htype: 1, hlen: 6, options };
  });

describe('DHCP wire format', () => {
  it('parse(emit(m)) == m for any message (property)', () => {
    fc.assert(
      fc.property(msgArb, (m) => {
        const r = parse(emit(m));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.msg).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('emits at least the 300-octet BOOTP size, message type first, END last', () => {
    const m = blank(BOOTREQUEST, 0x1234, '02:00:00:00:00:01');
    m.options.set(Opt.SERVER_ID, encode.ip('198.18.5.1'));
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.REQUEST));
    const b = emit(m);
    expect(b.length).toBe(300);
    expect([...b.subarray(240, 243)]).toEqual([53, 1, 3]);
    expect(b.indexOf(255, 243)).toBeGreaterThan(243);
  });

  it('splits options longer than 255 octets and joins them again (RFC 3396)', () => {
    const m = blank(BOOTREPLY, 1, '02:00:00:00:00:01');
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.ACK));
    m.options.set(Opt.DNS, encode.ips(Array.from({ length: 100 }, (_, i) => `198.18.0.${i}`)));
    const b = emit(m);
    const r = parse(b);
    expect(r.ok && optIps(r.msg, Opt.DNS).length).toBe(100);
  });

  it('reads options from file and sname when option 52 says so (RFC 2132 9.3)', () => {
    const m = blank(BOOTREPLY, 7, '02:00:00:00:00:02');
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.OFFER));
    m.options.set(Opt.OVERLOAD, encode.u8(3));
    const b = emit(m);
    // file field (108..235): server id; sname field (44..107): lease time.
    Buffer.from([54, 4, 198, 18, 5, 1, 255]).copy(b, 108);
    Buffer.from([51, 4, 0, 0, 0x0e, 0x10, 255]).copy(b, 44);
    const r = parse(b);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(optIp(r.msg, Opt.SERVER_ID)).toBe('198.18.5.1');
    expect(optU32(r.msg, Opt.LEASE_TIME)).toBe(3600);
    expect(r.msg.sname).toBe('');
  });

  it('agrees with the dhcp package codec both ways', () => {
    const m = blank(BOOTREPLY, 0xdeadbeef, '02:0a:0b:0c:0d:0e');
    m.flags = 0x8000;
    m.yiaddr = '198.18.5.10';
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.OFFER));
    m.options.set(Opt.SERVER_ID, encode.ip('198.18.5.1'));
    m.options.set(Opt.LEASE_TIME, encode.u32(3600));
    m.options.set(Opt.ROUTER, encode.ips(['198.18.5.1']));
    m.options.set(Opt.DNS, encode.ips(['198.18.5.1', '198.18.5.2']));
    const theirs = protocol.parse(emit(m));
    expect(theirs.xid).toBe(0xdeadbeef);
    expect(theirs.yiaddr).toBe('198.18.5.10');
    expect(theirs.chaddr).toBe('02-0A-0B-0C-0D-0E');
    expect(theirs.options[53]).toBe(MessageType.OFFER);
    expect(theirs.options[54]).toBe('198.18.5.1');
    expect(theirs.options[51]).toBe(3600);
    expect(theirs.options[6]).toEqual(['198.18.5.1', '198.18.5.2']);

    const sb = protocol.format({
      op: BOOTREQUEST,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 42,
      secs: 3,
      flags: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '0.0.0.0',
      siaddr: '0.0.0.0',
      giaddr: '0.0.0.0',
      chaddr: '02-00-00-00-00-09',
      sname: '',
      file: '',
      options: { 53: MessageType.REQUEST, 50: '198.18.5.10', 54: '198.18.5.1' },
    });
    const r = parse(sb._data.subarray(0, sb._w));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(messageType(r.msg)).toBe(MessageType.REQUEST);
    expect(r.msg.chaddr).toBe('02:00:00:00:00:09');
    expect(optIp(r.msg, Opt.REQUESTED_IP)).toBe('198.18.5.10');
    expect(optIp(r.msg, Opt.SERVER_ID)).toBe('198.18.5.1');
  });
});

describe('DHCP wire format: malformed input gives typed errors', () => {
  const good = () => {
    const m = blank(BOOTREQUEST, 1, '02:00:00:00:00:01');
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER));
    return emit(m);
  };
  const kind = (b: Uint8Array) => {
    const r = parse(b);
    return r.ok ? 'ok' : r.error.kind;
  };

  it('each kind of damage', () => {
    expect(kind(good())).toBe('ok');
    expect(kind(good().subarray(0, 239))).toBe('too-short');
    const op = good();
    op[0] = 3;
    expect(kind(op)).toBe('bad-op');
    const hl = good();
    hl[2] = 17;
    expect(kind(hl)).toBe('bad-hlen');
    const ck = good();
    ck[236] = 0;
    expect(kind(ck)).toBe('bad-cookie');
    // option 53 whose length runs past the end
    const tr = Buffer.concat([good().subarray(0, 240), Buffer.from([53, 9, 1])]);
    expect(kind(tr)).toBe('truncated-option');
    const noEnd = Buffer.concat([good().subarray(0, 240), Buffer.from([53, 1, 1])]);
    expect(kind(noEnd)).toBe('no-end-option');
    const noType = Buffer.concat([good().subarray(0, 240), Buffer.from([255])]);
    expect(kind(noType)).toBe('no-message-type');
    const badType = Buffer.concat([good().subarray(0, 240), Buffer.from([53, 1, 9, 255])]);
    expect(kind(badType)).toBe('bad-option');
    const badIp = Buffer.concat([good().subarray(0, 240), Buffer.from([53, 1, 3, 50, 3, 1, 2, 3, 255])]);
    expect(kind(badIp)).toBe('bad-option');
    const badOverload = Buffer.concat([good().subarray(0, 240), Buffer.from([53, 1, 3, 52, 1, 7, 255])]);
    expect(kind(badOverload)).toBe('bad-option');
  });

  it('never throws on random bytes or on damaged good messages (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        parse(b);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(msgArb, fc.nat(), fc.nat(255), fc.nat(), (m, pos, val, cut) => {
        const b = emit(m);
        b[pos % b.length] = val;
        parse(b);
        parse(b.subarray(0, cut % (b.length + 1)));
      }),
      { numRuns: 2000 },
    );
  });
});
