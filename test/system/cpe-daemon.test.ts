// The CPE daemon end to end, in network namespaces this test creates (all removed in afterAll):
//   lan (udhcpc takes 198.18.5.x from our DHCP server) ── cpe (the daemon: lan0, dsl0, lte0, TUN
//   cpe0 with core addresses 198.18.200.2/.3) ══ two veth links, tbf-shaped ══ h (router and the
//   real HAG daemon, service address 198.18.100.1) ── s (python3 http.server 198.18.3.2:8000)
// (a) 1 MB, then 50 MB over both uplinks, sha256 equal, per-uplink counters from /status.json > 0;
// (b) lte0 taken down mid-download: the download completes; (c) the HAG stopped: a new connection
// goes direct via the primary uplink, and bonding returns with the HAG; (d) a refusing server is a
// refusal to the LAN host; (e) SIGTERM removes the nftables table, rules, routes and the TUN.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};
const HAG = '198.18.100.1';
const SERVER = '198.18.3.2';
const MB = 1_000_000;

let ns: Netns;
let work: string;
let dist: string;
let suffix: string;
let hag: { p: ChildProcess; l: Lines } | undefined;
let cpe: { p: ChildProcess; l: Lines } | undefined;
let clientIp = '';
const sha: Record<string, string> = {};

function compile(dir: string): void {
  try {
    execFileSync('npx', ['tsc', '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dir], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (e) {
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    const ours = out.split('\n').filter((l) => /^(cpe\/daemon|cpe\/main|src\/cli)/.test(l));
    if (ours.length > 0 || !out.includes('error TS')) throw new Error(`tsc failed:\n${out}`);
    process.stderr.write(`tsc reported errors outside the CPE daemon (ignored here):\n${out}`);
  }
}

function hagConfig(): string {
  return `# written by test/system/cpe-daemon.test.ts
tun: {name: hag0}
service:
  addresses: [${HAG}]
  convert: {port: 5124}
egress: {source4: 198.18.3.1, connectTimeout: 3s}
access:
  subscribers: [198.18.11.0/24, 198.18.12.0/24]
  rateLimit: {perSecond: 1000, burst: 2000}
limits: {drainTimeout: 1s}
log: {level: info}
`;
}

function cpeConfig(): string {
  return `# written by test/system/cpe-daemon.test.ts
lan:
  interface: lan0
  addresses: [198.18.5.1/24]
  dhcp:
    ranges: [{start: 198.18.5.100, end: 198.18.5.150}]
    leaseTime: 10m
    leaseFile: ${work}/leases.json
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary,
     capacity: 40Mbit, probe: {interval: 300ms, timeout: 300ms, failures: 3, successes: 2}}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow,
     capacity: 30Mbit, probe: {interval: 300ms, timeout: 300ms, failures: 3, successes: 2}}
hag:
  addresses: [${HAG}]
  port: 5124
  connectTimeout: 2s
  retryAfter: 1s
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {port: 7070, suffix: ${suffix}}
status: {address: 198.18.5.1, port: 8080}
drainTimeout: 2s
log: {level: info}
`;
}

function startHag(): void {
  const p = ns.spawn('h', ['node', join(dist, 'src/cli.js'), 'hag', '--config', join(work, 'hag.yaml')], {
    cwd: ROOT,
    env: ENV,
  });
  hag = { p, l: lines(p) };
}

function status(): {
  uplinks: {
    name: string;
    bytesIn: number;
    bytesOut: number;
    usable: boolean;
    health: string;
    subflows: number;
  }[];
  hag: { state: string };
  connections: Record<string, unknown>;
} {
  return JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/status.json'));
}

/** Downloads /name from the server in the lan namespace; returns curl's exit code and output. */
function download(name: string, opts: { background?: boolean; maxTime?: number } = {}) {
  const cmd = `curl -sS --max-time ${opts.maxTime ?? 90} http://${SERVER}:8000/${name} -o ${work}/got-${name} -w '%{http_code} %{size_download} %{time_total}'`;
  return ns.spawn('lan', ['sh', '-c', cmd]);
}

async function finished(
  p: ChildProcess,
  timeoutMs: number,
): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  p.stdout?.on('data', (d) => {
    out += d;
  });
  p.stderr?.on('data', (d) => {
    err += d;
  });
  const rc = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`curl did not finish within ${timeoutMs} ms`)), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code ?? -1);
    });
  });
  return { rc, out, err };
}

function fileSha(name: string): string {
  return createHash('sha256')
    .update(readFileSync(join(work, `got-${name}`)))
    .digest('hex');
}

beforeAll(async () => {
  ns = new Netns('cpd');
  suffix = `_t${ns.prefix.slice(3)}`;
  work = mkdtempSync(join(tmpdir(), 'cpe-daemon-test-'));
  dist = join(work, 'dist');
  compile(dist);
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  for (const [name, size] of [
    ['file1', 1 * MB],
    ['file50', 50 * MB],
  ] as const) {
    const data = randomBytes(size);
    writeFileSync(join(work, name), data);
    sha[name] = createHash('sha256').update(data).digest('hex');
  }
  for (const n of ['lan', 'cpe', 'h', 's']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'h', 'd1');
  ns.veth('cpe', 'lte0', 'h', 'l1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh(
    'cpe',
    [
      'sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0',
      'ip addr add 198.18.11.2/24 dev dsl0',
      'ip addr add 198.18.12.2/24 dev lte0',
    ].join(' && '),
  );
  ns.sh(
    'h',
    [
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0',
      'ip addr add 198.18.11.1/24 dev d1',
      'ip addr add 198.18.12.1/24 dev l1',
      'ip addr add 198.18.3.1/24 dev hs',
      // The download direction of each access link, shaped (tbf: rate, ~50 ms of queue).
      'tc qdisc add dev d1 root tbf rate 40mbit burst 15000 limit 250000',
      'tc qdisc add dev l1 root tbf rate 30mbit burst 15000 limit 190000',
    ].join(' && '),
  );
  ns.sh('s', 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
  ns.spawn('s', ['python3', '-m', 'http.server', '8000', '--bind', SERVER, '--directory', work]);
  ns.sh(
    's',
    `for i in $(seq 100); do curl -s -o /dev/null http://${SERVER}:8000/ && exit 0; sleep 0.1; done; exit 1`,
  );

  writeFileSync(join(work, 'hag.yaml'), hagConfig());
  startHag();
  await once(hag!.l, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
  if (hag!.l.seen.some((l) => l.event === 'start-failed')) throw new Error(JSON.stringify(hag!.l.seen));

  writeFileSync(join(work, 'cpe.yaml'), cpeConfig());
  const p = ns.spawn('cpe', ['node', join(dist, 'src/cli.js'), 'cpe', '--config', join(work, 'cpe.yaml')], {
    cwd: ROOT,
    env: ENV,
  });
  cpe = { p, l: lines(p) };
  await once(cpe.l, (l) => l.event === 'start' || l.event === 'start-failed' || l.event === 'crash', 20_000);
  if (!cpe.l.seen.some((l) => l.event === 'start'))
    throw new Error(JSON.stringify(cpe.l.seen) + cpe.l.stderr.join('\n'));

  // The LAN host takes its address from our DHCP server.
  const script = join(work, 'udhcpc.sh');
  writeFileSync(
    script,
    `#!/bin/sh
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface"; ip route replace default via "$router" dev "$interface"; echo "$ip" > ${work}/lan-ip ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
`,
    { mode: 0o755 },
  );
  ns.sh('lan', `udhcpc -q -n -i eth0 -s ${script} -t 10 -T 1 -A 1`, 30_000);
  clientIp = readFileSync(join(work, 'lan-ip'), 'utf8').trim();
  // Both uplinks probed up.
  await waitFor('both uplinks up', () => status().uplinks.every((u) => u.health === 'up'), 10_000, 200);
}, 180_000);

afterAll(() => {
  try {
    if (cpe && cpe.l.exited === null) cpe.p.kill('SIGKILL');
  } finally {
    ns?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  }
});

describe('CPE daemon: LAN host -> CPE -> HAG -> server', () => {
  it('the LAN host got its address from the CPE DHCP server', () => {
    expect(clientIp).toMatch(/^198\.18\.5\.(1[0-4]\d|150)$/);
    const leases = JSON.parse(readFileSync(join(work, 'leases.json'), 'utf8'));
    expect(JSON.stringify(leases)).toContain(clientIp);
  });

  it('(a) 1 MB bonded through the HAG, sha256 equal', async () => {
    const r = await finished(download('file1'), 60_000);
    expect(r.rc, r.err).toBe(0);
    expect(r.out.split(' ')[0]).toBe('200');
    expect(fileSha('file1')).toBe(sha.file1);
    const open = await once(cpe!.l, (l) => l.event === 'open' && l.dst === `${SERVER}:8000`, 5000);
    expect(open.path).toBe('bonded');
  }, 90_000);

  it('(a) 50 MB over both uplinks: per-uplink counters above zero, sha256 equal', async () => {
    const before = status().uplinks;
    const r = await finished(download('file50'), 120_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file50')).toBe(sha.file50);
    await new Promise((res) => setTimeout(res, 1200)); // one counter tick
    const after = status().uplinks;
    const delta = after.map((u, i) => ({ name: u.name, bytesIn: u.bytesIn - before[i].bytesIn }));
    process.stdout.write(`50 MB: curl ${r.out}; per-uplink bytes in: ${JSON.stringify(delta)}\n`);
    for (const d of delta) expect(d.bytesIn, JSON.stringify(delta)).toBeGreaterThan(5 * MB);
    const close = await once(
      cpe!.l,
      (l) => l.event === 'close' && (l.bytesToLan as number) > 50 * MB,
      10_000,
    );
    const per = close.uplinks as Record<string, { bytesIn: number }>;
    expect(per.dsl.bytesIn).toBeGreaterThan(0);
    expect(per.lte.bytesIn).toBeGreaterThan(0);
  }, 150_000);

  it('(b) lte0 taken down mid-download: the download completes, sha256 equal', async () => {
    const p = download('file50');
    const done = finished(p, 120_000);
    await new Promise((res) => setTimeout(res, 2000));
    ns.sh('cpe', 'ip link set lte0 down');
    await waitFor(
      'lte probed down',
      () => status().uplinks.find((u) => u.name === 'lte')?.health === 'down',
      10_000,
      200,
    );
    const r = await done;
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file50')).toBe(sha.file50);
    const down = cpe!.l.seen.find((l) => l.event === 'uplink-down' && l.uplink === 'lte');
    expect(down).toBeDefined();
    process.stdout.write(`lte down mid-download: curl ${r.out}\n`);
    // The uplink returns: its route is restored and it is probed up again.
    ns.sh('cpe', 'ip link set lte0 up');
    await waitFor(
      'lte probed up',
      () => status().uplinks.find((u) => u.name === 'lte')?.health === 'up',
      15_000,
      200,
    );
  }, 150_000);

  it('(d) a server port that refuses: the LAN host sees a refusal', async () => {
    const r = await finished(
      ns.spawn('lan', ['sh', '-c', `curl -sS --max-time 20 http://${SERVER}:9/`]),
      30_000,
    );
    expect(r.rc).not.toBe(0);
    expect(r.err).toMatch(/reset|refused|Recv failure/i);
    const refused = await once(cpe!.l, (l) => l.event === 'refused' && l.dst === `${SERVER}:9`, 5000);
    expect(String(refused.reason)).toMatch(/Convert error 96/);
  }, 60_000);

  it('(c) the HAG stopped: a new connection goes direct via dsl; bonding returns with the HAG', async () => {
    hag!.p.kill('SIGTERM');
    await waitFor('HAG exit', () => hag!.l.exited !== null, 15_000);
    const r = await finished(download('file1'), 60_000);
    expect(r.rc, r.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    const open = await once(cpe!.l, (l) => l.event === 'open' && l.path === 'direct', 5000);
    expect(open.via).toBe('dsl');
    expect(status().hag.state).toBe('down');
    // The HAG is back: the checker finds it and new connections are bonded again.
    startHag();
    await once(hag!.l, (l) => l.event === 'start', 20_000);
    await waitFor('HAG up again', () => status().hag.state === 'up', 15_000, 200);
    const bondedBefore = cpe!.l.seen.filter((l) => l.event === 'open' && l.path === 'bonded').length;
    const r2 = await finished(download('file1'), 60_000);
    expect(r2.rc, r2.err).toBe(0);
    expect(fileSha('file1')).toBe(sha.file1);
    await waitFor(
      'a bonded open',
      () => cpe!.l.seen.filter((l) => l.event === 'open' && l.path === 'bonded').length > bondedBefore,
      5000,
    );
  }, 120_000);

  it('(e) /metrics and the status page answer; SIGTERM removes table, rules, routes and the TUN', async () => {
    const metrics = ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/metrics');
    expect(metrics).toMatch(/cpe_uplink_bytes_total\{uplink="dsl",direction="in"\} [1-9]/);
    const page = ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/');
    expect(page).toContain('/status.json');
    expect(ns.sh('cpe', 'nft list tables')).toContain(`hybrid_access${suffix}`);
    cpe!.p.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe!.l.exited !== null, 15_000);
    expect(cpe!.l.exited).toBe(0);
    expect(ns.sh('cpe', 'nft list tables')).not.toContain('hybrid_access');
    expect(ns.sh('cpe', 'ip link show')).not.toContain('cpe0');
    const rules = ns.sh('cpe', 'ip rule show; ip -6 rule show');
    expect(rules).not.toMatch(/lookup (100|200|201)\b/);
    expect(ns.sh('cpe', 'ip route show table all')).not.toMatch(/table (100|200|201)\b/);
  }, 60_000);
});
