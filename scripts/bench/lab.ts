// The lab benchmark (scripts/bench-lab): on the lab topology, the same workloads run (A) through
// our CPE and HAG and (B) through the kernel-MPTCP baseline (kernel-proxy.py + `ip mptcp`
// endpoints, as OpenMPTCProuter deploys it), in the same run, beside one plain TCP connection over
// each link alone; then the same on the unshaped profile for the ceiling. Prints each figure side
// by side with ours/kernel, the ratio to the sum of the single links, and the CPU each side used.
//   node dist/scripts/bench/lab.js [--profile default] [--seconds 10] [--short 50] [--gap-runs 3]
//     [--no-unshaped]
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { ADDR, labDown, labUp } from '../lab-impl/lab.js';
import { startKernelBaseline, startProduct } from '../lab-impl/stack.js';
import {
  failoverGap,
  type GapResult,
  iperf,
  machineCpuSeconds,
  percentile,
  shortFlows,
  startHttpServer,
} from './lab-workloads.js';

const { values: opt } = parseArgs({
  options: {
    profile: { type: 'string', default: 'default' },
    'unshaped-profile': { type: 'string', default: 'unshaped' },
    'no-unshaped': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '10' },
    short: { type: 'string', default: '50' },
    'gap-runs': { type: 'string', default: '3' },
    prefix: { type: 'string' },
  },
});
const SECONDS = Number(opt.seconds);
const SHORT = Number(opt.short);
const GAP_RUNS = Number(opt['gap-runs']);
const CC = 'bbr';

interface SideResult {
  down: number;
  up: number;
  shortMedian: number;
  shortP90: number;
  shortFirstByte: number;
  /** One result per failover run. */
  gaps?: GapResult[];
  /** CPU seconds of the side's daemons and of the whole machine, per workload. */
  cpu: Record<'down' | 'up' | 'short' | 'gap', { daemons: number; machine: number; seconds: number }>;
  label: string;
}

type Cpu = () => number;

async function measured<T>(
  daemonsCpu: Cpu,
  seconds: number,
  f: () => Promise<T>,
): Promise<{ r: T; cpu: { daemons: number; machine: number; seconds: number } }> {
  const d0 = daemonsCpu();
  const m0 = await machineCpuSeconds();
  const t0 = Date.now();
  const r = await f();
  const wall = (Date.now() - t0) / 1000;
  return {
    r,
    cpu: { daemons: daemonsCpu() - d0, machine: (await machineCpuSeconds()) - m0, seconds: seconds || wall },
  };
}

async function workloads(prefix: string, label: string, cpu: Cpu, withGap: boolean): Promise<SideResult> {
  log(`  ${label}: iperf3 download`);
  const down = await measured(cpu, SECONDS, () =>
    iperf(prefix, { ns: 'client', reverse: true, seconds: SECONDS, cc: CC }),
  );
  log(`  ${label}: iperf3 upload`);
  const up = await measured(cpu, SECONDS, () =>
    iperf(prefix, { ns: 'client', reverse: false, seconds: SECONDS, cc: CC }),
  );
  log(`  ${label}: ${SHORT} x 100 KB`);
  const short = await measured(cpu, 0, () => shortFlows(prefix, SHORT));
  let gap: { r: GapResult[]; cpu: SideResult['cpu']['gap'] } | undefined;
  if (withGap) {
    log(`  ${label}: failover gap (DSL down at 5 s, up at 11 s), ${GAP_RUNS} runs`);
    gap = await measured(cpu, 20 * GAP_RUNS, async () => {
      const runs: GapResult[] = [];
      for (let i = 0; i < GAP_RUNS; i++) {
        runs.push(await failoverGap(prefix, 20, 5000, 11_000));
        // DSL is up again: give the CPE's probes time to see it before the next run.
        await new Promise((r) => setTimeout(r, 2000));
      }
      return runs;
    });
  }
  return {
    label,
    down: down.r,
    up: up.r,
    shortMedian: percentile(short.r.total, 50),
    shortP90: percentile(short.r.total, 90),
    shortFirstByte: percentile(short.r.firstByte, 50),
    gaps: gap?.r,
    cpu: {
      down: down.cpu,
      up: up.cpu,
      short: short.cpu,
      gap: gap?.cpu ?? { daemons: Number.NaN, machine: Number.NaN, seconds: Number.NaN },
    },
  };
}

interface ProfileResult {
  profile: string;
  loadBefore: string;
  links: { dsl: { down: number; up: number }; lte: { down: number; up: number } };
  a: SideResult;
  b: SideResult;
}

async function runProfile(profile: string, withGap: boolean): Promise<ProfileResult> {
  const prefix = opt.prefix ?? `bn${randomBytes(3).toString('hex')}`;
  const loadBefore = load();
  log(`lab up: profile ${profile}, prefix ${prefix}`);
  await labUp(profile, prefix);
  const www = await startHttpServer(prefix).catch((e) => {
    labDown(prefix);
    throw e;
  });
  try {
    const links = { dsl: { down: 0, up: 0 }, lte: { down: 0, up: 0 } };
    for (const link of ['dsl', 'lte'] as const) {
      log(`  single link ${link}: plain TCP each way`);
      const bind = ADDR.cpe[link];
      links[link].down = await iperf(prefix, { ns: 'cpe', bind, reverse: true, seconds: SECONDS, cc: CC });
      links[link].up = await iperf(prefix, { ns: 'cpe', bind, reverse: false, seconds: SECONDS, cc: CC });
    }
    const product = await startProduct(prefix);
    let a: SideResult;
    try {
      a = await workloads(
        prefix,
        'our CPE and HAG daemons',
        () => product.hag.cpuSeconds() + product.cpe.cpuSeconds(),
        withGap,
      );
    } finally {
      await product.stop();
    }
    const kernel = await startKernelBaseline(prefix);
    let b: SideResult;
    try {
      b = await workloads(
        prefix,
        'kernel MPTCP',
        () => kernel.hag.cpuSeconds() + kernel.cpe.cpuSeconds(),
        withGap,
      );
    } finally {
      await kernel.stop();
    }
    return { profile, loadBefore, links, a, b };
  } finally {
    www.stop();
    labDown(prefix);
  }
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

const mbps = (bps: number) => bps / 1e6;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

function table(r: ProfileResult): string {
  const sumDown = r.links.dsl.down + r.links.lte.down;
  const sumUp = r.links.dsl.up + r.links.lte.up;
  const rows: string[][] = [
    ['figure', 'ours', 'kernel', 'ours/kernel', 'links sum', 'ours/sum', 'kernel/sum'],
  ];
  const gput = (name: string, a: number, b: number, sum: number) =>
    rows.push([name, f1(mbps(a)), f1(mbps(b)), f2(a / b), f1(mbps(sum)), f2(a / sum), f2(b / sum)]);
  gput('download, Mbit/s (iperf3, 1 flow)', r.a.down, r.b.down, sumDown);
  gput('upload, Mbit/s (iperf3, 1 flow)', r.a.up, r.b.up, sumUp);
  const plain = (name: string, a: number, b: number) =>
    rows.push([name, f1(a), f1(b), f2(a / b), '', '', '']);
  plain(`100 KB download, median ms (${SHORT} in a row)`, r.a.shortMedian, r.b.shortMedian);
  plain('100 KB download, p90 ms', r.a.shortP90, r.b.shortP90);
  plain('  its time to first byte, median ms', r.a.shortFirstByte, r.b.shortFirstByte);
  if (r.a.gaps && r.b.gaps) {
    const med = (g: GapResult[], k: 'maxGapAfterMs' | 'maxGapBeforeMs' | 'mbpsAfter' | 'mbpsRestored') =>
      percentile(
        g.map((x) => x[k] ?? Number.NaN),
        50,
      );
    const n = r.a.gaps.length;
    plain(
      `failover gap, ms (longest, DSL down; median of ${n})`,
      med(r.a.gaps, 'maxGapAfterMs'),
      med(r.b.gaps, 'maxGapAfterMs'),
    );
    plain(
      '  longest gap before the fault, ms (median)',
      med(r.a.gaps, 'maxGapBeforeMs'),
      med(r.b.gaps, 'maxGapBeforeMs'),
    );
    plain(
      '  goodput after DSL down, Mbit/s (median)',
      med(r.a.gaps, 'mbpsAfter'),
      med(r.b.gaps, 'mbpsAfter'),
    );
    plain(
      '  same connection, DSL back (from 3 s on), Mbit/s',
      med(r.a.gaps, 'mbpsRestored'),
      med(r.b.gaps, 'mbpsRestored'),
    );
  }
  for (const w of ['down', 'up', 'short', 'gap'] as const) {
    const a = r.a.cpu[w];
    const b = r.b.cpu[w];
    if (!Number.isFinite(a.daemons)) continue;
    const name = { down: 'download', up: 'upload', short: '100 KB flows', gap: 'failover run' }[w];
    plain(`CPU s, daemons, ${name}`, a.daemons, b.daemons);
    plain(`CPU s, whole host, ${name}`, a.machine, b.machine);
  }
  // Daemon CPU per Mbit/s: percent of one core per Mbit/s of goodput.
  const per = (cpu: { daemons: number; seconds: number }, bps: number) =>
    (100 * cpu.daemons) / cpu.seconds / mbps(bps);
  rows.push([
    'daemon CPU, % of a core per Mbit/s, download',
    f2(per(r.a.cpu.down, r.a.down)),
    f2(per(r.b.cpu.down, r.b.down)),
    f2(per(r.a.cpu.down, r.a.down) / per(r.b.cpu.down, r.b.down)),
    '',
    '',
    '',
  ]);
  rows.push([
    'daemon CPU, % of a core per Mbit/s, upload',
    f2(per(r.a.cpu.up, r.a.up)),
    f2(per(r.b.cpu.up, r.b.up)),
    f2(per(r.a.cpu.up, r.a.up) / per(r.b.cpu.up, r.b.up)),
    '',
    '',
    '',
  ]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '),
  );
  lines.splice(1, 0, w.map((n) => '-'.repeat(n)).join('  '));
  const link = (l: 'dsl' | 'lte') =>
    `${l} alone ${f1(mbps(r.links[l].down))} down / ${f1(mbps(r.links[l].up))} up Mbit/s`;
  if (r.a.gaps && r.b.gaps) {
    const each = (g: GapResult[]) => g.map((x) => x.maxGapAfterMs).join(', ');
    lines.push(`failover gaps of each run, ms: ours ${each(r.a.gaps)}; kernel ${each(r.b.gaps)}`);
  }
  return [
    `profile ${r.profile}: single links (plain TCP, ${CC}): ${link('dsl')}; ${link('lte')}`,
    `ours = ${r.a.label}; kernel = Linux MPTCP, in-kernel path manager, subflows ${CC}, python relays`,
    'CPU s: daemons = the two daemons (/proc/<pid>/stat; kernel MPTCP work in softirq is not in them);',
    '       whole host = busy time of all cores (/proc/stat): delay lines, iperf3 and anything else running',
    ...lines,
  ].join('\n');
}

function machine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return `${model}, ${cpus().length} cores, Linux ${kernel}, Node ${process.version}`;
}

/** The 1-minute load average: other work on the host shows here (the CPU figures include it). */
function load(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
}

async function main(): Promise<number> {
  const started = new Date();
  process.stdout.write(
    [
      `hybrid-access lab benchmark, ${started.toISOString().replace(/\.\d+Z$/, 'Z')}`,
      `machine: ${machine()}`,
      `workloads: iperf3 ${SECONDS} s each way (first second omitted); ${SHORT} sequential 100 KB curl downloads; failover: ${GAP_RUNS} x a 20 s HTTP download, DSL down at 5 s and up at 11 s`,
      '',
      '',
    ].join('\n'),
  );
  const profiles: [string, boolean][] = [[opt.profile ?? 'default', true]];
  if (!opt['no-unshaped']) profiles.push([opt['unshaped-profile'] ?? 'unshaped', false]);
  let failed = 0;
  // Each profile's table is printed as soon as it is measured; a failure does not lose the others.
  for (const [name, withGap] of profiles) {
    try {
      const r = await runProfile(name, withGap);
      process.stdout.write(`${table(r)}\n(load average ${r.loadBefore} before, ${load()} after)\n\n`);
    } catch (e) {
      failed++;
      process.stdout.write(`profile ${name}: FAILED: ${e instanceof Error ? e.message : String(e)}\n\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench-lab: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
