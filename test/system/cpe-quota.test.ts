// The quota as billed with the whole CPE daemon (issue 15, must-show "quota"), in namespaces of
// this test's own: lan ── cpe (the daemon; dsl0, lte0) ══ h (the gateway of both uplinks; no HAG:
// the daemon runs direct) and a test webhook (python3, 127.0.0.1 in the cpe namespace) for its
// events. h floods lte0 with pings (a known number of bytes). The count follows the interface's
// counters within 1%; a restart (SIGTERM, start) continues it; SIGKILL with the interface
// recreated (as a power cut restarts the counters) loses only what came since the last save, at
// most `saveInterval` old; a reload to a limit just above the count gives the 80% warning and then
// the exhaustion, both posted to the webhook.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpeStatus, type RunningDaemon, spawnDaemon, startDaemon, started } from './lib/daemon-in-netns.js';
import { ifaceBytes, within1pct } from './lib/iface-bytes.js';
import { compileTree } from './lib/lab-run.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const SAVE_S = 2;
const WEBHOOK = `import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['content-length']))
        print(json.dumps({'path': self.path, 'body': json.loads(body)}), flush=True)
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`;

let ns: Netns;
let work: string;
let dist: string;
let cpe: RunningDaemon;
let hook: Lines;
/** lte0's counters when the first daemon started (its quota counts from its first reading). */
let base = 0;

function config(limit: string): string {
  return `lan: {interface: lan0, addresses: [198.18.6.1/24]}
state: {directory: ${work}/state}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.13.2/24, gateway: 198.18.13.1, role: primary,
     probe: {interval: 300ms, timeout: 300ms}}
  - {name: lte, interface: lte0, address: 198.18.14.2/24, gateway: 198.18.14.1, role: overflow,
     probe: {interval: 300ms, timeout: 300ms},
     quota: {bytes: ${limit}, period: month, resetDay: 1, warnAt: 80, saveInterval: ${SAVE_S}s}}
hag: {addresses: [198.18.100.1], connectTimeout: 1s, retryAfter: 1s}
tun: {name: cpe0, prefix: 198.18.200.0/24}
intercept: {suffix: _q${ns.prefix.slice(2)}}
status: {address: 198.18.6.1, port: 8080}
events: {webhook: {url: 'http://127.0.0.1:8099/hook'}, retries: 2, backoff: 200ms}
drainTimeout: 1s
`;
}

const counters = () => ifaceBytes(ns, 'cpe', 'lte0');

function lteLink(): void {
  ns.veth('cpe', 'lte0', 'h', 'l1');
  ns.sh('cpe', 'ip addr add 198.18.14.2/24 dev lte0');
  ns.sh('h', 'ip addr add 198.18.14.1/24 dev l1');
}

const flood = (n: number) => ns.sh('h', `ping -q -f -c ${n} -s 1200 198.18.14.2`, 120_000);

/** lte's quota as the status page has it. */
function quota(): { used: number; exceeded: boolean; warned?: boolean } {
  const st = cpeStatus<{ uplinks: { name: string; quota?: { used: number; exceeded: boolean } }[] }>(
    ns,
    'lan',
    'http://198.18.6.1:8080/status.json',
  );
  const q = st.uplinks.find((u) => u.name === 'lte')?.quota;
  if (!q) throw new Error(`no quota for lte in ${JSON.stringify(st.uplinks)}`);
  return q;
}

/**
 * The count once the daemon has read the counters as they are now: after it changed twice (its
 * tick is once a second; the probes' echoes alone move the count at every tick).
 */
async function settled(): Promise<number> {
  let last = quota().used;
  let changes = 0;
  await waitFor(
    'two quota ticks',
    () => {
      const u = quota().used;
      if (u !== last) changes++;
      last = u;
      return changes >= 2;
    },
    10_000,
    100,
  );
  return last;
}

function saved(): { used: number; lastRx: number; lastTx: number } {
  return JSON.parse(readFileSync(join(work, 'state/quota-lte.json'), 'utf8')).state;
}

beforeAll(async () => {
  ns = new Netns('cq');
  work = mkdtempSync(join(tmpdir(), 'cpe-quota-'));
  dist = join(work, 'dist');
  compileTree(dist);
  for (const n of ['lan', 'cpe', 'h']) ns.add(n);
  ns.veth('lan', 'eth0', 'cpe', 'lan0');
  ns.veth('cpe', 'dsl0', 'h', 'd1');
  lteLink();
  ns.sh('lan', 'ip addr add 198.18.6.2/24 dev eth0 && ip route add default via 198.18.6.1');
  ns.sh('cpe', 'sysctl -qw net.ipv4.conf.all.rp_filter=0 && ip addr add 198.18.13.2/24 dev dsl0');
  ns.sh('h', 'sysctl -qw net.ipv4.ip_forward=1 && ip addr add 198.18.13.1/24 dev d1');
  writeFileSync(join(work, 'webhook.py'), WEBHOOK);
  hook = lines(ns.spawn('cpe', ['python3', join(work, 'webhook.py'), '8099']));
  ns.sh(
    'cpe',
    'for i in $(seq 100); do curl -s -o /dev/null -X POST -d "{}" http://127.0.0.1:8099/ && exit 0; sleep 0.1; done; exit 1',
  );
  writeFileSync(join(work, 'cpe.yaml'), config('1GB'));
  base = counters();
  cpe = await startDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml'));
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the CPE daemon counts the quota as billed', () => {
  it('the count matches the interface counters within 1%', async () => {
    flood(3000);
    const counted = await settled();
    expect(counted).toBeGreaterThan(2 * 3000 * 1200);
    within1pct(counted, counters() - base);
  }, 120_000);

  it('restarted mid-period (SIGTERM, start), the count continues', async () => {
    const before = await settled();
    cpe.p.kill('SIGTERM');
    await waitFor('CPE exit', () => cpe.l.exited !== null, 15_000);
    // The stop saved the count (the probes' few bytes since the last tick included).
    const atStop = saved().used;
    expect(atStop).toBeGreaterThanOrEqual(before);
    expect(atStop - before).toBeLessThan(20_000);
    flood(2000); // while it is stopped: the interface counts on
    cpe = await startDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml'));
    const cont = await once(cpe.l, (l) => l.event === 'quota-continued', 5000);
    expect(cont.used).toBe(atStop);
    flood(2000);
    within1pct(await settled(), counters() - base);
  }, 120_000);

  it(`power cut (SIGKILL, the interface's counters from zero again) loses at most ${SAVE_S} s of traffic`, async () => {
    await settled();
    // A steady flood (500 pings a second) while the power goes.
    const pinger = ns.spawn('h', ['ping', '-q', '-i', '0.002', '-s', '1200', '198.18.14.2']);
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const c0 = counters();
    await new Promise((r) => setTimeout(r, 2000));
    const rate = (counters() - c0) / ((Date.now() - t0) / 1000);
    cpe.p.kill('SIGKILL');
    const atCut = counters();
    const cutAt = Date.now();
    pinger.kill('SIGKILL');
    await waitFor('CPE killed', () => cpe.l.exited !== null, 5000);
    const s = saved();
    const age = cutAt - statSync(join(work, 'state/quota-lte.json')).mtimeMs;
    const lost = atCut - (s.lastRx + s.lastTx);
    process.stdout.write(
      `power cut: state file ${age.toFixed(0)} ms old, ${lost} bytes since its reading (flood ${Math.round(rate)} B/s)\n`,
    );
    // The state file is at most one save interval (and the tick that saves it) old.
    expect(age).toBeLessThanOrEqual(SAVE_S * 1000 + 1000);
    expect(lost).toBeLessThanOrEqual(rate * (SAVE_S + 1));
    // As after a power cut the interface's counters start again from zero (another ifindex).
    ns.sh('cpe', 'ip link del lte0');
    lteLink();
    base = 0;
    cpe = await started(spawnDaemon(ns, 'cpe', 'cpe', dist, join(work, 'cpe.yaml')));
    const cont = await once(cpe.l, (l) => l.event === 'quota-continued', 5000);
    expect(cont.used).toBe(s.used);
    flood(2000);
    const counted = await settled();
    // What was saved, plus what the new interface carried: only the bytes since the save are gone.
    within1pct(counted, s.used + counters());
  }, 120_000);

  it('the 80% warning and the exhaustion reach the webhook', async () => {
    const used = await settled();
    // A limit with 80% of it 1 MB above the count: the next floods cross 80%, then 100%.
    const limit = Math.round((used + 1_000_000) / 0.8);
    writeFileSync(join(work, 'cpe.yaml'), config(`${limit}B`));
    const n = cpe.l.seen.filter((l) => l.event === 'reloaded').length;
    cpe.p.kill('SIGHUP');
    await waitFor('reloaded', () => cpe.l.seen.filter((l) => l.event === 'reloaded').length > n, 5000);
    expect(quota().exceeded).toBe(false);
    flood(600); // 1.4 MB both ways: past 80%
    const warn = await once(hook, (l) => (l.body as { event?: string })?.event === 'quota-warning', 15_000);
    expect(warn.body).toMatchObject({ event: 'quota-warning', uplink: 'lte', limit });
    expect(hook.seen.some((l) => (l.body as { event?: string })?.event === 'quota-exhausted')).toBe(false);
    // Then on to the limit, 2000 pings (5 MB) at a time.
    const exhausted = () =>
      hook.seen.find((l) => (l.body as { event?: string })?.event === 'quota-exhausted');
    for (let i = 0; i < 20 && !exhausted(); i++) {
      flood(2000);
      await waitFor('a quota tick', () => exhausted() !== undefined, 1500, 100).catch(() => undefined);
    }
    const ex = await once(hook, (l) => (l.body as { event?: string })?.event === 'quota-exhausted', 15_000);
    expect(ex.body).toMatchObject({ event: 'quota-exhausted', uplink: 'lte', limit });
    expect((ex.body as { used: number }).used).toBeGreaterThanOrEqual(limit);
    expect(quota().exceeded).toBe(true);
    await once(cpe.l, (l) => l.event === 'quota-exceeded' && l.uplink === 'lte', 5000);
  }, 120_000);
});
