// The lab benchmark's workloads, each run from the lab's client namespace (through whatever carries
// the LAN's TCP: our CPE and HAG, or the kernel baseline) or, for the single-link baselines, from the
// CPE namespace bound to one uplink address: iperf3 one flow each way, sequential 100 KB HTTP
// downloads (median and p90), and the failover gap (lab-gap-client.ts while DSL goes down).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ADDR, LabError, labFault, nsName, REPO_ROOT, runDir } from '../lab-impl/lab.js';

const exec = promisify(execFile);

/** Busy CPU seconds of the whole machine so far (all cores; /proc/stat, USER_HZ 100). */
export async function machineCpuSeconds(): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  return (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]) / 100;
}

export async function inNs(prefix: string, ns: string, argv: string[], timeoutMs = 120_000) {
  try {
    return await exec('ip', ['netns', 'exec', nsName(prefix, ns as 'cpe'), ...argv], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new LabError(
      `${ns}: ${argv.join(' ')}: ${(err.stderr ?? '').trim() || (err.stdout ?? '').slice(-500) || err.message}`,
    );
  }
}

/** The HTTP server of the lab's server namespace: 100 KB and sparse large files in the run dir. */
export async function startHttpServer(prefix: string): Promise<{ stop(): void; dir: string }> {
  const dir = join(runDir(prefix), 'www');
  await exec('mkdir', ['-p', dir]);
  const { randomBytes } = await import('node:crypto');
  writeFileSync(join(dir, '100k'), randomBytes(100_000));
  await exec('truncate', ['-s', '8G', join(dir, 'big')]);
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      nsName(prefix, 'server'),
      'python3',
      '-m',
      'http.server',
      '8000',
      '--bind',
      '::',
      '--directory',
      dir,
    ],
    { stdio: 'ignore', detached: false },
  );
  for (let i = 0; i < 100; i++) {
    try {
      await inNs(prefix, 'server', ['curl', '-sf', '-o', '/dev/null', `http://${ADDR.server.hag}:8000/100k`]);
      return { dir, stop: () => child.kill('SIGKILL') };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new LabError('the HTTP server in the server namespace did not start');
}

let nextPort = 5300;

export interface IperfOptions {
  ns: string;
  bind?: string;
  reverse: boolean;
  seconds: number;
  cc?: string;
  /** The server's port (default the next free one of this run). */
  port?: number;
  /** The server's address (default its IPv4 one; ADDR6.server.hag for the IPv6 variant). */
  server?: string;
}

export interface IperfResult {
  /** The receiver's rate, bit/s. */
  bps: number;
  /** The congestion control of the sending and the receiving socket, as iperf3 reports them. */
  senderCc: string;
  receiverCc: string;
}

/**
 * One iperf3 flow for `seconds` (first second left out): from `ns` (bound to `bind` if given) to the
 * server (its IPv4 address, or `server`; iperf3's server listens on both families); `reverse` for server → client. The receiver's rate in bit/s. Congestion control: `cc`.
 */
export async function iperf(prefix: string, o: IperfOptions): Promise<number> {
  return (await iperfRun(prefix, o)).bps;
}

/** iperf() with the congestion control each end ran. */
export async function iperfRun(prefix: string, o: IperfOptions): Promise<IperfResult> {
  const port = o.port ?? nextPort++;
  const server = spawn(
    'ip',
    ['netns', 'exec', nsName(prefix, 'server'), 'iperf3', '-s', '-1', '-p', String(port)],
    { stdio: 'ignore' },
  );
  try {
    for (let i = 0; i < 100; i++) {
      const ss = await inNs(prefix, 'server', ['ss', '-Htln', `sport = :${port}`]);
      if (ss.stdout.includes(`:${port}`)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const argv = [
      'iperf3',
      '-J',
      '-c',
      o.server ?? ADDR.server.hag,
      '-p',
      String(port),
      '-t',
      String(o.seconds),
      '-O',
      '1',
    ];
    if (o.bind) argv.push('-B', o.bind);
    if (o.cc) argv.push('-C', o.cc);
    if (o.reverse) argv.push('-R');
    let stdout: string;
    try {
      stdout = (await inNs(prefix, o.ns, argv, (o.seconds + 30) * 1000)).stdout;
    } catch (e) {
      throw new LabError(
        `iperf3 ${o.reverse ? 'download' : 'upload'} from ${o.ns} failed: ${(e as Error).message}`,
      );
    }
    const out = JSON.parse(stdout) as {
      end?: {
        sum_received?: { bits_per_second?: number };
        sender_tcp_congestion?: string;
        receiver_tcp_congestion?: string;
      };
      error?: string;
    };
    const bps = out.end?.sum_received?.bits_per_second;
    if (bps === undefined) throw new LabError(`iperf3 from ${o.ns}: ${out.error ?? 'no result'}`);
    return {
      bps,
      senderCc: out.end?.sender_tcp_congestion ?? '?',
      receiverCc: out.end?.receiver_tcp_congestion ?? '?',
    };
  } finally {
    server.kill('SIGKILL');
  }
}

/** `n` sequential downloads of /100k from the client namespace; each one's time and time to first byte, ms. */
export async function shortFlows(
  prefix: string,
  n: number,
): Promise<{ total: number[]; firstByte: number[] }> {
  const url = `http://${ADDR.server.hag}:8000/100k`;
  const r = await inNs(prefix, 'client', [
    'sh',
    '-c',
    `for i in $(seq ${n}); do curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n' ${url} || echo fail; done`,
  ]);
  const total: number[] = [];
  const firstByte: number[] = [];
  for (const line of r.stdout.trim().split('\n')) {
    const [code, size, t, ttfb] = line.split(' ');
    if (code !== '200' || size !== '100000') throw new LabError(`a short flow failed: ${line}`);
    total.push(Number(t) * 1000);
    firstByte.push(Number(ttfb) * 1000);
  }
  return { total, firstByte };
}

export interface GapResult {
  bytes: number;
  maxGapBeforeMs: number;
  maxGapAfterMs: number;
  mbpsBefore: number;
  /** While DSL is down. */
  mbpsAfter: number;
  /** From 3 s after DSL came back to the end. */
  mbpsRestored?: number;
  error?: string;
}

/** A download of `seconds`; DSL goes down at `markMs` and comes back at `restoreMs`. */
export async function failoverGap(
  prefix: string,
  seconds = 20,
  markMs = 5000,
  restoreMs = 11_000,
): Promise<GapResult> {
  const client = join(REPO_ROOT, 'dist/scripts/bench/lab-gap-client.js');
  const p = inNs(prefix, 'client', [
    process.execPath,
    client,
    '--url',
    `http://${ADDR.server.hag}:8000/big`,
    '--seconds',
    String(seconds),
    '--mark-at',
    String(markMs),
    '--restore-at',
    String(restoreMs),
  ]);
  // The client's clock starts at its connect; node's start-up is ~50-100 ms, so the fault lands
  // a little after the mark (the gap is measured from the last read before the silence anyway).
  const down = setTimeout(() => labFault(prefix, 'dsl', 'down'), markMs + 100);
  const up = setTimeout(() => labFault(prefix, 'dsl', 'up'), restoreMs + 100);
  try {
    const r = await p;
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as GapResult;
  } finally {
    clearTimeout(down);
    clearTimeout(up);
    labFault(prefix, 'dsl', 'up');
  }
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/** The default congestion control of a lab namespace's kernel TCP (sysctl, per namespace). */
export async function kernelCc(prefix: string, ns: string): Promise<string> {
  return (await inNs(prefix, ns, ['sysctl', '-n', 'net.ipv4.tcp_congestion_control'])).stdout.trim();
}

/** `want` if the namespace's kernel offers it, else reno (always built in). */
export async function availableCc(prefix: string, ns: string, want: string): Promise<string> {
  const r = await inNs(prefix, ns, ['sysctl', '-n', 'net.ipv4.tcp_available_congestion_control']);
  return r.stdout.trim().split(/\s+/).includes(want) ? want : 'reno';
}

export interface FairnessResult {
  /** IP bytes per second over the DSL link, of the bonded connection and of the kernel flow. */
  dslBonded: number;
  dslKernelFlow: number;
  /** Goodput of each, bit/s (iperf3; the bonded one over both links). */
  bonded: number;
  kernelFlow: IperfResult;
}

const FAIR_TABLE = 'habench_fair';

/**
 * The bonded connection (iperf3 from the client namespace through whatever carries the LAN's TCP)
 * and one kernel TCP flow with congestion control `cc` from the CPE namespace bound to its DSL
 * address (a host on the DSL line that is not bonded) at the same time, in direction `reverse`
 * (true: download). Each one's share of the DSL link is counted where the link ends (nftables
 * counters in raw prerouting of the CPE for download, of the HAG for upload: what crossed the link,
 * after the tbf and the delay line's loss), from 2 s after the start to 0.5 s before the end.
 */
export async function dslFairness(
  prefix: string,
  o: { seconds: number; reverse: boolean; cc: string; bondedCc: string },
): Promise<FairnessResult> {
  const ns = o.reverse ? 'cpe' : 'hag';
  const flowPort = nextPort++;
  const [peer, port] = o.reverse ? ['saddr', 'sport'] : ['daddr', 'dport'];
  const nft = [
    `table inet ${FAIR_TABLE} {`,
    '  counter dsl_all {}',
    '  counter dsl_kernel_flow {}',
    '  chain pre {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    iifname "dsl0" ip ${peer} ${ADDR.server.hag} tcp ${port} ${flowPort} counter name dsl_kernel_flow`,
    '    iifname "dsl0" counter name dsl_all',
    '  }',
    '}',
  ].join('\n');
  execFileSync('ip', ['netns', 'exec', nsName(prefix, ns), 'nft', '-f', '-'], { input: `${nft}\n` });
  const read = async () => {
    const r = await inNs(prefix, ns, ['nft', '-j', 'list', 'counters', 'table', 'inet', FAIR_TABLE]);
    const out = JSON.parse(r.stdout) as { nftables: { counter?: { name: string; bytes: number } }[] };
    const c: Record<string, number> = {};
    for (const x of out.nftables) if (x.counter) c[x.counter.name] = x.counter.bytes;
    return { t: performance.now(), link: c.dsl_all ?? 0, flow: c.dsl_kernel_flow ?? 0 };
  };
  try {
    const bonded = iperf(prefix, { ns: 'client', reverse: o.reverse, seconds: o.seconds, cc: o.bondedCc });
    const flow = iperfRun(prefix, {
      ns: 'cpe',
      bind: ADDR.cpe.dsl,
      reverse: o.reverse,
      seconds: o.seconds,
      cc: o.cc,
      port: flowPort,
    });
    const both = Promise.all([bonded, flow]);
    both.catch(() => {}); // awaited below; a failure while the counters are read is not unhandled
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(2000);
    const c0 = await read();
    await sleep(o.seconds * 1000 - 2500);
    const c1 = await read();
    const [b, f] = await both;
    const s = (c1.t - c0.t) / 1000;
    const flowBytes = (c1.flow - c0.flow) / s;
    return {
      dslBonded: (c1.link - c0.link) / s - flowBytes,
      dslKernelFlow: flowBytes,
      bonded: b,
      kernelFlow: f,
    };
  } finally {
    await inNs(prefix, ns, ['nft', 'delete', 'table', 'inet', FAIR_TABLE]).catch(() => {});
  }
}
