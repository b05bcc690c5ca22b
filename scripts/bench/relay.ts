// The relay benchmark (scripts/bench-relay), as root: on the lab, one iperf3 download and one upload
// through our CPE and HAG for their throughput and each daemon's CPU seconds per GB carried (the
// figure to compare two builds by on a loaded host); then each again with strace attached to the daemon
// whose relay writes to a kernel socket in that direction (the CPE toward the LAN host for the
// download, the HAG toward the server for the upload), counting its write/writev system calls on
// sockets (and, apart, on the TUN) per MB relayed. `--dist` runs another build (e.g. main's) on the
// same lab scripts, to compare.
//   node dist/scripts/bench/relay.js [--profile default] [--seconds 8] [--dist DIR] [--no-strace]
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp } from '../lab-impl/lab.js';
import { startProduct } from '../lab-impl/stack.js';
import { benchArgs } from './args.js';
import { iperf } from './lab-workloads.js';

const { values: opt } = benchArgs({
  options: {
    profile: { type: 'string', default: 'default' },
    seconds: { type: 'string', default: '8' },
    dist: { type: 'string' },
    prefix: { type: 'string' },
    'no-strace': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(opt.seconds);

interface Writes {
  calls: number;
  bytes: number;
}

/** What each of the process's descriptors is, by number ('socket', 'tun', 'other'). */
function fdKinds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link = '';
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    out.set(Number(fd), link.startsWith('socket:') ? 'socket' : link === '/dev/net/tun' ? 'tun' : 'other');
  }
  return out;
}

/** Sums strace's write/writev lines (`pid write(fd, ...) = n`) per kind of descriptor. */
function countWrites(file: string, kinds: Map<number, string>): Record<string, Writes> {
  const out: Record<string, Writes> = {};
  const re = /\b(write|writev)\((\d+),.*\)\s+=\s+(-?\d+)/;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const kind = kinds.get(Number(m[2])) ?? 'other';
    out[kind] ??= { calls: 0, bytes: 0 };
    out[kind].calls++;
    out[kind].bytes += Math.max(0, Number(m[3]));
  }
  return out;
}

async function traced(pid: number, run: () => Promise<number>): Promise<Record<string, Writes>> {
  const file = join(tmpdir(), `bench-relay-${pid}-${randomBytes(3).toString('hex')}.strace`);
  const st: ChildProcess = spawn(
    'strace',
    ['-f', '-qq', '-e', 'trace=write,writev', '-e', 'signal=none', '-s', '0', '-o', file, '-p', String(pid)],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 1000));
  let kinds = new Map<number, string>();
  const snap = setTimeout(() => {
    kinds = fdKinds(pid);
  }, 2500);
  try {
    await run();
  } finally {
    clearTimeout(snap);
    st.kill('SIGINT');
    await new Promise((r) => st.once('exit', r));
  }
  const w = countWrites(file, kinds);
  rmSync(file, { force: true });
  return w;
}

function show(label: string, w: Record<string, Writes>): void {
  for (const kind of ['socket', 'tun']) {
    const x = w[kind] ?? { calls: 0, bytes: 0 };
    const mb = x.bytes / 1e6;
    console.log(
      `  ${label} ${kind.padEnd(6)}: ${x.calls} calls, ${mb.toFixed(1)} MB, ` +
        `${mb > 0 ? (x.calls / mb).toFixed(0) : '-'} calls/MB, ${x.calls > 0 ? (x.bytes / x.calls).toFixed(0) : '-'} B/call`,
    );
  }
}

async function main(): Promise<void> {
  const prefix = opt.prefix ?? `br${randomBytes(3).toString('hex')}`;
  console.log(`lab up: profile ${opt.profile}, prefix ${prefix}, build ${opt.dist ?? 'dist/'}`);
  await labUp(opt.profile, prefix);
  try {
    const product = await startProduct(prefix, opt.dist ? { distDir: opt.dist } : {});
    try {
      for (const reverse of [true, false]) {
        const cpu0 = [product.cpe.cpuSeconds(), product.hag.cpuSeconds()];
        const bps = await iperf(prefix, { ns: 'client', reverse, seconds: SECONDS, cc: 'bbr' });
        const gb = (bps * SECONDS) / 8e9;
        const [cpe, hag] = [product.cpe.cpuSeconds() - cpu0[0], product.hag.cpuSeconds() - cpu0[1]];
        console.log(
          `${reverse ? 'download' : 'upload'}: ${(bps / 1e6).toFixed(1)} Mbit/s; daemon CPU s per GB ` +
            `CPE ${(cpe / gb).toFixed(1)}, HAG ${(hag / gb).toFixed(1)}, both ${((cpe + hag) / gb).toFixed(1)}`,
        );
      }
      if (opt['no-strace']) return;
      const dl = await traced(product.cpe.innerPid(), () =>
        iperf(prefix, { ns: 'client', reverse: true, seconds: SECONDS, cc: 'bbr' }),
      );
      show('download, CPE', dl);
      const ul = await traced(product.hag.innerPid(), () =>
        iperf(prefix, { ns: 'client', reverse: false, seconds: SECONDS, cc: 'bbr' }),
      );
      show('upload, HAG', ul);
    } finally {
      await product.stop();
    }
  } finally {
    labDown(prefix);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
