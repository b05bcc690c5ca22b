// Malformed input gives a typed error value, never an exception and never a silent success:
// truncated buffers, wrong option lengths, lengths past the end, unknown subtypes, bad IHL and
// bad data offset.
import { describe, expect, it } from 'vitest';
import {
  PacketView,
  parseIpv4,
  parseIpv6,
  parseMptcpOption,
  parsePacket,
  parseTcp,
  parseTcpOptions,
  WireError,
  type WireErrorKind,
} from '../../../src/wire/index.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function expectError(r: unknown, kind: WireErrorKind): void {
  expect(r).toBeInstanceOf(WireError);
  expect((r as WireError).kind).toBe(kind);
}

// 198.18.0.1 -> 198.18.0.2, TCP, 40 bytes total, valid header checksum.
const V4_TCP = '45000028 00004000 4006 0000 c6120001 c6120002';
const TCP_HDR = '1f90 0050 00000001 00000000 5002 ffff 0000 0000';

describe('IPv4', () => {
  it('truncated header', () => expectError(parseIpv4(hex('4500001c0000')), 'truncated'));
  it('wrong version', () =>
    expectError(parseIpv4(hex('65000014000000004006000001020304050607 08')), 'bad-version'));
  it('IHL below 5', () =>
    expectError(parseIpv4(hex('44000014000000004006000001020304 05060708')), 'bad-header-length'));
  it('total length below the header', () =>
    expectError(parseIpv4(hex('45000010000000004006000001020304 05060708')), 'bad-total-length'));
  it('total length past the buffer', () =>
    expectError(parseIpv4(hex('45000064000000004006000001020304 05060708')), 'truncated'));
  it('IHL past the buffer', () =>
    expectError(parseIpv4(hex('4f000014000000004006000001020304 05060708')), 'bad-total-length'));
});

describe('IPv6', () => {
  const v6 = (plen: string, nh: string, rest = '') =>
    hex(
      `60000000 ${plen} ${nh} 40 ${'20010db8000000000000000000000001'} ${'20010db8000000000000000000000002'} ${rest}`,
    );
  it('truncated header', () => expectError(parseIpv6(hex('6000000000000640')), 'truncated'));
  it('wrong version', () => expectError(parseIpv6(hex(`40${'00'.repeat(39)}`)), 'bad-version'));
  it('payload length past the buffer', () => expectError(parseIpv6(v6('0010', '06')), 'truncated'));
  it('extension header running past the end', () => {
    // Hop-by-hop header claiming 16 bytes in an 8-byte payload.
    expectError(parsePacket(v6('0008', '00', '06010000 00000000')), 'truncated');
  });
});

describe('TCP header', () => {
  it('truncated', () => expectError(parseTcp(hex('1f900050000000010000')), 'truncated'));
  it('data offset below 5', () =>
    expectError(parseTcp(hex(TCP_HDR.replace('5002', '4002'))), 'bad-header-length'));
  it('data offset past the segment', () =>
    expectError(parseTcp(hex(TCP_HDR.replace('5002', '6002'))), 'truncated'));
  it('inside a packet, the error surfaces from parsePacket and PacketView', () => {
    const pkt = hex(V4_TCP + TCP_HDR.replace('5002', '3002'));
    expectError(parsePacket(pkt), 'bad-header-length');
    expectError(new PacketView().wrap(pkt), 'bad-header-length');
  });
});

describe('TCP options', () => {
  const cases: [string, string, WireErrorKind][] = [
    ['length 0', '0200', 'bad-option-length'],
    ['length 1', '0201', 'bad-option-length'],
    ['kind without a length byte', '01010102', 'truncated'],
    ['length past the end', '1306000000', 'truncated'],
    ['MSS of length 3', '0203050101', 'bad-option-length'],
    ['window scale of length 4', '03040701', 'bad-option-length'],
    ['SACK-permitted of length 3', '04030001', 'bad-option-length'],
    ['SACK of 9 bytes', `0509${'00'.repeat(7)}000000`, 'bad-option-length'],
    ['SACK with no block', '0502', 'bad-option-length'],
    ['timestamp of length 8', `0808${'00'.repeat(6)}`, 'bad-option-length'],
    ['Fast Open cookie of 1 byte', '220300', 'bad-option-length'],
    ['Fast Open cookie of 17 bytes', `2213${'00'.repeat(17)}`, 'bad-option-length'],
  ];
  it.each(cases)('%s', (_n, bytes, kind) => {
    const b = hex(bytes);
    expectError(parseTcpOptions(b, 0, b.length), kind);
  });

  it('an unknown kind with a valid length is kept, not an error', () => {
    const b = hex('fe0401020000');
    expect(parseTcpOptions(b, 0, b.length)).toEqual([{ type: 'unknown', kind: 0xfe, data: hex('0102') }]);
  });
});

describe('MPTCP suboptions (RFC 8684)', () => {
  const cases: [string, string, WireErrorKind][] = [
    ['too short for a subtype', '1e02', 'bad-option-length'],
    ['unknown subtype 0x9', '1e049000', 'unknown-subtype'],
    ['unknown subtype 0xe', '1e04e000', 'unknown-subtype'],
    ['MP_EXPERIMENTAL (0xf) is not understood', '1e04f000', 'unknown-subtype'],
    ['MP_CAPABLE of length 5', '1e05010100', 'bad-option-length'],
    ['MP_CAPABLE of length 16', `1e100101${'00'.repeat(12)}`, 'bad-option-length'],
    ['MP_JOIN of length 13', `1e0d1000${'00'.repeat(9)}`, 'bad-option-length'],
    ['DSS whose length disagrees with its flags', `1e062001${'00'.repeat(2)}`, 'bad-option-length'],
    ['DSS claiming an 8-byte ACK in 8 bytes', `1e082003${'00'.repeat(4)}`, 'bad-option-length'],
    ['DSS with mapping but no room', `1e0a2004${'00'.repeat(6)}`, 'bad-option-length'],
    ['DSS of length 3', '1e0320', 'bad-option-length'],
    ['ADD_ADDR of length 9', `1e093001${'00'.repeat(5)}`, 'bad-option-length'],
    ['REMOVE_ADDR with no ID', '1e0340', 'bad-option-length'],
    ['MP_PRIO of length 5', '1e0550000000', 'bad-option-length'],
    ['MP_FAIL of length 11', `1e0b6000${'00'.repeat(7)}`, 'bad-option-length'],
    ['MP_FASTCLOSE of length 13', `1e0d7000${'00'.repeat(9)}`, 'bad-option-length'],
    ['MP_TCPRST of length 5', '1e058101 00', 'bad-option-length'],
  ];
  it.each(cases)('%s', (_n, bytes, kind) => {
    const b = hex(bytes);
    expectError(parseMptcpOption(b, 0, b[1]), kind);
    // The same error through the TCP options parser.
    const padded = new Uint8Array((b.length + 3) & ~3);
    padded.set(b);
    expectError(parseTcpOptions(padded, 0, padded.length), kind);
  });

  it('an option whose length field runs past the buffer is truncated', () => {
    expectError(parseMptcpOption(hex('1e0c1000'), 0, 12), 'truncated');
  });
});
