// Two HAG hosts behind one service address (issue 17), on the lab's `ecmp` profile: the HAG
// namespace is the operator's router with an ECMP route (L4 hash) of 198.18.100.1 to the
// namespaces hag1 and hag2, each running a HAG with join addresses of its own (C flag, ADD_ADDR).
// (a) 200 connections from the LAN host through the CPE, held open: both hosts' /sessions hold
// them all, each with its DSL and LTE subflows on one host (the LTE join to that host's join
// address), both hosts have a share, every payload's sha256 equal; (b) hag2 stopped (its daemon
// killed, its link dark): new connections all succeed, on hag1, within 5 s.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, HAG_HOSTS, labHostPower, REPO_ROOT, runDir } from '../../scripts/lab-impl/lab.js';
import { type Daemon, HAG_SERVICE, spawnIn } from '../../scripts/lab-impl/stack.js';
import { endLab, type LabTest, labShell, startLab } from './lib/lab-run.js';

const prefix = `ecmp${randomBytes(3).toString('hex')}`;
const t: LabTest = { sha: {} };
const inNs = labShell(prefix);
const FIXTURE = join(REPO_ROOT, 'test/system/fixtures/held_conns.py');
const PORT = 9000;
const BYTES = 64 * 1024;
const CONNS = 200;
let server: Daemon | undefined;
const clients: Daemon[] = [];

interface SessionView {
  id: number;
  client: string;
  subflows: { local: string; remote: string; uplink: string; active?: boolean }[];
}

/** Each HAG host's open sessions (its /sessions, in its own namespace). */
async function sessions(): Promise<SessionView[][]> {
  return Promise.all(
    HAG_HOSTS.map(
      async (h) =>
        JSON.parse(await inNs(h.ns, 'curl -sS --max-time 5 http://127.0.0.1:9108/sessions')) as SessionView[],
    ),
  );
}

/** Starts the held-connections client in the LAN host (with `start`, it waits for that file first). */
function spawnClient(conns: number, parallel: number, timeoutS: number, release?: string, start?: string) {
  const c = spawnIn(prefix, 'client', `client ${clients.length}`, [
    'python3',
    FIXTURE,
    'client',
    ADDR.server.hag,
    String(PORT),
    String(BYTES),
    String(conns),
    String(parallel),
    String(timeoutS),
    ...(release || start ? [release ?? '-'] : []),
    ...(start ? [start] : []),
  ]);
  clients.push(c);
  return c;
}

interface Held {
  ok: number;
  errors: Record<string, number>;
  badSha: number;
  seconds: number;
}

/** The client's `held` line: how many of its connections opened, each payload checked. */
const held = async (c: Daemon) =>
  JSON.parse(await c.waitFor('its held line', (l) => l.includes('"held"'), 120_000)) as Held;

async function heldClient(conns: number, parallel: number, timeoutS: number, release?: string) {
  const c = spawnClient(conns, parallel, timeoutS, release);
  return { c, held: await held(c) };
}

beforeAll(async () => {
  await startLab(t, prefix, 'ecmp', { small: 1000 });
  server = spawnIn(prefix, 'server', 'held server', [
    'python3',
    FIXTURE,
    'server',
    String(PORT),
    String(BYTES),
  ]);
  await server.waitFor('listening', (l) => l.includes('listening'), 10_000);
  // The CPE's probes (300 ms apart, 2 successes) call both uplinks up.
  await new Promise((r) => setTimeout(r, 1500));
}, 120_000);

afterAll(() => endLab(prefix, t.product, [server, t.www, ...clients], t.work), 30_000);

describe('lab: two HAG hosts behind ECMP', () => {
  it(`(a) ${CONNS} connections: each one's subflows on one host, both hosts used, sha256 equal`, async () => {
    const release = join(runDir(prefix), 'release');
    const { c, held: opened } = await heldClient(CONNS, 25, 30, release);
    expect(opened, JSON.stringify(opened)).toMatchObject({ ok: CONNS, badSha: 0 });
    let view: SessionView[][] = [];
    // Every connection with its LTE join, on both hosts together.
    const end = Date.now() + 20_000;
    const complete = (v: SessionView[][]) =>
      v.flat().length === CONNS && v.flat().every((s) => new Set(s.subflows.map((f) => f.uplink)).size === 2);
    while (Date.now() < end) {
      view = await sessions();
      if (complete(view)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const counts = view.map((v) => v.length);
    process.stdout.write(
      `ecmp: sessions per host ${JSON.stringify(counts)}, opened in ${opened.seconds} s\n`,
    );
    expect(counts.reduce((a, b) => a + b, 0)).toBe(CONNS);
    expect(Math.min(...counts), JSON.stringify(counts)).toBeGreaterThan(0);
    view.forEach((list, i) => {
      const h = HAG_HOSTS[i];
      for (const s of list) {
        const [first, ...joins] = s.subflows;
        expect(first.local, JSON.stringify(s)).toBe(`${HAG_SERVICE}:5124`);
        expect(joins.length, JSON.stringify(s)).toBeGreaterThanOrEqual(1);
        // The C flag kept the CPE's LTE join off the service address (ECMP could take it to the
        // other host); it went to this host's join address.
        for (const j of joins) expect(j.local, JSON.stringify(s)).toBe(`${h.join}:5124`);
        expect(new Set(s.subflows.map((f) => f.uplink)), JSON.stringify(s)).toEqual(new Set(['dsl', 'lte']));
      }
    });
    writeFileSync(release, '');
    await c.waitFor('its done line', (l) => l.includes('"done"'), 30_000);
  }, 180_000);

  it('(b) hag2 stopped: new connections all succeed on hag1 within 5 s', async () => {
    const [hag1, hag2] = t.product!.hags;
    const opens = () => hag1.lines.filter((l) => l.event === 'open').length;
    const before = opens();
    // The client is started and waits for the word: its own start-up is not the HAG's failover.
    const go = join(runDir(prefix), 'go');
    const c = spawnClient(40, 20, 5, undefined, go);
    await c.waitFor('its waiting line', (l) => l.includes('"waiting"'), 30_000);
    const stoppedAt = Date.now();
    labHostPower(prefix, 'hag2', 'down');
    await hag2.stop('SIGKILL');
    writeFileSync(go, '');
    const h = await held(c);
    const took = (Date.now() - stoppedAt) / 1000;
    process.stdout.write(`ecmp: after hag2 stopped, ${h.ok}/40 new connections in ${took.toFixed(2)} s\n`);
    expect(h, JSON.stringify(h)).toMatchObject({ ok: 40, badSha: 0 });
    expect(took).toBeLessThanOrEqual(5);
    expect(opens() - before).toBeGreaterThanOrEqual(40);
  }, 60_000);
});
