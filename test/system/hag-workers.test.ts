// The HAG with two workers on one host (hag/workers/), in namespaces this test creates:
//   c (Linux kernel MPTCP client: c1 198.18.21.2, c2 198.18.22.2, a `subflow` endpoint on c2)
//   ── h (the HAG: service address 198.18.120.1 routed by a resilient nexthop group over the
//   TUNs hagw-0 and hagw-1; join addresses 198.18.121.1 and .2) ── s (HTTP server 198.18.23.2)
// (a) the supervisor starts both workers and routes the service address over both TUNs; (b)
// mptcpize curl through SOCKS5: the connections spread over both workers, and every join of the
// kernel client goes to the join address of the worker that holds its connection (C flag and
// ADD_ADDR), sha256 equal;
// (b2) the supervisor's page and /status.json add the workers' up, with a row for each; (c) one
// worker killed: a download on the other goes on to the end, new connections all succeed
// meanwhile, and the dead one is started again and back in the group.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hagLab, ROOT, runIn, startHag } from './lib/hag-lab.js';
import { compileDist, removeDist } from './lib/kernel-peer.js';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, once } from './lib/proc.js';

const HAG = '198.18.120.1';
const JOINS = ['198.18.121.1', '198.18.121.2'];
const MB = 1_000_000;
const SOCKS = `socks5://${HAG}:1080`;

let ns: Netns;
let work: string;
let dist: string | undefined;
let hag: Lines;
const sha: Record<string, string> = {};

const CONFIG = `# written by test/system/hag-workers.test.ts
tun: {name: hagw}
workers: 2
service:
  addresses: [${HAG}]
  joinAddresses: [${JOINS.join(', ')}]
  socks: {port: 1080}
access:
  subscribers: [198.18.21.0/24, 198.18.22.0/24]
  allowDestinations: [198.18.0.0/15]
  rateLimit: {perSecond: 0, burst: 1}
uplinks:
  - {name: dsl, prefixes: [198.18.21.0/24]}
  - {name: lte, prefixes: [198.18.22.0/24]}
limits: {drainTimeout: 2s}
metrics: {address: 127.0.0.1, port: 9208}
log: {level: info, connections: true}
`;

const run = (n: string, cmd: string, timeoutMs?: number) => runIn(ns, n, cmd, timeoutMs);

const getJson = <T>(path: string): T =>
  JSON.parse(ns.sh('h', `curl -sS --max-time 5 http://127.0.0.1:9208${path}`)) as T;

interface WorkerStatus {
  worker: number;
  pid: number;
  live: boolean;
  tun: string;
  restarts: number;
}

const fileSha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

beforeAll(async () => {
  ns = new Netns('hw');
  work = mkdtempSync(join(tmpdir(), 'ha-workers-'));
  for (const [name, size] of [
    ['file1', MB],
    ['file20', 20 * MB],
  ] as const) {
    const data = randomBytes(size);
    writeFileSync(join(work, name), data);
    sha[name] = createHash('sha256').update(data).digest('hex');
  }
  dist = compileDist();
  symlinkSync(join(ROOT, 'node_modules'), join(dist, 'node_modules'));
  await hagLab(ns, { family: 4, nets: [21, 22, 23], serve: work, addAddrAccepted: 2 });
  writeFileSync(join(work, 'hag.yaml'), CONFIG);
  ({ hag } = await startHag(
    ns,
    dist,
    join(work, 'hag.yaml'),
    (l) => l.event === 'start' && Array.isArray(l.workers),
    30_000,
  ));
}, 180_000);

afterAll(() => {
  ns?.cleanup();
  removeDist(dist);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A download through SOCKS5 by the kernel client; its sha256 checked. */
function download(file: string, extra = ''): void {
  const out = join(work, `got-${file}-${randomBytes(3).toString('hex')}`);
  const r = run(
    'c',
    `mptcpize run curl -sS --max-time 60 ${extra} -x ${SOCKS} http://198.18.23.2:8000/${file} -o ${out}`,
  );
  expect(r.rc, r.out).toBe(0);
  expect(fileSha(out)).toBe(sha[file]);
  rmSync(out);
}

interface Close {
  worker: number;
  proto: string;
  subflows: { local: string; remote: string }[];
}
const closes = () => hag.seen.filter((l) => l.event === 'close' && l.proto === 'socks') as unknown as Close[];

describe('HAG with two workers behind the kernel ECMP', () => {
  it('(a) the supervisor starts two workers and routes the service address over both TUNs', () => {
    const ws = getJson<WorkerStatus[]>('/workers');
    expect(ws.map((w) => [w.worker, w.live, w.tun])).toEqual([
      [0, true, 'hagw-0'],
      [1, true, 'hagw-1'],
    ]);
    const route = ns.sh('h', `ip route show ${HAG}`);
    expect(route).toMatch(/nhid \d+/);
    expect(route).toContain('dev hagw-0');
    expect(route).toContain('dev hagw-1');
    // Hashed on addresses, protocol and ports dissected from each packet (policy 3, fields 0x37).
    expect(ns.sh('h', 'sysctl -n net.ipv4.fib_multipath_hash_policy').trim()).toBe('3');
    expect(Number(ns.sh('h', 'sysctl -n net.ipv4.fib_multipath_hash_fields').trim())).toBe(0x37);
    // Each worker's own join address is routed into its own TUN.
    expect(ns.sh('h', `ip route show ${JOINS[0]}`)).toContain('dev hagw-0');
    expect(ns.sh('h', `ip route show ${JOINS[1]}`)).toContain('dev hagw-1');
  });

  it("(b) kernel MPTCP over SOCKS5: connections on both workers, every join to its own worker's join address", async () => {
    let n = 0;
    while (n < 24 && new Set(closes().map((c) => c.worker)).size < 2) {
      // 0.5 s long at least, so that the kernel's join (after the HAG's ADD_ADDR) is up before the end.
      download('file1', '--limit-rate 2M');
      n++;
      await waitFor('its close line', () => closes().length >= n, 10_000);
    }
    const cs = closes();
    expect(new Set(cs.map((c) => c.worker))).toEqual(new Set([0, 1]));
    for (const c of cs) {
      const [first, ...joins] = c.subflows;
      expect(first.local.startsWith(`${HAG}:`), JSON.stringify(c)).toBe(true);
      // The C flag kept the kernel client off the service address; ADD_ADDR showed it the way.
      expect(joins.length, JSON.stringify(c)).toBeGreaterThanOrEqual(1);
      for (const j of joins) expect(j.local.startsWith(`${JOINS[c.worker]}:`), JSON.stringify(c)).toBe(true);
    }
    process.stdout.write(`workers: ${n} connections, by worker ${JSON.stringify(cs.map((c) => c.worker))}\n`);
  }, 120_000);

  it("(b2) the supervisor's page and /status.json: both workers' snapshots added up, a row for each", () => {
    type St = {
      worker: number | 'all';
      connections: { accepted: number };
      workers?: { worker: number; live: boolean }[];
    };
    const own = [0, 1].map(
      (i) => JSON.parse(ns.sh('h', `curl -sS --max-time 5 http://127.0.0.1:${9209 + i}/status.json`)) as St,
    );
    expect(own.map((o) => o.worker)).toEqual([0, 1]);
    const all = getJson<St>('/status.json');
    expect(all.worker).toBe('all');
    expect(all.workers?.map((w) => [w.worker, w.live])).toEqual([
      [0, true],
      [1, true],
    ]);
    // (b)'s connections, closed by now: the supervisor's total is the two workers' own.
    expect(all.connections.accepted).toBeGreaterThan(0);
    expect(all.connections.accepted).toBe(own[0].connections.accepted + own[1].connections.accepted);
    const html = ns.sh('h', 'curl -sS --max-time 5 http://127.0.0.1:9208/');
    expect(html).toContain('all <b>2</b> workers');
    expect(html).toMatch(/id="w-0">[\s\S]*?id="w-1">/);
  });

  it("(c) a worker killed: the other one's download goes on, new connections succeed, the dead one comes back", async () => {
    // A slow download (20 MB at 4 MB/s) until its session shows on a worker.
    const out = join(work, 'got-slow');
    const slow = ns.spawn('c', [
      'mptcpize',
      'run',
      'curl',
      '-sS',
      '--max-time',
      '60',
      '--limit-rate',
      '4M',
      '-x',
      SOCKS,
      'http://198.18.23.2:8000/file20',
      '-o',
      out,
    ]);
    const slowDone = new Promise<number>((r) => slow.on('exit', (code) => r(code ?? -1)));
    let holder = -1;
    await waitFor(
      'the slow download on a worker',
      () => {
        const s = getJson<{ worker: number; dst?: string }[]>('/sessions');
        holder = s.find((x) => x.dst?.includes('198.18.23.2'))?.worker ?? -1;
        return holder >= 0;
      },
      15_000,
      200,
    );
    const victim = 1 - holder;
    const before = getJson<WorkerStatus[]>('/workers')[victim];
    process.kill(before.pid, 'SIGKILL');
    await once(hag, (l) => l.event === 'worker-exit' && l.worker === victim, 10_000);
    // Meanwhile every new connection lands on the live worker.
    for (let i = 0; i < 4; i++) download('file1');
    await once(hag, (l) => l.event === 'worker-ready' && l.worker === victim && l.pid !== before.pid, 20_000);
    await waitFor(
      'the ECMP group to hold both TUNs again',
      () => {
        const r = ns.sh('h', `ip route show ${HAG}`);
        return r.includes('hagw-0') && r.includes('hagw-1');
      },
      10_000,
      100,
    );
    expect(getJson<WorkerStatus[]>('/workers')[victim]).toMatchObject({ live: true, restarts: 1 });
    expect(await slowDone).toBe(0);
    expect(fileSha(out)).toBe(sha.file20);
    download('file1');
  }, 120_000);
});
