// Coupled congestion control (RFC 6356 LIA, and OLIA): two subflows through one shared
// bottleneck beside a plain TCP flow take about one flow's share with coupling and about two
// without; over disjoint paths the coupled connection still uses both.
import { describe, expect, it } from 'vitest';
import { Lia } from '../../src/mptcp/cc/lia.js';
import type { MptcpConfig, MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp, tcpConn } from '../../src/sim/bulk.js';
import { mptcpBulk } from '../../src/sim/hybrid.js';
import { Network } from '../../src/sim/index.js';

const HAG = Uint8Array.of(198, 19, 0, 1);
const BIG = 2 ** 40;

/**
 * MPTCP with two subflows and one plain TCP flow share one 20 Mbit/s link (all from the CPE's
 * stack to the HAG's); returns MPTCP's share of the goodput from 10 s to 100 s (drop-tail queues synchronise the
 * flows in phases of tens of seconds: a shorter window measures the phase more than the share).
 */
function sharedBottleneck(congestion: MptcpConfig['congestion']): number {
  const net = new Network({ seed: 81 });
  const cpe = new MptcpEndpoint({ mptcp: { congestion } });
  const hag = new MptcpEndpoint({ mptcp: { congestion } });
  net.addNode('cpe', cpe);
  net.addNode('hag', hag);
  net.connect('cpe', 'hag', { name: 'bottleneck', rate: 20e6, delay: 10 });
  let mp: BulkApp | undefined;
  let tcp: BulkApp | undefined;
  hag.listen(443, (c) => {
    mp = new BulkApp({ conn: c, wake: () => hag.wake(c), canClose: () => true }, 0, 2, () => net.now);
  });
  hag.tcp.listen({
    port: 80,
    onAccept: (s) => (tcp = new BulkApp(tcpConn(hag.tcp, s), 0, 4, () => net.now)),
  });
  const conn = cpe.connect(0, { local: Uint8Array.of(198, 18, 1, 2), remote: HAG, remotePort: 443 });
  new BulkApp({ conn, wake: () => cpe.wake(conn), canClose: () => true }, BIG, 1, () => net.now);
  const sock = cpe.tcp.connect(0, { local: Uint8Array.of(198, 18, 1, 3), remote: HAG, remotePort: 80 });
  new BulkApp(tcpConn(cpe.tcp, sock), BIG, 3, () => net.now);
  net.runUntil(() => conn.fullyEstablished, 2000);
  cpe.join(net.now, conn, Uint8Array.of(198, 18, 1, 4), 2);
  net.run(10_000);
  const m0 = mp!.received;
  const t0 = tcp!.received;
  net.run(100_000);
  const m = mp!.received - m0;
  const t = tcp!.received - t0;
  return m / (m + t);
}

describe('coupled congestion control', () => {
  it("at a shared bottleneck, LIA and OLIA take about one flow's share; uncoupled subflows take two", () => {
    const unc = sharedBottleneck('uncoupled');
    const lia = sharedBottleneck('lia');
    const olia = sharedBottleneck('olia');
    console.log(
      `MPTCP share beside one TCP flow: uncoupled ${unc.toFixed(2)}, LIA ${lia.toFixed(2)}, OLIA ${olia.toFixed(2)}`,
    );
    expect(unc).toBeGreaterThan(0.58);
    expect(lia).toBeLessThan(unc - 0.05);
    expect(olia).toBeLessThan(unc - 0.05);
    expect(lia).toBeGreaterThan(0.3);
  });

  it.each(['lia', 'olia'] as const)('%s over disjoint DSL and LTE still bonds both', (cc) => {
    const r = mptcpBulk(
      [
        { name: 'dsl', rate: 20e6, delay: 10 },
        { name: 'lte', rate: 40e6, delay: 30 },
      ],
      'down',
      { warmupMs: 10_000, endMs: 30_000, congestion: cc },
    );
    console.log(
      `${cc}: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, per uplink ${r.perUplink.map((b) => (b / 1e6).toFixed(1))} MB`,
    );
    expect(r.goodput).toBeGreaterThan(40e6);
    expect(r.perUplink[0]).toBeGreaterThan(10e6);
    expect(r.perUplink[1]).toBeGreaterThan(10e6);
  });

  it('the coupled controllers are installed on every subflow of the connection', () => {
    const net = new Network({ seed: 82 });
    const a = new MptcpEndpoint({ mptcp: { congestion: 'lia' } });
    const b = new MptcpEndpoint({ mptcp: { congestion: 'lia' } });
    net.addNode('a', a);
    net.addNode('b', b);
    const l1 = net.connect('a', 'b', { name: 'dsl', rate: 20e6, delay: 10 });
    const l2 = net.connect('a', 'b', { name: 'lte', rate: 40e6, delay: 30 });
    net.route('a', { src: '198.18.1.0/24', via: l1 });
    net.route('a', { src: '198.18.2.0/24', via: l2 });
    net.route('b', { dst: '198.18.1.0/24', via: l1 });
    net.route('b', { dst: '198.18.2.0/24', via: l2 });
    let srv: MptcpConnection | undefined;
    b.listen(443, (c) => {
      srv = c;
      new BulkApp({ conn: c, wake: () => b.wake(c), canClose: () => true }, BIG, 2, () => net.now);
    });
    const conn = a.connect(0, { local: Uint8Array.of(198, 18, 1, 2), remote: HAG, remotePort: 443 });
    new BulkApp({ conn, wake: () => a.wake(conn), canClose: () => true }, 0, 1, () => net.now);
    net.runUntil(() => conn.fullyEstablished, 2000);
    a.join(net.now, conn, Uint8Array.of(198, 18, 2, 2), 2);
    net.runFor(3000);
    expect(srv!.subflows.length).toBe(2);
    for (const sf of srv!.subflows) expect(sf.socket.cc).toBeInstanceOf(Lia);
    expect(srv!.ccGroup.members.length).toBe(2);
  });
});
