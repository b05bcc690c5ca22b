// A CPU budget for one process, as a router-class CPE would have: a cgroup of its own, unique to
// the run, whose CFS bandwidth limit allows PCT% of one core (cgroup v2 `cpu.max`, or v1
// `cpu.cfs_quota_us` per `cpu.cfs_period_us`); the process (all its threads, and children it starts
// later) is moved in, and remove() takes it out again and deletes the cgroup. Used by bench-lab
// --cpu-cap for the CPE daemon.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';
const PERIOD_US = 100_000;

export class CpuCapError extends Error {
  override readonly name = 'CpuCapError';
}

/** Where a cpu cgroup can be made: v2 with the cpu controller (unified or hybrid mount), else v1. */
export function cpuCgroupRoot(): { version: 1 | 2; root: string } {
  for (const root of [CGROUP_FS, join(CGROUP_FS, 'unified')]) {
    const controllers = join(root, 'cgroup.controllers');
    if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) {
      return { version: 2, root };
    }
  }
  for (const root of [join(CGROUP_FS, 'cpu'), join(CGROUP_FS, 'cpu,cpuacct')]) {
    if (existsSync(join(root, 'cpu.cfs_quota_us'))) return { version: 1, root };
  }
  throw new CpuCapError(
    `no cgroup with the cpu controller under ${CGROUP_FS} (neither v2 cgroup.controllers listing cpu nor v1 cpu/cpu.cfs_quota_us)`,
  );
}

export interface CpuCapStats {
  /** CFS periods in which the group ran, and those in which it hit its quota. */
  periods: number;
  throttledPeriods: number;
  throttledMs: number;
}

export interface CpuCap {
  version: 1 | 2;
  dir: string;
  percent: number;
  /** The limit as the kernel was given it, for the benchmark's header. */
  describe(): string;
  /** Moves a process (the whole thread group) into the cgroup. */
  add(pid: number): void;
  stats(): CpuCapStats;
  /** Moves what is left in the cgroup back to its parent and deletes it; safe to call twice. */
  remove(): void;
}

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new CpuCapError(`cannot write "${text.trim()}" to ${file}: ${(e as Error).message}`);
  }
}

/** Creates the cgroup `name` allowing `percent`% of one core (1..100). */
export function createCpuCap(name: string, percent: number): CpuCap {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new CpuCapError(`invalid cgroup name "${name}"`);
  if (!Number.isFinite(percent) || percent < 1 || percent > 100) {
    throw new CpuCapError(`--cpu-cap ${percent}: expected a percentage of one core, 1..100`);
  }
  const { version, root } = cpuCgroupRoot();
  const dir = join(root, name);
  if (existsSync(dir)) throw new CpuCapError(`${dir} exists already`);
  const quotaUs = Math.round((PERIOD_US * percent) / 100);
  if (version === 2) {
    // A v2 child has the cpu controller only if its parent hands it down.
    const subtree = join(root, 'cgroup.subtree_control');
    if (!readFileSync(subtree, 'utf8').split(/\s+/).includes('cpu')) write(subtree, '+cpu');
  }
  mkdirSync(dir);
  let removed = false;
  const cap: CpuCap = {
    version,
    dir,
    percent,
    describe: () =>
      version === 2
        ? `cgroup v2 ${dir}: cpu.max "${quotaUs} ${PERIOD_US}"`
        : `cgroup v1 ${dir}: cpu.cfs_quota_us ${quotaUs} per cpu.cfs_period_us ${PERIOD_US}`,
    add: (pid) => write(join(dir, 'cgroup.procs'), `${pid}\n`),
    stats: () => {
      const kv = new Map<string, number>();
      try {
        for (const line of readFileSync(join(dir, 'cpu.stat'), 'utf8').split('\n')) {
          const [k, v] = line.split(' ');
          if (k) kv.set(k, Number(v));
        }
      } catch {
        /* removed */
      }
      return {
        periods: kv.get('nr_periods') ?? 0,
        throttledPeriods: kv.get('nr_throttled') ?? 0,
        throttledMs:
          version === 2 ? (kv.get('throttled_usec') ?? 0) / 1000 : (kv.get('throttled_time') ?? 0) / 1e6,
      };
    },
    remove: () => {
      if (removed) return;
      const parentProcs = join(dirname(dir), 'cgroup.procs');
      const end = Date.now() + 5000;
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      for (;;) {
        try {
          for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            try {
              writeFileSync(parentProcs, `${pid}\n`);
            } catch {
              /* exited meanwhile */
            }
          }
          rmdirSync(dir);
          removed = true;
          return;
        } catch (e) {
          if (!existsSync(dir)) {
            removed = true;
            return;
          }
          // EBUSY while an exiting process is still counted: try again shortly.
          if (Date.now() > end) throw new CpuCapError(`cannot remove ${dir}: ${(e as Error).message}`);
          Atomics.wait(sleeper, 0, 0, 20);
        }
      }
    },
  };
  try {
    if (version === 2) write(join(dir, 'cpu.max'), `${quotaUs} ${PERIOD_US}\n`);
    else {
      write(join(dir, 'cpu.cfs_period_us'), `${PERIOD_US}\n`);
      write(join(dir, 'cpu.cfs_quota_us'), `${quotaUs}\n`);
    }
  } catch (e) {
    cap.remove();
    throw e;
  }
  return cap;
}
