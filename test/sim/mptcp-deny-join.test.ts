// MP_CAPABLE's C flag in simulation (RFC 8684 3.1), the HAG workers behind ECMP: two HAG workers
// share a service address that the network spreads per flow (here DSL's flows reach worker 1 and
// LTE's worker 0), each has a join address of its own, sets the C flag and announces it with
// ADD_ADDR. The CPE honours the flag: its LTE uplink joins worker 1's join address, not the
// service address (which would reach worker 0, which knows no such token); without the flag the
// join to the service address goes to the wrong worker and is refused; with the flag and no
// announcement the CPE opens no join at all.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { ServerPathManager } from '../../src/mptcp/pm/server.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { Network } from '../../src/sim/index.js';

const SERVICE = Uint8Array.of(198, 19, 0, 1);
const JOIN = [Uint8Array.of(198, 19, 1, 1), Uint8Array.of(198, 19, 1, 2)];
const MB = 1_000_000;

function setup(seed: number, o: { deny: boolean; announce: boolean; cookies?: boolean }) {
  const net = new Network({ seed });
  const cpe = new MptcpEndpoint({ random: net.random('cpe') });
  net.addNode('cpe', cpe);
  const workers = JOIN.map((addr, i) => {
    const ep = new MptcpEndpoint({
      random: net.random(`w${i}`),
      mptcp: { denyJoinToSource: o.deny },
      stack: o.cookies ? { synCookies: 'always' } : undefined,
    });
    net.addNode(`w${i}`, ep);
    if (o.announce) new ServerPathManager(ep, { addresses: [{ id: 1, addr }] });
    return ep;
  });
  const link = { rate: 20e6, delay: 10, queueBytes: 64_000 };
  for (const [u, up] of ['dsl', 'lte'].entries()) {
    const src = `198.18.${u + 1}.0/24`;
    for (const w of [0, 1]) {
      const l = net.connect('cpe', `w${w}`, { ...link, name: `${up}-w${w}` });
      net.route('cpe', { src, dst: `198.19.1.${w + 1}/32`, via: l });
      net.route(`w${w}`, { dst: src, via: l });
    }
  }
  // The ECMP hash of each uplink's flows to the service address: DSL's to worker 1, LTE's to 0.
  net.route('cpe', { src: '198.18.1.0/24', dst: '198.19.0.1/32', via: net.link('dsl-w1:cpe>w1') });
  net.route('cpe', { src: '198.18.2.0/24', dst: '198.19.0.1/32', via: net.link('lte-w0:cpe>w0') });
  const pm = new ClientPathManager(cpe, { retryMinMs: 500, retryMaxMs: 8000 });
  pm.setAddress(0, { id: 1, addr: Uint8Array.of(198, 18, 1, 2), backup: false, up: true });
  pm.setAddress(0, { id: 2, addr: Uint8Array.of(198, 18, 2, 2), backup: false, up: true });
  const served: { conn?: MptcpConnection; app?: BulkApp }[] = [{}, {}];
  workers.forEach((ep, i) => {
    ep.listen(443, (c) => {
      served[i].conn = c;
      served[i].app = new BulkApp(mptcpConn(ep, c), 4 * MB, 2, () => net.now);
    });
  });
  const conn = pm.connect(0, SERVICE, 443)!;
  const app = new BulkApp(mptcpConn(cpe, conn), 4 * MB, 1, () => net.now);
  return { net, cpe, workers, conn, app, served };
}

const sha = (x: BulkApp, d: 'tx' | 'rx') => (d === 'tx' ? x.txHash : x.rxHash).copy().digest('hex');

describe('MP_CAPABLE C flag: HAG workers behind one service address', () => {
  it('C flag and ADD_ADDR: LTE joins the join address of the worker holding the connection; 4 MB each way intact', () => {
    const { net, cpe, workers, conn, app, served } = setup(71, { deny: true, announce: true });
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 3000),
    ).toBe(true);
    expect(conn.peerDeniesJoinToSource).toBe(true);
    expect(conn.subflows[0].socket.tuple.remote).toEqual(SERVICE);
    expect(conn.subflows[1].socket.tuple.remote).toEqual(JOIN[1]);
    expect(conn.subflows[1].socket.tuple.local).toEqual(Uint8Array.of(198, 18, 2, 2));
    expect(net.runUntil(() => app.ended && !!served[1].app?.ended, 60_000)).toBe(true);
    expect(sha(app, 'rx')).toBe(sha(served[1].app!, 'tx'));
    expect(sha(served[1].app!, 'rx')).toBe(sha(app, 'tx'));
    expect(served[1].conn!.subflows.length).toBeGreaterThanOrEqual(1);
    expect(cpe.mib.MPJoinSynTx).toBe(1);
    expect(workers[1].mib.MPJoinAckRx).toBe(1);
    // Worker 0 saw nothing of this connection: no join, no connection.
    expect(workers[0].mib.MPJoinSynRx).toBe(0);
    expect(served[0].conn).toBeUndefined();
  });

  it('without the C flag the join to the service address reaches the other worker, which refuses it', () => {
    const { net, cpe, workers, conn } = setup(72, { deny: false, announce: false });
    expect(net.runUntil(() => workers[0].mib.MPJoinNoTokenFound > 0, 3000)).toBe(true);
    expect(conn.peerDeniesJoinToSource).toBe(false);
    expect(cpe.mib.MPJoinSynAckRx).toBe(0);
    expect(workers[1].mib.MPJoinSynRx).toBe(0);
    expect(workers[0].mib.MPJoinNoTokenFound).toBeGreaterThan(0);
  });

  it('the SYN/ACK of a SYN cookie carries the C flag too', () => {
    const { net, workers, conn } = setup(74, { deny: true, announce: true, cookies: true });
    expect(
      net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 3000),
    ).toBe(true);
    expect(workers[1].tcp.mib.SyncookiesSent).toBeGreaterThan(0);
    expect(conn.peerDeniesJoinToSource).toBe(true);
    expect(conn.subflows[1].socket.tuple.remote).toEqual(JOIN[1]);
  });

  it('C flag and no announcement: the CPE opens no join, the connection runs on its one subflow', () => {
    const { net, cpe, workers, conn, app, served } = setup(73, { deny: true, announce: false });
    expect(net.runUntil(() => app.ended && !!served[1].app?.ended, 60_000)).toBe(true);
    expect(sha(served[1].app!, 'rx')).toBe(sha(app, 'tx'));
    expect(conn.peerDeniesJoinToSource).toBe(true);
    expect(cpe.mib.MPJoinSynTx).toBe(0);
    expect(workers[0].mib.MPJoinSynRx).toBe(0);
  });
});
