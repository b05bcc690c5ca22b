// The one-file CPE build (cpe/deploy/build-bundle.sh): it unpacks itself outside the repository
// (its own node_modules and the project's addon: TUN, raw sockets for the probes), refuses a bad config
// with file:line errors, and runs the daemon in namespaces: with no HAG reachable, a LAN host's
// download goes direct via the primary uplink; SIGTERM leaves no nftables table or TUN behind; after
// a SIGKILL the next start replaces the leftovers (no duplicate rules) and cleans up at SIGTERM.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
let ns: Netns | undefined;
let work: string;
let bundle: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cpe-bundle-'));
  bundle = join(work, 'hybrid-access');
  execFileSync('sh', [join(ROOT, 'cpe/deploy/build-bundle.sh'), bundle], {
    cwd: ROOT,
    stdio: 'pipe',
    timeout: 240_000,
  });
  env = { ...process.env, HYBRID_ACCESS_HOME: join(work, 'home') };
  // The addons must come from the bundle itself, not from the repository.
  delete env.HYBRID_ACCESS_TUN_ADDON;
}, 300_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('CPE one-file build', () => {
  it('unpacks once into its home with its addons; a bad config is refused with file:line', () => {
    const dir = execFileSync(bundle, ['--unpack-only'], { env, encoding: 'utf8' }).trim();
    expect(existsSync(join(dir, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist/cpe/main.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/raw-socket'))).toBe(false);
    expect(existsSync(join(dir, 'src/io/tun-tap/build/Release/tun_tap.node'))).toBe(true);
    const r = spawnSync(bundle, ['cpe', '--config', join(dir, 'cpe.example.yaml'), '--check'], {
      env,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /cpe\.example\.yaml:\d+: lan\.interface: no interface named br-lan on this system/,
    );
  });

  it('runs in namespaces: no HAG reachable, the LAN host downloads direct via the primary uplink', async () => {
    ns = new Netns('cpb');
    for (const n of ['lan', 'cpe', 'net']) ns.add(n);
    ns.veth('lan', 'eth0', 'cpe', 'lan0');
    ns.veth('cpe', 'dsl0', 'net', 'd0');
    ns.sh('lan', 'ip addr add 198.18.21.2/24 dev eth0 && ip route add default via 198.18.21.1');
    ns.sh('cpe', 'ip addr add 198.18.22.2/24 dev dsl0');
    ns.sh('net', 'ip addr add 198.18.22.1/24 dev d0');
    const data = randomBytes(3_000_000);
    writeFileSync(join(work, 'blob'), data);
    ns.spawn('net', ['python3', '-m', 'http.server', '8000', '--bind', '198.18.22.1', '--directory', work]);
    ns.sh(
      'net',
      'for i in $(seq 100); do curl -s -o /dev/null http://198.18.22.1:8000/ && exit 0; sleep 0.1; done; exit 1',
    );
    const suffix = `_b${ns.prefix.slice(3)}`;
    writeFileSync(
      join(work, 'cpe.yaml'),
      `lan: {interface: lan0, addresses: [198.18.21.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.22.2/24, gateway: 198.18.22.1, role: primary,
     probe: {interval: 300ms, timeout: 300ms}}
hag: {addresses: [198.18.120.1], connectTimeout: 1s, retryAfter: 1s}
tun: {name: cpeb0, prefix: 198.18.220.0/24}
intercept: {port: 7071, suffix: ${suffix}}
status: {port: 8081}
drainTimeout: 1s
log: {connections: true}
`,
    );
    // ip netns exec and the bundle's script both exec: this process ends up being node itself.
    const proc = ns.spawn('cpe', [bundle, 'cpe', '--config', join(work, 'cpe.yaml')], { env });
    const cpe = lines(proc);
    await once(cpe, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
    expect(
      cpe.seen.some((l) => l.event === 'start'),
      JSON.stringify(cpe.seen) + cpe.stderr.join('\n'),
    ).toBe(true);
    await once(cpe, (l) => l.event === 'uplink-up', 10_000);
    ns.sh('lan', `curl -sS --max-time 30 http://198.18.22.1:8000/blob -o ${work}/got`, 60_000);
    const got = readFileSync(join(work, 'got'));
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    const open = await once(cpe, (l) => l.event === 'open', 5000);
    expect(open.path).toBe('direct');
    expect(open.via).toBe('dsl');
    await once(cpe, (l) => l.event === 'hag-down', 1000);
    expect(ns.sh('cpe', 'nft list tables')).toContain(`hybrid_access${suffix}`);
    proc.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe.exited !== null, 15_000);
    expect(cpe.exited).toBe(0);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
    expect(ns.sh('cpe', 'ip link show')).not.toContain('cpeb0');
    // Killed without a chance to clean up: the next start replaces what was left and runs.
    const start = () => {
      const p = ns!.spawn('cpe', [bundle, 'cpe', '--config', join(work, 'cpe.yaml')], { env });
      return { p, l: lines(p) };
    };
    const k = start();
    await once(k.l, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
    k.p.kill('SIGKILL');
    await waitFor('killed', () => k.l.exited !== null, 5000);
    expect(ns.sh('cpe', 'nft list tables')).toContain(`hybrid_access${suffix}`);
    expect(ns.sh('cpe', 'ip rule')).toContain('fwmark 0x1 lookup 100');
    const again = start();
    await once(again.l, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
    expect(
      again.l.seen.some((l) => l.event === 'start'),
      JSON.stringify(again.l.seen),
    ).toBe(true);
    // Not duplicated by the second setup.
    expect(ns.sh('cpe', 'ip rule').match(/fwmark 0x1 lookup 100/g)?.length).toBe(1);
    expect(ns.sh('cpe', 'ip rule').match(/from 198.18.22.2 lookup 200/g)?.length).toBe(1);
    again.p.kill('SIGTERM');
    await waitFor('CPE exit', () => again.l.exited !== null, 15_000);
    expect(again.l.exited).toBe(0);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
    expect(ns.sh('cpe', 'ip rule; ip -6 rule')).not.toContain('lookup 100');
  }, 120_000);
});
