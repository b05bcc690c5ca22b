// The quota as billed on a real interface (issue 15 item 3), in namespaces of this test's own: a
// node process in namespace "cpe" runs the CPE's uplink bookkeeping (cpe/daemon/uplinks.ts with
// its quota: sysfs counters, the state file) on a veth whose peer floods it with pings. The count
// matches the interface's kernel counters (both ways) within 1%; killed with SIGKILL and started
// again it continues without losing or doubling; a recreated interface (another ifindex, counters
// from zero) is counted on top; a clean stop (SIGTERM) saves the count.
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ifaceBytes, within1pct } from './lib/iface-bytes.js';
import { compileDist, removeDist } from './lib/kernel-peer.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const ROOT = join(import.meta.dirname, '../..');
let ns: Netns;
let dist: string;
let work: string;

/** The child: Uplinks over a stand-in path manager, ticked every 100 ms, printing the count. */
const METER = `
import { pino } from 'pino';
import { parseCpeConfig } from './cpe/daemon/config.js';
import { Uplinks } from './cpe/daemon/uplinks.js';
const r = parseCpeConfig(process.env.CFG, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
if (!r.ok) throw new Error(JSON.stringify(r.issues));
const pm = { setAddress: () => {}, addressOf: () => undefined };
const ups = new Uplinks(r.value, pm, pino({ level: 'info' }, pino.destination(2)), () => []);
const u = ups.list[0];
const t = setInterval(() => {
  ups.tick();
  console.log(JSON.stringify({ used: u.quota.used, err: u.countersError ?? null, t: Date.now() }));
}, 100);
process.on('SIGTERM', () => { clearInterval(t); ups.stop(); console.log(JSON.stringify({ stopped: true, used: u.quota.used })); process.exit(0); });
`;

const config = () => `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: lte, interface: up0, address: 198.18.77.1/24, gateway: 198.18.77.2, role: primary,
     quota: {bytes: 50GB, saveInterval: 1s}}
hag: {addresses: [198.18.100.1]}
state: {directory: ${work}/state}
`;

function meter(): { st: Lines; kill: (sig: NodeJS.Signals) => void } {
  const p = ns.spawn('cpe', ['node', join(dist, 'meter.mjs')], {
    cwd: dist,
    env: { ...process.env, CFG: config() },
  });
  return { st: lines(p), kill: (sig) => p.kill(sig) };
}

const counters = () => ifaceBytes(ns, 'cpe', 'up0');

function link(): void {
  ns.veth('cpe', 'up0', 'isp', 'isp0');
  ns.sh('cpe', 'ip addr add 198.18.77.1/24 dev up0');
  ns.sh('isp', 'ip addr add 198.18.77.2/24 dev isp0');
}

const flood = (n: number) => ns.sh('isp', `ping -q -f -c ${n} -s 1200 198.18.77.1`, 60_000);
const last = (st: Lines) => st.seen.at(-1) as { used: number; err: string | null };

/**
 * The count from a reading taken after now (the meter's lines wait in the pipe while a flood
 * blocks this process, so the next lines to arrive may be older than the flood's end).
 */
async function settled(st: Lines): Promise<number> {
  const now = Date.now();
  await waitFor('a reading after now', () => ((st.seen.at(-1)?.t as number) ?? 0) > now + 150, 10_000);
  return last(st).used;
}

beforeAll(() => {
  ns = new Netns('qc');
  work = mkdtempSync(join(tmpdir(), 'ha-quota-sys-'));
  dist = compileDist();
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  writeFileSync(join(dist, 'meter.mjs'), METER);
  ns.add('cpe');
  ns.add('isp');
  link();
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  removeDist(dist);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('quota as billed on a real interface', () => {
  it('matches the counters within 1%, survives SIGKILL and a recreated interface, saves at SIGTERM', async () => {
    let m = meter();
    await once(m.st, (l) => typeof l.used === 'number', 20_000);
    const base = counters(); // the meter's baseline is its first reading, taken before this
    expect(await settled(m.st)).toBeLessThan(2000);
    flood(3000);
    let counted = await settled(m.st);
    within1pct(counted, counters() - base);
    expect(counted).toBeGreaterThan(2 * 3000 * 1200);

    // SIGKILL: the state file is at most 1 s old; the interface counted on, so nothing is lost.
    m.kill('SIGKILL');
    await waitFor('meter killed', () => m.st.exited !== null, 5000);
    flood(2000);
    m = meter();
    counted = await settled(m.st);
    within1pct(counted, counters() - base);

    // The interface recreated under the same name: another ifindex, counters from zero.
    const before = counters() - base;
    ns.sh('cpe', 'ip link del up0');
    link();
    flood(2000);
    counted = await settled(m.st);
    expect(last(m.st).err).toBeNull();
    within1pct(counted, before + counters());

    // A clean stop saves the count up to then: what the meter held when it stopped (a packet or
    // two, e.g. IPv6 neighbour discovery, may have come since its last reading).
    m.kill('SIGTERM');
    await once(m.st, (l) => l.stopped === true, 5000);
    const stopped = last(m.st).used;
    const saved = JSON.parse(readFileSync(join(work, 'state/quota-lte.json'), 'utf8'));
    expect(saved.state.used).toBe(stopped);
    within1pct(saved.state.used, counted);
  }, 180_000);
});
