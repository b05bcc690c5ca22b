// Interop of our userspace TCP with the Linux kernel's, through the TUN driver, in network
// namespaces this test creates: the kernel as client to our server and our client to a kernel
// server, bulk data both ways at once with sha256 compared, on a clean path and with 1% loss, and
// with the kernel's window scaling, SACK and timestamps each turned off; our TUN has offloads (our
// segments go as super-segments) but in one test of the plain TUN.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  compileDist,
  expectIntact,
  removeDist,
  transfer as run,
  type TransferOptions,
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

function transfer(opts: TransferOptions) {
  ns = new Netns('tcp');
  return run(ns, dist, opts);
}

const MB = 1_000_000;

describe('interop with the Linux kernel TCP through the TUN driver', () => {
  it('kernel client to our server, 100 MB each way at once, clean path', async () => {
    const r = await transfer({ ourRole: 'server', bytes: 100 * MB });
    expectIntact(r, 100 * MB);
    // Our TUN has offloads (tun-tcp's default): our data went as super-segments.
    expect(r.ours.driver?.superSegmentsOut).toBeGreaterThan(0);
    console.log(`clean, kernel->ours server: ${(r.ours.ms / 1000).toFixed(1)} s for 200 MB`);
  }, 300_000);

  it('our client to a kernel server, 100 MB each way at once, 1% loss both ways', async () => {
    const r = await transfer({ ourRole: 'client', bytes: 100 * MB, loss: 0.01 });
    expectIntact(r, 100 * MB);
    expect(r.ours.retransSegs).toBeGreaterThan(0);
    console.log(
      `1% loss, ours->kernel server: ${(r.ours.ms / 1000).toFixed(1)} s, ${r.ours.retransSegs} retransmitted`,
    );
  }, 300_000);

  it('kernel client to our server, 100 MB each way at once, 1% loss both ways', async () => {
    const r = await transfer({ ourRole: 'server', bytes: 100 * MB, loss: 0.01 });
    expectIntact(r, 100 * MB);
    expect(r.ours.retransSegs).toBeGreaterThan(0);
  }, 300_000);

  it('our client to a kernel server, 100 MB each way at once, clean path', async () => {
    const r = await transfer({ ourRole: 'client', bytes: 100 * MB });
    expectIntact(r, 100 * MB);
    expect(r.ours.driver?.superSegmentsOut).toBeGreaterThan(0);
  }, 300_000);

  it('with offloads off (the plain TUN), 100 MB each way at once, 1% loss both ways', async () => {
    const r = await transfer({ ourRole: 'client', bytes: 100 * MB, loss: 0.01, args: ['--offload', 'off'] });
    expectIntact(r, 100 * MB);
    expect(r.ours.driver?.superSegmentsOut).toBe(0);
    expect(r.ours.driver?.packetsOut).toBeGreaterThan((100 * MB) / 1460); // one MSS each
  }, 300_000);

  const off: [string, Record<string, string>][] = [
    ['window scaling off', { 'net.ipv4.tcp_window_scaling': '0' }],
    ['SACK off', { 'net.ipv4.tcp_sack': '0' }],
    ['timestamps off', { 'net.ipv4.tcp_timestamps': '0' }],
  ];
  it.each(off)(
    'kernel with %s, 10 MB each way with 1%% loss',
    async (_name, sysctl) => {
      const r = await transfer({ ourRole: 'server', bytes: 10 * MB, loss: 0.01, sysctl });
      expectIntact(r, 10 * MB);
    },
    300_000,
  );
});
