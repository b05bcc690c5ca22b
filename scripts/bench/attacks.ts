// The HAG under attack, as root, in network namespaces it creates and removes (issue 13): each
// scenario runs the same legitimate load (a kernel MPTCP client under mptcpize opening SOCKS5
// connections through the HAG at a steady rate) without an attack and with one, on a fresh HAG
// each time, and prints the legitimate connects' success rate and latency, the HAG's CPU time and
// resident memory and the TUN's drops beside each other and the issue's targets, PASS or FAIL.
//   syn-flood  10,000 spoofed MP_CAPABLE SYNs/s for 30 s     syn-burst  2,100 such SYNs at once
//   map-flood  3,000 ACKs/s from one subscriber's established connection, each with a fresh DSS
//              mapping, beside the same ACKs with one repeated mapping
//   slowloris  2,000 clients that send one byte of the SOCKS5 greeting, for 60 s, timed out by the
//              HAG's handshake timeout (10 s: about 10,000 closes)
//   join       half-open MP_JOIN SYNs naming a real connection's token, then that connection's
//              own next join
//   node dist/scripts/bench/attacks.js [--scenarios syn-flood,...] [--quick] [--seconds N]
//     [--probe-rate 20] [--prefix ba1234] [--json FILE]
// Namespaces <prefix>-c (legitimate client 198.18.1.2), -a (attacker 198.18.2.2; its TUN owns
// 198.19.0.0/16: our core on 198.19.0.1-2, spoofed sources from 198.19.128.0/17), -h (the HAG,
// service address 198.18.100.1), -s (the server that holds the HAG's egress connections).
// The same file is the probe (--role probe), the slowloris clients (--role slowloris) and the
// holding server (--role hold).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nodeFlags } from '../lib/node-flags.js';
import { benchArgs } from './args.js';
import { cpuSeconds, holdServer, jsonLines, out, rssKiB, sh, socksConnect, waitLine } from './hag-common.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The HAG's V8 flags as its launcher takes them (scripts/lib/build-bundle.sh): hag/deploy/node-flags. */
const HAG_NODE_FLAGS = nodeFlags(ROOT, 'hag');

const { values: a } = benchArgs({
  options: {
    role: { type: 'string', default: 'run' },
    scenarios: { type: 'string', default: 'syn-flood,syn-burst,map-flood,slowloris,join' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    'probe-rate': { type: 'string', default: '20' },
    prefix: { type: 'string' },
    json: { type: 'string' },
    /** V8 flags for the HAG; by default those its one-file build's launcher passes (hag/deploy/node-flags). */
    'hag-node-flags': { type: 'string', default: HAG_NODE_FLAGS },
    /** Extra node flags for the HAG only (e.g. --trace-gc, --heap-prof); its log is in the work dir. */
    'hag-node-options': { type: 'string', default: '' },
    // roles
    rate: { type: 'string', default: '20' },
    clients: { type: 'string', default: '2000' },
    deadline: { type: 'string', default: '10000' },
    hag: { type: 'string', default: '198.18.100.1:1080' },
    dst: { type: 'string', default: '198.18.3.2:9000' },
  },
});

const HAG = '198.18.100.1:1080';
const DST = '198.18.3.2:9000';

// ------------------------------------------------------------------ probe (namespace c)

const median = (v: number[]) => quantile(v, 0.5);
function quantile(v: number[], q: number): number {
  if (v.length === 0) return Number.NaN;
  const s = [...v].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Legitimate connects at `--rate` per second for `--seconds`; each counts if the HAG answers within `--deadline`. */
async function probe(): Promise<void> {
  const rate = Number(a.rate);
  const n = Math.max(1, Math.round(rate * Number(a.seconds)));
  const deadline = Number(a.deadline);
  const ms: number[] = [];
  const failures: Record<string, number> = {};
  const t0 = performance.now();
  const one = async (i: number) => {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = performance.now();
    try {
      const s = await socksConnect(a.hag!, a.dst!, deadline);
      ms.push(performance.now() - start);
      s.on('error', () => {});
      s.end();
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      failures[why] = (failures[why] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  out({
    event: 'probe',
    attempts: n,
    ok: ms.length,
    failures,
    medianMs: round(median(ms), 2),
    p95Ms: round(quantile(ms, 0.95), 2),
    maxMs: round(Math.max(...ms), 1),
  });
  setTimeout(() => process.exit(0), 200);
}

const round = (x: number, d: number) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);

// ------------------------------------------------------------------ slowloris (namespace a)

/**
 * `--clients` connections that each send the first byte of a SOCKS5 greeting and nothing more;
 * when the HAG closes one (its handshake timeout), another takes its place. Ramps up at 500/s.
 * Stops after `--seconds`, or on a "stop" line on stdin, or when stdin closes.
 */
function slowloris(): void {
  const clients = Math.min(10_000, Number(a.clients));
  const [h, p] = a.hag!.split(':');
  const socks = new Set<net.Socket>();
  const st = { connects: 0, closedByHag: 0, errors: 0, peakOpen: 0 };
  let stopped = false;
  const open = () => {
    if (stopped) return;
    const s = net.connect({ host: h, port: Number(p) });
    socks.add(s);
    let up = false;
    s.on('connect', () => {
      up = true;
      st.connects++;
      st.peakOpen = Math.max(st.peakOpen, socks.size);
      s.write(Uint8Array.of(5));
    });
    s.on('data', () => {});
    s.on('error', () => {
      st.errors++;
    });
    s.on('close', () => {
      socks.delete(s);
      if (stopped) return;
      if (up) st.closedByHag++;
      setTimeout(open, up ? 0 : 100);
    });
  };
  let started = 0;
  const ramp = setInterval(() => {
    for (let i = 0; i < 50 && started < clients; i++, started++) open();
    if (started >= clients) clearInterval(ramp);
  }, 100);
  out({ event: 'attacking', clients });
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearInterval(ramp);
    out({ event: 'done', ...st, open: socks.size });
    for (const s of socks) s.destroy();
    setTimeout(() => process.exit(0), 300);
  };
  createInterface({ input: process.stdin })
    .on('line', (l) => l.trim() === 'stop' && stop())
    .on('close', stop);
  setTimeout(stop, Math.min(600, Number(a.seconds ?? 60) + 60) * 1000).unref();
}

// ------------------------------------------------------------------ orchestration

const SELF = fileURLToPath(import.meta.url);
const ATTACKER = join(dirname(SELF), 'attacker.js');
const step = (what: string) => process.stderr.write(`bench-attacks: ${what}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PhaseResult {
  label: string;
  probe?: { attempts: number; ok: number; medianMs: number | null; p95Ms: number | null; failures: object };
  hagCpuSeconds: number;
  hagRssMiB: { idle: number; peak: number; end: number };
  tunDrops: number;
  tunDropsDetail: { rx: number; tx: number; writeDrops: number };
  attacker?: Record<string, unknown>;
  /** Attack packets per second the attacker achieved (paced attacks). */
  attackRate?: number;
  join?: Record<string, unknown>;
  hag: Record<string, number>;
  error?: string;
}

interface AttackSpec {
  /** The attacker's command line (attacker.js, or this file's slowloris role). */
  argv: string[];
  /** An event of the attacker that ends its part: the phase waits for it beside the probe's result. */
  result?: string;
}

interface PhaseSpec {
  label: string;
  attack?: AttackSpec;
  /** How long the probe opens connections. */
  seconds: number;
}

interface Target {
  what: string;
  value: string;
  pass: boolean;
}

interface Scenario {
  name: string;
  title: string;
  phases: PhaseSpec[];
  targets(r: PhaseResult[]): Target[];
  handshakeTimeout?: string;
}

const MiB = (kib: number) => Math.round((kib / 1024) * 10) / 10;
const pct = (p: PhaseResult) => (p.probe ? (100 * p.probe.ok) / p.probe.attempts : Number.NaN);
const ratio = (x: number | null | undefined, y: number | null | undefined) =>
  x != null && y != null && y > 0 ? x / y : Number.NaN;
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');

function scenarios(quick: boolean, seconds: number | undefined): Scenario[] {
  const dur = (full: number) => seconds ?? (quick ? 3 : full);
  const attacker = (...args: string[]) => ['node', ATTACKER, ...args];
  const synTargets = (r: PhaseResult[]): Target[] => {
    const [base, atk] = r;
    const m = ratio(atk.probe?.medianMs, base.probe?.medianMs);
    const rss = atk.hagRssMiB.peak - base.hagRssMiB.peak;
    return [
      { what: '>= 99% of legitimate connects succeed', value: `${fmt(pct(atk), 1)}%`, pass: pct(atk) >= 99 },
      { what: 'median connect <= 2x no attack', value: times(m), pass: m <= 2 },
      { what: 'HAG peak RSS <= +50 MB over no attack', value: `${fmt(rss, 1)} MB`, pass: rss <= 50 },
    ];
  };
  const slowClients = quick ? 200 : 2000;
  return [
    {
      name: 'syn-flood',
      title: `10,000 spoofed MP_CAPABLE SYNs/s for ${dur(30)} s from 198.19.128.0/17`,
      phases: [
        { label: 'no attack', seconds: dur(30) },
        {
          label: '10,000 SYN/s',
          seconds: dur(30),
          attack: {
            argv: attacker('--mode', 'syn-flood', '--rate', '10000', '--count', String(10_000 * dur(30))),
            result: 'sent-all',
          },
        },
      ],
      targets: synTargets,
    },
    {
      name: 'syn-burst',
      title: `a burst of 2,100 spoofed MP_CAPABLE SYNs, then ${dur(10)} s of connects`,
      phases: [
        { label: 'no attack', seconds: dur(10) },
        {
          label: '2,100-SYN burst',
          seconds: dur(10),
          attack: { argv: attacker('--mode', 'syn-burst', '--count', '2100'), result: 'burst-sent' },
        },
      ],
      targets: synTargets,
    },
    {
      name: 'map-flood',
      title: `3,000 ACKs/s for ${dur(30)} s on one subscriber's MPTCP connection, each with a DSS mapping`,
      phases: [
        { label: 'no attack', seconds: dur(30) },
        {
          label: 'one mapping',
          seconds: dur(30),
          attack: {
            argv: attacker('--mode', 'map-repeat', '--rate', '3000', '--count', String(3000 * dur(30))),
            result: 'sent-all',
          },
        },
        {
          label: 'fresh mappings',
          seconds: dur(30),
          attack: {
            argv: attacker('--mode', 'map-fresh', '--rate', '3000', '--count', String(3000 * dur(30))),
            result: 'sent-all',
          },
        },
      ],
      targets: ([base, repeat, fresh]) => {
        const cpu = ratio(fresh.hagCpuSeconds, repeat.hagCpuSeconds);
        const m = ratio(fresh.probe?.medianMs, base.probe?.medianMs);
        return [
          { what: 'HAG CPU <= 2x the one-mapping run', value: times(cpu), pass: cpu <= 2 },
          { what: 'no TUN drops', value: String(fresh.tunDrops), pass: fresh.tunDrops === 0 },
          { what: "other clients' median connect <= 1.5x", value: times(m), pass: m <= 1.5 },
        ];
      },
    },
    {
      name: 'slowloris',
      title: `${slowClients} slowloris clients for ${dur(60)} s, handshake timeout ${quick ? '1 s' : '10 s'}`,
      handshakeTimeout: quick ? '1s' : '10s',
      phases: [
        { label: 'no attack', seconds: dur(60) },
        {
          label: `${slowClients} slowloris`,
          seconds: dur(60),
          attack: {
            argv: [
              'mptcpize',
              'run',
              'node',
              SELF,
              '--role',
              'slowloris',
              '--clients',
              String(slowClients),
              '--seconds',
              String(dur(60)),
              '--hag',
              HAG,
            ],
          },
        },
      ],
      targets: ([, atk]) => {
        const rss = atk.hagRssMiB.peak - atk.hagRssMiB.idle;
        return [
          { what: 'HAG peak RSS <= 50 MB above idle', value: `${fmt(rss, 1)} MB`, pass: rss <= 50 },
          {
            what: 'legitimate connects all served',
            value: `${atk.probe?.ok ?? 0}/${atk.probe?.attempts ?? 0}`,
            pass: !!atk.probe && atk.probe.ok === atk.probe.attempts,
          },
        ];
      },
    },
    {
      name: 'join',
      title: '50 half-open MP_JOIN SYNs/s naming a real token (spoofed sources), then its next real join',
      phases: [
        {
          label: 'no attack',
          seconds: dur(4),
          attack: { argv: attacker('--mode', 'join', '--rate', '0', '--join-after', '2000'), result: 'join' },
        },
        {
          label: 'join SYN flood',
          seconds: dur(4),
          attack: {
            argv: attacker('--mode', 'join', '--rate', '50', '--join-after', '2000'),
            result: 'join',
          },
        },
      ],
      targets: ([, atk]) => [
        {
          what: 'the real next join accepted',
          value: atk.join ? (atk.join.accepted ? 'accepted' : `refused (${atk.join.why})`) : 'no result',
          pass: atk.join?.accepted === true,
        },
      ],
    },
  ];
}

function hagConfig(file: string, handshakeTimeout: string): void {
  writeFileSync(
    file,
    [
      '# written by scripts/bench/attacks.ts',
      'tun: {name: hagb0}',
      'service: {addresses: [198.18.100.1], socks: {port: 1080}}',
      // The legitimate client, the attacker's own link and its TUN prefix (spoofed sources
      // included) are all subscribers: the attacks come from inside.
      'access:',
      '  subscribers: [198.18.1.0/24, 198.18.2.0/24, 198.19.0.0/16]',
      // The server is a test host in 198.18.0.0/15, a range refused by default.
      '  allowDestinations: [198.18.0.0/15]',
      '  rateLimit: {perSecond: 0, burst: 1}',
      `limits: {handshakeTimeout: ${handshakeTimeout}, drainTimeout: 1s}`,
      'metrics: {address: 127.0.0.1, port: 9108}',
      'log: {level: warn}',
      '',
    ].join('\n'),
  );
}

/** Every sample of the HAG's metrics endpoint, by name and labels; {} when it does not answer. */
function hagMetrics(ns: string): Record<string, number> {
  const r: Record<string, number> = {};
  try {
    const text = sh(ns, 'curl -s --max-time 5 http://127.0.0.1:9108/metrics 2>/dev/null');
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
      if (m) r[m[1]] = Number(m[2]);
    }
  } catch {
    /* busy or gone */
  }
  return r;
}

/** The TUN's dropped counters (ip -s link): rx, tx. */
function tunDropped(ns: string): { rx: number; tx: number } {
  try {
    const j = JSON.parse(sh(ns, 'ip -j -s link show dev hagb0'))[0];
    return { rx: j.stats64.rx.dropped, tx: j.stats64.tx.dropped };
  } catch {
    return { rx: 0, tx: 0 };
  }
}

const PICK = [
  'hag_tun_packets_total{direction="in"}',
  'hag_tun_write_drops_total',
  'hag_core_tcp_sockets',
  'hag_tcp_mib_total{counter="ListenOverflows"}',
  'hag_tcp_mib_total{counter="PassiveOpens"}',
  'hag_mptcp_mib_total{counter="MPJoinSynRx"}',
  'hag_mptcp_mib_total{counter="MPJoinRejected"}',
];

async function orchestrate(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-attacks needs root (network namespaces, TUN)');
  const quick = a.quick!;
  const chosen = a.scenarios!.split(',').map((s) => s.trim());
  const all = scenarios(quick, a.seconds ? Number(a.seconds) : undefined);
  for (const c of chosen)
    if (!all.some((s) => s.name === c))
      throw new Error(`unknown scenario ${c} (${all.map((s) => s.name).join(', ')})`);
  const tag = a.prefix ?? `ba${randomBytes(2).toString('hex')}`;
  if (!/^[a-z][a-z0-9]{1,9}$/.test(tag)) throw new Error('--prefix: 2-10 lowercase letters and digits');
  const names = ['c', 'a', 'h', 's'].map((n) => `${tag}-${n}`);
  const [C, A, H, S] = names;
  const work = mkdtempSync(join(tmpdir(), 'bench-attacks-'));
  const procs: ReturnType<typeof spawn>[] = [];
  const probeRate = Number(a['probe-rate']);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const env = {
    ...process.env,
    HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
  };
  const inNs = (ns: string, argv: string[], stdout: 'pipe' | number = 'pipe') => {
    const cmd = argv.map((x) => `'${x}'`).join(' ');
    const p = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `ulimit -n $(ulimit -Hn); exec ${cmd}`], {
      env,
      cwd: ROOT,
      stdio: ['pipe', stdout, 'inherit'],
    });
    procs.push(p);
    return p;
  };
  const results: { scenario: Scenario; phases: PhaseResult[] }[] = [];
  try {
    step(`namespaces ${tag}-{c,a,h,s}`);
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
    veth(A, 'a0', H, 'ha');
    veth(H, 'hs', S, 's0');
    sh(
      C,
      'ip addr add 198.18.1.2/24 dev c1 && ip route add default via 198.18.1.1 && sysctl -qw net.mptcp.enabled=1 net.ipv4.ip_local_port_range="1024 65000"',
    );
    // The attacker forwards what its TUN writes; its TUN prefix goes nowhere but back to that TUN.
    sh(
      A,
      'ip addr add 198.18.2.2/24 dev a0 && ip route add default via 198.18.2.1 && sysctl -qw net.ipv4.ip_forward=1 net.mptcp.enabled=1 net.ipv4.ip_local_port_range="1024 65000" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0',
    );
    sh(
      H,
      'ip addr add 198.18.1.1/24 dev h1 && ip addr add 198.18.2.1/24 dev ha && ip addr add 198.18.3.1/24 dev hs && ip route add 198.19.0.0/16 via 198.18.2.2 && sysctl -qw net.ipv4.ip_forward=1 net.ipv4.ip_local_port_range="1024 65000"',
    );
    sh(S, 'ip addr add 198.18.3.2/24 dev s0 && ip route add default via 198.18.3.1');
    const holder = inNs(S, ['node', SELF, '--role', 'hold', '--dst', DST]);
    await waitLine(jsonLines(holder), (o) => o.event === 'ready', 10_000);

    const runPhase = async (sc: Scenario, ph: PhaseSpec): Promise<PhaseResult> => {
      const cfg = join(work, `hag-${sc.name}.yaml`);
      hagConfig(cfg, sc.handshakeTimeout ?? '10s');
      const logFd = openSync(join(work, `hag-${sc.name}.log`), 'a');
      const flags = [
        ...(a['hag-node-flags'] ?? '').split(' ').filter(Boolean),
        ...a['hag-node-options']!.split(' ').filter(Boolean),
      ];
      const hag = inNs(H, ['node', ...flags, join(ROOT, 'dist/src/cli.js'), 'hag', '--config', cfg], logFd);
      closeSync(logFd);
      const pid = hag.pid!;
      let attacker: ReturnType<typeof spawn> | undefined;
      const res: PhaseResult = {
        label: ph.label,
        hagCpuSeconds: Number.NaN,
        hagRssMiB: { idle: 0, peak: 0, end: 0 },
        tunDrops: 0,
        tunDropsDetail: { rx: 0, tx: 0, writeDrops: 0 },
        hag: {},
      };
      try {
        const up = Date.now() + 20_000;
        while (!('hag_draining' in hagMetrics(H))) {
          if (hag.exitCode !== null || Date.now() > up) throw new Error('the HAG did not start');
          await sleep(200);
        }
        await sleep(1000);
        const idle = rssKiB(pid);
        const d0 = tunDropped(H);
        const m0 = hagMetrics(H);
        let aLines: Record<string, unknown>[] = [];
        if (ph.attack) {
          attacker = inNs(A, ph.attack.argv);
          aLines = jsonLines(attacker);
          await waitLine(
            aLines,
            (o) => o.event === 'attacking' || o.event === 'done',
            30_000,
            'the attacker',
          );
        }
        const cpu0 = cpuSeconds(pid);
        let peak = rssKiB(pid);
        const sampler = setInterval(() => {
          try {
            peak = Math.max(peak, rssKiB(pid));
          } catch {
            /* exited */
          }
        }, 250);
        const prober = inNs(C, [
          'mptcpize',
          'run',
          'node',
          SELF,
          '--role',
          'probe',
          '--rate',
          String(probeRate),
          '--seconds',
          String(ph.seconds),
          '--deadline',
          quick ? '3000' : '10000',
        ]);
        const probeLine = await waitLine(
          jsonLines(prober),
          (o) => o.event === 'probe',
          (ph.seconds + 60) * 1000,
          'the probe',
        );
        res.probe = probeLine as unknown as PhaseResult['probe'];
        const result = ph.attack?.result;
        const ended = result
          ? await waitLine(aLines, (o) => o.event === result, (ph.seconds + 60) * 1000).catch(() => undefined)
          : undefined;
        if (result === 'join') res.join = ended;
        if (result === 'sent-all' && ended)
          res.attackRate = Math.round(Number(ended.sent) / Number(ended.seconds));
        // What the HAG still had queued when the last attack packet left.
        if (result === 'sent-all') await sleep(500);
        clearInterval(sampler);
        res.hagCpuSeconds = Math.round((cpuSeconds(pid) - cpu0) * 100) / 100;
        const end = rssKiB(pid);
        res.hagRssMiB = { idle: MiB(idle), peak: MiB(Math.max(peak, end)), end: MiB(end) };
        const d1 = tunDropped(H);
        const m1 = hagMetrics(H);
        const wd = 'hag_tun_write_drops_total';
        res.tunDropsDetail = {
          rx: d1.rx - d0.rx,
          tx: d1.tx - d0.tx,
          writeDrops: (m1[wd] ?? 0) - (m0[wd] ?? 0),
        };
        res.tunDrops = res.tunDropsDetail.rx + res.tunDropsDetail.tx + res.tunDropsDetail.writeDrops;
        for (const k of PICK) if (k in m1) res.hag[k] = m1[k];
        if (attacker) {
          attacker.stdin!.write('stop\n');
          res.attacker = await waitLine(aLines, (o) => o.event === 'done', 10_000).catch(() => undefined);
        }
      } catch (e) {
        res.error = (e as Error).message;
      } finally {
        if (attacker && attacker.exitCode === null) attacker.kill('SIGKILL');
        hag.kill('SIGTERM');
        const gone = Date.now() + 5000;
        while (hag.exitCode === null && hag.signalCode === null && Date.now() < gone) await sleep(100);
        if (hag.exitCode === null && hag.signalCode === null) hag.kill('SIGKILL');
        // The next HAG needs the TUN name and the metrics port.
        for (let i = 0; i < 50; i++) {
          try {
            sh(H, 'ip link show dev hagb0 >/dev/null 2>&1 && exit 1 || exit 0');
            break;
          } catch {
            await sleep(100);
          }
        }
        await sleep(500);
      }
      return res;
    };

    for (const sc of all.filter((s) => chosen.includes(s.name))) {
      const phases: PhaseResult[] = [];
      for (const ph of sc.phases) {
        if (interrupted) throw new Error('interrupted');
        step(`${sc.name}: ${ph.label} (${ph.seconds} s)`);
        phases.push(await runPhase(sc, ph));
      }
      results.push({ scenario: sc, phases });
      printScenario(sc, phases);
    }
    printSummary(results, quick);
    if (a.json) {
      writeFileSync(
        a.json,
        `${JSON.stringify(
          {
            quick,
            date: new Date().toISOString(),
            scenarios: results.map((r) => ({
              name: r.scenario.name,
              title: r.scenario.title,
              phases: r.phases,
              targets: r.phases.some((p) => p.error) ? [] : r.scenario.targets(r.phases),
            })),
          },
          null,
          2,
        )}\n`,
      );
    }
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
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
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    // With HAG node flags the HAG's log (e.g. its --trace-gc lines) is kept for reading.
    if (a['hag-node-options']) step(`HAG logs kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ the report

const say = (s = '') => process.stdout.write(`${s}\n`);

function printScenario(sc: Scenario, phases: PhaseResult[]): void {
  const w = 20;
  const col = (s: unknown) => String(s).padStart(w);
  say();
  say(`scenario ${sc.name}: ${sc.title}`);
  say(`  ${''.padEnd(28)}${phases.map((p) => col(p.label)).join('')}`);
  const row = (name: string, f: (p: PhaseResult) => unknown) =>
    say(`  ${name.padEnd(28)}${phases.map((p) => col(f(p))).join('')}`);
  row('legitimate connects ok', (p) =>
    p.probe ? `${p.probe.ok}/${p.probe.attempts} ${fmt(pct(p), 1)}%` : 'n/a',
  );
  row('connect median ms', (p) => fmt(p.probe?.medianMs ?? Number.NaN));
  row('connect p95 ms', (p) => fmt(p.probe?.p95Ms ?? Number.NaN));
  row('HAG CPU s', (p) => fmt(p.hagCpuSeconds));
  row('HAG RSS idle MB', (p) => fmt(p.hagRssMiB.idle, 1));
  row('HAG RSS peak MB', (p) => fmt(p.hagRssMiB.peak, 1));
  row('TUN drops (rx+tx+write)', (p) => p.tunDrops);
  row('HAG core TCP sockets', (p) => p.hag.hag_core_tcp_sockets ?? 'n/a');
  row('HAG ListenOverflows', (p) => p.hag['hag_tcp_mib_total{counter="ListenOverflows"}'] ?? 'n/a');
  row('attack packets sent', (p) => (p.attacker?.sent as number | undefined) ?? (p.attacker ? '-' : ''));
  if (phases.some((p) => p.attackRate)) row('attack packets/s', (p) => p.attackRate ?? '');
  if (sc.name === 'slowloris') row('slowloris closes by HAG', (p) => p.attacker?.closedByHag ?? '');
  if (sc.name === 'join') {
    row('real join', (p) =>
      p.join ? (p.join.accepted ? `ok ${fmt(Number(p.join.ms), 1)} ms` : 'refused') : 'n/a',
    );
    row('HAG MPJoinRejected', (p) => p.hag['hag_mptcp_mib_total{counter="MPJoinRejected"}'] ?? 'n/a');
  }
  for (const p of phases) if (p.error) say(`  error in "${p.label}": ${p.error}`);
  if (phases.some((p) => p.error)) return;
  for (const t of sc.targets(phases))
    say(`  target: ${t.what.padEnd(42)} ${t.value.padStart(14)}  ${t.pass ? 'PASS' : 'FAIL'}`);
}

function printSummary(results: { scenario: Scenario; phases: PhaseResult[] }[], quick: boolean): void {
  const all: { sc: string; t: Target }[] = [];
  let errors = 0;
  for (const r of results) {
    if (r.phases.some((p) => p.error)) errors++;
    else for (const t of r.scenario.targets(r.phases)) all.push({ sc: r.scenario.name, t });
  }
  const pass = all.filter((x) => x.t.pass).length;
  say();
  say(
    `summary: ${pass} of ${all.length} targets pass${errors ? `, ${errors} scenario(s) failed to run` : ''}${quick ? ' (--quick: a smoke run, not the targets)' : ''}`,
  );
  for (const x of all) if (!x.t.pass) say(`  FAIL ${x.sc}: ${x.t.what} (${x.t.value})`);
}

if (a.role === 'hold') holdServer(a.dst!);
else if (a.role === 'probe') await probe();
else if (a.role === 'slowloris') slowloris();
else {
  say(
    `hybrid-access attack benchmark, ${new Date().toISOString()}${a.quick ? ', --quick' : ''}, probe ${a['probe-rate']} connects/s`,
  );
  await orchestrate();
}
