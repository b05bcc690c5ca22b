// Both daemons' /metrics under Prometheus's own linter, `promtool check metrics` (Debian's
// prometheus package; scripts/lib/ensure-deps.sh installs it): the test fails when promtool is
// missing, it never skips. In network namespaces this test creates (all removed in afterAll):
//   lan (198.18.5.2) ── cpe (the CPE daemon: lan0, dsl0, lte0, TUN cpe0) ══ two veth links ══
//   h (router and the HAG daemon, service address 198.18.100.1) ── s (HTTP server 198.18.3.2:8000)
// A LAN download over both uplinks and a connection held open for four seconds (several of the
// daemons' one-second ticks) fill the counters and the RTT histograms (probe RTT, subflow SRTT)
// before both endpoints are scraped;
// the scrapes are kept in test-results/metrics-{cpe,hag}.txt.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDaemon, startDaemon } from './lib/daemon-in-netns.js';
import { compileTree } from './lib/lab-run.js';
import { Netns, waitFor } from './lib/netns.js';

const ROOT = join(import.meta.dirname, '../..');
const HAG = '198.18.100.1';
const SERVER = '198.18.3.2';

let ns: Netns;
let work: string;
let cpe: RunningDaemon | undefined;

const hagMetrics = () => ns.sh('h', 'curl -sS --max-time 5 http://127.0.0.1:9108/metrics');
const cpeMetrics = () => ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/metrics');

/** Keeps a scrape for whoever reads the test's results. */
function keep(name: string, text: string): void {
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  writeFileSync(join(ROOT, 'test-results', name), text);
}

/** promtool's verdict on an exposition: its exit code and what it printed (lint problems). */
function promtool(text: string): { rc: number; out: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error)
    throw new Error(
      `promtool did not run (${r.error.message}): install Debian's prometheus package (scripts/lib/ensure-deps.sh does)`,
    );
  return { rc: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The value of the first sample line that starts with `series` (name and labels as written). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  ns = new Netns('mpt');
  const suffix = `_t${ns.prefix.slice(3)}`;
  work = mkdtempSync(join(tmpdir(), 'metrics-promtool-'));
  const dist = join(work, 'dist');
  compileTree(dist);
  writeFileSync(join(work, 'file'), randomBytes(1_500_000));

  for (const n of ['lan', 'cpe', 'h', 's']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'h', 'd1');
  ns.veth('cpe', 'lte0', 'h', 'l1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh(
    'cpe',
    'sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 && ip addr add 198.18.11.2/24 dev dsl0 && ip addr add 198.18.12.2/24 dev lte0',
  );
  ns.sh(
    'h',
    [
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0',
      'ip addr add 198.18.11.1/24 dev d1',
      'ip addr add 198.18.12.1/24 dev l1',
      'ip addr add 198.18.3.1/24 dev hs',
    ].join(' && '),
  );
  ns.sh('s', `ip addr add ${SERVER}/24 dev s0 && ip route add default via 198.18.3.1`);
  ns.sh('lan', 'ip addr add 198.18.5.2/24 dev eth0 && ip route add default via 198.18.5.1');
  ns.spawn('s', ['python3', '-m', 'http.server', '8000', '--bind', SERVER, '--directory', work]);
  // A slow talker: a line every 200 ms for four seconds.
  ns.spawn('s', [
    'socat',
    `TCP-LISTEN:9000,bind=${SERVER},fork,reuseaddr`,
    'SYSTEM:for i in $(seq 20); do echo x; sleep 0.2; done',
  ]);
  ns.sh(
    's',
    `for i in $(seq 100); do curl -s -o /dev/null http://${SERVER}:8000/ && exit 0; sleep 0.1; done; exit 1`,
  );

  writeFileSync(
    join(work, 'hag.yaml'),
    `# written by test/system/metrics-promtool.test.ts
tun: {name: hag0}
service:
  addresses: [${HAG}]
  convert: {port: 5124}
egress: {source4: 198.18.3.1, connectTimeout: 3s}
access:
  subscribers: [198.18.11.0/24, 198.18.12.0/24]
  allowDestinations: [198.18.0.0/15] # the test hosts' range
uplinks:
  - {name: dsl, prefixes: [198.18.11.0/24]}
  - {name: lte, prefixes: [198.18.12.0/24]}
limits: {drainTimeout: 1s}
metrics: {address: 127.0.0.1, port: 9108}
log: {level: info}
`,
  );
  await startDaemon(ns, 'h', 'hag', dist, join(work, 'hag.yaml'));

  writeFileSync(
    join(work, 'cpe.yaml'),
    `# written by test/system/metrics-promtool.test.ts
lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary,
     quota: {bytes: 50GB}, probe: {interval: 200ms, timeout: 500ms}}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow,
     probe: {interval: 200ms, timeout: 500ms}}
hag: {addresses: [${HAG}], port: 5124, connectTimeout: 2s, retryAfter: 1s}
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {port: 7070, suffix: ${suffix}}
status: {address: 198.18.5.1, port: 8080}
state: {directory: ${work}/state}
events: {command: [/bin/true]}
drainTimeout: 1s
log: {level: info}
`,
  );
  cpe = await startDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml'));
  await waitFor(
    'both uplinks up and the HAG reachable',
    () => {
      const s = JSON.parse(ns.sh('lan', 'curl -sS --max-time 5 http://198.18.5.1:8080/status.json'));
      return s.hag.state === 'up' && s.uplinks.every((u: { health: string }) => u.health === 'up');
    },
    15_000,
    200,
  );
  ns.sh(
    'lan',
    `curl -sS --max-time 60 -o /dev/null http://${SERVER}:8000/file -w '%{http_code}' | grep -qx 200`,
    90_000,
  );
  const held = ns.sh('lan', `socat -u TCP:${SERVER}:9000 - | wc -l`, 30_000).trim();
  if (held !== '20') throw new Error(`the held connection read ${held} lines, not 20`);
}, 240_000);

afterAll(() => {
  try {
    if (cpe && cpe.l.exited === null) cpe.p.kill('SIGKILL');
  } finally {
    ns?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  }
});

describe('metrics: promtool check metrics', () => {
  it('passes on the CPE, with RTT histograms per uplink and the build info', () => {
    const text = cpeMetrics();
    keep('metrics-cpe.txt', text);
    const r = promtool(text);
    expect(r.out).toBe('');
    expect(r.rc).toBe(0);
    for (const u of ['dsl', 'lte']) {
      expect(sample(text, `cpe_uplink_probe_rtt_seconds_count{uplink="${u}"}`)).toBeGreaterThan(5);
      expect(sample(text, `cpe_uplink_subflow_srtt_seconds_count{uplink="${u}"}`)).toBeGreaterThan(0);
      expect(sample(text, `cpe_uplink_bytes_total{uplink="${u}",direction="in"}`)).toBeGreaterThan(0);
    }
    // Every probe in the +Inf bucket, which is the count.
    const dsl = sample(text, 'cpe_uplink_probe_rtt_seconds_count{uplink="dsl"}');
    expect(sample(text, 'cpe_uplink_probe_rtt_seconds_bucket{uplink="dsl",le="+Inf"}')).toBe(dsl);
    expect(sample(text, 'cpe_mptcp_mib_total{counter="MPCapableSYNTX"}')).toBeGreaterThan(0);
    // The quota as billed (dsl0's bytes both ways, more than the payload) and the event hook.
    expect(sample(text, 'cpe_uplink_quota_used_bytes{uplink="dsl"}')).toBeGreaterThan(
      sample(text, 'cpe_uplink_bytes_total{uplink="dsl",direction="in"}'),
    );
    expect(sample(text, 'cpe_uplink_quota_period_end_timestamp_seconds{uplink="dsl"}')).toBeGreaterThan(
      Date.now() / 1000,
    );
    expect(sample(text, 'cpe_uplink_quota_events_total{uplink="dsl",kind="warning"}')).toBe(0);
    expect(sample(text, 'cpe_events_total{sink="command",result="dropped"}')).toBe(0);
    expect(text).toMatch(
      /^hybrid_access_build_info\{version="\d+\.\d+\.\d+",revision="[0-9a-f]{7,}",node="v\d+[^"]*",daemon="cpe"\} 1$/m,
    );
    expect(text).not.toMatch(/_bps|_rate/);
  });

  it('passes on the HAG, with the subflow SRTT histogram and the build info', async () => {
    // Subflows are counted when their connection has ended at the HAG too.
    await waitFor(
      'the download counted at the HAG',
      () => sample(hagMetrics(), 'hag_subflows_total{uplink="lte"}') > 0,
      10_000,
      200,
    );
    const text = hagMetrics();
    keep('metrics-hag.txt', text);
    const r = promtool(text);
    expect(r.out).toBe('');
    expect(r.rc).toBe(0);
    expect(sample(text, 'hag_subflow_srtt_seconds_count')).toBeGreaterThan(0);
    expect(sample(text, 'hag_subflows_total{uplink="lte"}')).toBeGreaterThan(0);
    expect(sample(text, 'hag_tcp_mib_total{counter="PassiveOpens"}')).toBeGreaterThan(0);
    expect(sample(text, 'hag_tun_packets_total{direction="in"}')).toBeGreaterThan(0);
    expect(text).toMatch(
      /^hybrid_access_build_info\{version="\d+\.\d+\.\d+",revision="[0-9a-f]{7,}",node="v\d+[^"]*",daemon="hag"\} 1$/m,
    );
  });

  it('promtool itself flags what these tests guard against', () => {
    // The issue's finding on the CPE: a counter without _total.
    const r = promtool(
      '# HELP cpe_mptcp_mib M.\n# TYPE cpe_mptcp_mib counter\ncpe_mptcp_mib{counter="A"} 1\n',
    );
    expect(r.rc).not.toBe(0);
    expect(r.out).toMatch(/_total/);
  });
});
