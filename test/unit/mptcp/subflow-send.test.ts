// Per-segment tests of an MPTCP subflow's send side and of what the peer's acknowledgements do
// (RFC 8684 3.3.1 DSS mappings, 3.3.2 DATA_ACK, 3.3.3 DATA_FIN, 3.3.4 the connection-level
// window, 3.7 fallback): the connection's data out as segments with their DSS options, and one
// segment in from the peer with what it frees and how many scheduler passes it runs. The harness
// is a client subflow on a real TCP socket (subflow-harness.ts).
import { describe, expect, it } from 'vitest';
import { toWire } from '../../../src/mptcp/dsn.js';
import { dssChecksum, sumWords } from '../../../src/wire/checksum.js';
import { bytes, SubflowHarness } from './subflow-harness.js';

/** A client subflow whose peer has shown it holds our key (a DSS came), so no MP_CAPABLE repeats. */
function confirmed(opts: { checksum?: boolean } = {}): SubflowHarness {
  const h = new SubflowHarness(opts);
  h.segment(0, new Uint8Array(0), [h.dataAck(1)]);
  h.out();
  return h;
}

describe('subflow send: DSS mappings (RFC 8684 3.3.1)', () => {
  it('a mapping goes whole on the first segment it covers; the next carry only the DATA_ACK', () => {
    const h = confirmed();
    h.conn.send(bytes(4000));
    const out = h.out();
    // 1460 less a 24-byte DSS with a mapping, less an 8-byte DSS with only the DATA_ACK.
    expect(out.map((s) => s.payload.length)).toEqual([1436, 1452, 1112]);
    const [a, b, c] = h.ourDss(out);
    expect(a).toMatchObject({ dsn: 1, ssn: 1, len: 1436 + 1452, fin: false });
    expect(b?.dsn).toBeUndefined();
    expect(b?.dataAck).toBe(toWire(h.conn.remoteIdsn, 1).low);
    expect(c).toMatchObject({ dsn: 2889, ssn: 2889, len: 1112 });
  });

  it('with the checksum every segment has its own mapping, its checksum over the payload', () => {
    const h = confirmed({ checksum: true });
    h.conn.send(bytes(3000));
    const out = h.out();
    const d = h.ourDss(out);
    let dsn = 1;
    for (let i = 0; i < out.length; i++) {
      const p = Buffer.from(out[i].payload, 'latin1');
      expect(d[i]).toMatchObject({ dsn, ssn: dsn, len: p.length });
      const w = toWire(h.conn.local.idsn, dsn);
      expect(d[i]?.csum).toBe(dssChecksum(w.high, w.low, dsn, p.length, 0, sumWords(p, 0, p.length)));
      dsn += p.length;
    }
    expect(dsn).toBe(3001);
  });

  it('the DATA_FIN rides on the segment that ends the data: the mapping one longer (3.3.3)', () => {
    const h = confirmed();
    h.conn.send(bytes(1000));
    h.conn.close();
    const out = h.out();
    expect(out).toHaveLength(1);
    expect(h.ourDss(out)[0]).toMatchObject({ dsn: 1, ssn: 1, len: 1001, fin: true });
  });
});

describe('subflow: the peer acknowledges (RFC 8684 3.3.2, 3.3.4)', () => {
  it("a DATA_ACK frees what it covers from the connection's send buffer; the window counts from it", () => {
    const h = confirmed();
    h.conn.send(bytes(4000));
    h.out();
    expect(h.conn.sendSpace).toBe(h.conn.config.sendBuffer - 4000);
    // The handshake's window reached DSN 1 + 65535; the right edge is never shrunk.
    h.segment(0, new Uint8Array(0), [h.dataAck(2001)], 2000, 30_000);
    expect(h.conn.sndUna).toBe(2001);
    expect(h.conn.sndWndRight).toBe(1 + 65_535);
    h.segment(0, new Uint8Array(0), [h.dataAck(4001)], 4000, 65_000);
    expect(h.conn.sndUna).toBe(4001);
    expect(h.conn.sendSpace).toBe(h.conn.config.sendBuffer);
    expect(h.conn.sndWndRight).toBe(4001 + 65_000);
  });

  it('a DATA_ACK beyond what was sent, or older than the last, changes nothing', () => {
    const h = confirmed();
    h.conn.send(bytes(1000));
    h.out();
    h.segment(0, new Uint8Array(0), [h.dataAck(5001)], 1000);
    expect(h.conn.sndUna).toBe(1);
    h.segment(0, new Uint8Array(0), [h.dataAck(501)], 1000);
    expect(h.conn.sndUna).toBe(501);
    h.segment(0, new Uint8Array(0), [h.dataAck(301)], 1000);
    expect(h.conn.sndUna).toBe(501);
  });

  it('a segment with the subflow ACK, a DATA_ACK and a wider window runs the scheduler once', () => {
    const h = confirmed();
    h.conn.send(bytes(20_000));
    const sent = h.out().reduce((n, s) => n + s.payload.length, 0);
    const before = h.mib.MPTCPSchedPasses;
    h.segment(0, new Uint8Array(0), [h.dataAck(1 + sent)], sent, 60_000);
    expect(h.conn.sndUna).toBe(1 + sent);
    expect(h.mib.MPTCPSchedPasses - before).toBe(1);
    // and that pass sent more.
    expect(h.out().length).toBeGreaterThan(0);
  });

  it('what the application writes from onWritable after a DATA_ACK joins that one pass', () => {
    const h = confirmed();
    h.conn.send(bytes(4000));
    h.out();
    let writes = 0;
    h.conn.events.onWritable = () => {
      for (let i = 0; i < 3; i++) writes += h.conn.send(bytes(1000)) > 0 ? 1 : 0;
    };
    const before = h.mib.MPTCPSchedPasses;
    h.segment(0, new Uint8Array(0), [h.dataAck(4001)], 4000);
    expect(writes).toBe(3);
    expect(h.mib.MPTCPSchedPasses - before).toBe(1);
    expect(h.ourDss(h.out())[0]).toMatchObject({ dsn: 4001 });
  });
});

describe('subflow: the connection-level window is shared (RFC 8684 3.3.4)', () => {
  it("data the connection's window admits goes although this subflow's last window is smaller than a segment", () => {
    // The lab's stall: the peer's connection-level right edge lies far ahead (a wider window came
    // earlier, or on another subflow), while this subflow's last ACK carried a window of 700 bytes.
    // The subflow's TCP sender must not hold the data back by that window (sender-side SWS
    // avoidance waits for a full segment, and no persist timer runs for a window that is not
    // zero): nothing was in flight, so no ACK would ever have come to widen it.
    const h = confirmed();
    h.conn.send(bytes(10_000));
    const sent = h.out().reduce((n, s) => n + s.payload.length, 0);
    expect(sent).toBe(10_000);
    h.segment(0, new Uint8Array(0), [h.dataAck(1 + sent)], sent, 700);
    expect(h.conn.sndWndRight).toBe(1 + 65_535);
    h.conn.send(bytes(20_000));
    h.host.input(() => h.sf.wake());
    let out = h.out();
    // Nor does it wait for a timer: nothing would come in the next minute either.
    for (let t = 1000; out.length === 0 && t <= 60_000; t += 1000) {
      h.tcp.at(t);
      out = h.out();
    }
    expect(out.length).toBeGreaterThan(0);
    expect(h.tcp.now).toBe(0);
    expect(h.ourDss(out)[0]).toMatchObject({ dsn: 1 + sent });
    expect(h.mib.SndWndShared).toBeGreaterThan(0);
  });

  it("SndWndShared counts the segments that went past the subflow's own window, not the times it was asked", () => {
    const h = confirmed();
    h.conn.send(bytes(10_000));
    const sent = h.out().reduce((n, s) => n + s.payload.length, 0);
    h.segment(0, new Uint8Array(0), [h.dataAck(1 + sent)], sent, 700);
    h.conn.send(bytes(20_000));
    // The TCP sender asks before each segment of new data, which the congestion window or the
    // pacer may then still hold back: a question is no send.
    expect(h.sf.sendWindow()).toBeGreaterThan(700);
    expect(h.sf.sendWindow()).toBeGreaterThan(700);
    expect(h.mib.SndWndShared).toBe(0);
    h.host.input(() => h.sf.wake());
    const out = h.out();
    const own = h.tcp.sock.sndUna + 700;
    const past = out.filter((s) => s.payload.length > 0 && s.seq + s.payload.length > own).length;
    expect(past).toBeGreaterThan(0);
    expect(h.mib.SndWndShared).toBe(past);
  });
});

describe('subflow: fallback to plain TCP (RFC 8684 3.7)', () => {
  it("no MP_CAPABLE in the SYN/ACK: no MPTCP option goes out; the subflow's ACK is the data ACK", () => {
    const h = new SubflowHarness({ mpCapable: false });
    expect(h.conn.fallback).toBe(true);
    expect(h.mib.MPCapableFallbackSYNACK).toBe(1);
    h.conn.send(bytes(2000));
    const out = h.out();
    expect(out.reduce((n, s) => n + s.payload.length, 0)).toBe(2000);
    for (const s of out)
      expect(s.options.filter((o) => o.type.startsWith('mp') || o.type === 'dss')).toEqual([]);
    h.segment(0, new Uint8Array(0), [], 2000);
    expect(h.conn.sndUna).toBe(2001);
    const p = bytes(500);
    h.segment(0, p, [], 2000);
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
  });

  it('the only subflow: three segments in a row without any MPTCP option fall back (DSSFallback), the data goes on', () => {
    const h = confirmed();
    const p = bytes(2500);
    h.mapped(0, p.subarray(0, 1000), 1);
    h.segment(1000, p.subarray(1000, 1500));
    h.segment(1500, p.subarray(1500, 2000));
    expect(h.conn.fallback).toBe(false);
    h.segment(2000, p.subarray(2000));
    expect(h.conn.fallback).toBe(true);
    expect(h.mib.DSSFallback).toBe(1);
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
  });
});
