// HAG workers benchmark (issue 17), as root, in network namespaces it creates and removes: the
// HAG with 1 worker and then with `--workers` N (one TUN each, the service address spread by a
// resilient nexthop group, hag/workers/), the same load on each: (1) new SOCKS5 connections per
// second and (2) new Convert connections per second, from a kernel MPTCP client (mptcpize) that
// opens `--conns` of them `--concurrency` at a time through the HAG to a server that holds them,
// and (3) unshaped bulk download on 2 connections for `--seconds` (with N workers the two are
// put on different workers: a connection that ECMP hashed onto the other's worker is opened
// again). Prints each figure per worker count and the ratio N / 1.
//   node dist/scripts/bench/hag-workers.js [--workers 2] [--conns 3000] [--concurrency 100]
//     [--loaders 2] [--seconds 8] [--worker-cpu PCT]
// --worker-cpu PCT confines each worker to PCT% of one core (a cgroup of its own, cpu-cap.ts): on a
// machine with fewer spare cores than workers plus load generators, N capped workers against one
// capped worker show how the HAG scales per core while the load generators keep the rest.
// (`--loaders` load generator processes share the connections; each figure comes with the HAG's
// CPU time per connection, which tells the HAG's cost apart from the load generator's limits on
// a machine whose cores the load generator, the kernel and the HAG share.)
// The same file is the load generator (--role load), the bulk client (--role bulk), the holding
// server (--role hold) and the bulk source (--role source).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { decodeConvert, encodeConvert } from '../../src/convert/index.js';
import { benchArgs } from './args.js';
import { type CpuCap, createCpuCap } from './cpu-cap.js';
import { cpuSeconds, holdServer, jsonLines, out, pool, sh, socksConnect, waitLine } from './hag-common.js';

const { values: a } = benchArgs({
  options: {
    role: { type: 'string', default: 'run' },
    workers: { type: 'string', default: '2' },
    conns: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '8' },
    proto: { type: 'string', default: 'socks' },
    loaders: { type: 'string', default: '2' },
    pcap: { type: 'string' },
    'worker-cpu': { type: 'string' },
  },
});
const WORKER_CPU = a['worker-cpu'] === undefined ? undefined : Number(a['worker-cpu']);

const HAG = '198.18.100.1';
const HOLD = '198.18.3.2:9000';
const SOURCE = '198.18.3.2:9001';

// ------------------------------------------------------------------ load generator (namespace c)

/** One Convert connection (RFC 8803): the Connect TLV to `dst`, the HAG's answer, then the end. */
function convertConnect(dst: string, timeoutMs = 20_000): Promise<net.Socket> {
  const [dh, dp] = dst.split(':');
  const address = Uint8Array.from(dh.split('.').map(Number));
  const msg = encodeConvert([{ type: 'connect', port: Number(dp), address, tcpOptions: new Uint8Array(0) }]);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HAG, port: 5124 });
    let got = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('connect', () => s.write(msg));
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const r = decodeConvert(got);
      if (r.kind === 'incomplete') return;
      s.off('data', onData);
      clearTimeout(t);
      if (r.kind === 'error') reject(new Error(`Convert reply: ${r.error.reason}`));
      else if (r.message.tlvs.some((x) => x.type === 'error')) reject(new Error('Convert error TLV'));
      else resolve(s);
    };
    s.on('data', onData);
  });
}

async function load(): Promise<void> {
  const n = Number(a.conns);
  const open = a.proto === 'convert' ? () => convertConnect(HOLD) : () => socksConnect(`${HAG}:1080`, HOLD);
  const t0 = performance.now();
  const r = await pool(n, Number(a.concurrency), async () => {
    const s = await open();
    await new Promise<void>((done) => {
      s.on('close', () => done());
      s.end();
    });
  });
  const sec = (performance.now() - t0) / 1000;
  out({
    event: 'rate',
    proto: a.proto,
    connections: n,
    ...r,
    seconds: sec,
    perSecond: Math.round((n - r.failed) / sec),
  });
}

/** Bulk client: 2 SOCKS5 connections to the source; "redo I" opens I again, "go" counts bytes. */
async function bulk(): Promise<void> {
  const socks: (net.Socket | undefined)[] = [undefined, undefined];
  const bytes = [0, 0];
  const open = async (i: number) => {
    socks[i]?.destroy();
    const s = await socksConnect(`${HAG}:1080`, SOURCE);
    s.on('data', (d) => {
      bytes[i] += d.length;
    });
    s.on('error', () => {});
    socks[i] = s;
  };
  await Promise.all([open(0), open(1)]);
  const ports = () => socks.map((s) => s?.localPort);
  out({ event: 'open', ports: ports() });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.startsWith('redo ')) {
      await open(Number(line.slice(5)));
      out({ event: 'open', ports: ports() });
      continue;
    }
    const b0 = bytes[0] + bytes[1];
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, Number(a.seconds) * 1000));
    const sec = (performance.now() - t0) / 1000;
    out({ event: 'bulk', bitsPerSecond: Math.round(((bytes[0] + bytes[1] - b0) * 8) / sec), seconds: sec });
    for (const s of socks) s?.destroy();
    setTimeout(() => process.exit(0), 200);
    return;
  }
}

/** Bulk source: every connection gets data as fast as it takes it, until it closes. */
function source(): void {
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    const pump = () => {
      while (s.writable && s.write(chunk)) {
        /* until the socket's buffer is full */
      }
    };
    s.on('drain', pump);
    pump();
  });
  const [h, p] = SOURCE.split(':');
  srv.listen({ host: h, port: Number(p) }, () => out({ event: 'ready' }));
}

// ------------------------------------------------------------------ orchestration

const SELF = fileURLToPath(import.meta.url);
const ROOT = join(dirname(SELF), '../../..');
const JOINS = Array.from({ length: 64 }, (_, i) => `198.18.101.${i + 1}`);

function hagConfig(workers: number): string {
  return [
    'tun: {name: hagb}',
    `workers: ${workers}`,
    `service: {addresses: [${HAG}], joinAddresses: [${JOINS.slice(0, workers).join(', ')}], socks: {port: 1080}, convert: {port: 5124}}`,
    'access: {subscribers: [198.18.1.0/24], allowDestinations: [198.18.0.0/15], rateLimit: {perSecond: 0, burst: 1}}',
    'limits: {drainTimeout: 1s}',
    'metrics: {address: 127.0.0.1, port: 9108}',
    'log: {level: info}',
    '',
  ].join('\n');
}

async function orchestrate(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-hag --workers needs root (network namespaces, TUN)');
  const n = Number(a.workers);
  const loaders = Number(a.loaders);
  const tag = `hw${randomBytes(2).toString('hex')}`;
  const names = ['c', 'h', 's'].map((x) => `${tag}-${x}`);
  const [C, H, S] = names;
  const work = mkdtempSync(join(tmpdir(), 'bench-hag-workers-'));
  const procs: ReturnType<typeof spawn>[] = [];
  const step = (what: string) => process.stderr.write(`bench-hag-workers: ${what}\n`);
  const env = {
    ...process.env,
    HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
  };
  const node = (ns: string, args: string, pre = '', stdout: 'pipe' | number = 'pipe') => {
    const p = spawn(
      'ip',
      ['netns', 'exec', ns, 'sh', '-c', `ulimit -n $(ulimit -Hn); exec ${pre}node ${args}`],
      {
        env,
        stdio: ['pipe', stdout, 'inherit'],
      },
    );
    procs.push(p);
    return p;
  };
  const results: Record<string, Record<number, number>> = { socks: {}, convert: {}, bulk: {} };
  const caps: CpuCap[] = [];
  const uncap = () => {
    for (const c of caps.splice(0)) c.remove();
  };
  try {
    for (const x of names) execFileSync('ip', ['netns', 'add', x]);
    const veth = (a1: string, i1: string, a2: string, i2: string) => {
      const t1 = `v${randomBytes(4).toString('hex')}`;
      const t2 = `v${randomBytes(4).toString('hex')}`;
      execFileSync('ip', ['link', 'add', t1, 'type', 'veth', 'peer', 'name', t2]);
      execFileSync('ip', ['link', 'set', t1, 'netns', a1]);
      execFileSync('ip', ['link', 'set', t2, 'netns', a2]);
      sh(a1, `ip link set ${t1} name ${i1} && ip link set ${i1} up && ip link set lo up`);
      sh(a2, `ip link set ${t2} name ${i2} && ip link set ${i2} up && ip link set lo up`);
    };
    veth(C, 'c1', H, 'h1');
    veth(H, 'hs', S, 's0');
    const ports = 'net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1';
    sh(
      C,
      `ip addr add 198.18.1.2/24 dev c1 && ip route add default via 198.18.1.1 && sysctl -qw net.mptcp.enabled=1 ${ports}`,
    );
    sh(
      H,
      `ip addr add 198.18.1.1/24 dev h1 && ip addr add 198.18.3.1/24 dev hs && sysctl -qw net.ipv4.ip_forward=1 ${ports}`,
    );
    sh(S, 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
    const holder = node(S, `${SELF} --role hold`);
    await waitLine(jsonLines(holder), (o) => o.event === 'ready', 10_000);
    const src = node(S, `${SELF} --role source`);
    await waitLine(jsonLines(src), (o) => o.event === 'ready', 10_000);
    for (const k of [1, n]) {
      writeFileSync(join(work, 'hag.yaml'), hagConfig(k));
      const logFile = join(work, `hag-${k}.log`);
      const hag = node(
        H,
        `${join(ROOT, 'dist/src/cli.js')} hag --config ${join(work, 'hag.yaml')}`,
        '',
        openSync(logFile, 'w'),
      );
      // With several workers, the supervisor's start line (after every worker is ready and routed).
      const started = () =>
        (k > 1 ? /"event":"start","workers"/ : /"event":"start"/).test(readFileSync(logFile, 'utf8'));
      for (let i = 0; !started(); i++) {
        if (i > 300 || hag.exitCode !== null)
          throw new Error(`the HAG did not start:\n${readFileSync(logFile, 'utf8')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      step(`HAG with ${k} worker(s) up`);
      if (WORKER_CPU !== undefined) {
        // One worker: the HAG process itself (ip netns exec and sh exec it); several: the
        // supervisor's workers (it only routes and merges pages, and stays uncapped).
        const pids = k > 1 ? workerPids(H) : [hag.pid!];
        if (pids.length !== k) throw new Error(`expected ${k} worker pids, got ${pids.join(',')}`);
        for (const [i, pid] of pids.entries()) {
          const cap = createCpuCap(`${tag}-w${k}-${i}`, WORKER_CPU);
          caps.push(cap);
          cap.add(pid);
          step(`worker ${i} (pid ${pid}) confined: ${cap.describe()}`);
        }
      }
      // --pcap DIR: every packet header in the HAG's namespace, per worker count (for a failure's cause).
      if (a.pcap) {
        const cap = spawn(
          'ip',
          ['netns', 'exec', H, 'tcpdump', '-i', 'any', '-s', '160', '-w', join(a.pcap, `hag-${k}.pcap`)],
          {
            stdio: 'ignore',
          },
        );
        procs.push(cap);
        await new Promise((r) => setTimeout(r, 1000));
      }
      for (const proto of ['socks', 'convert'] as const) {
        // `--loaders` generator processes at once (one node process alone tops out first).
        const cpu0 = hagCpu(H);
        const t0 = performance.now();
        const each = Math.ceil(Number(a.conns) / loaders);
        const rs = await Promise.all(
          Array.from({ length: loaders }, () => {
            const loader = node(
              C,
              `${SELF} --role load --proto ${proto} --conns ${each} --concurrency ${a.concurrency}`,
              'mptcpize run ',
            );
            return waitLine(jsonLines(loader), (o) => o.event === 'rate', 600_000);
          }),
        );
        const sec = (performance.now() - t0) / 1000;
        const ok = rs.reduce((x, r) => x + Number(r.connections) - Number(r.failed), 0);
        const cpu = hagCpu(H) - cpu0;
        results[proto][k] = Math.round(ok / sec);
        if (ok < each * loaders)
          out({
            event: 'failed-connections',
            proto,
            workers: k,
            ...dropCounters(H),
            hagLog: readFileSync(logFile, 'utf8')
              .split('\n')
              .filter((l) => /"level":"(warn|error|fatal)"|worker-exit/.test(l))
              .slice(0, 20),
          });
        out({
          event: 'new-connections',
          proto,
          workers: k,
          loaders,
          connections: each * loaders,
          failed: each * loaders - ok,
          failures: rs.map((r) => r.failures),
          seconds: sec,
          perSecond: results[proto][k],
          hagCpuSeconds: cpu,
          hagCpuPerConnectionMs: Math.round((cpu / Math.max(1, ok)) * 1e4) / 10,
        });
      }
      const b = node(C, `${SELF} --role bulk --seconds ${a.seconds}`, 'mptcpize run ');
      const lines = jsonLines(b);
      const opens = () => lines.filter((o) => o.event === 'open');
      await waitLine(lines, (o) => o.event === 'open', 30_000);
      // With several workers the two connections go to two of them (ECMP hashes each on its own).
      let redone = 0;
      for (; k > 1 && redone < 20; redone++) {
        const w = workersOf(H, opens().at(-1)!.ports as number[]);
        if (w[0] !== undefined && w[1] !== undefined && w[0] !== w[1]) break;
        const seen = opens().length;
        b.stdin!.write('redo 1\n');
        for (let i = 0; opens().length === seen; i++) {
          if (i > 300) throw new Error('the bulk client did not open its connection again');
          await new Promise((r2) => setTimeout(r2, 100));
        }
      }
      b.stdin!.write('go\n');
      const r = await waitLine(lines, (o) => o.event === 'bulk', 120_000);
      results.bulk[k] = Number(r.bitsPerSecond);
      out({
        ...r,
        event: 'bulk',
        workers: k,
        connections: 2,
        reopened: redone,
      });
      if (caps.length > 0)
        out({ event: 'worker-cpu', workers: k, percent: WORKER_CPU, throttled: caps.map((c) => c.stats()) });
      hag.kill('SIGTERM');
      await new Promise((r2) => hag.once('exit', r2));
      uncap();
      step(`HAG with ${k} worker(s) stopped`);
    }
    const ratio = (x: Record<number, number>) => Math.round((x[n] / x[1]) * 100) / 100;
    out({
      event: 'workers-ratio',
      workers: n,
      socksPerSecond: results.socks,
      convertPerSecond: results.convert,
      bulkBitsPerSecond: results.bulk,
      ratio: { socks: ratio(results.socks), convert: ratio(results.convert), bulk: ratio(results.bulk) },
      ...(WORKER_CPU === undefined ? {} : { workerCpuPercent: WORKER_CPU }),
      load: readFileSync('/proc/loadavg', 'utf8').trim(),
    });
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    uncap();
    for (const x of names) {
      try {
        for (const pid of execFileSync('ip', ['netns', 'pids', x], { encoding: 'utf8' })
          .split(/\s+/)
          .filter(Boolean))
          process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', x]);
      } catch {
        /* gone */
      }
    }
    rmSync(work, { recursive: true, force: true });
  }
}

/** CPU seconds of every HAG process in `ns` (the supervisor and its workers). */
function hagCpu(ns: string): number {
  let sum = 0;
  for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .split(/\s+/)
    .filter(Boolean)) {
    try {
      sum += cpuSeconds(Number(pid));
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** Where packets were dropped, when connections failed: the TUNs' drops and the cores' refusals. */
function dropCounters(ns: string): Record<string, unknown> {
  const tuns = sh(ns, 'ip -s -o link show | grep hagb || true')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/\s+/g, ' ').slice(0, 400));
  const text = sh(ns, 'curl -sS --max-time 5 http://127.0.0.1:9108/metrics || true');
  const picked = text
    .split('\n')
    .filter(
      (l) => /drop|Overflow|NoToken|Reset|refusals|Rejected/i.test(l) && !l.startsWith('#') && !/ 0$/.test(l),
    );
  return { tuns, counters: picked.slice(0, 60) };
}

/** The live workers' pids, from the supervisor's /workers. */
function workerPids(ns: string): number[] {
  const list = JSON.parse(sh(ns, 'curl -sS --max-time 5 http://127.0.0.1:9108/workers')) as {
    pid?: number;
  }[];
  return list.map((w) => w.pid).filter((p): p is number => p !== undefined);
}

/** Which worker holds each of the client's connections (by its port), from the supervisor's /sessions. */
function workersOf(ns: string, ports: number[]): (number | undefined)[] {
  const list = JSON.parse(sh(ns, 'curl -sS --max-time 5 http://127.0.0.1:9108/sessions')) as {
    worker: number;
    subflows: { remote: string }[];
  }[];
  return ports.map((p) => list.find((s) => s.subflows[0]?.remote.endsWith(`:${p}`))?.worker);
}

if (a.role === 'hold') holdServer(HOLD);
else if (a.role === 'source') source();
else if (a.role === 'load') await load();
else if (a.role === 'bulk') await bulk();
else await orchestrate();
