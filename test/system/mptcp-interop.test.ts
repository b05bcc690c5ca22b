// Interop of our MPTCP with the Linux kernel's (RFC 8684), one subflow, through the TUN driver in
// a namespace this test creates: our client to a kernel MPTCP server and a kernel MPTCP client to
// our server, 20 MB each way at once, with the kernel's DSS checksum off and on. The kernel's own
// counters say whether it saw MP_CAPABLE (no fallback) and whether our checksums verified.
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

describe('MPTCP interop with the Linux kernel, one subflow', () => {
  const cases: ['client' | 'server', '0' | '1'][] = [
    ['client', '0'],
    ['server', '0'],
    ['client', '1'],
    ['server', '1'],
  ];
  it.each(cases)(
    'ours as %s, kernel checksum_enabled=%s: 20 MB each way',
    async (role, csum) => {
      ns = new Netns('mptcp');
      const r = await transfer(ns, dist, {
        ourRole: role,
        bytes: 20 * MB,
        mptcp: true,
        sysctl: { 'net.mptcp.checksum_enabled': csum },
        timeoutMs: 60_000,
      });
      expectIntact(r, 20 * MB);
      // Both sides ran MPTCP: no fallback on either.
      expect(r.ours.mptcp).toBe(true);
      expect(r.ours.checksum).toBe(csum === '1');
      if (role === 'client') {
        expect(r.nstat.MPTcpExtMPCapableSYNRX).toBe(1);
        expect(r.nstat.MPTcpExtMPCapableACKRX).toBe(1);
      } else {
        expect(r.nstat.MPTcpExtMPCapableSYNTX).toBe(1);
        expect(r.nstat.MPTcpExtMPCapableSYNACKRX).toBe(1);
      }
      expect(r.nstat.MPTcpExtMPCapableFallbackACK).toBeUndefined();
      expect(r.nstat.MPTcpExtMPCapableFallbackSYNACK).toBeUndefined();
      // The kernel verified every DSS checksum we sent.
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      expect(r.nstat.MPTcpExtDSSNotMatching).toBeUndefined();
    },
    120_000,
  );

  it('our MPTCP client falls back to TCP against a plain kernel TCP server', async () => {
    ns = new Netns('mptcp');
    const r = await transfer(ns, dist, { ourRole: 'client', bytes: 5 * MB, args: ['--mptcp'] });
    expectIntact(r, 5 * MB);
    expect(r.ours.mptcp).toBe(false);
  }, 120_000);
});
