// The CPE daemon with a DHCP uplink, in namespaces this test creates (all removed in afterAll):
//   lan (198.18.25.2) ── cpe (dsl0: address from dnsmasq on the ISP side; lte0 static) ══ h (router,
//   dnsmasq on d1, the HAG 198.18.100.1) ── s (HTTP server 198.18.3.2)
// The daemon's uplink DHCP client should take a lease from dnsmasq, put it on dsl0, set the uplink's
// route and source rule from it; a download bonded over both uplinks; with the HAG stopped a new
// connection direct from the leased address; at SIGTERM the lease released.
// On a host with other addresses (every CPE: its LAN address) a DISCOVER through a raw IP socket
// left with the kernel's pick of a source address instead of 0.0.0.0 (RFC 2131 4.1) and dnsmasq
// never answered: the client now sends those at the link layer (the TUN addon's sendLinkBroadcast).
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFlags } from '../../scripts/lib/node-flags.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { builtTreeInto } from './lib/tree-build.js';

const ROOT = join(import.meta.dirname, '../..');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};
const MB = 1_000_000;
let ns: Netns;
let work: string;
let dist: string;
let cpe: { p: ChildProcess; l: Lines };
let hag: { p: ChildProcess; l: Lines };
let sha = '';

function compile(dir: string): void {
  builtTreeInto(dir, /^(cpe\/|src\/cli)/);
}

function status() {
  return JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.25.1:8080/status.json')) as {
    uplinks: { name: string; address?: string; bytesIn: number; health: string }[];
    hag: { state: string };
  };
}

beforeAll(async () => {
  ns = new Netns('cpdh');
  work = mkdtempSync(join(tmpdir(), 'cpe-dhcp-uplink-'));
  dist = join(work, 'dist');
  compile(dist);
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  const data = randomBytes(20 * MB);
  writeFileSync(join(work, 'file20'), data);
  sha = createHash('sha256').update(data).digest('hex');
  for (const n of ['lan', 'cpe', 'h', 's']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'h', 'd1');
  ns.veth('cpe', 'lte0', 'h', 'l1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh('lan', 'ip addr add 198.18.25.2/24 dev eth0 && ip route add default via 198.18.25.1');
  ns.sh('cpe', 'sysctl -qw net.ipv4.conf.all.rp_filter=0 && ip addr add 198.18.12.2/24 dev lte0');
  ns.sh(
    'h',
    [
      'sysctl -qw net.ipv4.ip_forward=1',
      'ip addr add 198.18.11.1/24 dev d1',
      'ip addr add 198.18.12.1/24 dev l1',
      'ip addr add 198.18.3.1/24 dev hs',
      'tc qdisc add dev d1 root tbf rate 40mbit burst 15000 limit 250000',
      'tc qdisc add dev l1 root tbf rate 30mbit burst 15000 limit 190000',
    ].join(' && '),
  );
  ns.sh('s', 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
  ns.spawn('s', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.3.2', '--directory', work]);
  ns.sh(
    's',
    'for i in $(seq 100); do curl -s -o /dev/null http://198.18.3.2:8000/ && exit 0; sleep 0.1; done; exit 1',
  );
  ns.spawn('h', [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--interface=d1',
    '--bind-interfaces',
    '--dhcp-authoritative',
    '--user=root',
    `--pid-file=${join(work, 'dnsmasq.pid')}`,
    `--dhcp-leasefile=${join(work, 'dnsmasq.leases')}`,
    '--dhcp-range=198.18.11.50,198.18.11.60,255.255.255.0,600',
    '--dhcp-option=option:router,198.18.11.1',
    '--log-dhcp',
  ]);
  writeFileSync(
    join(work, 'hag.yaml'),
    `tun: {name: hag0}
service: {addresses: [198.18.100.1], convert: {port: 5124}}
egress: {source4: 198.18.3.1}
access: {subscribers: [198.18.11.0/24, 198.18.12.0/24], allowDestinations: [198.18.0.0/15]}
limits: {drainTimeout: 1s}
`,
  );
  const hp = ns.spawn('h', ['node', join(dist, 'src/cli.js'), 'hag', '--config', join(work, 'hag.yaml')], {
    cwd: ROOT,
    env: ENV,
  });
  hag = { p: hp, l: lines(hp) };
  await once(hag.l, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
  writeFileSync(
    join(work, 'cpe.yaml'),
    `lan: {interface: lan0, addresses: [198.18.25.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, addressing: dhcp, role: primary,
     probe: {target: 198.18.11.1, interval: 300ms, timeout: 300ms}}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow,
     probe: {interval: 300ms, timeout: 300ms}}
hag: {addresses: [198.18.100.1], connectTimeout: 2s, retryAfter: 1s}
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {suffix: _d${ns.prefix.slice(4)}}
status: {port: 8080}
drainTimeout: 1s
log: {connections: true}
`,
  );
  const p = ns.spawn(
    'cpe',
    [
      'node',
      ...nodeFlags(ROOT, 'cpe').split(' '),
      join(dist, 'src/cli.js'),
      'cpe',
      '--config',
      join(work, 'cpe.yaml'),
    ],
    { cwd: ROOT, env: ENV },
  );
  cpe = { p, l: lines(p) };
  await once(cpe.l, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
  if (!cpe.l.seen.some((l) => l.event === 'start'))
    throw new Error(JSON.stringify(cpe.l.seen) + cpe.l.stderr.join('\n'));
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('CPE daemon with a DHCP uplink', () => {
  it('takes a lease from dnsmasq for dsl0, with its route and source rule', async () => {
    const lease = await once(cpe.l, (l) => l.event === 'uplink-lease' && l.uplink === 'dsl', 15_000);
    expect(lease.address).toMatch(/^198\.18\.11\.(5\d|60)$/);
    expect(lease.gateway).toBe('198.18.11.1');
    expect(ns.sh('cpe', 'ip -4 addr show dev dsl0')).toContain(`${lease.address}/24`);
    expect(ns.sh('cpe', 'ip route show table 200')).toContain('default via 198.18.11.1 dev dsl0');
    expect(ns.sh('cpe', 'ip rule')).toContain(`from ${lease.address} lookup 200`);
    await waitFor('both uplinks up', () => status().uplinks.every((u) => u.health === 'up'), 15_000, 200);
    expect(status().uplinks[0].address).toBe(lease.address);
  }, 60_000);

  it('a download is bonded over both uplinks, sha256 equal', async () => {
    const before = status().uplinks.map((u) => u.bytesIn);
    ns.sh('lan', `curl -sS --max-time 60 http://198.18.3.2:8000/file20 -o ${work}/got`, 90_000);
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got')))
        .digest('hex'),
    ).toBe(sha);
    await new Promise((r) => setTimeout(r, 1200));
    const d = status().uplinks.map((u, i) => u.bytesIn - before[i]);
    process.stdout.write(`DHCP uplink: bytes in dsl ${d[0]}, lte ${d[1]}\n`);
    expect(d[0]).toBeGreaterThan(2 * MB);
    expect(d[1]).toBeGreaterThan(2 * MB);
  }, 120_000);

  it('the HAG stopped: direct from the leased address; SIGTERM releases the lease', async () => {
    hag.p.kill('SIGTERM');
    await waitFor('HAG exit', () => hag.l.exited !== null, 15_000);
    const seen = cpe.l.seen.length;
    ns.sh('lan', `curl -sS --max-time 30 http://198.18.3.2:8000/file20 -o ${work}/got2`, 60_000);
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got2')))
        .digest('hex'),
    ).toBe(sha);
    // The log line may trail the download by a moment.
    await waitFor('a direct open', () => cpe.l.seen.slice(seen).some((l) => l.event === 'open'), 5000);
    const open = cpe.l.seen.slice(seen).find((l) => l.event === 'open');
    expect(open?.path).toBe('direct');
    const lease = cpe.l.seen.find((l) => l.event === 'uplink-lease')!;
    cpe.p.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe.l.exited !== null, 15_000);
    expect(cpe.l.exited).toBe(0);
    expect(ns.sh('cpe', 'ip -4 addr show dev dsl0')).not.toContain(String(lease.address));
    expect(ns.sh('cpe', 'ip rule')).not.toContain('lookup 200');
  }, 90_000);
});
