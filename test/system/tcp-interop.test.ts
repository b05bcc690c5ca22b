// Interop of our userspace TCP with the Linux kernel's, through the TUN driver, in network
// namespaces this test creates: the kernel as client to our server and our client to a kernel
// server, bulk data both ways at once with sha256 compared, on a clean path and with 1% loss, and
// with the kernel's window scaling, SACK and timestamps each turned off.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Netns } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const PEER = join(import.meta.dirname, 'fixtures/tcp_peer.py');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};
let dist: string;

beforeAll(() => {
  // Our endpoint runs as a separate node process in the namespace: compile the tree once.
  dist = mkdtempSync(join(tmpdir(), 'ha-tcp-'));
  execFileSync('npx', ['tsc', '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist], {
    cwd: ROOT,
    stdio: 'pipe',
  });
}, 120_000);

afterAll(() => {
  if (dist) rmSync(dist, { recursive: true, force: true });
});

let ns: Netns | undefined;
afterEach(() => {
  ns?.cleanup();
  ns = undefined;
});

interface Done {
  event: 'done';
  sent: number;
  received: number;
  txSha256: string;
  rxSha256: string;
  ms: number;
  retransSegs?: number;
}

/**
 * One namespace: the kernel owns 198.18.5.1 on the TUN, our stack 198.18.5.2 behind it.
 * `kernel` sysctls are applied first.
 */
async function transfer(opts: {
  ourRole: 'server' | 'client';
  bytes: number;
  loss?: number;
  sysctl?: Record<string, string>;
}): Promise<{ ours: Done; kernel: Done }> {
  ns = new Netns('tcp');
  ns.add('h');
  for (const [k, v] of Object.entries(opts.sysctl ?? {})) ns.sh('h', `sysctl -qw ${k}=${v}`);
  const agent = [
    'node',
    join(dist, 'scripts/tools/tun-tcp.js'),
    '--tun',
    'tcp0',
    '--addr',
    '198.18.5.2',
    '--peer',
    '198.18.5.1/24',
    '--send',
    String(opts.bytes),
    '--loss',
    String(opts.loss ?? 0),
  ];
  if (opts.ourRole === 'server') {
    const ours = ns.spawn('h', [...agent, '--listen', '5001'], { cwd: ROOT, env: ENV });
    const oursOut = lines(ours);
    await once(oursOut, (l) => l.event === 'ready', 20_000);
    const kernel = ns.spawn('h', [
      'python3',
      PEER,
      '--connect',
      '198.18.5.2:5001',
      '--send',
      String(opts.bytes),
    ]);
    return finish(oursOut, lines(kernel));
  }
  // Our client: the kernel listens first (on any address: the TUN's appears with our process).
  const kernel = ns.spawn('h', ['python3', PEER, '--listen', '5002', '--send', String(opts.bytes)]);
  const kOut = lines(kernel);
  await once(kOut, (l) => l.event === 'ready', 20_000);
  const ours = ns.spawn('h', [...agent, '--connect', '198.18.5.1:5002'], { cwd: ROOT, env: ENV });
  const oursOut = lines(ours);
  return finish(oursOut, kOut);
}

/** Both sides' "done" lines; an "error" line from ours fails at once. */
async function finish(oursOut: Lines, kOut: Lines): Promise<{ ours: Done; kernel: Done }> {
  const [o, k] = await Promise.all([
    once(oursOut, (l) => l.event === 'done' || l.event === 'error', 240_000),
    once(kOut, (l) => l.event === 'done', 240_000),
  ]);
  if (o.event === 'error') throw new Error(`our endpoint failed: ${o.message}`);
  return { ours: o as unknown as Done, kernel: k as unknown as Done };
}

function expectIntact(r: { ours: Done; kernel: Done }, bytes: number): void {
  expect(r.ours.sent).toBe(bytes);
  expect(r.kernel.sent).toBe(bytes);
  expect(r.ours.received).toBe(bytes);
  expect(r.kernel.received).toBe(bytes);
  expect(r.ours.rxSha256).toBe(r.kernel.txSha256);
  expect(r.kernel.rxSha256).toBe(r.ours.txSha256);
}

const MB = 1_000_000;

describe('interop with the Linux kernel TCP through the TUN driver', () => {
  it('kernel client to our server, 100 MB each way at once, clean path', async () => {
    const r = await transfer({ ourRole: 'server', bytes: 100 * MB });
    expectIntact(r, 100 * MB);
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
