// Two uplinks behind two consumer routers that look the same: each "box" namespace hands out
// 192.168.1.0/24 with gateway 192.168.1.1 by DHCP (its own dnsmasq) and masquerades to its ISP side.
//   lan (198.18.25.2) ── cpe (dsl0, lte0: both DHCP) ── boxa (192.168.1.1; wan 198.18.11.2) ─┐
//                                                   └── boxb (192.168.1.1; wan 198.18.12.2) ─┴ h
//   (router, the HAG 198.18.100.1) ── s (HTTP server 198.18.3.2)
// Each uplink's connected and default routes must be in its own routing table only (none in main,
// where the two would collide), both leases taken, a download bonded over both, one box unplugged
// mid-transfer without losing the download, with box A hung (carrier and lease kept) and the HAG
// stopped a new connection goes direct by box B, and nothing left behind at SIGTERM; with the boxes giving the
// two uplinks different addresses, and the same one.
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NATBOX, natboxDhcpArgv } from '../../scripts/lab-impl/natbox.js';
import { type RunningDaemon, startDaemon } from './lib/daemon-in-netns.js';
import { compileTree } from './lib/lab-run.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines } from './lib/proc.js';

const MB = 1_000_000;
let ns: Netns;
let work: string;
let dist: string;
let cpe: RunningDaemon;
let hagProc: ChildProcess;
let www: Lines;
let sha = '';

function status() {
  return JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.25.1:8080/status.json')) as {
    uplinks: { name: string; address?: string; bytesIn: number; health: string; active: boolean }[];
    hag: { state: string };
  };
}

/** A consumer router (scripts/lab-impl/natbox.ts): LAN port `lanIf` with dnsmasq, NAT out of `wanIf`. */
function box(name: string, lanIf: string, wanIf: string, wan: string, wanGw: string): void {
  ns.sh(
    name,
    [
      'sysctl -qw net.ipv4.ip_forward=1',
      `ip addr add ${NATBOX.gateway}/${NATBOX.prefixLen} dev ${lanIf}`,
      `ip addr add ${wan}/24 dev ${wanIf}`,
      `ip route add default via ${wanGw}`,
      `nft add table ip box && nft 'add chain ip box post { type nat hook postrouting priority srcnat; }'`,
      `nft add rule ip box post oifname ${wanIf} masquerade`,
    ].join(' && '),
  );
  ns.spawn(name, natboxDhcpArgv(lanIf, work, name));
}

/** Builds the topology; box B's client gets `lteMac`, box A's 02:00:00:00:0a:01. */
async function setup(lteMac: string): Promise<void> {
  ns = new Netns('cpnb');
  work = mkdtempSync(join(tmpdir(), 'cpe-natboxes-'));
  dist = join(work, 'dist');
  compileTree(dist);
  const data = randomBytes(30 * MB);
  writeFileSync(join(work, 'file30'), data);
  sha = createHash('sha256').update(data).digest('hex');
  for (const n of ['lan', 'cpe', 'boxa', 'boxb', 'h', 's']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'boxa', 'a0');
  ns.veth('cpe', 'lte0', 'boxb', 'b0');
  ns.veth('boxa', 'aw', 'h', 'd1');
  ns.veth('boxb', 'bw', 'h', 'l1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh('lan', 'ip addr add 198.18.25.2/24 dev eth0 && ip route add default via 198.18.25.1');
  // Fixed MACs: dnsmasq picks an address from a hash of the MAC, so which leases come is known.
  ns.sh(
    'cpe',
    'sysctl -qw net.ipv4.conf.all.rp_filter=0 && ip link set dsl0 address 02:00:00:00:0a:01 && ' +
      `ip link set lte0 address ${lteMac}`,
  );
  box('boxa', 'a0', 'aw', '198.18.11.2', '198.18.11.1');
  box('boxb', 'b0', 'bw', '198.18.12.2', '198.18.12.1');
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
  writeFileSync(join(work, 'file1'), randomBytes(MB));
  // Its access log (stderr) names who connected: box A's or box B's WAN address.
  www = lines(
    ns.spawn('s', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.3.2', '--directory', work]),
  );
  ns.sh(
    's',
    'for i in $(seq 100); do curl -s -o /dev/null http://198.18.3.2:8000/ && exit 0; sleep 0.1; done; exit 1',
  );
  writeFileSync(
    join(work, 'hag.yaml'),
    `tun: {name: hag0}
service: {addresses: [198.18.100.1], convert: {port: 5124}}
egress: {source4: 198.18.3.1}
access: {subscribers: [198.18.11.0/24, 198.18.12.0/24], allowDestinations: [198.18.0.0/15]}
limits: {drainTimeout: 1s}
`,
  );
  hagProc = (await startDaemon(ns, 'h', 'hag', dist, join(work, 'hag.yaml'))).p;
  writeFileSync(
    join(work, 'cpe.yaml'),
    `lan: {interface: lan0, addresses: [198.18.25.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, addressing: dhcp, role: primary, probe: {target: 192.168.1.1, interval: 300ms, timeout: 300ms}}
  - {name: lte, interface: lte0, addressing: dhcp, role: overflow, probe: {target: 192.168.1.1, interval: 300ms, timeout: 300ms}}
hag: {addresses: [198.18.100.1], connectTimeout: 2s, retryAfter: 1s}
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {suffix: _n${ns.prefix.slice(4)}}
status: {port: 8080}
drainTimeout: 1s
log: {level: info, connections: true}
`,
  );
  cpe = await startDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml'));
}

function cleanup(): void {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}

// dnsmasq hashes 02:00:00:00:0a:01 and ...:0b:01 to .153 and .152; ...:0b:02 to .153 as well. Boxes that
// hand out addresses in order give their first clients the same one: the core's per-uplink source
// addresses (and the oif rules of the probes and DHCP) keep the uplinks apart all the same.
describe.each([
  { name: 'different addresses', lteMac: '02:00:00:00:0b:01', same: false },
  { name: 'the same address', lteMac: '02:00:00:00:0b:02', same: true },
])('CPE behind two NAT boxes with the same subnet and gateway, $name', ({ lteMac, same }) => {
  beforeAll(() => setup(lteMac), 180_000);
  afterAll(cleanup);

  it('both uplinks lease from their box; each subnet and default route only in its own table', async () => {
    const got = new Map<string, Record<string, unknown>>();
    await waitFor(
      'both leases',
      () => {
        for (const l of cpe.l.seen) if (l.event === 'uplink-lease') got.set(String(l.uplink), l);
        return got.size === 2;
      },
      20_000,
      100,
    );
    const dsl = got.get('dsl')!;
    const lte = got.get('lte')!;
    expect(dsl.gateway).toBe('192.168.1.1');
    expect(lte.gateway).toBe('192.168.1.1');
    expect(dsl.address).toMatch(/^192\.168\.1\.1\d\d$/);
    expect(lte.address).toMatch(/^192\.168\.1\.1\d\d$/);
    expect(dsl.address === lte.address).toBe(same);
    // Neither interface's subnet in the main table: there the two would collide.
    expect(ns.sh('cpe', 'ip -4 route show table main')).not.toContain('192.168.1.');
    const t200 = ns.sh('cpe', 'ip -4 route show table 200');
    const t201 = ns.sh('cpe', 'ip -4 route show table 201');
    expect(t200).toContain('default via 192.168.1.1 dev dsl0');
    expect(t200).toMatch(new RegExp(`192\\.168\\.1\\.0/24 dev dsl0 .*src ${dsl.address}`));
    expect(t200).not.toContain('lte0');
    expect(t201).toContain('default via 192.168.1.1 dev lte0');
    expect(t201).toMatch(new RegExp(`192\\.168\\.1\\.0/24 dev lte0 .*src ${lte.address}`));
    expect(t201).not.toContain('dsl0');
    const rules = ns.sh('cpe', 'ip -4 rule');
    expect(rules).toContain(`from ${dsl.address} lookup 200`);
    expect(rules).toContain(`from ${lte.address} lookup 201`);
    await waitFor('both uplinks up', () => status().uplinks.every((u) => u.health === 'up'), 15_000, 200);
    // The probes (to the gateway, the same address on both) resolved it on each port.
    const neigh = ns.sh('cpe', 'ip -4 neigh show 192.168.1.1');
    expect(neigh).toMatch(/dev dsl0 lladdr/);
    expect(neigh).toMatch(/dev lte0 lladdr/);
    // And each box saw only its own port's client.
    expect(readFileSync(join(work, 'boxa.leases'), 'utf8')).toContain(String(dsl.address));
    expect(readFileSync(join(work, 'boxa.leases'), 'utf8')).not.toContain(lteMac);
    expect(readFileSync(join(work, 'boxb.leases'), 'utf8')).toContain(String(lte.address));
  }, 60_000);

  it('a download is bonded over both boxes, sha256 equal', async () => {
    const before = status().uplinks.map((u) => u.bytesIn);
    ns.sh('lan', `curl -sS --max-time 60 http://198.18.3.2:8000/file30 -o ${work}/got`, 90_000);
    expect(
      createHash('sha256')
        .update(readFileSync(join(work, 'got')))
        .digest('hex'),
    ).toBe(sha);
    await new Promise((r) => setTimeout(r, 1200));
    const d = status().uplinks.map((u, i) => u.bytesIn - before[i]);
    process.stdout.write(`two NAT boxes: bytes in dsl ${d[0]}, lte ${d[1]}\n`);
    expect(d[0]).toBeGreaterThan(3 * MB);
    expect(d[1]).toBeGreaterThan(3 * MB);
  }, 120_000);

  it('box A unplugged mid-transfer: the download goes on over box B, sha256 equal', async () => {
    const out = join(work, 'got2');
    const before = status().uplinks.map((u) => u.bytesIn);
    const curl = ns.spawn('lan', [
      'curl',
      '-sS',
      '--max-time',
      '90',
      'http://198.18.3.2:8000/file30',
      '-o',
      out,
    ]);
    const done = new Promise<number | null>((r) => curl.on('exit', (c) => r(c)));
    await waitFor(
      'a third of the file',
      () => {
        try {
          return statSync(out).size > 10 * MB;
        } catch {
          return false;
        }
      },
      30_000,
      50,
    );
    ns.sh('boxa', 'ip link set a0 down');
    expect(await done).toBe(0);
    ns.sh('boxa', 'ip link set a0 up');
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha);
    const d = status().uplinks.map((u, i) => u.bytesIn - before[i]);
    process.stdout.write(`box A unplugged: bytes in dsl ${d[0]}, lte ${d[1]}\n`);
    expect(d[1]).toBeGreaterThan(15 * MB);
    expect(status().uplinks[0].health).toBe('down');
  }, 120_000);

  it('box A hung and the HAG stopped: a new LAN connection goes direct and leaves by box B', async () => {
    // Box A hangs: its port keeps the carrier and dsl0 its lease (and source rule), but nothing
    // it receives gets an answer (unplugged, the lease would go and its rule with it).
    await waitFor('both uplinks up', () => status().uplinks.every((u) => u.health === 'up'), 30_000, 200);
    const [a, b] = status().uplinks.map((u) => u.address);
    expect(a === b).toBe(same);
    const hang = `nft add table ip hung && nft 'add chain ip hung in { type filter hook prerouting priority -300; policy drop; }'`;
    ns.sh('boxa', hang);
    await waitFor(
      'lte carries the direct traffic',
      () => {
        const u = status().uplinks;
        return u[0].health === 'down' && u[1].active;
      },
      15_000,
      200,
    );
    hagProc.kill('SIGTERM');
    await waitFor('HAG exit', () => hagProc.exitCode !== null || hagProc.signalCode !== null, 15_000);
    const seen = cpe.l.seen.length;
    const log = www.stderr.length;
    ns.sh('lan', `curl -sS --max-time 30 http://198.18.3.2:8000/file1 -o ${work}/got1`, 40_000);
    expect(statSync(join(work, 'got1')).size).toBe(MB);
    await waitFor('the open line', () => cpe.l.seen.slice(seen).some((l) => l.event === 'open'), 5000);
    const open = cpe.l.seen.slice(seen).find((l) => l.event === 'open');
    expect(open).toMatchObject({ path: 'direct', via: 'lte' });
    expect(String(open?.why)).toMatch(/HAG unreachable/);
    // The server saw box B's WAN address: the connection left by lte0 (with one address on both
    // uplinks, the source rule of the active uplink comes first).
    await waitFor('the request in the access log', () =>
      www.stderr.slice(log).some((l) => l.includes('GET /file1')),
    );
    expect(www.stderr.slice(log).find((l) => l.includes('GET /file1'))).toMatch(/^198\.18\.12\.2 /);
    ns.sh('boxa', 'nft delete table ip hung');
  }, 90_000);

  it('SIGTERM leaves no address, route, rule or table behind', async () => {
    cpe.p.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe.l.exited !== null, 15_000);
    expect(cpe.l.exited).toBe(0);
    expect(ns.sh('cpe', 'ip -4 addr show dev dsl0; ip -4 addr show dev lte0')).not.toContain('192.168.1.');
    expect(ns.sh('cpe', 'ip -4 route show table all')).not.toMatch(/table 20[01]|192\.168\.1\./);
    expect(ns.sh('cpe', 'ip -4 rule; ip -6 rule')).not.toMatch(/lookup (100|20[01])\b/);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
  }, 30_000);
});
