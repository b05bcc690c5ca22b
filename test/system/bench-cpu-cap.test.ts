// System test of bench-lab's --cpu-cap (scripts/bench/cpu-cap.ts), as root: a cgroup unique to the
// run gets a CFS quota of PCT% of one core (v2 cpu.max or v1 cpu.cfs_quota_us, whichever this
// machine has), a busy process moved into it is throttled, and remove() moves it back out and
// deletes the cgroup, so that nothing is left behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CpuCap, cpuCgroupRoot, createCpuCap } from '../../scripts/bench/cpu-cap.js';
import { requireRoot } from './lib/netns.js';

describe('bench-lab --cpu-cap', () => {
  let busy: ChildProcess | undefined;
  let cap: CpuCap | undefined;

  afterAll(() => {
    busy?.kill('SIGKILL');
    cap?.remove();
  });

  it('rejects a cap outside 1..100% of one core', () => {
    expect(() => createCpuCap(`hatest${randomBytes(3).toString('hex')}`, 0)).toThrow(/1\.\.100/);
    expect(() => createCpuCap(`hatest${randomBytes(3).toString('hex')}`, 150)).toThrow(/1\.\.100/);
  });

  it('confines a process to the quota and removes the cgroup afterwards', async () => {
    requireRoot();
    const { version } = cpuCgroupRoot();
    cap = createCpuCap(`hatest${randomBytes(3).toString('hex')}`, 20);
    expect(cap.version).toBe(version);
    if (version === 2) expect(readFileSync(join(cap.dir, 'cpu.max'), 'utf8').trim()).toBe('20000 100000');
    else {
      expect(readFileSync(join(cap.dir, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('20000');
      expect(readFileSync(join(cap.dir, 'cpu.cfs_period_us'), 'utf8').trim()).toBe('100000');
    }
    busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    const pid = busy.pid!;
    cap.add(pid);
    expect(readFileSync(join(cap.dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    // A busy loop at 20% of a core runs out of its quota in every period.
    const end = Date.now() + 20_000;
    while (cap.stats().throttledPeriods < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(cap.stats().throttledPeriods).toBeGreaterThanOrEqual(3);
    const dir = cap.dir;
    cap.remove();
    expect(existsSync(dir)).toBe(false);
    // The process lives on, back in the parent cgroup.
    expect(busy.exitCode).toBeNull();
    expect(readFileSync(join(dirname(dir), 'cgroup.procs'), 'utf8').split('\n')).toContain(String(pid));
    cap.remove(); // a second time does nothing
  });
});
