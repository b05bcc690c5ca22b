// MP_FAIL and fallback in mid connection (RFC 8684 3.7), after mptcp_join.sh's checksum cases: a
// middlebox that rewrites payload (and fixes the TCP checksum, as an ALG does) is caught by the
// DSS checksum, and the bytes that failed it are never delivered. On the only subflow the receiver
// sends MP_FAIL, the sender sends them again after the infinite mapping, and the connection goes on
// as plain TCP; with two subflows the damaged one is reset and its data comes again, intact, over
// the other. Against a receiver that behaves as Linux does (it delivers the bytes that failed, and
// its MP_FAIL comes inside a DSS with its DATA_ACK), the sender goes on from where its stream is
// and sends nothing twice.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { expand32, fromWire, toWire } from '../../src/mptcp/dsn.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet } from '../../src/sim/hybrid.js';
import { corruptTcpPayload, type MiddleboxContext, Network, stripTcpOption } from '../../src/sim/index.js';
import { WireError } from '../../src/wire/error.js';
import type { Dss } from '../../src/wire/mptcp/dss.js';
import { TCPOPT_MPTCP } from '../../src/wire/mptcp/subtype.js';
import { emitPacket, type Packet, packetLen, parsePacket } from '../../src/wire/packet.js';

const DSL = Uint8Array.of(198, 18, 1, 2);
const LTE = Uint8Array.of(198, 18, 2, 2);
const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

const sha = (x: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? x.txHash : x.rxHash).copy().digest('hex');

/** The packet parsed whole, or undefined when it is not TCP. */
function tcpPacket(p: Uint8Array): Packet | undefined {
  const r = parsePacket(p);
  return r instanceof WireError || !r.tcp ? undefined : r;
}

function emit(p: Packet): Uint8Array {
  const out = new Uint8Array(packetLen(p));
  emitPacket(p, out);
  return out;
}

/** The DSS option of a segment, if any. */
function dssOf(p: Packet): Dss | undefined {
  for (const o of p.tcp!.options) if (o.type === 'dss') return o;
  return undefined;
}

/** With no `corruptOn`, nothing is damaged. */
function setup(seed: number, corruptOn: 'dsl' | 'lte' | undefined) {
  const {
    net,
    cpe: a,
    hag: b,
  } = hybridNet(
    [
      { name: 'dsl', rate: 20e6, delay: 10 },
      { name: 'lte', rate: 40e6, delay: 30 },
    ],
    { seed, cpe: { mptcp: { checksum: true } } },
  );
  // One data segment from the CPE, a second in, gets a byte rewritten.
  const corrupt = corruptTcpPayload({ fixChecksum: true, from: 1000, limit: 1 });
  const s: { conn?: MptcpConnection; app?: BulkApp; receivedAtFailure: number } = { receivedAtFailure: -1 };
  if (corruptOn)
    net.link(`${corruptOn}:cpe>hag`).addMiddlebox((p, ctx) => {
      const v = corrupt(p, ctx);
      if (corrupt.hits === 1 && s.receivedAtFailure < 0) s.receivedAtFailure = s.app?.received ?? 0;
      return v;
    });
  b.listen(443, (c) => {
    s.conn = c;
    s.app = new BulkApp(mptcpConn(b, c), 5 * MB, 2, () => net.now);
    s.app.expectFrom(1);
  });
  const conn = a.connect(0, { local: DSL, remote: HAG, remotePort: 443 });
  const app = new BulkApp(mptcpConn(a, conn), 10 * MB, 1, () => net.now);
  return { net, a, b, conn, app, s, corrupt };
}

describe('MP_FAIL', () => {
  it('one subflow: MP_FAIL, the bytes that failed come again after the infinite mapping, plain TCP from there', () => {
    const { net, a, b, conn, app, s, corrupt } = setup(71, 'dsl');
    // Our MP_FAIL goes without DATA_ACK: that is what tells our sender the bytes were discarded.
    const fails: boolean[] = [];
    net.link('dsl:hag>cpe').addMiddlebox((p) => {
      const t = tcpPacket(p);
      if (t?.tcp?.options.some((o) => o.type === 'mp_fail')) fails.push(dssOf(t)?.dataAck !== undefined);
      return 'deliver';
    });
    // The sender answers with MP_FAIL before its infinite mapping reaches a data segment: a Linux
    // receiver resets the subflow 120 s after its MP_FAIL unless an answer came while it still
    // read MPTCP options, that is, before it met the infinite mapping (net/mptcp/pm.c
    // mptcp_pm_mp_fail_received, protocol.c mptcp_mp_fail_no_response).
    const fromSender: string[] = [];
    net.link('dsl:cpe>hag').addMiddlebox((p) => {
      const t = tcpPacket(p);
      if (t?.tcp?.options.some((o) => o.type === 'mp_fail')) fromSender.push('mp_fail');
      const d = t && dssOf(t);
      if (t && d?.dataLen === 0 && !d.dataFin && t.tcp!.payload.length > 0)
        fromSender.push('infinite map on data');
      return 'deliver';
    });
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(corrupt.hits).toBe(1);
    expect(fails.length).toBeGreaterThan(0);
    expect(fails.every((withDataAck) => !withDataAck)).toBe(true);
    expect(conn.checksum).toBe(true);
    expect(b.mib.DataCsumErr).toBe(1);
    expect(b.mib.MPFailTx).toBe(1);
    expect(a.mib.MPFailRx).toBe(1);
    expect(a.mib.InfiniteMapTx).toBe(1);
    expect(a.mib.MPFailTx).toBe(1);
    expect(b.mib.MPFailRx).toBe(1);
    expect(fromSender[0]).toBe('mp_fail');
    expect(fromSender).toContain('infinite map on data');
    expect(conn.fallback).toBe(true);
    expect(s.conn?.fallback).toBe(true);
    // RFC 8684 3.7: the bytes that failed the checksum are discarded. Every byte the server's
    // application got, before the failure point and after it, is the byte the CPE sent.
    expect(s.receivedAtFailure).toBeGreaterThan(0);
    expect(s.receivedAtFailure).toBeLessThan(10 * MB);
    expect(s.app?.received).toBe(10 * MB);
    expect(s.app?.mismatches).toBe(0);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(app.received).toBe(5 * MB);
    expect(b.mib.InfiniteMapRx).toBe(1);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });

  it("one subflow: the sender's MP_FAIL in answer to ours (Linux echoes it) is not taken for a failure of our data", () => {
    // Linux answers MP_FAIL with MP_FAIL on the ACK it sends at once, and puts the infinite mapping
    // on its next data segment (net/mptcp/pm.c mptcp_pm_mp_fail_received). Here the CPE's ACK that
    // carries its infinite mapping is turned into such an answer; the mapping still comes on the
    // data segment where the bytes go on.
    const { net, b, conn, app, s, corrupt } = setup(76, 'dsl');
    let echoed = 0;
    const w = { high: 0, low: 0 };
    net.link('dsl:cpe>hag').addMiddlebox((p) => {
      if (echoed > 0 || !s.conn) return 'deliver';
      const t = tcpPacket(p);
      const d = t && t.tcp!.payload.length === 0 ? dssOf(t) : undefined;
      if (!t || d?.dsn === undefined || d.dataLen !== 0 || d.dataFin) return 'deliver';
      echoed++;
      toWire(s.conn.local.idsn, s.conn.sndUna, w);
      t.tcp!.options = t.tcp!.options.filter((o) => o.type !== 'dss');
      t.tcp!.options.push({ type: 'mp_fail', dsnHigh: w.high, dsn: w.low });
      return emit(t);
    });
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(corrupt.hits).toBe(1);
    expect(echoed).toBe(1);
    // The CPE's own answer, and the rewritten ACK.
    expect(b.mib.MPFailRx).toBe(2);
    expect(b.mib.InfiniteMapTx).toBe(0);
    expect(b.mib.InfiniteMapRx).toBe(1);
    expect(conn.fallback).toBe(true);
    expect(s.conn?.fallback).toBe(true);
    expect(s.app?.mismatches).toBe(0);
    expect(s.app?.received).toBe(10 * MB);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });

  it('two subflows: the damaged subflow is reset and its data comes again, intact, on the other', () => {
    const { net, a, b, conn, app, s, corrupt } = setup(72, 'lte');
    expect(net.runUntil(() => conn.fullyEstablished, 2000)).toBe(true);
    a.join(net.now, conn, LTE, 2);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(corrupt.hits).toBe(1);
    expect(b.mib.DataCsumErr).toBe(1);
    expect(b.mib.MPRstTx).toBe(1);
    expect(a.mib.MPRstRx).toBe(1);
    expect(conn.fallback).toBe(false);
    expect(a.mib.MPTCPRetrans).toBeGreaterThan(0);
    expect(s.receivedAtFailure).toBeGreaterThan(0);
    expect(s.app?.mismatches).toBe(0);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });
});

describe('MP_FAIL from a receiver that delivered the bytes (Linux)', () => {
  // Linux's receiver, on a failed DSS checksum on its only subflow, delivers the mapping anyway and
  // sends MP_FAIL on the ACK it sends at once, inside its DSS, whose DATA_ACK is the failed DSN
  // (net/mptcp/subflow.c mptcp_subflow_fail, options.c mptcp_established_options). It ignores the
  // infinite mapping's DSN: its subflow bytes simply continue the data it has. The stand-in here is
  // our HAG with two middleboxes: one puts such an MP_FAIL on an ACK of the HAG (it names the DATA_ACK
  // of that ACK, so the bytes from there are "delivered", intact here), the other rewrites every
  // infinite mapping from the CPE to what Linux reads it as: the subflow bytes go on where the
  // mappings before it left off. A sender that sent the failed bytes again would deliver them twice.
  it('the sender goes on from where its stream is: no byte twice, the stream after the failure in order', () => {
    const { net, a, b, conn, app, s } = setup(75, undefined);
    let injected = false;
    const w = { high: 0, low: 0 };
    net.link('dsl:hag>cpe').addMiddlebox((p, ctx: MiddleboxContext) => {
      if (injected || ctx.now < 1000) return 'deliver';
      const t = tcpPacket(p);
      const d = t && t.tcp!.payload.length === 0 ? dssOf(t) : undefined;
      if (!t || d?.dataAck === undefined || conn.sndNxt === conn.sndUna) return 'deliver';
      injected = true;
      toWire(conn.local.idsn, expand32(conn.local.idsn, d.dataAck, conn.sndNxt), w);
      t.tcp!.options.push({ type: 'mp_fail', dsnHigh: w.high, dsn: w.low });
      return emit(t);
    });
    let delta: number | undefined; // DSN - SSN of the mappings the CPE sent (one subflow: constant)
    let infiniteMaps = 0;
    let rewritten = 0;
    net.link('dsl:cpe>hag').addMiddlebox((p) => {
      const t = tcpPacket(p);
      const d = t && dssOf(t);
      if (!t || !d || d.dsn === undefined || d.dataFin) return 'deliver';
      const dsn = fromWire(conn.local.idsn, d.dsnHigh ?? 0, d.dsn);
      if (d.dataLen! > 0) {
        delta ??= dsn - d.ssn!;
        expect(dsn - d.ssn!).toBe(delta);
        return 'deliver';
      }
      infiniteMaps++;
      const linux = d.ssn! + delta!;
      if (dsn === linux) return 'deliver';
      rewritten++;
      toWire(conn.local.idsn, linux, w);
      d.dsnHigh = w.high;
      d.dsn = w.low;
      return emit(t);
    });
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(injected).toBe(true);
    expect(a.mib.MPFailRx).toBe(1);
    expect(a.mib.InfiniteMapTx).toBe(1);
    expect(infiniteMaps).toBeGreaterThan(0);
    expect(conn.fallback).toBe(true);
    expect(s.conn?.fallback).toBe(true);
    expect(b.mib.InfiniteMapGap).toBe(0);
    expect(s.app?.mismatches).toBe(0);
    expect(s.app?.received).toBe(10 * MB);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    // The infinite mapping named the DSN the stream goes on with: Linux's reading of it changes nothing.
    expect(rewritten).toBe(0);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });
});

describe('MP_FAIL after data went twice on the subflow (Linux cannot fall back)', () => {
  // Linux, once fallen back, numbers the subflow's bytes from the first (relative DSN = relative
  // SSN), whatever the infinite mapping says, and falls back only while that holds. A data-level
  // resend on the only subflow (here: DATA_ACKs held back for a while, as Linux's do when it drops
  // in-window data) breaks it; an MP_FAIL after that must reset the subflow, as Linux's sender
  // does, not fall back: the receiver would put the bytes after the infinite mapping at other
  // data sequence numbers than ours.
  it('the subflow is reset, the connection ends with an error, no byte out of place', () => {
    const { net, a, conn, s } = setup(77, undefined);
    let frozen: { low: number; high?: number } | undefined;
    let injected = false;
    const w = { high: 0, low: 0 };
    net.link('dsl:hag>cpe').addMiddlebox((p, ctx: MiddleboxContext) => {
      const t = tcpPacket(p);
      const d = t && dssOf(t);
      if (!t || d?.dataAck === undefined) return 'deliver';
      if (ctx.now >= 1000 && ctx.now < 2500) {
        frozen ??= { low: d.dataAck, high: d.dataAckHigh };
        d.dataAck = frozen.low;
        d.dataAckHigh = frozen.high;
        return emit(t);
      }
      if (injected || ctx.now < 2500 || a.mib.MPTCPRetrans === 0 || t.tcp!.payload.length > 0)
        return 'deliver';
      injected = true;
      toWire(conn.local.idsn, expand32(conn.local.idsn, d.dataAck, conn.sndNxt), w);
      t.tcp!.options.push({ type: 'mp_fail', dsnHigh: w.high, dsn: w.low });
      return emit(t);
    });
    // The HAG reads an infinite mapping as Linux does: the DSN the first mapping's bytes had
    // relative to their SSN (as in the test above).
    let delta: number | undefined;
    net.link('dsl:cpe>hag').addMiddlebox((p) => {
      const t = tcpPacket(p);
      const d = t && dssOf(t);
      if (!t || !d || d.dsn === undefined || d.dataFin) return 'deliver';
      const dsn = fromWire(conn.local.idsn, d.dsnHigh ?? 0, d.dsn);
      delta ??= dsn - d.ssn!;
      if (d.dataLen! > 0) return 'deliver';
      toWire(conn.local.idsn, d.ssn! + delta, w);
      d.dsnHigh = w.high;
      d.dsn = w.low;
      return emit(t);
    });
    expect(net.runUntil(() => conn.closed && !!s.conn?.closed, 60_000)).toBe(true);
    expect(a.mib.MPTCPRetrans).toBeGreaterThan(0);
    expect(injected).toBe(true);
    expect(a.mib.MPFailRx).toBe(1);
    expect(a.mib.FallbackFailed).toBe(1);
    expect(a.mib.InfiniteMapTx).toBe(0);
    expect(a.mib.MPRstTx).toBe(1);
    expect(conn.fallback).toBe(false);
    expect(conn.error).toBeDefined();
    expect(s.conn?.fallback).toBe(false);
    expect(s.conn?.error).toBeDefined();
    // The HAG's application got part of the CPE's 10 MB, every byte where it was sent, and no end.
    expect(s.app?.received).toBeLessThan(10 * MB);
    expect(s.app?.ended).toBe(false);
    expect(s.app?.mismatches).toBe(0);
  });
});

describe('options stripped (RFC 8684 3.7)', () => {
  function net1(seed: number, strip: ReturnType<typeof stripTcpOption>, both = true) {
    const net = new Network({ seed });
    const a = new MptcpEndpoint();
    const b = new MptcpEndpoint();
    net.addNode('cpe', a);
    net.addNode('hag', b);
    const l = net.connect('cpe', 'hag', { name: 'dsl', rate: 20e6, delay: 10 });
    l.ab.addMiddlebox(strip);
    if (both) l.ba.addMiddlebox(strip);
    const s: { conn?: MptcpConnection; app?: BulkApp } = {};
    b.listen(443, (c) => {
      s.conn = c;
      s.app = new BulkApp(mptcpConn(b, c), 5 * MB, 2, () => net.now);
    });
    const conn = a.connect(0, { local: DSL, remote: HAG, remotePort: 443 });
    const app = new BulkApp(mptcpConn(a, conn), 5 * MB, 1, () => net.now);
    return { net, a, b, conn, app, s };
  }

  it('at the SYN: plain TCP from the start, 5 MB each way intact', () => {
    const strip = stripTcpOption(TCPOPT_MPTCP, { synOnly: true });
    const { net, a, conn, app, s } = net1(73, strip);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(strip.hits).toBeGreaterThan(0);
    expect(conn.fallback).toBe(true);
    expect(s.conn?.fallback).toBe(true);
    expect(a.mib.MPCapableFallbackSYNACK).toBe(1);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });

  it('in mid connection: both sides fall back and the transfer completes intact', () => {
    const strip = stripTcpOption(TCPOPT_MPTCP, { from: 1000 });
    const { net, a, b, conn, app, s } = net1(74, strip);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(strip.hits).toBeGreaterThan(0);
    expect(conn.fallback).toBe(true);
    expect(s.conn?.fallback).toBe(true);
    expect(a.mib.DSSFallback + b.mib.DSSFallback).toBe(2);
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });
});
