// Per-segment tests of an MPTCP subflow's signals (subflow-harness.ts): the peer's DATA_FIN
// (RFC 8684 3.3.3) with data, alone, and beyond a hole; MP_PRIO both ways (3.3.8); an infinite
// mapping from the peer that the subflow falls back on (3.7); the DATA_ACK of our DATA_FIN.
import { describe, expect, it, vi } from 'vitest';
import { toWire } from '../../../src/mptcp/dsn.js';
import type { MptcpEvent } from '../../../src/mptcp/events.js';
import { bytes, SubflowHarness } from './subflow-harness.js';

/** The DATA_ACK (low 32 bits on the wire) of the last DSS in what the subflow sends now. */
function lastDataAck(h: SubflowHarness): number | undefined {
  const acks = h
    .ourDss(h.out())
    .map((d) => d?.dataAck)
    .filter((a) => a !== undefined);
  return acks.at(-1);
}

describe('subflow receive: the DATA_FIN (RFC 8684 3.3.3)', () => {
  it('on the mapping of the last data (one longer): data and end reach the connection, the DATA_ACK covers it', () => {
    const h = new SubflowHarness();
    const p = bytes(1000);
    h.segment(0, p, [h.dss({ off: 0, dsn: 1, len: 1001, bytes: p }, { dataFin: true })]);
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
    expect(h.conn.readEnded).toBe(true);
    h.tcp.at(1000); // the delayed ACK, if the DATA_FIN did not draw one at once
    expect(lastDataAck(h)).toBe(toWire(h.conn.remoteIdsn, 1002).low);
  });

  it('alone (SSN 0, length 1) after the data: the end at the DSN after the last byte', () => {
    const h = new SubflowHarness();
    const p = bytes(800);
    h.mapped(0, p, 1);
    expect(h.conn.readEnded).toBe(false);
    h.segment(800, new Uint8Array(0), [
      { ...h.dss({ off: -1, dsn: 801, len: 1 }, { dataFin: true }), ssn: 0 },
    ]);
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
    expect(h.conn.readEnded).toBe(true);
    h.tcp.at(1000);
    expect(lastDataAck(h)).toBe(toWire(h.conn.remoteIdsn, 802).low);
  });

  it('beyond a hole: the connection ends only once the bytes before it have come', () => {
    const h = new SubflowHarness();
    const p = bytes(2000);
    h.segment(1000, p.subarray(1000), [
      h.dss({ off: 1000, dsn: 1001, len: 1001, bytes: p.subarray(1000) }, { dataFin: true }),
    ]);
    expect(h.delivered().length).toBe(0);
    expect(h.conn.readEnded).toBe(false);
    h.mapped(0, p.subarray(0, 1000), 1);
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
    expect(h.conn.readEnded).toBe(true);
  });
});

describe('subflow send: the DATA_ACK of our DATA_FIN (RFC 8684 3.3.3)', () => {
  it('a DATA_ACK one past the data acknowledges the DATA_FIN; one at the data end does not', () => {
    const h = new SubflowHarness();
    h.segment(0, new Uint8Array(0), [h.dataAck(1)]);
    h.conn.send(bytes(1000));
    h.conn.close();
    h.out();
    h.segment(0, new Uint8Array(0), [h.dataAck(1001)], 1000);
    expect(h.conn.dataFinAcked).toBe(false);
    h.segment(0, new Uint8Array(0), [h.dataAck(1002)], 1000);
    expect(h.conn.dataFinAcked).toBe(true);
  });
});

describe('subflow: MP_PRIO (RFC 8684 3.3.8)', () => {
  it("the peer's MP_PRIO with B set makes the subflow a backup, counted and told to the endpoint; B clear undoes it", () => {
    const h = new SubflowHarness();
    const events: MptcpEvent[] = [];
    vi.spyOn(h.host, 'emit').mockImplementation((e) => events.push(e));
    h.segment(0, new Uint8Array(0), [h.dataAck(1), { type: 'mp_prio', backup: true }]);
    expect(h.sf.backup).toBe(true);
    expect(h.mib.MPPrioRx).toBe(1);
    expect(events.map((e) => e.type)).toContain('sub-priority');
    h.segment(0, new Uint8Array(0), [h.dataAck(1), { type: 'mp_prio', backup: false }]);
    expect(h.sf.backup).toBe(false);
    expect(h.mib.MPPrioRx).toBe(2);
  });

  it('setBackup sends one MP_PRIO with our new priority; asking again for the same sends none', () => {
    const h = new SubflowHarness();
    h.segment(0, new Uint8Array(0), [h.dataAck(1)]);
    h.out();
    h.conn.setBackup(h.sf, true);
    const prios = h.out().flatMap((s) => s.options.filter((o) => o.type === 'mp_prio'));
    expect(prios).toEqual([expect.objectContaining({ type: 'mp_prio', backup: true })]);
    expect(h.mib.MPPrioTx).toBe(1);
    h.conn.setBackup(h.sf, true);
    expect(h.out().flatMap((s) => s.options.filter((o) => o.type === 'mp_prio'))).toEqual([]);
    expect(h.mib.MPPrioTx).toBe(1);
  });
});

describe('subflow receive: an infinite mapping from the peer (RFC 8684 3.7)', () => {
  it('the subflow falls back at the DSN it names: the bytes after it are the data, without options', () => {
    const h = new SubflowHarness();
    const p = bytes(3000);
    h.mapped(0, p.subarray(0, 1000), 1);
    // Data-level length 0: an infinite mapping, from subflow byte 1000 (SSN 1001) at DSN 1001.
    h.segment(1000, p.subarray(1000, 2000), [h.dss({ off: 1000, dsn: 1001, len: 0 })]);
    expect(h.mib.InfiniteMapRx).toBe(1);
    expect(h.conn.fallback).toBe(true);
    h.segment(2000, p.subarray(2000));
    expect(Buffer.from(h.delivered()).equals(Buffer.from(p))).toBe(true);
  });
});
