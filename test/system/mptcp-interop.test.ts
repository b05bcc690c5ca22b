// Interop of our MPTCP with the Linux kernel's (RFC 8684), one subflow, through the TUN driver in
// a namespace this test creates: our client to a kernel MPTCP server and a kernel MPTCP client to
// our server, 20 MB each way at once, with the kernel's DSS checksum off and on. The kernel's own
// counters say whether it saw MP_CAPABLE (no fallback) and whether our checksums verified.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileDist, expectIntact, removeDist, transfer } from './lib/kernel-peer.js';
import { checkMptcpCapture } from './lib/mptcp-capture-check.js';
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
      // Our TUN has offloads (tun-tcp's default): we sent super-segments, one DSS mapping each.
      expect(r.ours.driver?.superSegmentsOut).toBeGreaterThan(0);
      // The kernel verified every DSS checksum we sent.
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      // and we verified every one of the kernel's (mappings of up to 64 KB, RFC 8684 3.3.1).
      expect(r.ours.mptcpMib?.DataCsumErr).toBe(0);
      expect(r.ours.mptcpMib?.MPFailTx).toBe(0);
      expect(r.nstat.MPTcpExtDSSNotMatching).toBeUndefined();
    },
    120_000,
  );

  it('ours as server on a TUN with offloads: the kernel data arrives as super-packets, 20 MB each way', async () => {
    ns = new Netns('mptcp');
    const r = await transfer(ns, dist, {
      ourRole: 'server',
      bytes: 20 * MB,
      mptcp: true,
      args: ['--offload', 'auto'],
      timeoutMs: 60_000,
    });
    expectIntact(r, 20 * MB);
    expect(r.ours.mptcp).toBe(true);
    // The kernel sender's TSO packets stay whole into the TUN; their checksums are partial
    // (NEEDS_CSUM, made in this namespace): taken as the kernel vouches, not dropped.
    const driver = (r.ours as unknown as { driver: { superPacketsIn: number } }).driver;
    expect(driver.superPacketsIn).toBeGreaterThan(0);
    expect((r.ours as unknown as { mib: { InCsumErrors: number } }).mib.InCsumErrors).toBe(0);
    expect(r.ours.mptcpMib?.DSSNotMatching ?? 0).toBe(0);
  }, 120_000);

  it('our MPTCP client falls back to TCP against a plain kernel TCP server', async () => {
    ns = new Netns('mptcp');
    const r = await transfer(ns, dist, { ourRole: 'client', bytes: 5 * MB, args: ['--mptcp'] });
    expectIntact(r, 5 * MB);
    expect(r.ours.mptcp).toBe(false);
  }, 120_000);
});

describe('MPTCP interop: our super-segments cut by the kernel on the way (RFC 8684 3.3.1)', () => {
  // The kernel peer is one routed hop away; the hop's veth has neither TSO nor GSO, so the kernel
  // cuts each super-segment we write to the TUN into MSS pieces as it forwards it, copying our TCP
  // header with its DSS option onto every piece. What the peer receives is captured at its end.
  it.each([
    ['client', '0'],
    ['client', '1'],
    ['server', '1'],
  ] as const)(
    'ours as %s, kernel checksum_enabled=%s: every piece the kernel sees carries a DSS it accepts, 20 MB each way',
    async (role, csum) => {
      ns = new Netns('mptcpr');
      const capture = join(dist, `routed-${role}-${csum}.pcap`);
      const r = await transfer(ns, dist, {
        ourRole: role,
        bytes: 20 * MB,
        mptcp: true,
        sysctl: { 'net.mptcp.checksum_enabled': csum },
        routed: { capture },
        timeoutMs: 60_000,
      });
      expectIntact(r, 20 * MB);
      expect(r.ours.mptcp).toBe(true);
      expect(r.ours.checksum).toBe(csum === '1');
      expect(r.ours.driver?.superSegmentsOut).toBeGreaterThan(0);
      // tshark over the pieces: every data segment inside a mapping, the data sequence continuous
      // both ways, no MPTCP expert warning. Our 20 MB arrived as pieces of at most one MSS.
      const cap = checkMptcpCapture(capture);
      // One MSS each is about 13,700 pieces for 20 MB; uncut super-segments would be ~300. A bound
      // at exactly 20 MB / 1460 failed in CI (13,671 captured: tcpdump on a loaded host drops some).
      expect(cap.dataSegments).toBeGreaterThan((20 * MB) / 1460 / 2);
      expect(cap.unmapped).toEqual([]);
      expect(cap.gaps).toEqual([]);
      expect(cap.mptcpWarnings).toEqual([]);
      // The kernel took every mapping, and with the checksum verified every one of them (a
      // mapping's checksum covers the whole super-segment's payload, spread over its pieces).
      expect(r.nstat.MPTcpExtDSSNotMatching).toBeUndefined();
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      expect(r.nstat.MPTcpExtMPFailRx).toBeUndefined();
      expect(r.nstat.MPTcpExtInfiniteMapRx).toBeUndefined();
      expect(r.ours.mptcpMib?.MPFailRx ?? 0).toBe(0);
    },
    120_000,
  );
});

describe('MPTCP interop with the Linux kernel, two subflows (RFC 8684 3.2)', () => {
  // Our endpoint owns 198.18.5.2 and 198.18.6.2 behind the TUN, the kernel 198.18.5.1 and 198.18.6.1.
  const peers = ['--peer', '198.18.5.1/24,198.18.6.1/24'];
  const setup = 'ip mptcp limits set subflows 2 add_addr_accepted 2';

  it.each(['0', '1'])(
    'our client joins a second subflow to a kernel MPTCP server, checksum_enabled=%s: 50 MB each way',
    async (csum) => {
      ns = new Netns('mptcp2');
      const r = await transfer(ns, dist, {
        setup,
        ourRole: 'client',
        bytes: 50 * MB,
        mptcp: true,
        sysctl: { 'net.mptcp.checksum_enabled': csum },
        args: [...peers, '--join-from', '198.18.6.2', '--pcap', join(dist, `two-${csum}.pcap`)],
        timeoutMs: 60_000,
      });
      expectIntact(r, 50 * MB);
      expect(r.ours.mptcp).toBe(true);
      expect(r.ours.checksum).toBe(csum === '1');
      // tshark over the capture: every data segment inside a mapping, the data sequence
      // continuous both ways, no MPTCP expert warning; two subflows carried data each way. The
      // capture is taken at our TUN, so our segments are super-segments and the kernel's GRO'd
      // super-packets (up to 64 KB each).
      expect(r.ours.driver?.superSegmentsOut).toBeGreaterThan(0);
      const cap = checkMptcpCapture(join(dist, `two-${csum}.pcap`));
      expect(cap.dataSegments).toBeGreaterThan((2 * 50 * MB) / 65536);
      expect(cap.unmapped).toEqual([]);
      expect(cap.gaps).toEqual([]);
      expect(cap.mptcpWarnings).toEqual([]);
      expect(cap.subflowsBySender['198.18.5.1']).toBe(2);
      expect((cap.subflowsBySender['198.18.5.2'] ?? 0) + (cap.subflowsBySender['198.18.6.2'] ?? 0)).toBe(2);
      // The check can fail: with a stretch of the capture cut out, the data sequence has holes.
      const cut = join(dist, `two-${csum}-cut.pcap`);
      const n = cap.dataSegments;
      const keep = [`1-${Math.floor(n / 3)}`, `${Math.floor(n / 2)}-10000000`];
      execFileSync('editcap', ['-r', join(dist, `two-${csum}.pcap`), cut, ...keep]);
      expect(checkMptcpCapture(cut).gaps.length).toBeGreaterThan(0);
      expect(r.nstat.MPTcpExtMPJoinSynRx).toBe(1);
      expect(r.nstat.MPTcpExtMPJoinAckRx).toBe(1);
      expect(r.nstat.MPTcpExtMPJoinAckHMacFailure).toBeUndefined();
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      // and we verified every one of the kernel's (mappings of up to 64 KB, RFC 8684 3.3.1).
      expect(r.ours.mptcpMib?.DataCsumErr).toBe(0);
      expect(r.ours.mptcpMib?.MPFailTx).toBe(0);
      expect(r.ours.mptcpMib?.MPJoinSynAckRx).toBe(1);
      expect(r.ours.mptcpMib?.MPJoinSynAckHMacFailure).toBe(0);
    },
    120_000,
  );

  it.each(['0', '1'])(
    'a kernel MPTCP client joins a second subflow to our server, checksum_enabled=%s: 50 MB each way',
    async (csum) => {
      ns = new Netns('mptcp2');
      const r = await transfer(ns, dist, {
        setup,
        ourRole: 'server',
        bytes: 50 * MB,
        mptcp: true,
        sysctl: { 'net.mptcp.checksum_enabled': csum },
        args: peers,
        afterReady: 'ip mptcp endpoint add 198.18.6.1 dev tcp0 subflow',
        timeoutMs: 60_000,
      });
      expectIntact(r, 50 * MB);
      expect(r.ours.checksum).toBe(csum === '1');
      expect(r.nstat.MPTcpExtMPJoinSynAckRx).toBe(1);
      expect(r.nstat.MPTcpExtMPJoinSynAckHMacFailure).toBeUndefined();
      expect(r.nstat.MPTcpExtDataCsumErr).toBeUndefined();
      // and we verified every one of the kernel's (mappings of up to 64 KB, RFC 8684 3.3.1).
      expect(r.ours.mptcpMib?.DataCsumErr).toBe(0);
      expect(r.ours.mptcpMib?.MPFailTx).toBe(0);
      expect(r.ours.mptcpMib?.MPJoinSynRx).toBe(1);
      expect(r.ours.mptcpMib?.MPJoinAckRx).toBe(1);
    },
    120_000,
  );

  it('our server announces a second address (ADD_ADDR); the kernel client verifies it and joins it: 50 MB each way', async () => {
    ns = new Netns('mptcp2');
    const r = await transfer(ns, dist, {
      setup,
      ourRole: 'server',
      bytes: 50 * MB,
      mptcp: true,
      args: [...peers, '--announce', '198.18.6.2'],
      timeoutMs: 60_000,
    });
    expectIntact(r, 50 * MB);
    expect(r.nstat.MPTcpExtAddAddr).toBe(1);
    expect(r.nstat.MPTcpExtEchoAdd).toBeUndefined(); // the kernel is the one echoing
    expect(r.nstat.MPTcpExtMPJoinSynAckRx).toBe(1);
    expect(r.ours.mptcpMib?.AddAddrTx).toBe(1);
    expect(r.ours.mptcpMib?.EchoAdd).toBe(1);
    expect(r.ours.mptcpMib?.MPJoinAckRx).toBe(1);
  }, 120_000);

  it('the second path dies in mid transfer: both sides move its data to the first; 50 MB each way intact', async () => {
    ns = new Netns('mptcp2');
    const r = await transfer(ns, dist, {
      setup,
      ourRole: 'client',
      bytes: 50 * MB,
      mptcp: true,
      // The second path dies at the 20th packet of data we send on it: that packet and what
      // follows it are lost in flight. (A death at a time, 150 ms after the path's first packet,
      // came after the subflow's last data on a loaded CI host: nothing to move, MPTCPRetrans 0.)
      args: [...peers, '--join-from', '198.18.6.2', '--blackhole', '198.18.6.2#20'],
      timeoutMs: 90_000,
    });
    expectIntact(r, 50 * MB);
    expect(r.nstat.MPTcpExtMPJoinAckRx).toBe(1);
    // We sent again on the first subflow what the dead one held.
    expect(r.ours.mptcpMib?.MPTCPRetrans).toBeGreaterThan(0);
    console.log(
      `path death: ours reinjected ${r.ours.mptcpMib?.MPTCPReinjectBytes} bytes, kernel MPTCPRetrans ${r.nstat.MPTcpExtMPTCPRetrans ?? 0}, ${r.ours.ms} ms`,
    );
  }, 150_000);

  it("the kernel client's second path dies in mid transfer to our server; 50 MB each way intact", async () => {
    ns = new Netns('mptcp2');
    const r = await transfer(ns, dist, {
      setup,
      ourRole: 'server',
      bytes: 50 * MB,
      mptcp: true,
      // The kernel's second path dies at the 20th packet of data it sends on it (see above).
      args: [...peers, '--blackhole', '198.18.6.1#20'],
      afterReady: 'ip mptcp endpoint add 198.18.6.1 dev tcp0 subflow',
      timeoutMs: 90_000,
    });
    expectIntact(r, 50 * MB);
    expect(r.ours.mptcpMib?.MPJoinAckRx).toBe(1);
    // The kernel sent again on its first subflow what the dead one held.
    expect(r.nstat.MPTcpExtMPTCPRetrans ?? 0).toBeGreaterThan(0);
    console.log(
      `path death (kernel client): ours reinjected ${r.ours.mptcpMib?.MPTCPReinjectBytes} bytes, kernel MPTCPRetrans ${r.nstat.MPTcpExtMPTCPRetrans ?? 0}`,
    );
  }, 150_000);

  it('the kernel server announces an address (signal endpoint); our client verifies it and joins it', async () => {
    ns = new Netns('mptcp2');
    const r = await transfer(ns, dist, {
      // The announced address lives on the loopback device of the kernel's namespace.
      setup: `${setup}; ip addr add 198.18.7.1/32 dev lo; ip mptcp endpoint add 198.18.7.1 dev lo signal`,
      ourRole: 'client',
      bytes: 50 * MB,
      mptcp: true,
      timeoutMs: 90_000,
    });
    expectIntact(r, 50 * MB);
    expect(r.nstat.MPTcpExtAddAddrTx).toBe(1);
    expect(r.nstat.MPTcpExtEchoAdd).toBe(1);
    expect(r.ours.mptcpMib?.AddAddr).toBe(1);
    expect(r.ours.mptcpMib?.AddAddrDrop).toBe(0);
    expect(r.ours.mptcpMib?.MPJoinSynAckRx).toBe(1);
    expect(r.nstat.MPTcpExtMPJoinAckRx).toBe(1);
  }, 150_000);
});

describe('MPTCP interop with the Linux kernel under loss: downloads from our server never stall', () => {
  // The HAG's case: a kernel MPTCP client on two subflows downloads from our server side, 1% of
  // the packets lost both ways. The kernel's receive buffer is capped at 256 KB so that its
  // memory pressure, which our segments bring on fast (written through the TUN each is a linear
  // skb the kernel cannot coalesce: MPTcpExtOFOMerge stays near 0), comes within a short run.
  // Linux then drops data its subflows have acknowledged (MPTcpExtNoDSSInWindow) and no subflow
  // sends it again: only our data-level retransmission timer brings it back. Without it 2 of 12
  // such runs stalled for good.
  const DOWN = 5 * MB;
  const UP = 200_000;
  const runs = Array.from({ length: 20 }, (_, i) => i + 1);
  let dataRetrans = 0;
  let kernelDrops = 0;
  let joined = 0;
  afterAll(() => {
    console.log(
      `lossy downloads: ${joined} of ${runs.length} on two subflows; ours resent ${dataRetrans} times at the data level, the kernel dropped ${kernelDrops} times out of window`,
    );
    // The kernel opens its second subflow soon after the first, but a loss can delay it past a
    // short download: most runs must still have had both.
    expect(joined).toBeGreaterThanOrEqual(runs.length / 2);
  });
  it.each(runs)(
    'run %i: 5 MB down, 200 KB up, 1% loss, two subflows, sha256 intact',
    async (seed) => {
      ns = new Netns('mptcpl');
      const r = await transfer(ns, dist, {
        setup:
          "ip mptcp limits set subflows 2 add_addr_accepted 2; sysctl -qw net.ipv4.tcp_rmem='4096 131072 262144'",
        ourRole: 'server',
        bytes: DOWN,
        peerBytes: UP,
        loss: 0.01,
        mptcp: true,
        args: ['--peer', '198.18.5.1/24,198.18.6.1/24', '--seed', String(seed)],
        afterReady: 'ip mptcp endpoint add 198.18.6.1 dev tcp0 subflow',
        timeoutMs: 20_000,
      });
      expectIntact(r, DOWN, UP);
      expect(r.ours.mptcp).toBe(true);
      if (r.nstat.MPTcpExtMPJoinSynAckRx === 1) joined++;
      dataRetrans += r.ours.mptcpMib?.MPTCPRetrans ?? 0;
      kernelDrops += r.nstat.MPTcpExtNoDSSInWindow ?? 0;
    },
    40_000,
  );
});
