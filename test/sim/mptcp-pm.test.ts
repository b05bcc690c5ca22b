// The client path manager over two simulated uplinks (RFC 8684 3.2): a subflow from every usable
// uplink, an uplink that goes down loses its subflows (the data moves to the other) and gets them
// back when it returns, a refused join is tried again with backoff rather than in a loop, and a
// connection opened while the primary is down starts on the other uplink.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { MptcpEvent } from '../../src/mptcp/events.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet, type UplinkSpec } from '../../src/sim/hybrid.js';
import type { Network } from '../../src/sim/index.js';

const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;
const LINKS: UplinkSpec[] = [
  { name: 'dsl', rate: 20e6, delay: 10 },
  { name: 'lte', rate: 40e6, delay: 30 },
];

function sha(app: BulkApp, dir: 'tx' | 'rx'): string {
  return (dir === 'tx' ? app.txHash : app.rxHash).copy().digest('hex');
}

function setup(seed: number, hagMaxSubflows = 8) {
  const {
    net,
    cpe: a,
    hag: b,
    pm,
  } = hybridNet(LINKS, {
    seed,
    hag: { maxSubflows: hagMaxSubflows },
    retryMinMs: 500,
    retryMaxMs: 8000,
  });
  const events: string[] = [];
  a.on((e: MptcpEvent) => {
    if (e.type.startsWith('sub-') && 'subflow' in e) events.push(`${e.type}:${pm.addressOf(e.subflow)}`);
  });
  return { net, a, b, pm, events };
}

function serve(net: Network, b: MptcpEndpoint, bytes: number) {
  const s: { conn?: MptcpConnection; app?: BulkApp } = {};
  b.listen(443, (c) => {
    s.conn = c;
    s.app = new BulkApp(mptcpConn(b, c), bytes, 2, () => net.now);
  });
  return s;
}

describe('client path manager', () => {
  it('a subflow per uplink; LTE down loses its subflow, LTE back gets it again; 40 MB intact', () => {
    const { net, a, b, pm, events } = setup(41);
    const s = serve(net, b, 40 * MB);
    const conn = pm.connect(net.now, HAG, 443)!;
    const up = new BulkApp(mptcpConn(a, conn), 40 * MB, 1, () => net.now);
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 2000),
    ).toBe(true);
    expect(conn.subflows.map((f) => pm.addressOf(f))).toEqual([1, 2]);
    net.runFor(1000);
    pm.setUp(net.now, 2, false);
    net.runFor(50);
    expect(conn.subflows.map((f) => pm.addressOf(f))).toEqual([1]);
    net.runFor(2000);
    pm.setUp(net.now, 2, true);
    expect(net.runUntil(() => conn.subflows.length === 2, 2000)).toBe(true);
    const lte = conn.subflows.find((f) => pm.addressOf(f) === 2)!;
    net.runUntil(() => !!s.app && up.ended && s.app.ended, 120_000);
    expect(up.received).toBe(40 * MB);
    expect(s.app?.received).toBe(40 * MB);
    expect(sha(s.app!, 'rx')).toBe(sha(up, 'tx'));
    expect(sha(up, 'rx')).toBe(sha(s.app!, 'tx'));
    // The re-created LTE subflow carried data again.
    expect(lte.socket.stats.bytesOut).toBeGreaterThan(MB);
    expect(a.mib.MPJoinSynTx).toBe(2);
    expect(events.slice(0, 4)).toEqual([
      'sub-established:1',
      'sub-established:2',
      'sub-closed:2',
      'sub-established:2',
    ]);
  });

  it('a HAG that refuses joins is asked again with backoff, not in a loop', () => {
    const { net, b, pm } = setup(42, 1);
    const s = serve(net, b, MB);
    const conn = pm.connect(net.now, HAG, 443)!;
    net.runFor(20_000);
    // Retries after 0.5, 1, 2, 4, 8, 8 s: about six in 20 s, each refused with a RST.
    console.log(`refused joins in 20 s: ${b.mib.MPJoinRejected}`);
    expect(b.mib.MPJoinRejected).toBeGreaterThanOrEqual(4);
    expect(b.mib.MPJoinRejected).toBeLessThanOrEqual(7);
    expect(conn.subflows.length).toBe(1);
    expect(s.conn?.subflows.length).toBe(1);
  });

  it('with the primary down, a new connection starts on the other uplink and joins DSL when it returns', () => {
    const { net, a, b, pm } = setup(43);
    const s = serve(net, b, 2 * MB);
    pm.setUp(0, 1, false);
    const conn = pm.connect(net.now, HAG, 443)!;
    expect(conn.subflows.map((f) => pm.addressOf(f))).toEqual([2]);
    expect(net.runUntil(() => conn.fullyEstablished, 2000)).toBe(true);
    pm.setUp(net.now, 1, true);
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 2000),
    ).toBe(true);
    expect(conn.subflows.map((f) => pm.addressOf(f))).toEqual([2, 1]);
    const up = new BulkApp(mptcpConn(a, conn), 2 * MB, 1, () => net.now);
    net.runUntil(() => !!s.app && up.ended && s.app.ended, 60_000);
    expect(sha(s.app!, 'rx')).toBe(sha(up, 'tx'));
  });

  it('no usable uplink: no connection', () => {
    const { pm } = setup(44);
    pm.setUp(0, 1, false);
    pm.setUp(0, 2, false);
    expect(pm.connect(0, HAG, 443)).toBeUndefined();
  });
});
