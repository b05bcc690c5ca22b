// One MPTCP connection over both IP families (RFC 8684 3.4.1 lets ADD_ADDR and MP_JOIN use either):
// the CPE has an IPv4-only DSL and an IPv6-only LTE; the HAG has a service address of each family
// and announces the one of the family a connection did not begin with ('other-family'); the LTE
// joins the HAG's IPv6 address, both subflows carry data, and the connection survives DSL going
// down. Begun over IPv6, the announced IPv4 address is the DSL's to join.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { ServerPathManager } from '../../src/mptcp/pm/server.js';
import { BulkApp } from '../../src/sim/bulk.js';
import { Network } from '../../src/sim/index.js';
import { TcpState } from '../../src/tcp/state.js';

const DSL4 = Uint8Array.of(198, 18, 1, 2);
const LTE6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 2, ...new Array(9).fill(0), 2]);
const HAG4 = Uint8Array.of(198, 19, 0, 1);
const HAG6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0x64, ...new Array(9).fill(0), 1]);
const MB = 1_000_000;

function mptcpConn(ep: MptcpEndpoint, c: MptcpConnection) {
  return { conn: c, wake: () => ep.wake(c), canClose: () => c.established };
}

const sha = (x: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? x.txHash : x.rxHash).copy().digest('hex');

/** DSL 20 Mbit/s 10 ms (IPv4 only), LTE 40 Mbit/s 30 ms (IPv6 only); `bytes` each way. */
function setup(seed: number, remote: Uint8Array, dslOutage?: { from: number; to: number }, bytes = 10 * MB) {
  const net = new Network({ seed });
  const cpe = new MptcpEndpoint({ random: net.random('cpe') });
  const hag = new MptcpEndpoint({ random: net.random('hag') });
  net.addNode('cpe', cpe);
  net.addNode('hag', hag);
  const dsl = net.connect('cpe', 'hag', {
    name: 'dsl',
    rate: 20e6,
    delay: 10,
    outages: dslOutage && [dslOutage],
  });
  const lte = net.connect('cpe', 'hag', { name: 'lte', rate: 40e6, delay: 30 });
  net.route('cpe', { src: '198.18.1.0/24', via: dsl });
  net.route('cpe', { src: '2001:db8:2::/64', via: lte });
  net.route('hag', { dst: '198.18.1.0/24', via: dsl });
  net.route('hag', { dst: '2001:db8:2::/64', via: lte });
  const pm = new ClientPathManager(cpe);
  pm.setAddress(0, { id: 1, addr: DSL4, backup: false, up: true });
  pm.setAddress(0, { id: 2, addr: LTE6, backup: false, overflow: true, up: true });
  new ServerPathManager(hag, {
    addresses: [
      { id: 1, addr: HAG4 },
      { id: 2, addr: HAG6 },
    ],
    announce: 'other-family',
  });
  const s: { conn?: MptcpConnection; app?: BulkApp } = {};
  hag.listen(443, (c) => {
    s.conn = c;
    s.app = new BulkApp(mptcpConn(hag, c), bytes, 2, () => net.now);
  });
  const conn = pm.connect(0, remote, 443);
  if (!conn) throw new Error('no uplink of the family');
  const app = new BulkApp(mptcpConn(cpe, conn), bytes, 1, () => net.now);
  return { net, cpe, hag, pm, conn, app, s };
}

const both = (c: MptcpConnection) => c.subflows.length === 2 && c.subflows.every((f) => f.canSend);

describe('MPTCP over both IP families', () => {
  it('begun over IPv4 on DSL: the HAG announces IPv6 only, the IPv6-only LTE joins it, both carry data', () => {
    const { net, cpe, hag, conn, app, s } = setup(71, HAG4);
    expect(conn.subflows[0].socket.tuple.local).toEqual(DSL4);
    expect(net.runUntil(() => both(conn), 3000)).toBe(true);
    const lte = conn.subflows[1];
    expect(lte.socket.tuple.local).toEqual(LTE6);
    expect(lte.socket.tuple.remote).toEqual(HAG6);
    expect(lte.remoteId).toBe(2);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    // Each subflow carried a share of each direction.
    for (const sf of conn.subflows) {
      expect(sf.socket.stats.bytesIn).toBeGreaterThan(MB);
      expect(sf.socket.stats.bytesOut).toBeGreaterThan(MB);
    }
    expect(hag.mib.AddAddrTx).toBe(1); // its IPv4 address, the one the connection began on, not announced
    expect(cpe.mib.MPJoinSynTx).toBe(1);
  });

  it('DSL down for good in mid transfer: the IPv6 subflow on LTE carries the rest, intact', () => {
    const { net, conn, app, s } = setup(72, HAG4, { from: 1500, to: Number.POSITIVE_INFINITY }, 20 * MB);
    expect(net.runUntil(() => both(conn), 1400)).toBe(true);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 120_000)).toBe(true);
    expect(app.received).toBe(20 * MB);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
    expect(sha(s.app!, 'rx')).toBe(sha(app, 'tx'));
    const lte = conn.subflows.find((f) => f.socket.tuple.local.length === 16);
    // DSL carried 1.5 s of it at most (20 Mbit/s: under 4 MB): the rest came over LTE's IPv6 subflow.
    expect(lte?.socket.stats.bytesIn).toBeGreaterThan(16 * MB);
    expect(lte?.socket.state).not.toBe(TcpState.Closed);
  });

  it('DSL down and up again: its IPv4 subflow comes back to the first address, though the first subflow is gone', () => {
    const { net, pm, conn, app, s } = setup(74, HAG4, { from: 1500, to: 3000 }, 40 * MB);
    net.at(1500, (now) => pm.setUp(now, 1, false));
    net.at(3000, (now) => pm.setUp(now, 1, true));
    net.run(1400);
    expect(both(conn)).toBe(true);
    net.run(2900);
    expect(conn.subflows.filter((f) => f.canSend).map((f) => f.socket.tuple.local)).toEqual([LTE6]);
    expect(
      net.runUntil(() => conn.subflows.some((f) => f.canSend && f.socket.tuple.local.length === 4), 6000),
    ).toBe(true);
    const dsl = conn.subflows.find((f) => f.socket.tuple.local.length === 4)!;
    expect(dsl.socket.tuple.remote).toEqual(HAG4);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 120_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
    expect(dsl.socket.stats.bytesIn).toBeGreaterThan(2 * MB);
  });

  it('begun over IPv6 on LTE (no IPv4 path to pick first): the DSL joins the announced IPv4 address', () => {
    const { net, pm, conn, app, s } = setup(73, HAG6);
    expect(pm.addressOf(conn.subflows[0])).toBe(2);
    expect(net.runUntil(() => both(conn), 3000)).toBe(true);
    expect(conn.subflows[1].socket.tuple.local).toEqual(DSL4);
    expect(conn.subflows[1].socket.tuple.remote).toEqual(HAG4);
    expect(net.runUntil(() => app.ended && !!s.app?.ended, 60_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(s.app!, 'tx'));
  });
});
