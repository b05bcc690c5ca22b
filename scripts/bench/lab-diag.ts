// What holds a bonded transfer back on the lab (scripts/bench-lab-diag): brings up a lab of its
// own, starts our CPE and HAG, runs one iperf3 download and one upload through them and, every
// half second meanwhile, samples the CPU each process of interest used (the two daemons, the delay
// lines, iperf3; /proc/<pid>/stat), the HAG's view of the connection (GET /sessions: per subflow
// cwnd, bytes in flight and the peer's TCP window; the data level's in-flight, unsent, peer window
// and receive space) and the relays' kernel sockets (ss -tinm in the CPE and HAG namespaces).
// Prints one line per sample: whether a daemon is near a full core (CPU) or a window is full.
//   node dist/scripts/bench/lab-diag.js [--profile fast] [--seconds 10] [--prefix P] [--dir down,up]
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { ADDR, labDown, labUp } from '../lab-impl/lab.js';
import { cpuSeconds, startProduct } from '../lab-impl/stack.js';
import { benchArgs } from './args.js';
import { inNs, iperfRun } from './lab-workloads.js';

const { values: opt } = benchArgs({
  options: {
    profile: { type: 'string', default: 'fast' },
    seconds: { type: 'string', default: '10' },
    prefix: { type: 'string' },
    dir: { type: 'string', default: 'down,up' },
  },
});
const SECONDS = Number(opt.seconds);
/** Processes whose command line matches (delay lines, iperf3). */
function pidsOf(re: RegExp): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (re.test(cmd)) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

interface Sub {
  uplink: string;
  cwnd: number;
  inFlight: number;
  sndWnd: number;
  srttMs: number;
  bytesIn: number;
  bytesOut: number;
}
interface Sess {
  subflows: Sub[];
  windows?: { inFlight: number; unsent: number; peerWnd: number; rcvSpace: number; readable: number };
  bytesDown: number;
  bytesUp: number;
}

async function sessions(prefix: string): Promise<Sess[]> {
  try {
    const r = await inNs(prefix, 'hag', ['curl', '-s', '-m', '1', 'http://127.0.0.1:9108/sessions'], 3000);
    return JSON.parse(r.stdout) as Sess[];
  } catch {
    return [];
  }
}

/** The busiest kernel TCP socket of the namespace, ss -tinm's fields of interest. */
async function ssLine(prefix: string, ns: string): Promise<string> {
  try {
    const r = await inNs(prefix, ns, ['ss', '-Htinm', 'state', 'established'], 3000);
    const lines = r.stdout.split('\n');
    let best = '';
    let bestAcked = -1;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const m = /bytes_(?:acked|received):(\d+)/.exec(l);
      if (!m) continue;
      const n = Number(m[1]);
      if (n > bestAcked) {
        bestAcked = n;
        const pick = (re: RegExp) => re.exec(l)?.[0] ?? '';
        best = [
          /skmem:\([^)]*\)/,
          /cwnd:\d+/,
          /rtt:[\d./]+/,
          /rcv_space:\d+/,
          /rcv_wnd:\d+/,
          /snd_wnd:\d+/,
          /unacked:\d+/,
          /notsent:\d+/,
          /busy:\d+ms/,
          /rwnd_limited:\S+/,
          /sndbuf_limited:\S+/,
        ]
          .map(pick)
          .filter(Boolean)
          .join(' ');
      }
    }
    return best;
  } catch (e) {
    return `(${(e as Error).message.slice(0, 80)})`;
  }
}

async function run(prefix: string, dir: 'down' | 'up', cpe: number, hag: number): Promise<void> {
  process.stdout.write(`\n== ${dir}load, ${SECONDS} s\n`);
  const job = iperfRun(prefix, {
    ns: 'client',
    server: ADDR.server.hag,
    reverse: dir === 'down',
    seconds: SECONDS,
    cc: 'bbr',
  });
  const t0 = Date.now();
  let last = new Map<number, number>();
  let lastAt = Date.now();
  let lastBytes = 0;
  while (Date.now() - t0 < (SECONDS + 1) * 1000) {
    await new Promise((r) => setTimeout(r, 500));
    const now = Date.now();
    const dl = pidsOf(/delay-line-main/);
    const ip = pidsOf(/^iperf3 /);
    const cur = new Map<number, number>();
    for (const p of [cpe, hag, ...dl, ...ip]) cur.set(p, cpuSeconds(p));
    const pct = (p: number) =>
      last.has(p)
        ? Math.round((((cur.get(p) ?? 0) - (last.get(p) ?? 0)) / ((now - lastAt) / 1000)) * 100)
        : 0;
    const s = (await sessions(prefix)).find((x) => x.subflows.length > 0 && x.bytesDown + x.bytesUp > 1e6);
    const bytes = s ? s.bytesDown + s.bytesUp : 0;
    const mbps = lastBytes ? ((bytes - lastBytes) * 8) / ((now - lastAt) / 1000) / 1e6 : 0;
    const sub = s
      ? s.subflows
          .map(
            (f) =>
              `${f.uplink} cwnd ${(f.cwnd / 1024).toFixed(0)}K infl ${(f.inFlight / 1024).toFixed(0)}K wnd ${(f.sndWnd / 1024).toFixed(0)}K srtt ${f.srttMs}`,
          )
          .join(' | ')
      : '-';
    const w = s?.windows;
    const win = w
      ? `data infl ${(w.inFlight / 1024).toFixed(0)}K unsent ${(w.unsent / 1024).toFixed(0)}K peerWnd ${(w.peerWnd / 1024).toFixed(0)}K rcvSpace ${(w.rcvSpace / 1024).toFixed(0)}K readable ${(w.readable / 1024).toFixed(0)}K`
      : '';
    process.stdout.write(
      `t ${((now - t0) / 1000).toFixed(1)} ${mbps.toFixed(0)} Mbit/s cpu% cpe ${pct(cpe)} hag ${pct(hag)} delay [${dl.map(pct).join(',')}] iperf [${ip.map(pct).join(',')}]\n` +
        `   ${sub}\n   ${win}\n   cpe-ns ${await ssLine(prefix, 'cpe')}\n   hag-ns ${await ssLine(prefix, 'hag')}\n`,
    );
    last = cur;
    lastAt = now;
    lastBytes = bytes;
  }
  const r = await job;
  process.stdout.write(`iperf3 ${dir}: ${(r.bps / 1e6).toFixed(1)} Mbit/s\n`);
}

async function main(): Promise<number> {
  const prefix = opt.prefix ?? `dg${randomBytes(3).toString('hex')}`;
  await labUp(opt.profile ?? 'fast', prefix);
  try {
    const product = await startProduct(prefix);
    try {
      for (const d of (opt.dir ?? 'down,up').split(',') as ('down' | 'up')[])
        await run(prefix, d, product.cpe.pid, product.hag.pid);
    } finally {
      await product.stop();
    }
  } finally {
    labDown(prefix);
  }
  return 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    process.stderr.write(`lab-diag: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
