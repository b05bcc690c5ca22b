// Property tests: for every header and option, parse(emit(x)) equals x, and the zero-copy view
// reads the same fields as the plain object. Seeded, so a failure reproduces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitIpv4,
  emitIpv6,
  emitMptcpOption,
  emitPacket,
  emitTcp,
  emitTcpOptions,
  ipv4HeaderLen,
  type MptcpOption,
  MptcpOptionView,
  mptcpOptionLen,
  PacketView,
  packetLen,
  parseIpv4,
  parseIpv6,
  parseMptcpOption,
  parsePacket,
  parseTcp,
  parseTcpOptions,
  tcpLen,
  tcpOptionsLen,
  WireError,
} from '../../../src/wire/index.js';
import * as A from './arbitraries.js';

const params = { seed: 0x5eed, numRuns: 2000 };

function roundTripOption(opt: MptcpOption): void {
  const len = mptcpOptionLen(opt);
  // Emit at an odd offset inside a larger buffer: no code may assume alignment or offset 0.
  const buf = new Uint8Array(len + 7).fill(0xee);
  expect(emitMptcpOption(opt, buf, 3)).toBe(len);
  expect(buf[3]).toBe(30);
  expect(buf[4]).toBe(len);
  expect(parseMptcpOption(buf, 3, len)).toEqual(opt);
  // Bytes outside the option are untouched.
  expect(buf[2]).toBe(0xee);
  expect(buf[3 + len]).toBe(0xee);
  const v = new MptcpOptionView();
  expect(v.wrap(buf, 3, len)).toBeUndefined();
  expect(v.subtype).toBe(buf[5] >> 4);
}

describe('MPTCP suboptions round trip (RFC 8684 section 3)', () => {
  const cases: [string, fc.Arbitrary<MptcpOption>][] = [
    ['MP_CAPABLE, all four lengths and the checksum form', A.mpCapable],
    ['MP_JOIN SYN, SYN/ACK and ACK', A.mpJoin],
    ['DSS, every flag combination', A.dss],
    ['ADD_ADDR v4/v6, port, HMAC, echo', A.addAddr],
    ['REMOVE_ADDR lists', A.removeAddr],
    ['MP_PRIO', A.mpPrio],
    ['MP_FAIL', A.mpFail],
    ['MP_FASTCLOSE', A.mpFastclose],
    ['MP_TCPRST', A.mpTcprst],
  ];
  it.each(cases)('%s', (_name, arb) => {
    fc.assert(fc.property(arb, roundTripOption), params);
  });

  it('covers every DSS length: 4, 8, 12, ... with and without checksum', () => {
    const seen = new Set<number>();
    fc.assert(
      fc.property(A.dss, (d) => {
        seen.add(mptcpOptionLen(d));
      }),
      params,
    );
    // Base 4, data ACK +0/4/8, mapping +0 or DSN 4/8 plus 6, checksum +2: 4 up to 28 (RFC 8684 fig. 9).
    expect([...seen].sort((a, b) => a - b)).toEqual([4, 8, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
  });
});

describe('TCP options round trip', () => {
  it('parseTcpOptions(emitTcpOptions(x)) equals x, padded to 4 bytes', () => {
    fc.assert(
      fc.property(A.tcpOptions, (opts) => {
        const len = tcpOptionsLen(opts);
        const buf = new Uint8Array(len + 4).fill(0xaa);
        expect(emitTcpOptions(opts, buf, 1)).toBe(len);
        expect(len % 4).toBe(0);
        expect(parseTcpOptions(buf, 1, len)).toEqual(opts);
      }),
      params,
    );
  });
});

describe('TCP header round trip (RFC 9293 section 3.1)', () => {
  it('parseTcp(emitTcp(x)) equals x', () => {
    fc.assert(
      fc.property(A.tcp, (seg) => {
        const len = tcpLen(seg);
        const buf = new Uint8Array(len + 2);
        expect(emitTcp(seg, buf, 0)).toBe(len);
        expect(parseTcp(buf, 0, len)).toEqual(seg);
      }),
      params,
    );
  });
});

describe('IP headers round trip', () => {
  it('IPv4 (RFC 791), with options, and its header checksum verifies', () => {
    fc.assert(
      fc.property(A.ipv4, ({ version: _v, ...ip }) => {
        const hl = ipv4HeaderLen(ip);
        const buf = new Uint8Array(hl + ip.payloadLen);
        expect(emitIpv4(ip, buf, 0)).toBe(hl);
        expect(parseIpv4(buf)).toEqual(ip);
      }),
      params,
    );
  });

  it('IPv6 (RFC 8200)', () => {
    fc.assert(
      fc.property(A.ipv6, ({ version: _v, ...ip }) => {
        const buf = new Uint8Array(40 + ip.payloadLen);
        expect(emitIpv6(ip, buf, 0)).toBe(40);
        expect(parseIpv6(buf)).toEqual(ip);
      }),
      params,
    );
  });
});

describe('plain objects own their bytes', () => {
  it('parsing from a Node Buffer copies: reusing the buffer does not change the result', () => {
    const [pkt] = fc.sample(A.tcpPacket, { seed: 9, numRuns: 1 });
    const buf = Buffer.alloc(packetLen(pkt));
    emitPacket(pkt, buf);
    const parsed = parsePacket(buf);
    buf.fill(0);
    expect(parsed).toEqual(pkt);
  });
});

describe('whole packets', () => {
  it('parsePacket(emitPacket(x)) equals x and the checksums verify, IPv4 and IPv6', () => {
    const view = new PacketView();
    fc.assert(
      fc.property(A.tcpPacket, (p) => {
        const len = packetLen(p);
        const buf = new Uint8Array(len);
        expect(emitPacket(p, buf)).toBe(len);
        const back = parsePacket(buf);
        expect(back).not.toBeInstanceOf(WireError);
        expect(back).toEqual(p);
        expect(view.wrap(buf)).toBeUndefined();
        expect(view.isTcp).toBe(true);
        expect(view.tcpChecksumOk()).toBe(true);
        if (view.version === 4) expect(view.v4.verifyChecksum()).toBe(true);
        // One flipped payload or header bit breaks the TCP checksum.
        const at = len - 1 - (p.tcp!.srcPort % Math.min(len - 1, tcpLen(p.tcp!)));
        buf[at] ^= 0x01;
        expect(view.wrap(buf)).toBeUndefined();
        expect(view.tcpChecksumOk()).toBe(false);
      }),
      { ...params, numRuns: 1000 },
    );
  });
});
