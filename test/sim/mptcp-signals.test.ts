// MPTCP signalling in simulation, after Linux's mptcp_join.sh: MP_FASTCLOSE from either side
// (RFC 8684 3.5), MP_TCPRST on refused joins (3.6) and MP_PRIO turning a subflow into a backup and
// back (3.3.8), each asserting the counters and what the applications saw.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet, type UplinkSpec } from '../../src/sim/hybrid.js';
import { TCPRST_REASON } from '../../src/wire/mptcp/mp-tcprst.js';

const DSL = Uint8Array.of(198, 18, 1, 2);
const LTE = Uint8Array.of(198, 18, 2, 2);
const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;
const LINKS: UplinkSpec[] = [
  { name: 'dsl', rate: 20e6, delay: 10 },
  { name: 'lte', rate: 40e6, delay: 30 },
];

function setup(seed: number, hagMaxSubflows = 8) {
  const { net, cpe: a, hag: b, pm } = hybridNet(LINKS, { seed, hag: { maxSubflows: hagMaxSubflows } });
  const s: { conn?: MptcpConnection; app?: BulkApp } = {};
  b.listen(443, (c) => {
    s.conn = c;
    s.app = new BulkApp(mptcpConn(b, c), 50 * MB, 2, () => net.now);
  });
  const conn = pm.connect(0, HAG, 443)!;
  const app = new BulkApp(mptcpConn(a, conn), 0, 1, () => net.now);
  expect(net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((f) => f.canSend), 3000)).toBe(
    true,
  );
  return { net, a, b, pm, conn, app, s };
}

describe('MPTCP signalling', () => {
  it.each(['client', 'server'] as const)(
    'MP_FASTCLOSE from the %s ends the connection on both sides at once',
    (who) => {
      const { net, a, b, conn, s } = setup(51);
      net.runFor(1000);
      const [closer, peer, ep, pep] = who === 'client' ? [conn, s.conn!, a, b] : [s.conn!, conn, b, a];
      closer.abort();
      net.runFor(200);
      expect(ep.mib.MPFastcloseTx).toBe(2); // one RST with MP_FASTCLOSE per subflow
      expect(pep.mib.MPFastcloseRx).toBeGreaterThanOrEqual(1);
      expect(peer.closed).toBe(true);
      expect(peer.error?.code).toBe('ECONNRESET');
      expect(peer.subflows.length).toBe(0);
      expect(closer.closed).toBe(true);
      expect(a.tokens.size).toBe(0);
      expect(b.tokens.size).toBe(0);
    },
  );

  it('a join beyond the HAG limit is refused with MP_TCPRST "administratively prohibited"', () => {
    const { net, cpe: a, hag: b } = hybridNet(LINKS, { seed: 52, hag: { maxSubflows: 1 } });
    b.listen(443, () => {});
    const conn = a.connect(0, { local: DSL, remote: HAG, remotePort: 443 });
    expect(net.runUntil(() => conn.fullyEstablished, 2000)).toBe(true);
    a.join(net.now, conn, LTE, 2);
    const sub = conn.subflows[1];
    net.runFor(500);
    expect(b.mib.MPJoinRejected).toBe(1);
    expect(b.mib.MPRstTx).toBe(1);
    expect(a.mib.MPRstRx).toBe(1);
    expect(sub.peerRstReason).toBe(TCPRST_REASON.administrativelyProhibited);
    expect(conn.subflows.length).toBe(1);
  });

  it('MP_PRIO: LTE made a backup mid-transfer carries nothing more; made active again it carries data', () => {
    const { net, a, b, conn, app, s } = setup(53);
    net.runFor(2000);
    const lte = conn.subflows.find((f) => f.socket.tuple.local[2] === 2)!;
    conn.setBackup(lte, true);
    net.runFor(300); // the MP_PRIO crosses and what was in flight drains
    const hagLte = s.conn!.subflows.find((f) => f.socket.tuple.remote[2] === 2)!;
    expect(hagLte.backup).toBe(true);
    const before = hagLte.socket.stats.bytesOut;
    net.runFor(3000);
    expect(hagLte.socket.stats.bytesOut - before).toBeLessThan(200_000);
    conn.setBackup(lte, false);
    net.runFor(3000);
    expect(hagLte.backup).toBe(false);
    expect(hagLte.socket.stats.bytesOut - before).toBeGreaterThan(5 * MB);
    expect(a.mib.MPPrioTx).toBe(2);
    expect(b.mib.MPPrioRx).toBe(2);
    expect(net.runUntil(() => app.ended, 60_000)).toBe(true);
    expect(app.rxHash.digest('hex')).toBe(s.app!.txHash.digest('hex'));
  });
});
