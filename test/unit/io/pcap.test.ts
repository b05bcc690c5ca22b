// The pcap reader and writer: round trips through memory and a file, hand-built captures in both
// byte orders and both timestamp resolutions, every supported link type (VLAN tags, cooked
// captures, non-IP frames skipped, Ethernet padding trimmed), and malformed files as error values.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isPcapError,
  LINKTYPE,
  PcapError,
  type PcapPacket,
  PcapReader,
  PcapWriter,
  readPcap,
} from '../../../src/io/pcap.js';

/** A minimal IPv4 packet (header only, total length `len`), its bytes numbered by `tag`. */
function ipv4(len: number, tag: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >> 8;
  p[3] = len & 0xff;
  p[9] = 6;
  for (let i = 20; i < len; i++) p[i] = (tag + i) & 0xff;
  return p;
}

function ipv6(payloadLen: number): Uint8Array {
  const p = new Uint8Array(40 + payloadLen);
  p[0] = 0x60;
  p[4] = payloadLen >> 8;
  p[5] = payloadLen & 0xff;
  p[6] = 59; // no next header
  p.fill(0xab, 40);
  return p;
}

interface Rec {
  sec: number;
  frac: number;
  frame: Uint8Array;
  origLen?: number;
}

/** A capture built by hand, so that the reader is not only tested against our own writer. */
function pcapFile(opts: { le: boolean; nsec: boolean; linkType: number; records: Rec[] }): Uint8Array {
  const size = 24 + opts.records.reduce((n, r) => n + 16 + r.frame.length, 0);
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, opts.nsec ? 0xa1b23c4d : 0xa1b2c3d4, opts.le);
  dv.setUint16(4, 2, opts.le);
  dv.setUint16(6, 4, opts.le);
  dv.setUint32(16, 65535, opts.le);
  dv.setUint32(20, opts.linkType, opts.le);
  let o = 24;
  for (const r of opts.records) {
    dv.setUint32(o, r.sec, opts.le);
    dv.setUint32(o + 4, r.frac, opts.le);
    dv.setUint32(o + 8, r.frame.length, opts.le);
    dv.setUint32(o + 12, r.origLen ?? r.frame.length, opts.le);
    b.set(r.frame, o + 16);
    o += 16 + r.frame.length;
  }
  return b;
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

function mustRead(bytes: Uint8Array): PcapPacket[] {
  const r = readPcap(bytes);
  if (isPcapError(r)) throw new Error(`unexpected ${r}`);
  return r;
}

const MACS = new Array(12).fill(0x02);

describe('PcapWriter then PcapReader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-pcap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const packets = [ipv4(20, 0), ipv4(1500, 7), ipv6(0), ipv6(1200), ipv4(576, 3)];
  const times = [0, 0.001, 999.999, 1000, 86_400_000.5];

  function check(bytes: Uint8Array): void {
    const reader = PcapReader.open(bytes);
    if (isPcapError(reader)) throw new Error(`unexpected ${reader}`);
    expect(reader.linkType).toBe(LINKTYPE.raw);
    expect(reader.nanosecond).toBe(false);
    const got = mustRead(bytes);
    expect(got.map((p) => Array.from(p.data))).toEqual(packets.map((p) => Array.from(p)));
    expect(got.map((p) => p.timeMs)).toEqual(times);
    expect(got[4].sec).toBe(86_400);
    expect(got[4].nsec).toBe(500_000);
    expect(got.every((p, i) => p.linkType === LINKTYPE.raw && p.origLen === packets[i].length)).toBe(true);
  }

  it('round-trips packets and timestamps in memory', () => {
    const w = new PcapWriter();
    for (const [i, p] of packets.entries()) w.write(p, times[i]);
    expect(w.count).toBe(packets.length);
    check(w.toBuffer());
  });

  it('round-trips through a file', () => {
    const path = join(dir, 'rt.pcap');
    const w = new PcapWriter(path);
    for (const [i, p] of packets.entries()) w.write(p, times[i]);
    w.close();
    w.close();
    expect(() => w.write(packets[0], 0)).toThrow(/after close/);
    check(readFileSync(path));
  });

  it('copies what it is given, so the caller may reuse its buffer', () => {
    const w = new PcapWriter();
    const p = ipv4(40, 1);
    w.write(p, 5);
    p.fill(0);
    expect(Array.from(mustRead(w.toBuffer())[0].data)).toEqual(Array.from(ipv4(40, 1)));
  });

  it('hands out views into the file bytes, not copies', () => {
    const w = new PcapWriter();
    w.write(ipv4(60, 9), 1);
    const bytes = w.toBuffer();
    const [p] = mustRead(bytes);
    expect(p.data.buffer).toBe(bytes.buffer);
    expect(p.data.byteOffset).toBe(bytes.byteOffset + 24 + 16);
  });
});

describe('PcapReader on hand-built captures', () => {
  it.each([
    { le: true, nsec: false },
    { le: false, nsec: false },
    { le: true, nsec: true },
    { le: false, nsec: true },
  ])('reads byte order little-endian=$le, nanosecond=$nsec', ({ le, nsec }) => {
    const p = ipv4(100, 5);
    const bytes = pcapFile({
      le,
      nsec,
      linkType: LINKTYPE.raw,
      records: [{ sec: 1_700_000_000, frac: 123_456, frame: p }],
    });
    const reader = PcapReader.open(bytes);
    if (isPcapError(reader)) throw new Error(`unexpected ${reader}`);
    expect(reader.littleEndian).toBe(le);
    expect(reader.nanosecond).toBe(nsec);
    expect(reader.snapLen).toBe(65535);
    const [got] = mustRead(bytes);
    expect(got.sec).toBe(1_700_000_000);
    expect(got.nsec).toBe(nsec ? 123_456 : 123_456_000);
    expect(Array.from(got.data)).toEqual(Array.from(p));
  });

  it('strips Ethernet headers and 802.1Q/802.1ad tags, trims padding, skips non-IP frames', () => {
    const small = ipv4(28, 1);
    const v6 = ipv6(8);
    const frames = [
      concat(MACS, [0x08, 0x00], small, new Array(18).fill(0xee)), // padded to 60 bytes
      concat(MACS, [0x81, 0x00, 0x00, 0x05, 0x86, 0xdd], v6),
      concat(MACS, [0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x08, 0x00], small),
      concat(MACS, [0x08, 0x06], new Array(28).fill(0)), // ARP
      concat(MACS, [0x81, 0x00, 0x00]), // a tag cut short
      Uint8Array.from([1, 2, 3]), // a runt
    ];
    const bytes = pcapFile({
      le: true,
      nsec: false,
      linkType: LINKTYPE.ethernet,
      records: frames.map((frame, i) => ({ sec: i, frac: 0, frame })),
    });
    const reader = PcapReader.open(bytes);
    if (isPcapError(reader)) throw new Error(`unexpected ${reader}`);
    const got = [...reader];
    expect(got.map((p) => (isPcapError(p) ? p.toString() : Array.from(p.data)))).toEqual([
      Array.from(small),
      Array.from(v6),
      Array.from(small),
    ]);
    expect(reader.skipped).toBe(3);
  });

  it('strips Linux cooked headers (SLL and SLL2)', () => {
    const p = ipv4(40, 2);
    const v6 = ipv6(16);
    const sllHead = (proto: number) =>
      concat([0, 0, 0, 1, 0, 6], new Array(8).fill(0x11), [proto >> 8, proto & 0xff]);
    const sll = pcapFile({
      le: true,
      nsec: false,
      linkType: LINKTYPE.linuxSll,
      records: [
        { sec: 0, frac: 0, frame: concat(sllHead(0x0800), p) },
        { sec: 0, frac: 0, frame: concat(sllHead(0x0806), new Array(28).fill(0)) },
        { sec: 0, frac: 0, frame: concat(sllHead(0x8100), [0, 7, 0x86, 0xdd], v6) },
      ],
    });
    expect(mustRead(sll).map((x) => Array.from(x.data))).toEqual([Array.from(p), Array.from(v6)]);
    const sll2Head = (proto: number) =>
      concat([proto >> 8, proto & 0xff, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6], new Array(8).fill(0));
    const sll2 = pcapFile({
      le: false,
      nsec: true,
      linkType: LINKTYPE.linuxSll2,
      records: [
        { sec: 0, frac: 0, frame: concat(sll2Head(0x86dd), v6) },
        { sec: 0, frac: 0, frame: concat(sll2Head(0x0806), new Array(28).fill(0)) },
        { sec: 0, frac: 0, frame: concat(sll2Head(0x0800), p) },
        { sec: 0, frac: 0, frame: Uint8Array.from([8, 0, 0]) },
      ],
    });
    expect(mustRead(sll2).map((x) => Array.from(x.data))).toEqual([Array.from(v6), Array.from(p)]);
  });

  it('takes IPV4 and IPV6 link types as bare packets', () => {
    const p = ipv4(64, 4);
    const v6 = ipv6(4);
    const one = (linkType: number, frame: Uint8Array) =>
      mustRead(pcapFile({ le: true, nsec: false, linkType, records: [{ sec: 0, frac: 0, frame }] }));
    expect(one(LINKTYPE.ipv4, p)[0].data).toEqual(p);
    expect(one(LINKTYPE.ipv6, v6)[0].data).toEqual(v6);
  });

  it('keeps a packet that the snapshot length cut short, with its length on the wire', () => {
    const p = ipv4(1500, 0).subarray(0, 96);
    const records = [{ sec: 0, frac: 0, frame: p, origLen: 1500 }];
    const [got] = mustRead(pcapFile({ le: true, nsec: false, linkType: LINKTYPE.raw, records }));
    expect(got.data.length).toBe(96);
    expect(got.origLen).toBe(1500);
  });
});

describe('PcapReader on malformed files', () => {
  const good = (() => {
    const w = new PcapWriter();
    w.write(ipv4(100, 0), 1);
    w.write(ipv4(200, 1), 2);
    return w.toBuffer();
  })();

  it('returns a truncated error when the last record is cut, after the packets before it', () => {
    for (const cut of [1, 50, 16 + 200 - 10]) {
      const reader = PcapReader.open(good.subarray(0, good.length - cut));
      if (isPcapError(reader)) throw new Error(`unexpected ${reader}`);
      const first = reader.next();
      expect(isPcapError(first) ? first.toString() : first?.data.length).toBe(100);
      const second = reader.next();
      expect(second).toBeInstanceOf(PcapError);
      expect((second as PcapError).kind).toBe('truncated');
      // The error is sticky: the reader does not resynchronise on garbage.
      expect(reader.next()).toBe(second);
      const all = readPcap(good.subarray(0, good.length - cut));
      expect(isPcapError(all) && all.kind).toBe('truncated');
    }
  });

  it('returns a truncated error for a file shorter than its header', () => {
    for (const n of [0, 4, 23]) {
      const r = readPcap(good.subarray(0, n));
      expect(r).toBeInstanceOf(PcapError);
      expect((r as PcapError).kind).toBe('truncated');
    }
    // A header and nothing else is an empty capture, not an error.
    expect(readPcap(good.subarray(0, 24))).toEqual([]);
  });

  it('returns bad-magic for pcapng and for other files', () => {
    const pcapng = Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(28).fill(0)]);
    const text = new TextEncoder().encode('this is not a capture file at all');
    for (const bytes of [pcapng, text]) {
      const r = PcapReader.open(bytes);
      expect(r).toBeInstanceOf(PcapError);
      expect((r as PcapError).kind).toBe('bad-magic');
    }
    const r = readPcap(pcapng) as PcapError;
    expect(r.toString()).toBe('bad-magic: magic 0x0a0d0d0a');
  });

  it('rejects an unknown format version and an unsupported link type', () => {
    const v1 = Uint8Array.from(good);
    v1[4] = 1;
    expect((PcapReader.open(v1) as PcapError).kind).toBe('bad-header');
    const wifi = pcapFile({ le: true, nsec: false, linkType: 105, records: [] });
    expect((PcapReader.open(wifi) as PcapError).kind).toBe('unsupported-link-type');
  });
});
