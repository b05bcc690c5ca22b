// MPTCP over IPv6 and across families against the Linux kernel (RFC 8684 3.4.1): our client with
// the CPE's path manager (an IPv6 uplink and an IPv4-only one, scripts/tools/tun-tcp.ts
// --uplinks) connects to a kernel MPTCP server over IPv6; the kernel announces an IPv4 address
// (a signal endpoint), and our IPv4-only uplink joins it: one connection, an IPv6 and an IPv4
// subflow, both carrying data. The kernel peer is the harness of mptcp-interop.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileDist, expectIntact, removeDist, transfer } from './lib/kernel-peer.js';
import { Netns } from './lib/netns.js';

let dist: string;
beforeAll(() => {
  dist = compileDist();
}, 120_000);
afterAll(() => removeDist(dist));

let ns: Netns | undefined;
afterEach(() => {
  ns?.cleanup();
  ns = undefined;
});

const MB = 1_000_000;

describe('MPTCP across IP families with the Linux kernel', () => {
  it('our client over IPv6 to a kernel server; the kernel announces IPv4, our IPv4-only uplink joins it: 20 MB each way', async () => {
    ns = new Netns('mp6');
    const r = await transfer(ns, dist, {
      // The kernel owns 2001:db8:5::1 and 198.18.6.1 on the TUN (our --peer), and announces
      // 198.18.7.1, on its loopback, with ADD_ADDR; it listens on :: (IPv4 too).
      setup:
        'ip mptcp limits set subflows 2 add_addr_accepted 2; ip addr add 198.18.7.1/32 dev lo; ip mptcp endpoint add 198.18.7.1 dev lo signal',
      ourRole: 'client',
      bytes: 20 * MB,
      mptcp: true,
      args: ['--peer', '2001:db8:5::1/64,198.18.6.1/24', '--uplinks', '2001:db8:5::2,198.18.6.2'],
      peerArgs: ['--bind', '::'],
      connectTo: '[2001:db8:5::1]:5002',
      timeoutMs: 60_000,
    });
    expectIntact(r, 20 * MB);
    expect(r.ours.mptcp).toBe(true);
    expect(r.nstat.MPTcpExtMPCapableSYNRX).toBe(1);
    expect(r.nstat.MPTcpExtAddAddrTx).toBe(1);
    expect(r.nstat.MPTcpExtEchoAdd).toBe(1);
    expect(r.nstat.MPTcpExtMPJoinSynRx).toBe(1);
    expect(r.nstat.MPTcpExtMPJoinAckRx).toBe(1);
    expect(r.ours.mptcpMib?.AddAddr).toBe(1);
    expect(r.ours.mptcpMib?.MPJoinSynAckRx).toBe(1);
    const sf = r.ours.subflows ?? [];
    expect(sf.map((s) => [s.local, s.remote])).toEqual([
      ['2001:db8:5::2', '2001:db8:5::1'],
      ['198.18.6.2', '198.18.7.1'],
    ]);
    // Both subflows carried a share of each direction.
    for (const s of sf) {
      expect(s.bytesOut).toBeGreaterThan(MB);
      expect(s.bytesIn).toBeGreaterThan(MB);
    }
    console.log(
      `IPv6 + IPv4 subflows: ${sf.map((s) => `${s.local} out ${s.bytesOut} in ${s.bytesIn}`).join('; ')}; ${Math.round(r.ours.ms)} ms`,
    );
  }, 120_000);
});
