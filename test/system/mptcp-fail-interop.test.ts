// MP_FAIL against the Linux kernel (RFC 8684 3.7): our server sends to a kernel MPTCP client with
// the DSS checksum on, and an nftables rule in the namespace this test creates rewrites four payload
// bytes of one of our data segments (the TCP checksum kept right, as an ALG would). The kernel's
// checksum fails on its only subflow: it delivers the damaged bytes and sends MP_FAIL inside its
// DSS, with its DATA_ACK. Our server answers with MP_FAIL (Linux resets the subflow 120 s later
// without that answer) and goes on from where its stream is (infinite mapping, no resend): the
// kernel receives exactly what was sent, nothing twice.
//
// How the connection ends depends on the kernel client (Linux 6.18, net/mptcp/subflow.c
// subflow_sched_work_if_closed): a fallen-back MPTCP socket learns the end from its subflow's FIN
// only while it is ESTABLISHED (or once the subflow is CLOSED). A client that half-closed before
// the fallback (its DATA_FIN went out as a DSS option; a download client does that) stays in
// FIN-WAIT-2 with all our bytes and our FIN on its subflow (CLOSE-WAIT): recv() never returns 0.
// Nothing we send after the fallback can change that (mptcp_incoming_options ignores every MPTCP
// option once fallen back). So the first case asserts what we owe: every byte there once, our FIN
// acknowledged; the second, a client that half-closes after the end, closes cleanly on both sides.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileDist, removeDist, type TransferResult, transfer } from './lib/kernel-peer.js';
import { Netns } from './lib/netns.js';

let dist: string;
beforeAll(() => {
  dist = compileDist();
}, 120_000);
afterAll(() => removeDist(dist));

let ns: Netns | undefined;
afterEach(() => {
  ns?.cleanup(); // the nftables table goes with the namespace
  ns = undefined;
});

const MB = 1_000_000;

// One segment from our server (port 5001, through the TUN), the 200th large one, gets 4 bytes
// of payload rewritten, before conntrack. Our TUN has offloads, so that is a super-segment of up to
// 64 KB (20 MB make about 300 of them) whose one DSS checksum covers all of it.
const CORRUPT_ONE = [
  'nft add table inet mpfail',
  `nft add chain inet mpfail pre '{ type filter hook prerouting priority -300; }'`,
  'nft add rule inet mpfail pre iifname "tcp0" tcp sport 5001 meta length gt 1000 numgen inc mod 100000000 200 @ih,0,32 set 0x55aa55aa counter',
].join(' && ');

function failedOnce(peerArgs: string[]): Promise<TransferResult> {
  ns = new Netns('mpfail');
  return transfer(ns, dist, {
    ourRole: 'server',
    bytes: 20 * MB,
    peerBytes: 0,
    mptcp: true,
    sysctl: { 'net.mptcp.checksum_enabled': '1' },
    afterReady: CORRUPT_ONE,
    timeoutMs: 30_000,
    peerArgs,
  });
}

/** The failure, our answer and the fallback, as both sides counted them. */
function expectFallback(r: TransferResult): void {
  expect(r.ours.checksum).toBe(true);
  expect(r.nstat.MPTcpExtDataCsumErr).toBe(1);
  expect(r.nstat.MPTcpExtMPFailTx).toBe(1);
  expect(r.ours.mptcpMib?.MPFailRx).toBe(1);
  // Our answer reached the kernel before its fallback: it will not reset the subflow.
  expect(r.ours.mptcpMib?.MPFailTx).toBe(1);
  expect(r.nstat.MPTcpExtMPFailRx).toBe(1);
  expect(r.ours.mptcpMib?.InfiniteMapTx).toBe(1);
  expect(r.nstat.MPTcpExtInfiniteMapRx).toBe(1);
  expect(r.ours.mptcpMib?.MPTCPRetrans).toBe(0);
  // Linux delivers the damaged bytes (its selftests check that they arrive): the stream differs
  // from ours in them, but it is as long as ours, with nothing repeated.
  expect(r.ours.sent).toBe(20 * MB);
  expect(r.kernel.received).toBe(20 * MB);
  expect(r.kernel.rxSha256).not.toBe(r.ours.txSha256);
}

describe('MP_FAIL from the Linux kernel', () => {
  it('the kernel client fails a checksum of our data: MP_FAIL answered, infinite mapping, no resend, nothing delivered twice', async () => {
    const r = await failedOnce(['--end-at-subflow-fin']);
    expectFallback(r);
    // Every byte once: the subflow got the 20 MB and our FIN (which counts one), and no more.
    expect(r.kernel.subflowBytesReceived).toBe(20 * MB + 1);
    // The kernel socket cannot report the end (see the top of this file); if it does, it is right.
    expect(r.kernel.eof || r.kernel.subflowState === 'CLOSE_WAIT').toBe(true);
    // Our side: the data and our FIN acknowledged; the kernel never sends its subflow's FIN.
    expect(r.ours.subflows?.map((s) => s.state)).toEqual([
      expect.stringMatching(/^(FIN-WAIT-2|TIME-WAIT|CLOSED)$/),
    ]);
  }, 120_000);

  it('a kernel client that half-closes after reading the end: both sides close', async () => {
    const r = await failedOnce(['--end-at-subflow-fin', '--shutdown-after-eof']);
    expectFallback(r);
    expect(r.kernel.eof).toBe(true);
    expect(r.kernel.subflowBytesReceived).toBe(20 * MB + 1);
    // The kernel's FIN after the fallback is the end of its data (RFC 8684 3.7): we took it.
    expect(r.ours.received).toBe(0);
    // Our subflow has closed (it left the connection, as a TIME-WAIT record or closed).
    expect(r.ours.subflows?.filter((s) => s.state !== 'TIME-WAIT' && s.state !== 'CLOSED')).toEqual([]);
  }, 120_000);
});
