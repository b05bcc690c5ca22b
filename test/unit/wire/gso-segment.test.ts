// The kernel's cut of a TCP super-segment, as the simulator and the tests do it: pieces of
// gso_size with the headers copied, sequence numbers, lengths, IPv4 IDs and checksums their own,
// CWR on the first piece only and FIN/PSH on the last only.
import { describe, expect, it } from 'vitest';
import {
  emitPacket,
  GsoSegmenter,
  ipReprOf,
  PacketView,
  packetLen,
  parsePacket,
  SuperSegmentWriter,
  TCP_FLAG,
  WireError,
} from '../../../src/wire/index.js';

function superSegment(src: Uint8Array, dst: Uint8Array, n: number, flags: number): Uint8Array {
  const payload = new Uint8Array(n);
  for (let i = 0; i < n; i++) payload[i] = i & 0xff;
  const p = {
    ip: ipReprOf(src, dst),
    tcp: {
      srcPort: 40000,
      dstPort: 80,
      seq: 0xffffff00,
      ack: 1,
      flags,
      window: 500,
      urgent: 0,
      options: [{ type: 'timestamp' as const, tsval: 1, tsecr: 2 }],
      payload,
    },
  };
  const b = new Uint8Array(packetLen(p));
  emitPacket(p, b);
  return b;
}

describe('GsoSegmenter', () => {
  for (const [name, src, dst] of [
    ['IPv4', Uint8Array.of(198, 18, 0, 1), Uint8Array.of(198, 18, 0, 2)],
    [
      'IPv6',
      Uint8Array.of(0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 1),
      Uint8Array.of(0x20, 1, 0xd, 0xb8, ...new Array(11).fill(0), 2),
    ],
  ] as const) {
    it(`${name}: cuts at gso_size, each piece complete, flags where the kernel puts them`, () => {
      const { cwr, fin, psh, ack } = TCP_FLAG;
      const b = superSegment(src, dst, 2500, ack | cwr | psh | fin);
      // What the driver hands the kernel: the checksum field holds only the pseudo-header sum.
      const hdr = new Uint8Array(10 + b.length);
      hdr.set(b, 10);
      expect(new SuperSegmentWriter().write(hdr, 0, 10, b.length, 1000)).toBeUndefined();
      const seg = hdr.subarray(10);
      const g = new GsoSegmenter();
      expect(g.count(seg, seg.length, 1000)).toBe(3);
      const out = new Uint8Array(2000);
      const view = new PacketView();
      const got: [number, number, number][] = [];
      const data: number[] = [];
      for (let k = 0; k < 3; k++) {
        const n = g.piece(seg, seg.length, 1000, k, out) as number;
        expect(view.wrap(out, 0, n)).toBeUndefined();
        expect(view.tcpChecksumOk()).toBe(true);
        const p = parsePacket(out, 0, n);
        if (p instanceof WireError || !p.tcp) throw new Error(String(p));
        expect(p.tcp.options).toEqual([{ type: 'timestamp', tsval: 1, tsecr: 2 }]);
        got.push([p.tcp.seq, p.tcp.payload.length, p.tcp.flags]);
        data.push(...p.tcp.payload);
        if (p.ip.version === 4) expect(p.ip.ident).toBe((b[4]! * 256 + b[5]! + k) & 0xffff);
      }
      expect(got).toEqual([
        [0xffffff00, 1000, ack | cwr],
        [(0xffffff00 + 1000) >>> 0, 1000, ack],
        [(0xffffff00 + 2000) >>> 0, 500, ack | psh | fin],
      ]);
      expect(data).toEqual(Array.from({ length: 2500 }, (_, i) => i & 0xff));
      expect(g.piece(seg, seg.length, 1000, 3, out)).toBeInstanceOf(WireError);
    });
  }

  it('a segment of at most gso_size is one piece with its checksum completed', () => {
    const b = superSegment(Uint8Array.of(198, 18, 0, 1), Uint8Array.of(198, 18, 0, 2), 0, TCP_FLAG.ack);
    const g = new GsoSegmenter();
    const out = new Uint8Array(100);
    expect(g.count(b, b.length, 1000)).toBe(1);
    const n = g.piece(b, b.length, 1000, 0, out) as number;
    const view = new PacketView();
    expect(view.wrap(out, 0, n)).toBeUndefined();
    expect(view.tcpChecksumOk()).toBe(true);
  });
});
