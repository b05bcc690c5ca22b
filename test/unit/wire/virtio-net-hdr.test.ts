// struct virtio_net_hdr (src/wire/virtio-net-hdr.ts): field round trips at any offset, the
// little-endian layout the kernel reads, and the super-segment header: its partial checksum must
// give every piece a correct TCP checksum once the kernel cuts it (checked here by cutting in JS
// as Linux's tcp_gso_segment does and comparing with a full checksum computed afresh).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  emitPacket,
  finish,
  internetChecksum,
  ipReprOf,
  type Packet,
  PacketView,
  SuperSegmentWriter,
  sumWords,
  TCP_FLAG,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HDR_LEN,
  vnetChecksumTrusted,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  vnetHdrLen,
  writeVnetHdr,
  zeroVnetHdr,
} from '../../../src/wire/index.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });

describe('virtio_net_hdr fields', () => {
  it('reads back what was written, at any offset, touching only its 10 bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9 }),
        u8,
        u8,
        u16,
        u16,
        u16,
        u16,
        (at, fl, gt, hl, gs, cs, co) => {
          const b = new Uint8Array(at + VNET_HDR_LEN + 3).fill(0xee);
          writeVnetHdr(b, at, fl, gt, hl, gs, cs, co);
          expect([vnetFlags(b, at), b[at + 1], vnetHdrLen(b, at), vnetGsoSize(b, at)]).toEqual([
            fl,
            gt,
            hl,
            gs,
          ]);
          expect([vnetCsumStart(b, at), vnetCsumOffset(b, at)]).toEqual([cs, co]);
          expect(vnetGsoType(b, at)).toBe(gt & ~VNET_GSO_ECN);
          expect(b.subarray(0, at).every((x) => x === 0xee)).toBe(true);
          expect(b.subarray(at + VNET_HDR_LEN).every((x) => x === 0xee)).toBe(true);
          zeroVnetHdr(b, at);
          expect(b.subarray(at, at + VNET_HDR_LEN).every((x) => x === 0)).toBe(true);
        },
      ),
      { seed: 0x5eed, numRuns: 500 },
    );
  });

  it('lays the fields out as struct virtio_net_hdr, little-endian', () => {
    const b = new Uint8Array(VNET_HDR_LEN);
    writeVnetHdr(b, 0, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 0x0034, 0x05a8, 0x0014, 0x0010);
    expect(Array.from(b)).toEqual([1, 1, 0x34, 0, 0xa8, 0x05, 0x14, 0, 0x10, 0]);
  });

  it('trusts the checksum with DATA_VALID or NEEDS_CSUM, not without', () => {
    const b = new Uint8Array(VNET_HDR_LEN);
    expect(vnetChecksumTrusted(b, 0)).toBe(false);
    b[0] = VNET_F_DATA_VALID;
    expect(vnetChecksumTrusted(b, 0)).toBe(true);
    b[0] = VNET_F_NEEDS_CSUM;
    expect(vnetChecksumTrusted(b, 0)).toBe(true);
  });
});

const V4_SRC = Uint8Array.of(198, 18, 0, 1);
const V4_DST = Uint8Array.of(198, 18, 0, 2);
const V6_SRC = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
const V6_DST = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2]);

function tcpPacket(version: 4 | 6, payloadLen: number, flags: number = TCP_FLAG.ack | TCP_FLAG.psh): Packet {
  const payload = Uint8Array.from({ length: payloadLen }, (_, i) => (i * 7 + 3) & 0xff);
  const tcp = {
    srcPort: 40000,
    dstPort: 443,
    seq: 0xfffff000, // wraps inside the super-segment
    ack: 12345,
    flags,
    window: 502,
    urgent: 0,
    options: [{ type: 'timestamp' as const, tsval: 1, tsecr: 2 }],
    payload,
  };
  const ip = version === 4 ? ipReprOf(V4_SRC, V4_DST) : ipReprOf(V6_SRC, V6_DST);
  return { ip, tcp };
}

/**
 * Cuts a super-segment as the kernel does with NEEDS_CSUM (tcp_gso_segment, inet_gso_segment):
 * headers copied onto each piece, sequence numbers advanced, IP length (and IPv4 ID and header
 * checksum) fixed, the partial TCP checksum adjusted for the piece's length and then completed
 * over the piece from csum_start. Returns the pieces as separate packets.
 */
function cutLikeLinux(b: Uint8Array, hdrOff: number, pktOff: number, len: number): Uint8Array[] {
  const gsoSize = vnetGsoSize(b, hdrOff);
  const cs = vnetCsumStart(b, hdrOff);
  const co = vnetCsumOffset(b, hdrOff);
  const hl = vnetHdrLen(b, hdrOff);
  const v4 = b[pktOff] >> 4 === 4;
  const oldTcpLen = len - cs;
  const partial = (b[pktOff + cs + co] << 8) | b[pktOff + cs + co + 1];
  const pieces: Uint8Array[] = [];
  const step = gsoSize || len - hl;
  for (let at = hl, i = 0; at < len; at += step, i++) {
    const n = Math.min(step, len - at);
    const p = new Uint8Array(hl + n);
    p.set(b.subarray(pktOff, pktOff + hl));
    p.set(b.subarray(pktOff + at, pktOff + at + n), hl);
    const dv = new DataView(p.buffer);
    dv.setUint32(cs + 4, (dv.getUint32(cs + 4) + i * step) >>> 0);
    if (v4) {
      dv.setUint16(2, hl + n);
      dv.setUint16(4, (dv.getUint16(4) + i) & 0xffff);
      dv.setUint16(10, 0);
      dv.setUint16(10, internetChecksum(p, 0, 20));
    } else {
      dv.setUint16(4, hl + n - 40);
    }
    // RFC 1624: replace the old length by the new in the one's complement sum.
    const newTcpLen = hl - cs + n;
    const adj = partial + (~oldTcpLen & 0xffff) + newTcpLen;
    dv.setUint16(cs + co, ~finish(adj) & 0xffff);
    dv.setUint16(cs + co, finish(sumWords(p, cs, p.length - cs)));
    pieces.push(p);
  }
  return pieces;
}

describe('SuperSegmentWriter', () => {
  for (const version of [4, 6] as const) {
    it(`fills the header and a partial checksum that the kernel's cut completes (IPv${version})`, () => {
      const mss = 1448;
      const p = tcpPacket(version, 45 * mss + 100);
      const buf = new Uint8Array(VNET_HDR_LEN + 70_000);
      const len = emitPacket(p, buf, VNET_HDR_LEN);
      const ipHl = version === 4 ? 20 : 40;
      expect(new SuperSegmentWriter().write(buf, 0, VNET_HDR_LEN, len, mss)).toBeUndefined();
      expect(vnetFlags(buf, 0)).toBe(VNET_F_NEEDS_CSUM);
      expect(vnetGsoType(buf, 0)).toBe(version === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6);
      expect(vnetGsoSize(buf, 0)).toBe(mss);
      expect(vnetCsumStart(buf, 0)).toBe(ipHl);
      expect(vnetCsumOffset(buf, 0)).toBe(16);
      expect(vnetHdrLen(buf, 0)).toBe(ipHl + 32);

      // The whole super-segment's checksum, completed from csum_start, is the full one.
      const full = new Uint8Array(VNET_HDR_LEN + len);
      emitPacket(p, full, 0);
      const completed = finish(sumWords(buf, VNET_HDR_LEN + ipHl, len - ipHl));
      expect(completed).toBe((full[ipHl + 16] << 8) | full[ipHl + 17]);

      // Every piece the kernel cuts carries a checksum equal to one computed afresh for it.
      const pieces = cutLikeLinux(buf, 0, VNET_HDR_LEN, len);
      expect(pieces.map((x) => x.length - ipHl - 32)).toEqual([...new Array(45).fill(mss), 100]);
      const view = new PacketView();
      let seq = 0xfffff000;
      const payload = p.tcp!.payload;
      let at = 0;
      for (const piece of pieces) {
        expect(view.wrap(piece)).toBeUndefined();
        expect(view.tcpChecksumOk()).toBe(true);
        if (version === 4) expect(internetChecksum(piece, 0, 20)).toBe(0);
        expect(view.tcp.seq).toBe(seq);
        const n = view.tcp.payloadLen;
        expect(piece.subarray(view.tcp.payloadOff)).toEqual(payload.subarray(at, at + n));
        seq = (seq + n) >>> 0;
        at += n;
      }
      expect(at).toBe(payload.length);
    });
  }

  it('asks only for the checksum when the payload fits one MSS, and sets ECN with CWR', () => {
    const w = new SuperSegmentWriter();
    const buf = new Uint8Array(VNET_HDR_LEN + 2000);
    let len = emitPacket(tcpPacket(4, 1000), buf, VNET_HDR_LEN);
    expect(w.write(buf, 0, VNET_HDR_LEN, len, 1448)).toBeUndefined();
    expect([vnetFlags(buf, 0), vnetGsoType(buf, 0), vnetGsoSize(buf, 0)]).toEqual([
      VNET_F_NEEDS_CSUM,
      VNET_GSO_NONE,
      0,
    ]);
    const [one] = cutLikeLinux(buf, 0, VNET_HDR_LEN, len);
    const v = new PacketView();
    v.wrap(one!);
    expect(v.tcpChecksumOk()).toBe(true);

    const big = new Uint8Array(VNET_HDR_LEN + 10_000);
    len = emitPacket(tcpPacket(6, 5000, TCP_FLAG.ack | TCP_FLAG.cwr), big, VNET_HDR_LEN);
    expect(w.write(big, 0, VNET_HDR_LEN, len, 1000)).toBeUndefined();
    expect(big[1]).toBe(VNET_GSO_TCPV6 | VNET_GSO_ECN);
  });

  it('refuses a packet that is not TCP, or a bad MSS, and leaves the header alone', () => {
    const w = new SuperSegmentWriter();
    const buf = new Uint8Array(VNET_HDR_LEN + 100).fill(0xee);
    const p = tcpPacket(4, 40);
    const len = emitPacket(p, buf, VNET_HDR_LEN);
    expect(w.write(buf, 0, VNET_HDR_LEN, len, 0)).toMatchObject({ kind: 'bad-field' });
    buf[VNET_HDR_LEN + 9] = 17; // UDP
    expect(w.write(buf, 0, VNET_HDR_LEN, len, 1448)).toMatchObject({ kind: 'bad-field' });
    expect(w.write(buf, 0, VNET_HDR_LEN, 10, 1448)).toMatchObject({ kind: 'truncated' });
    expect(buf.subarray(0, VNET_HDR_LEN).every((x) => x === 0xee)).toBe(true);
  });
});
