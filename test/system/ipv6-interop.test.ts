// MPTCP over IPv6 and across families against the Linux kernel (RFC 8684 3.4.1): our client with
// the CPE's path manager (an IPv6 uplink and an IPv4-only one, scripts/tools/tun-tcp.ts
// --uplinks) connects to a kernel MPTCP server over IPv6; the kernel announces an IPv4 address
// (a signal endpoint), and our IPv4-only uplink joins it: one connection, an IPv6 and an IPv4
// subflow, both carrying data each way. The kernel peer is the harness of mptcp-interop.test.ts,
// one routed hop away, each of its two addresses (so each subflow) capped both ways: unshaped,
// both subflows share one TUN, the transfer is CPU-bound, and the schedulers (our min-RTT, the
// kernel's) may keep nearly everything on one subflow (0.67 to 10 MB of 20 on the IPv4 one).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  compileDist,
  expectIntact,
  ROUTED_PEER,
  ROUTED_PEER6,
  removeDist,
  transfer,
} from './lib/kernel-peer.js';
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
/** Each subflow's bottleneck, each way: the two together carry 20 MB in 3.2 s, one alone in 6.4 s. */
const MBIT = 25;

describe('MPTCP across IP families with the Linux kernel', () => {
  it('our client over IPv6 to a kernel server; the kernel announces IPv4, our IPv4-only uplink joins it: 20 MB each way, each subflow capped at 25 Mbit/s', async () => {
    ns = new Netns('mp6');
    const r = await transfer(ns, dist, {
      // The kernel (namespace k, behind h's veth) owns 2001:db8:7::1 and 198.18.7.1, and announces
      // the latter with ADD_ADDR; it listens on :: (IPv4 too). h owns 2001:db8:5::1 and
      // 198.18.6.1 on the TUN (our --peer) and forwards.
      routed: { mbitPerAddress: MBIT },
      setup: `ip mptcp limits set subflows 2 add_addr_accepted 2; ip mptcp endpoint add ${ROUTED_PEER} dev kh signal`,
      ourRole: 'client',
      bytes: 20 * MB,
      mptcp: true,
      args: ['--peer', '2001:db8:5::1/64,198.18.6.1/24', '--uplinks', '2001:db8:5::2,198.18.6.2'],
      peerArgs: ['--bind', '::'],
      connectTo: `[${ROUTED_PEER6}]:5002`,
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
      ['2001:db8:5::2', ROUTED_PEER6],
      ['198.18.6.2', ROUTED_PEER],
    ]);
    const seen = `${sf.map((s) => `${s.local} out ${s.bytesOut} in ${s.bytesIn}`).join('; ')}; ${Math.round(r.ours.ms)} ms`;
    console.log(`IPv6 + IPv4 subflows: ${seen}`);
    // The caps held: no subflow carried more, either way, than its rate for the transfer's time
    // (and a bucket's burst and a FIFO's worth).
    const cap = ((MBIT * 1e6) / 8) * (r.ours.ms / 1000) + 0.5 * MB;
    for (const s of sf) {
      expect(s.bytesOut, seen).toBeLessThan(cap);
      expect(s.bytesIn, seen).toBeLessThan(cap);
    }
    // So each subflow carried a share of each direction: for one to carry under a quarter, the
    // other would carry over 15 MB, 4.8 s at its cap, 1.5 times as long as the two together take.
    for (const s of sf) {
      expect(s.bytesOut, seen).toBeGreaterThan(5 * MB);
      expect(s.bytesIn, seen).toBeGreaterThan(5 * MB);
    }
  }, 120_000);
});
