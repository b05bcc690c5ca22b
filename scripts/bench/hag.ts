// HAG benchmark, as root, in network namespaces it creates and removes: a kernel MPTCP client
// (the load generator below, under mptcpize) opens SOCKS5 connections through the HAG to a TCP
// server that holds them. Prints (1) new connections accepted per second (handshake, egress
// connect and close, `--rate-conns` of them, `--concurrency` at a time) and (2) `--idle-conns`
// concurrent idle connections held, with the HAG's resident memory before and after and the growth
// per connection. While the idle connections open, /metrics is polled (it must answer throughout);
// past the HAG's open-file limit (`--hag-files` lowers it) the excess is refused (file-limit), and
// at the end a few held connections do an echo round trip.
//   node dist/scripts/bench/hag.js [--rate-conns 5000] [--idle-conns 10000] [--concurrency 100]
//     [--hag-files N] [--hag-node-flags "..."] [--heap-snapshot] [--hag-log FILE]
//     [--settle S]
// The HAG runs with the V8 flags of its deployed launcher (hag/deploy/node-flags) unless
// --hag-node-flags says otherwise; --heap-snapshot writes a heap snapshot of the HAG holding the
// idle connections (SIGUSR2, --heapsnapshot-signal) into the current directory and prints its
// largest object types by retained self size; --hag-log keeps the HAG's stdout (its log, and what
// V8 tracing flags print) in FILE. Memory is read once it stopped falling, --settle S (8) seconds
// at least after each phase.
// The same file is the load generator (--role load) and the holding echo server (--role hold).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nodeFlags } from '../lib/node-flags.js';
import { benchArgs } from './args.js';
import {
  cpuSeconds,
  holdServer,
  jsonLines,
  out,
  pool,
  rssKiB,
  sh,
  socksConnect,
  waitLine,
} from './hag-common.js';

const { values: a } = benchArgs({
  options: {
    role: { type: 'string', default: 'run' },
    'rate-conns': { type: 'string', default: '5000' },
    'idle-conns': { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '100' },
    hag: { type: 'string', default: '198.18.100.1:1080' },
    dst: { type: 'string', default: '198.18.3.2:9000' },
    'hag-files': { type: 'string' },
    echoes: { type: 'string', default: '10' },
    'hag-node-flags': { type: 'string' },
    'heap-snapshot': { type: 'boolean', default: false },
    'hag-log': { type: 'string' },
    settle: { type: 'string', default: '8' },
  },
});

// ------------------------------------------------------------------ load generator (namespace c)

async function load(): Promise<void> {
  const n = Number(a['rate-conns']);
  const conc = Number(a.concurrency);
  const t0 = performance.now();
  const { failed, failures } = await pool(n, conc, async () => {
    const s = await socksConnect(a.hag!, a.dst!);
    await new Promise<void>((r) => {
      s.on('close', () => r());
      s.end();
    });
  });
  const sec = Math.max(1e-9, (performance.now() - t0) / 1000);
  out({
    event: 'rate',
    connections: n,
    failed,
    failures,
    seconds: sec,
    perSecond: Math.round((n - failed) / sec),
  });

  // The orchestrator measures the HAG between the phases, then says go.
  const stdin = createInterface({ input: process.stdin });
  await new Promise((r) => stdin.once('line', r));
  const k = Number(a['idle-conns']);
  const held: net.Socket[] = [];
  const t1 = performance.now();
  const progress = setInterval(
    () => process.stderr.write(`load: ${held.length} idle connections open\n`),
    2000,
  );
  const { failed: idleFailed, failures: idleFailures } = await pool(k, 500, async () => {
    held.push(await socksConnect(a.hag!, a.dst!));
  });
  clearInterval(progress);
  out({
    event: 'idle',
    held: held.length,
    failed: idleFailed,
    failures: idleFailures,
    seconds: (performance.now() - t1) / 1000,
  });
  // Then, per line on stdin: "echo" checks a few held connections; anything else closes them all.
  stdin.on('line', (line) => {
    if (line === 'echo') {
      echoes(held, Number(a.echoes)).then((r) => out({ event: 'echo', ...r }));
      return;
    }
    for (const s of held) s.destroy();
    out({ event: 'closed' });
    setTimeout(() => process.exit(0), 500);
  });
}

/** One round trip through the HAG to the echo server on each of `n` held connections, spread out. */
async function echoes(held: net.Socket[], n: number): Promise<{ tried: number; ok: number }> {
  const pick =
    held.length <= n ? held : Array.from({ length: n }, (_, i) => held[Math.floor((i * held.length) / n)]);
  const one = (s: net.Socket, i: number) =>
    new Promise<boolean>((resolve) => {
      const msg = Buffer.from(`echo ${i} ${randomBytes(8).toString('hex')}\n`);
      let got = Buffer.alloc(0);
      const t = setTimeout(() => done(false), 10_000);
      const onData = (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= msg.length) done(got.subarray(0, msg.length).equals(msg));
      };
      const done = (ok: boolean) => {
        clearTimeout(t);
        s.off('data', onData);
        resolve(ok);
      };
      s.on('data', onData);
      s.write(msg);
    });
  const r = await Promise.all(pick.map(one));
  return { tried: pick.length, ok: r.filter(Boolean).length };
}

// ------------------------------------------------------------------ orchestration

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const SELF = fileURLToPath(import.meta.url);

/** A few of the HAG's gauges (core sockets and buffers, sessions), from its metrics endpoint. */
function hagGauges(ns: string): Record<string, number | string> {
  let text: string;
  try {
    text = sh(ns, 'curl -sS --max-time 5 http://127.0.0.1:9108/metrics');
  } catch (e) {
    return { metricsError: (e as Error).message.split('\n')[1] ?? 'failed' };
  }
  // The first sample of `name` whose labels contain `label` (any labels when none is given).
  const pick = (name: string, label = '') =>
    Number(new RegExp(`^${name}(?:\\{[^}]*${label}[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    coreTcpSockets: pick('hag_core_tcp_sockets'),
    coreBufferBytes: pick('hag_core_buffer_bytes'),
    coreTimeWait: pick('hag_core_tcp_time_wait'),
    coreTimeWaitBytes: pick('hag_core_tcp_time_wait_bytes'),
    fileLimit: pick('hag_open_files', 'what="limit"'),
    connectionCapacity: pick('hag_open_files', 'what="capacity"'),
    refusedFileLimit: pick('hag_refusals_total', 'reason="file-limit"') || 0,
  };
}

/** Polls the HAG's /metrics every 500 ms until stopped: how many polls answered, and the slowest. */
function pollMetrics(ns: string): () => { polls: number; answered: number; slowestMs: number } {
  const r = { polls: 0, answered: 0, slowestMs: 0 };
  let stop = false;
  const once = () => {
    if (stop) return;
    const t0 = performance.now();
    const p = spawn(
      'ip',
      ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9108/metrics'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    let body = '';
    p.stdout.on('data', (d) => {
      body += d;
    });
    p.on('close', (code) => {
      r.polls++;
      if (code === 0 && body.includes('hag_open_files')) r.answered++;
      r.slowestMs = Math.max(r.slowestMs, Math.round(performance.now() - t0));
      setTimeout(once, 500);
    });
  };
  once();
  return () => {
    stop = true;
    return r;
  };
}

/**
 * A process's resident memory once it stopped falling: sampled every second, settled when no
 * sample of the last 5 s is more than 1% below the one 5 s before it (V8's memory reducer runs its
 * full collections some seconds after allocation stops), at most 30 s; with the figure after 3 s
 * (what this benchmark measured until 2026-12-03).
 */
async function settledRss(pid: number): Promise<{ at3s: number; settled: number; seconds: number }> {
  const samples: number[] = [];
  const least = Number(a.settle);
  for (let t = 1; t <= Math.max(30, least); t++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rssKiB(pid));
    if (t >= least && samples[t - 1] >= samples[t - 6] * 0.99) break;
  }
  return { at3s: samples[2], settled: samples[samples.length - 1], seconds: samples.length };
}

/** Files a process has open. */
function openFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/**
 * Has the HAG write a heap snapshot (SIGUSR2), copies it to the current directory and sums its
 * self sizes by object type (constructor name for objects and closures): the 15 largest.
 */
async function heapSnapshot(pid: number, dir: string): Promise<Record<string, unknown>> {
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  for (let i = 0; i < 600 && !file; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const f = readdirSync(dir).find((n) => n.endsWith('.heapsnapshot'));
    // The snapshot is complete once its size stops changing.
    if (f) {
      const size = statSync(join(dir, f)).size;
      await new Promise((r) => setTimeout(r, 1000));
      if (size > 0 && statSync(join(dir, f)).size === size) file = join(dir, f);
    }
  }
  if (!file) return { error: 'no heap snapshot within 5 min' };
  const kept = join(process.cwd(), `bench-hag-${pid}.heapsnapshot`);
  copyFileSync(file, kept);
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const f: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const [w, iType, iName, iSize] = [f.length, f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')];
  const by = new Map<string, { n: number; kib: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += w) {
    const t = types[snap.nodes[i + iType]];
    const name =
      t === 'object' || t === 'closure' ? `${t}:${snap.strings[snap.nodes[i + iName]].slice(0, 50)}` : t;
    const e = by.get(name) ?? { n: 0, kib: 0 };
    e.n++;
    e.kib += snap.nodes[i + iSize] / 1024;
    total += snap.nodes[i + iSize];
    by.set(name, e);
  }
  const top = [...by].sort((x, y) => y[1].kib - x[1].kib).slice(0, 15);
  return {
    file: kept,
    totalKiB: Math.round(total / 1024),
    top: Object.fromEntries(top.map(([k, v]) => [k, { n: v.n, kib: Math.round(v.kib) }])),
  };
}

async function orchestrate(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-hag needs root (network namespaces, TUN)');
  const tag = `hb${randomBytes(2).toString('hex')}`;
  const names = ['c', 'h', 's'].map((n) => `${tag}-${n}`);
  const [C, H, S] = names;
  const work = mkdtempSync(join(tmpdir(), 'bench-hag-'));
  const procs: ReturnType<typeof spawn>[] = [];
  const step = (what: string) => process.stderr.write(`bench-hag: ${what}\n`);
  // An interrupted run still removes its namespaces.
  const interrupted = new Promise<never>((_, reject) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => reject(new Error(sig)));
  });
  try {
    for (const n of names) execFileSync('ip', ['netns', 'add', n]);
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
    sh(
      C,
      'ip addr add 198.18.1.2/24 dev c1 && ip route add default via 198.18.1.1 && sysctl -qw net.mptcp.enabled=1 net.ipv4.ip_local_port_range="1024 65000"',
    );
    sh(
      H,
      'ip addr add 198.18.1.1/24 dev h1 && ip addr add 198.18.3.1/24 dev hs && sysctl -qw net.ipv4.ip_forward=1 net.ipv4.ip_local_port_range="1024 65000"',
    );
    sh(S, 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
    writeFileSync(
      join(work, 'hag.yaml'),
      [
        'tun: {name: hagb0}',
        'service: {addresses: [198.18.100.1], socks: {port: 1080}}',
        'access: {subscribers: [198.18.1.0/24], allowDestinations: [198.18.0.0/15], rateLimit: {perSecond: 0, burst: 1}}',
        'metrics: {address: 127.0.0.1, port: 9108}',
        'log: {level: warn}',
        '',
      ].join('\n'),
    );
    const env = {
      ...process.env,
      HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
    };
    // The HAG's log goes to a file: a pipe nobody reads would fill and block its (synchronous) logger.
    const hagLog = openSync(join(work, 'hag.log'), 'w');
    const node = (ns: string, args: string, pre = '', stdout: 'pipe' | number = 'pipe') =>
      spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `ulimit -n $(ulimit -Hn); exec ${pre}node ${args}`], {
        env,
        stdio: ['pipe', stdout, 'inherit'],
      });
    step('namespaces up; starting the holding server');
    const holder = node(S, `${SELF} --role hold --dst 198.18.3.2:9000`);
    procs.push(holder);
    await waitLine(jsonLines(holder), (o) => o.event === 'ready', 10_000);
    step('starting the HAG');
    // --hag-files: the HAG's open-file limit, soft and hard (to see what happens past it).
    const files = a['hag-files'] ? String(Number(a['hag-files'])) : '$(ulimit -Hn)';
    const flags = a['hag-node-flags'] ?? nodeFlags(ROOT, 'hag');
    const snapFlags = a['heap-snapshot'] ? ` --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${work}` : '';
    const hag = spawn(
      'ip',
      [
        'netns',
        'exec',
        H,
        'sh',
        '-c',
        `ulimit -n ${files}; exec node ${flags}${snapFlags} ${join(ROOT, 'dist/src/cli.js')} hag --config ${join(work, 'hag.yaml')}`,
      ],
      { env, stdio: ['pipe', hagLog, 'inherit'] },
    );
    procs.push(hag);
    await new Promise((r) => setTimeout(r, 1500));
    // `sh -c exec node` leaves node with the spawned pid.
    const hagPid = hag.pid!;
    const base = rssKiB(hagPid);
    const cpu0 = cpuSeconds(hagPid);
    step(`HAG resident memory ${base} KiB; starting the load generator`);
    const loader = node(
      C,
      `${SELF} --role load --rate-conns ${a['rate-conns']} --idle-conns ${a['idle-conns']} --concurrency ${a.concurrency}`,
      'mptcpize run ',
    );
    procs.push(loader);
    const loaderLines = jsonLines(loader);
    const rate = await Promise.race([waitLine(loaderLines, (o) => o.event === 'rate', 600_000), interrupted]);
    const hagCpu = cpuSeconds(hagPid) - cpu0;
    out({
      ...rate,
      event: 'new-connections',
      hagCpuSeconds: hagCpu,
      hagCpuPerConnectionMs: Math.round((hagCpu / Number(rate.connections)) * 1e4) / 10,
    });
    // TIME-WAIT sockets and idle buffers settle, V8 collects what the phase left.
    const beforeRss = await settledRss(hagPid);
    const before = beforeRss.settled;
    out({ event: 'after-new-connections', hagRssKiB: beforeRss, ...hagGauges(H) });
    loader.stdin!.write('go\n');
    step('opening idle connections');
    const stopPolling = pollMetrics(H);
    const idle = await Promise.race([waitLine(loaderLines, (o) => o.event === 'idle', 600_000), interrupted]);
    const metricsPolls = stopPolling();
    const afterRss = await settledRss(hagPid); // idle connections give their buffers back
    const after = afterRss.settled;
    const gauges = hagGauges(H);
    const held = Number(idle.held);
    out({
      event: 'idle-connections',
      held,
      failed: idle.failed,
      failures: idle.failures,
      openSeconds: idle.seconds,
      hagRssKiB: { start: base, beforeIdle: before, withIdle: after, withIdleAt3s: afterRss.at3s },
      growthPerConnectionKiB: held ? Math.round(((after - before) / held) * 10) / 10 : null,
      growthPerConnectionAt3sKiB: held
        ? Math.round(((afterRss.at3s - beforeRss.at3s) / held) * 10) / 10
        : null,
      settleSeconds: afterRss.seconds,
      metricsPolls,
      hagOpenFiles: openFiles(hagPid),
      ...gauges,
    });
    if (a['heap-snapshot']) {
      step('heap snapshot of the HAG');
      out({ event: 'hag-heap', ...(await heapSnapshot(hagPid, work)) });
    }
    const reasons: Record<string, number> = {};
    for (const line of readFileSync(join(work, 'hag.log'), 'utf8').split('\n')) {
      const m = /"event":"refused".*?"reason":"([^"]+)"/.exec(line);
      if (m) reasons[m[1]] = (reasons[m[1]] ?? 0) + 1;
    }
    out({ event: 'hag-refusals', ...reasons });
    loader.stdin!.write('echo\n');
    const echo = await waitLine(loaderLines, (o) => o.event === 'echo', 30_000);
    out({ event: 'held-connections-echo', tried: echo.tried, ok: echo.ok });
    loader.stdin!.write('q\n');
    await waitLine(loaderLines, (o) => o.event === 'closed', 30_000).catch(() => {});
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    for (const n of names) {
      try {
        for (const pid of execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' })
          .split(/\s+/)
          .filter(Boolean)) {
          process.kill(Number(pid), 'SIGKILL');
        }
      } catch {
        /* gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', n]);
      } catch {
        /* gone */
      }
    }
    if (a['hag-log']) copyFileSync(join(work, 'hag.log'), a['hag-log']);
    rmSync(work, { recursive: true, force: true });
  }
}

if (a.role === 'hold') holdServer(a.dst!);
else if (a.role === 'load') await load();
else await orchestrate();
