// MPTCP when a path fails (RFC 8684 3.3.6): a subflow whose link goes down in mid transfer
// stalls, what it held is reinjected on the other subflow, and the connection carries on with
// nothing lost or duplicated; a backup subflow (3.3.8) carries nothing while the primary works
// and everything once it fails. After Linux's mptcp_join.sh link-failure and backup cases.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet } from '../../src/sim/hybrid.js';
import type { Network } from '../../src/sim/index.js';

const DSL = Uint8Array.of(198, 18, 1, 2);
const LTE = Uint8Array.of(198, 18, 2, 2);
const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

function sha(app: BulkApp, dir: 'tx' | 'rx'): string {
  return (dir === 'tx' ? app.txHash : app.rxHash).copy().digest('hex');
}

/** DSL 20 Mbit/s 10 ms and LTE 40 Mbit/s 30 ms one-way; the DSL link is down during `dslDown`. */
function twoPaths(seed: number, dslDown?: { from: number; to: number }) {
  const outages = dslDown ? [dslDown] : [];
  const {
    net,
    cpe: a,
    hag: b,
  } = hybridNet(
    [
      { name: 'dsl', rate: 20e6, delay: 10, outages },
      { name: 'lte', rate: 40e6, delay: 30 },
    ],
    { seed },
  );
  return { net, a, b };
}

/** A connection from the CPE over DSL with LTE joined (as backup or not), `bytes` each way. */
function start(net: Network, a: MptcpEndpoint, b: MptcpEndpoint, bytes: number, lteBackup: boolean) {
  const s: { server?: MptcpConnection; down?: BulkApp } = {};
  b.listen(443, (c) => {
    s.server = c;
    s.down = new BulkApp(mptcpConn(b, c), bytes, 2, () => net.now);
  });
  const client = a.connect(net.now, { local: DSL, remote: HAG, remotePort: 443 });
  net.runUntil(() => client.fullyEstablished, 5000);
  a.join(net.now, client, LTE, 1, lteBackup);
  const up = new BulkApp(mptcpConn(a, client), bytes, 1, () => net.now);
  return { client, up, s };
}

describe('MPTCP failover', () => {
  it('DSL down for good in mid transfer: the connection survives on LTE, 20 MB each way intact', () => {
    const { net, a, b } = twoPaths(31, { from: 2000, to: Number.POSITIVE_INFINITY });
    const { client, up, s } = start(net, a, b, 20 * MB, false);
    net.runUntil(() => !!s.down && up.ended && s.down.ended, 120_000);
    expect(up.received).toBe(20 * MB);
    expect(s.down?.received).toBe(20 * MB);
    expect(sha(s.down!, 'rx')).toBe(sha(up, 'tx'));
    expect(sha(up, 'rx')).toBe(sha(s.down!, 'tx'));
    // What the DSL subflow held went again over LTE, in both directions.
    expect(a.mib.MPTCPRetrans).toBeGreaterThan(0);
    expect(b.mib.MPTCPRetrans).toBeGreaterThan(0);
    net.runUntil(() => client.finished && !!s.server?.finished, 10_000);
    expect(client.finished).toBe(true);
    expect(s.server?.finished).toBe(true);
    // The stall the application saw: about one DSL RTO (its 200 ms floor) plus a path delay.
    console.log(
      `failover: longest gap ${up.maxGap.toFixed(0)} ms down, ${s.down!.maxGap.toFixed(0)} ms up (ms at ${up.maxGapAt})`,
    );
    expect(up.maxGap).toBeLessThan(500);
    expect(s.down!.maxGap).toBeLessThan(500);
  });

  it("a stale subflow's backed-off RTO does not hold the data-level retransmission timer back", () => {
    // Linux's mptcp_timeout_from_subflow counts no subflow with stale losses; with it, the timer
    // that recovers data lost at the connection level would wait the dead path's RTO (up to 60 s).
    const { net, a, b } = twoPaths(33, { from: 2000, to: Number.POSITIVE_INFINITY });
    const { client } = start(net, a, b, 200 * MB, false);
    const dsl = client.subflows.find((f) => f.socket.tuple.local[2] === 1)!;
    const lte = client.subflows.find((f) => f.socket.tuple.local[2] === 2)!;
    net.runFor(8000);
    expect(dsl.stale).toBe(true);
    expect(dsl.socket.rtt.rto).toBeGreaterThan(3000); // backed off on the dead link
    let longest = 0;
    for (let t = 0; t < 400; t++) {
      net.runFor(10);
      if (client.pollAt < Number.POSITIVE_INFINITY) longest = Math.max(longest, client.pollAt - net.now);
    }
    expect(longest).toBeGreaterThan(0);
    expect(longest).toBeLessThanOrEqual(Math.max(200, lte.socket.rtt.rto) + 1);
  });

  it('DSL down for 5 s: data flows on LTE meanwhile and on both once DSL is back', () => {
    const { net, a, b } = twoPaths(32, { from: 1500, to: 6500 });
    const { client, up, s } = start(net, a, b, 60 * MB, false);
    net.runUntil(() => !!s.down && up.ended && s.down.ended, 120_000);
    expect(sha(s.down!, 'rx')).toBe(sha(up, 'tx'));
    expect(sha(up, 'rx')).toBe(sha(s.down!, 'tx'));
    expect(up.received).toBe(60 * MB);
    const dsl = client.subflows.find((f) => f.socket.tuple.local[2] === 1);
    // The DSL subflow survived its outage (TCP retransmits with backoff) and carried data again.
    expect(dsl).toBeDefined();
    expect(dsl!.socket.stats.timeouts).toBeGreaterThan(0);
    expect(dsl!.stale).toBe(false);
  });

  it('a backup subflow carries nothing while the primary works (3.3.8)', () => {
    const { net, a, b } = twoPaths(33);
    const { client, up, s } = start(net, a, b, 5 * MB, true);
    net.runUntil(() => !!s.down && up.ended && s.down.ended, 60_000);
    expect(sha(s.down!, 'rx')).toBe(sha(up, 'tx'));
    const lte = client.subflows.find((f) => f.backup);
    expect(lte).toBeDefined();
    expect(lte!.socket.stats.bytesOut).toBe(0);
  });

  it('a backup subflow takes over when the primary fails', () => {
    const { net, a, b } = twoPaths(34, { from: 1500, to: Number.POSITIVE_INFINITY });
    const { client, up, s } = start(net, a, b, 10 * MB, true);
    net.runUntil(() => !!s.down && up.ended && s.down.ended, 120_000);
    expect(sha(s.down!, 'rx')).toBe(sha(up, 'tx'));
    expect(sha(up, 'rx')).toBe(sha(s.down!, 'tx'));
    const lte = client.subflows.find((f) => f.backup);
    expect(lte!.socket.stats.bytesOut).toBeGreaterThan(5 * MB);
  });
});
