// Per-segment tests of an MPTCP subflow's receive side (RFC 8684 3.3.1, 3.7): one segment in from
// the peer, then what the subflow keeps of its mappings, what it counts, and what it hands to the
// connection. The harness is a client subflow on a real TCP socket (subflow-harness.ts).
import { describe, expect, it } from 'vitest';
import { bytes, ServerSubflowHarness, SubflowHarness } from './subflow-harness.js';

const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('subflow receive: mappings (RFC 8684 3.3.1)', () => {
  it('a segment with its mapping is delivered at its DSN and the mapping is forgotten', () => {
    const h = new SubflowHarness();
    const p = bytes(1000);
    h.mapped(0, p, 1);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.conn.rcvNxt).toBe(1001);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('one mapping over two segments (sent on the first): both delivered, then forgotten', () => {
    const h = new SubflowHarness();
    const p = bytes(2000);
    h.segment(0, p.subarray(0, 1000), [h.dss({ off: 0, dsn: 1, len: 2000 })]);
    expect(h.sf.keptMappings).toBe(1);
    h.segment(1000, p.subarray(1000));
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('the same mapping on every segment of a burst (Linux GSO) is kept once', () => {
    const h = new SubflowHarness();
    const p = bytes(3000);
    const m = h.dss({ off: 0, dsn: 1, len: 3000 });
    // Segments 2 and 3 first (out of order), then 1: the mapping arrives three times.
    h.segment(1000, p.subarray(1000, 2000), [m]);
    h.segment(2000, p.subarray(2000), [m]);
    expect(h.sf.keptMappings).toBe(1);
    h.segment(0, p.subarray(0, 1000), [m]);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('mappings that arrive out of order are used in subflow order', () => {
    const h = new SubflowHarness();
    const p = bytes(3000);
    h.mapped(2000, p.subarray(2000), 2001);
    h.mapped(1000, p.subarray(1000, 2000), 1001);
    expect(h.sf.keptMappings).toBe(2);
    expect(h.conn.readableBytes).toBe(0);
    h.mapped(0, p.subarray(0, 1000), 1);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('a mapping on a segment without data is not kept: it describes no bytes it came with', () => {
    const h = new SubflowHarness();
    h.segment(0, new Uint8Array(0), [h.dss({ off: 0, dsn: 1, len: 1000 })]);
    expect(h.sf.keptMappings).toBe(0);
    expect(h.mib.DSSNoMatchTCP).toBe(1);
  });

  it('a mapping that does not cover the first byte of its segment is not kept (DSSNoMatchTCP)', () => {
    const h = new SubflowHarness();
    h.segment(0, bytes(100), [h.dss({ off: 5000, dsn: 5001, len: 100 })]);
    expect(h.sf.keptMappings).toBe(0);
    expect(h.mib.DSSNoMatchTCP).toBeGreaterThanOrEqual(1);
    expect(h.conn.readableBytes).toBe(0);
  });

  it('a mapping beyond the connection receive window is kept: its bytes are dropped there (NoDSSInWindow) and the subflow goes on', () => {
    const h = new SubflowHarness({ connRecvBuffer: 64 * 1024 });
    const far = 1 + 64 * 1024 + 0x10000;
    // TCP takes the segment whatever its DSN: without its mapping the bytes would block the
    // subflow's head for good, and the next segment, in the window, would never be delivered.
    h.mapped(0, bytes(100), far);
    expect(h.mib.DSSOutOfWindow).toBe(0);
    expect(h.mib.NoDSSInWindow).toBe(1);
    expect(h.conn.readableBytes).toBe(0);
    const p = bytes(200);
    h.mapped(100, p, 1);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('mappings for data not yet received are bounded: the ones past the bound are dropped and counted', () => {
    // 64 KB receive buffer: 16 + 65535 / 512 = 144 mappings at most.
    const h = new SubflowHarness();
    const limit = 16 + Math.ceil(65535 / 512);
    const n = limit + 56;
    // One byte each, after a hole at offset 0: all kept by TCP, each with a mapping of its own.
    for (let k = 1; k <= n; k++) h.mapped(k, bytes(1, k), 1 + k);
    expect(h.sf.keptMappings).toBe(limit);
    expect(h.mib.DSSMapsDropped).toBe(n - limit);
    // The hole's mapping still gets in (the one furthest ahead makes room) and what was mapped
    // goes up, in order; the rest waits for a mapping.
    h.mapped(0, bytes(1, 0), 1);
    expect(h.mib.DSSMapsDropped).toBe(n - limit + 1);
    expect(eq(h.delivered(), bytes(limit))).toBe(true);
    expect(h.sf.keptMappings).toBe(0);
  });

  it('a mapping for bytes already delivered is not kept', () => {
    const h = new SubflowHarness();
    h.mapped(0, bytes(1000), 1);
    h.delivered();
    h.mapped(0, bytes(1000), 1);
    expect(h.sf.keptMappings).toBe(0);
    expect(h.conn.readableBytes).toBe(0);
  });
});

describe('subflow receive: DSS checksum (RFC 8684 3.3.1, 3.7)', () => {
  it('a checksummed mapping over two segments is delivered only once both have arrived', () => {
    const h = new SubflowHarness({ checksum: true });
    const p = bytes(2000);
    h.segment(0, p.subarray(0, 1000), [h.dss({ off: 0, dsn: 1, len: 2000, bytes: p })]);
    expect(h.conn.readableBytes).toBe(0);
    h.segment(1000, p.subarray(1000));
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.mib.DataCsumErr).toBe(0);
  });

  it('only subflow, checksum fails: nothing of it is delivered, MP_FAIL goes out, then the data again after the infinite mapping', () => {
    const h = new SubflowHarness({ checksum: true });
    const good = bytes(1000);
    h.mapped(0, good, 1);
    expect(eq(h.delivered(), good)).toBe(true);
    h.out();
    // The middlebox rewrote a byte: the checksum was computed over the original.
    const orig = bytes(1000, 1000);
    const bad = Uint8Array.from(orig);
    bad[17] ^= 0x40;
    h.segment(1000, bad, [h.dss({ off: 1000, dsn: 1001, len: 1000, bytes: orig })]);
    expect(h.mib.DataCsumErr).toBe(1);
    expect(h.conn.readableBytes).toBe(0);
    const fail = h.out().flatMap((s) => s.options.filter((o) => o.type === 'mp_fail'));
    expect(fail).toHaveLength(1);
    // Data the sender had in flight, mapped as before: dropped, not delivered.
    h.mapped(2000, bytes(1000, 2000), 2001);
    expect(h.conn.readableBytes).toBe(0);
    expect(h.conn.fallback).toBe(false);
    // The infinite mapping on the first byte sent again: DSN 1001 from subflow offset 3000.
    const again = bytes(2000, 1000);
    h.segment(3000, again, [h.dss({ off: 3000, dsn: 1001, len: 0 }, { checksum: 0 })]);
    expect(h.conn.fallback).toBe(true);
    expect(h.mib.InfiniteMapRx).toBe(1);
    expect(eq(h.delivered(), again)).toBe(true);
    expect(h.conn.rcvNxt).toBe(3001);
  });

  it('only subflow, checksum fails, and the infinite mapping goes on past the dropped bytes: reset, nothing corrupt delivered', () => {
    const h = new SubflowHarness({ checksum: true });
    const orig = bytes(1000);
    const bad = Uint8Array.from(orig);
    bad[3] ^= 1;
    h.segment(0, bad, [h.dss({ off: 0, dsn: 1, len: 1000, bytes: orig })]);
    expect(h.conn.readableBytes).toBe(0);
    // As Linux does: the infinite mapping on its next new data, DSN 1001 at offset 1000.
    h.segment(1000, bytes(500, 1000), [h.dss({ off: 1000, dsn: 1001, len: 0 }, { checksum: 0 })]);
    expect(h.mib.InfiniteMapGap).toBe(1);
    expect(h.conn.readableBytes).toBe(0);
    expect(h.sf.rstReason).toBeDefined();
  });

  it('a segment sent again cut otherwise: the overlapping mappings are verified together, a bad one delivers nothing', () => {
    const h = new SubflowHarness({ checksum: true });
    const p = bytes(2400);
    // First copy: [1000, 2400) arrives, [0, 1000) was lost; the copy sent again is [0, 1400).
    h.mapped(1000, p.subarray(1000), 1001);
    h.mapped(0, p.subarray(0, 1400), 1);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.mib.DataCsumErr).toBe(0);

    const h2 = new SubflowHarness({ checksum: true });
    const bad = Uint8Array.from(p.subarray(1000));
    bad[900] ^= 2; // inside [1400, 2400), the part only the first copy's mapping covers
    h2.segment(1000, bad, [h2.dss({ off: 1000, dsn: 1001, len: 1400, bytes: p.subarray(1000) })]);
    h2.mapped(0, p.subarray(0, 1400), 1);
    expect(h2.mib.DataCsumErr).toBe(1);
    expect(h2.conn.readableBytes).toBe(0);
  });
});

describe('subflow receive: the MP_CAPABLE data mapping (RFC 8684 3.1)', () => {
  it("a kernel client's first GSO burst: MP_CAPABLE with the burst's length and checksum on three segments, then DSS; verified once, delivered whole", () => {
    // The segmenting a Linux 6.x client with checksum_enabled=1 sent to our server (captured in
    // test/system/mptcp-interop.test.ts): one mapping of 32,728 bytes at SSN 1, its first three
    // segments (one GSO super-packet, options copied) with MP_CAPABLE, the rest with the same
    // mapping as DSS once our DSS told it we hold its key; then the next mapping, 65,320 bytes
    // in segments of 1,420.
    const h = new ServerSubflowHarness({ checksum: true });
    const p = bytes(32728 + 65320);
    const first = p.subarray(0, 32728);
    const cuts: number[] = [];
    for (let o = 0; o < 15664; o += 1424) cuts.push(o);
    for (let o = 15664; o < 32704; o += 1420) cuts.push(o);
    cuts.push(32704);
    for (let o = 32728; o < p.length; o += 1420) cuts.push(o);
    cuts.push(p.length);
    const dss1 = h.dss({ off: 0, dsn: 1, len: 32728, bytes: first });
    const dss2 = h.dss({ off: 32728, dsn: 32729, len: 65320, bytes: p.subarray(32728) });
    for (let k = 0; k + 1 < cuts.length; k++) {
      const seg = p.subarray(cuts[k], cuts[k + 1]);
      if (k < 3) h.mpcData(cuts[k], seg, first);
      else h.segment(cuts[k], seg, [cuts[k] < 32728 ? dss1 : dss2]);
    }
    expect(h.mib.DataCsumErr).toBe(0);
    expect(h.mib.MPFailTx).toBe(0);
    expect(h.sf.keptMappings).toBe(0);
    expect(eq(h.delivered(), p)).toBe(true);
    expect(h.conn.rcvNxt).toBe(p.length + 1);
  });
});
