// The HAG workers' ECMP (hag/workers/ecmp.ts) when a worker joins, leaves and rejoins, with the
// routes the supervisor sets (syncPlan) in namespaces this test creates:
//   c (client 198.18.41.2) ── h (router: the service addresses 198.18.140.1 and 2001:db8:140::1
//   routed by syncPlan's
//   resilient group over tA and tB, stand-ins for the workers' TUNs) ── a, b (each an echo
//   server on 198.18.140.1:7000, as each worker listens on the service address)
// TCP connections opened while only A is in the group are held open; after B joins, after B
// leaves (its link deleted, as a dead worker's TUN goes, then syncPlan) and after B rejoins, every
// one of them still echoes bytes both ways: a connection moved to B would be reset there (B has
// no socket for it). New connections after the join reach B too (the group really changed).
// Before the fix (one nexthop per worker) about half of A's IPv4 connections moved at B's join.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HASH_FIELDS, syncPlan } from '../../hag/workers/ecmp.js';
import { runPlan } from '../../src/daemon/command-plan.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';

const SVC = '198.18.140.1';
const SVC6 = '2001:db8:140::1';
/** Connections held (and opened by "more") to each of SVC and SVC6. */
const HELD = 32;

// Echo server: prints {event:"conn"} for each connection it accepts.
const SERVER = `import net from 'node:net';
net.createServer((s) => { console.log(JSON.stringify({ event: 'conn' })); s.on('error', () => {}); s.pipe(s); })
  .listen(7000, '::', () => console.log(JSON.stringify({ event: 'ready' })));`;

// Client: opens the held connections, then on each stdin line "round" sends 64 bytes on each and
// waits for their echo (2 s); "more" opens new connections and closes them. Prints one JSON line
// per command, with the errors (ECONNRESET...) its sockets met.
const CLIENT = `import net from 'node:net';
import { createInterface } from 'node:readline';
const open = (i) => new Promise((res, rej) => {
  const s = net.connect(7000, i % 2 ? '${SVC6}' : '${SVC}', () => res(s));
  s.errors = []; s.on('error', (e) => { s.errors.push(e.code ?? e.message); rej(e); });
});
const held = [];
for (let i = 0; i < ${2 * HELD}; i++) held.push(await open(i));
console.log(JSON.stringify({ event: 'open', n: held.length }));
const echo = (s) => new Promise((res) => {
  if (s.destroyed) return res(false);
  let got = 0;
  const t = setTimeout(() => { s.off('data', on); res(false); }, 2000);
  const on = (d) => { got += d.length; if (got >= 64) { clearTimeout(t); s.off('data', on); res(true); } };
  s.on('data', on); s.write(Buffer.alloc(64, 7));
});
let round = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'round') {
    const ok = await Promise.all(held.map(echo));
    console.log(JSON.stringify({ event: 'round', round: ++round, ok: ok.filter(Boolean).length,
      errors: held.flatMap((s) => s.errors) }));
  } else if (line === 'more') {
    const r = await Promise.allSettled(Array.from({ length: ${2 * HELD} }, (_, i) => open(i)));
    for (const x of r) if (x.status === 'fulfilled') x.value.destroy();
    console.log(JSON.stringify({ event: 'more', ok: r.filter((x) => x.status === 'fulfilled').length }));
  }
}`;

let ns: Netns;
let work: string;
let client: ReturnType<Netns['spawn']>;
let out: Lines;
const servers: Record<string, Lines> = {};

const A = { index: 0, tun: 'tA' };
const B = { index: 1, tun: 'tB' };

function sync(live: { index: number; tun: string }[]): void {
  const r = runPlan(syncPlan([SVC, SVC6], live), { netns: ns.name('h') });
  if (!r.ok) throw new Error(`syncPlan: ${r.failure.command}: ${r.failure.error}`);
}

/** The worker side of a link: its addresses (SVC6 on the link, so that it answers ND for it). */
const peer = (link: string, net: string) =>
  [
    `ip addr add 198.18.${net}.2/24 dev ${link}`,
    `ip route add default via 198.18.${net}.1`,
    `ip addr add ${SVC6}/128 dev ${link} nodad`,
    `ip addr add 2001:db8:${net}::2/64 dev ${link} nodad`,
    `ip -6 route add default via 2001:db8:${net}::1`,
  ].join(' && ');

/** B's link (again after it was deleted, which takes b0's address and route with it). */
function linkB(): void {
  ns.veth('h', 'tB', 'b', 'b0');
  ns.sh('h', 'ip addr add 198.18.43.1/24 dev tB && ip addr add 2001:db8:43::1/64 dev tB nodad');
  ns.sh('b', peer('b0', '43'));
}

/** Sends `cmd` to the client and waits for its answer. */
async function ask(cmd: 'round' | 'more'): Promise<Record<string, unknown>> {
  const before = out.seen.length;
  client.stdin!.write(`${cmd}\n`);
  return once(out, (l) => l.event === cmd && out.seen.indexOf(l) >= before, 20_000);
}

const conns = (n: string) => servers[n].seen.filter((l) => l.event === 'conn').length;

beforeAll(async () => {
  ns = new Netns('rj');
  work = mkdtempSync(join(tmpdir(), 'ha-rejoin-'));
  writeFileSync(join(work, 'server.mjs'), SERVER);
  writeFileSync(join(work, 'client.mjs'), CLIENT);
  for (const n of ['c', 'h', 'a', 'b']) ns.add(n);
  ns.veth('c', 'c0', 'h', 'hc');
  ns.veth('h', 'tA', 'a', 'a0');
  ns.sh(
    'c',
    'ip addr add 198.18.41.2/24 dev c0 && ip route add default via 198.18.41.1 && ' +
      'ip addr add 2001:db8:41::2/64 dev c0 nodad && ip -6 route add default via 2001:db8:41::1',
  );
  ns.sh(
    'h',
    [
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0',
      'sysctl -qw net.ipv6.conf.all.forwarding=1',
      ...['ipv4', 'ipv6'].map(
        (f) =>
          `sysctl -qw net.${f}.fib_multipath_hash_fields=${HASH_FIELDS} net.${f}.fib_multipath_hash_policy=3`,
      ),
      'ip addr add 198.18.41.1/24 dev hc && ip addr add 2001:db8:41::1/64 dev hc nodad',
      'ip addr add 198.18.42.1/24 dev tA && ip addr add 2001:db8:42::1/64 dev tA nodad',
    ].join(' && '),
  );
  ns.sh('a', peer('a0', '42'));
  linkB();
  for (const n of ['a', 'b']) {
    ns.sh(n, `ip addr add ${SVC}/32 dev lo`);
    servers[n] = lines(ns.spawn(n, [process.execPath, join(work, 'server.mjs')]));
    await once(servers[n], (l) => l.event === 'ready', 10_000);
  }
  sync([A]);
  client = ns.spawn('c', [process.execPath, join(work, 'client.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
  out = lines(client);
  await once(out, (l) => l.event === 'open', 20_000);
}, 60_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('HAG workers: ECMP when a worker joins, leaves and rejoins', () => {
  it('the held connections are all on A and echo', async () => {
    await waitFor('A to log the held connections', () => conns('a') >= 2 * HELD);
    expect(conns('a')).toBe(2 * HELD);
    expect(conns('b')).toBe(0);
    expect(await ask('round')).toMatchObject({ ok: 2 * HELD, errors: [] });
  });

  it('B joins: none of A’s connections moves, new ones reach B', async () => {
    sync([A, B]);
    expect(await ask('round')).toMatchObject({ ok: 2 * HELD, errors: [] });
    expect(await ask('more')).toMatchObject({ ok: 2 * HELD });
    await waitFor('B to log some of the new connections', () => conns('a') + conns('b') >= 4 * HELD);
    expect(conns('b')).toBeGreaterThan(0);
  });

  it('B leaves (its TUN goes) and rejoins: A’s connections keep working', async () => {
    ns.sh('h', 'ip link del tB');
    sync([A]);
    expect(await ask('round')).toMatchObject({ ok: 2 * HELD, errors: [] });
    linkB();
    sync([A, B]);
    expect(await ask('round')).toMatchObject({ ok: 2 * HELD, errors: [] });
    const [seenA, seenB] = [conns('a'), conns('b')];
    expect(await ask('more')).toMatchObject({ ok: 2 * HELD });
    await waitFor(
      'the servers to log the new connections',
      () => conns('a') + conns('b') >= seenA + seenB + 2 * HELD,
    );
    expect(conns('b')).toBeGreaterThan(seenB);
  });
});
