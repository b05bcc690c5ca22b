// MP_FAIL and fallback in mid connection (RFC 8684 3.7), after mptcp_join.sh's checksum cases: a
// middlebox that rewrites payload (and fixes the TCP checksum, as an ALG does) is caught by the
// DSS checksum, and the bytes that failed it are never delivered. On the only subflow the receiver
// sends MP_FAIL, the sender sends them again after the infinite mapping, and the connection goes on
// as plain TCP; with two subflows the damaged one is reset and its data comes again, intact, over
// the other.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp } from '../../src/sim/bulk.js';
import { hybridNet } from '../../src/sim/hybrid.js';
import { corruptTcpPayload, Network, stripTcpOption } from '../../src/sim/index.js';
import { TCPOPT_MPTCP } from '../../src/wire/mptcp/subtype.js';

const DSL = Uint8Array.of(198, 18, 1, 2);
const LTE = Uint8Array.of(198, 18, 2, 2);
const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

function mptcpConn(ep: MptcpEndpoint, c: MptcpConnection) {
  return { conn: c, wake: () => ep.wake(c), canClose: () => c.established };
}
const sha = (x: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? x.txHash : x.rxHash).copy().digest('hex');

function setup(seed: number, corruptOn: 'dsl' | 'lte') {
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
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(corrupt.hits).toBe(1);
    expect(conn.checksum).toBe(true);
    expect(b.mib.DataCsumErr).toBe(1);
    expect(b.mib.MPFailTx).toBe(1);
    expect(a.mib.MPFailRx).toBe(1);
    expect(a.mib.InfiniteMapTx).toBe(1);
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
