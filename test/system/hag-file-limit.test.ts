// The HAG under a low open-file limit (prlimit --nofile=256:256), in network namespaces this test
// creates and removes: c (a plain TCP SOCKS5 client, the load generator of scripts/bench/hag.ts)
// ── h (the HAG) ── s (the benchmark's holding echo server). More connections are opened than the
// files hold: the excess is refused with the reason file-limit (logged, counted), /metrics
// answers all along, and every held connection still carries an echo round trip.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { builtTreeInto } from './lib/tree-build.js';

const ROOT = join(import.meta.dirname, '../..');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};
const FILES = 256;
const OPEN = 260;

let ns: Netns;
let work: string;
let dist: string;
let hag: Lines;

/** Compiles the tree (tsc writes its output even with type errors elsewhere: only ours count). */
function compile(dir: string): void {
  builtTreeInto(dir, /^(hag\/|scripts\/bench\/hag|src\/(daemon|io|tcp|mptcp))/);
}

beforeAll(async () => {
  ns = new Netns('hfl');
  work = mkdtempSync(join(tmpdir(), 'hag-files-'));
  dist = join(work, 'dist');
  compile(dist);
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  for (const n of ['c', 'h', 's']) ns.add(n);
  ns.veth('c', 'c1', 'h', 'h1');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh('c', 'ip addr add 198.18.1.2/24 dev c1 && ip route add default via 198.18.1.1');
  ns.sh(
    'h',
    'sysctl -qw net.ipv4.ip_forward=1 && ip addr add 198.18.1.1/24 dev h1 && ip addr add 198.18.3.1/24 dev hs',
  );
  ns.sh('s', 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
  writeFileSync(
    join(work, 'hag.yaml'),
    [
      'tun: {name: hagf0}',
      'service: {addresses: [198.18.100.1], socks: {port: 1080}}',
      // The holding server is in the test range, refused by default: opened here.
      'access: {subscribers: [198.18.1.0/24], allowDestinations: [198.18.0.0/15], rateLimit: {perSecond: 0, burst: 1}}',
      'metrics: {address: 127.0.0.1, port: 9108}',
      'log: {level: info}',
      '',
    ].join('\n'),
  );
  const holder = lines(
    ns.spawn('s', ['node', join(dist, 'scripts/bench/hag.js'), '--role', 'hold'], { env: ENV }),
  );
  await once(holder, (l) => l.event === 'ready', 10_000);
  const p = ns.spawn(
    'h',
    [
      'prlimit',
      `--nofile=${FILES}:${FILES}`,
      'node',
      join(dist, 'src/cli.js'),
      'hag',
      '--config',
      join(work, 'hag.yaml'),
    ],
    { env: ENV },
  );
  hag = lines(p);
  await once(hag, (l) => l.event === 'start' || l.event === 'start-failed', 20_000);
  if (hag.seen.some((l) => l.event === 'start-failed')) throw new Error(JSON.stringify(hag.seen));
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * One scrape of /metrics from inside h. Asynchronous: while curl runs, this process goes on
 * reading the HAG's log; a synchronous call left that pipe unread, the HAG's logger blocked on
 * it once it was full (the refusals fill it fast) and /metrics timed out.
 */
async function metricsText(): Promise<string | undefined> {
  try {
    const r = await promisify(execFile)(
      'ip',
      ['netns', 'exec', ns.name('h'), 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9108/metrics'],
      { encoding: 'utf8' },
    );
    return r.stdout;
  } catch {
    return undefined;
  }
}

describe('HAG: the open-file limit', () => {
  it(`holds what ${FILES} files allow, refuses the rest (file-limit), /metrics answers, held connections work`, async () => {
    const sized = await once(hag, (l) => l.event === 'file-limit', 5000);
    expect(sized.limit).toBe(FILES);
    const capacity = Number(sized.capacity);
    // The reserve (64 files) and the HAG's own files come off; one file per connection.
    expect(capacity).toBeGreaterThan(100);
    expect(capacity).toBeLessThan(FILES - 64);
    // The default maxConnections (100000) is more than that: said at start.
    expect(hag.seen.some((l) => l.event === 'file-limit-low')).toBe(true);

    const load = ns.spawn(
      'c',
      [
        'node',
        join(dist, 'scripts/bench/hag.js'),
        '--role',
        'load',
        '--rate-conns',
        '0',
        '--idle-conns',
        String(OPEN),
        '--echoes',
        String(OPEN),
      ],
      { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const l = lines(load);
    await once(l, (x) => x.event === 'rate', 10_000);
    load.stdin!.write('go\n');
    // /metrics is polled while the connections open, and must answer every time.
    let polls = 0;
    let answered = 0;
    while (!l.seen.some((x) => x.event === 'idle') && l.exited === null) {
      polls++;
      if ((await metricsText())?.includes('hag_open_files')) answered++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const idle = await once(l, (x) => x.event === 'idle', 60_000);
    polls++;
    const text = await metricsText();
    if (text?.includes('hag_open_files')) answered++;
    expect(answered).toBe(polls);

    expect(idle.held).toBe(capacity);
    expect(idle.failed).toBe(OPEN - capacity);
    // The client saw its resets; the HAG's log lines saying why may still be on their way. Beyond
    // a source's share of the SYN queue the HAG answers with SYN cookies, and a segment of a
    // refused client still in flight (its SOCKS greeting) carries a valid cookie, so it opens the
    // connection again and is refused again: the log and the counter still count it once.
    const refusedPorts = () =>
      new Set(
        hag.seen.filter((x) => x.event === 'refused' && x.reason === 'file-limit').map((x) => x.clientPort),
      ).size;
    await once(hag, () => refusedPorts() >= OPEN - capacity, 10_000).catch(() => {});
    expect(refusedPorts()).toBe(OPEN - capacity);
    const counted = /^hag_refusals_total\{[^}]*reason="file-limit"[^}]*\} (\d+)$/m.exec(
      (await metricsText()) ?? '',
    );
    expect(Number(counted?.[1])).toBe(OPEN - capacity);
    expect(hag.seen.filter((x) => x.event === 'refused' && x.reason === 'file-limit').length).toBe(
      OPEN - capacity,
    );

    load.stdin!.write('echo\n');
    const echo = await once(l, (x) => x.event === 'echo', 30_000);
    expect(echo).toMatchObject({ tried: capacity, ok: capacity });
    load.stdin!.write('q\n');
  }, 120_000);
});
