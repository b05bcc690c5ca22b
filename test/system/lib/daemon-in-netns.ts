// A daemon of this tree started in one namespace of a test's Netns (test/system/lib/netns.ts):
// `node <dist>/src/cli.js cpe|hag --config FILE`, the TUN addon from the source tree, its JSON log
// lines collected (test/system/lib/proc.ts); resolves once it logged its start and fails with its
// log when it could not start. And the CPE's status.json, fetched from a namespace of the test.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../scripts/lab-impl/lab.js';
import type { Netns } from './netns.js';
import { type Lines, lines, once } from './proc.js';

export interface RunningDaemon {
  p: ChildProcess;
  l: Lines;
}

const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(REPO_ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};

/** Spawns the daemon `kind` in namespace `where` without waiting (see started()). */
export function spawnDaemon(
  ns: Netns,
  where: string,
  kind: 'cpe' | 'hag',
  dist: string,
  config: string,
  nodeArgs: string[] = [],
): RunningDaemon {
  const p = ns.spawn(where, ['node', ...nodeArgs, join(dist, 'src/cli.js'), kind, '--config', config], {
    cwd: REPO_ROOT,
    env: ENV,
  });
  return { p, l: lines(p) };
}

/** Waits for the daemon's start line; throws with its output if it failed, crashed or took too long. */
export async function started(d: RunningDaemon, timeoutMs = 20_000): Promise<RunningDaemon> {
  const r = await once(
    d.l,
    (l) => l.event === 'start' || l.event === 'start-failed' || l.event === 'crash',
    timeoutMs,
  );
  if (r.event !== 'start') throw new Error(`${JSON.stringify(d.l.seen)}\n${d.l.stderr.join('\n')}`);
  return d;
}

/** spawnDaemon, then started(). */
export function startDaemon(...args: Parameters<typeof spawnDaemon>): Promise<RunningDaemon> {
  return started(spawnDaemon(...args));
}

/** The CPE's /status.json at `url`, fetched with curl from namespace `from`. */
export function cpeStatus<T = Record<string, unknown>>(ns: Netns, from: string, url: string): T {
  return JSON.parse(ns.sh(from, `curl -sS --max-time 5 ${url}`)) as T;
}
