// Runs the command plans of plan.ts: setup (on a failure it tears down what it did and says which
// command failed and why), teardown (keeps going past what is already gone). Optionally inside a
// named network namespace (`ip netns exec`), which the system tests use.
import { execFileSync } from 'node:child_process';
import { type Logger, pino } from 'pino';
import { type Cmd, type CpeNetConfig, setupPlan, teardownPlan } from './plan.js';

export interface ApplyOptions {
  /** Run the commands in this network namespace (ip netns exec). */
  netns?: string;
  logger?: Logger;
  /** Runs one command: undefined when it succeeded, else why not (default: execCmd; tests record). */
  exec?: CmdExec;
}

/** Runs one command of a plan: undefined when it succeeded, else the error text. */
export type CmdExec = (cmd: Cmd, netns?: string) => string | undefined;

export interface CmdFailure {
  command: string;
  error: string;
}

export type ApplyResult = { ok: true; ran: number } | { ok: false; ran: number; failure: CmdFailure };

/** Most times a `repeat` command runs (duplicates left by crashed runs). */
const MAX_REPEAT = 64;

/** Runs a command on this host (or in `netns`): stdin from the command, stderr as the error. */
export function execCmd(cmd: Cmd, netns?: string): string | undefined {
  const argv = netns ? ['ip', 'netns', 'exec', netns, ...cmd.argv] : cmd.argv;
  try {
    execFileSync(argv[0], argv.slice(1), {
      input: cmd.stdin ?? '',
      stdio: ['pipe', 'ignore', 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
    });
    return undefined;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return (err.stderr ?? '').trim() || err.message;
  }
}

/** Runs `cmds` in order; stops at the first failure of a command that must succeed. */
export function runPlan(cmds: readonly Cmd[], opts: ApplyOptions = {}): ApplyResult {
  const log = (opts.logger ?? pino({ name: 'cpe-net' })).child({ module: 'cpe-net' });
  let ran = 0;
  for (const cmd of cmds) {
    const text = cmd.argv.join(' ');
    for (let i = 0; i < (cmd.repeat ? MAX_REPEAT : 1); i++) {
      const error = (opts.exec ?? execCmd)(cmd, opts.netns);
      ran++;
      if (error === undefined) continue;
      if (cmd.mayFail) break;
      log.error({ command: text, error }, 'network setup command failed');
      return { ok: false, ran, failure: { command: text, error } };
    }
  }
  return { ok: true, ran };
}

/** Sets up the CPE's nftables table, policy routing and TUN addresses, replacing leftovers. */
export function setup(cfg: CpeNetConfig, opts: ApplyOptions = {}): ApplyResult {
  const r = runPlan(setupPlan(cfg), opts);
  if (!r.ok) runPlan(teardownPlan(cfg), opts);
  return r;
}

/** Removes everything setup() creates; succeeds when it was never set up or after a crash. */
export function teardown(cfg: CpeNetConfig, opts: ApplyOptions = {}): ApplyResult {
  return runPlan(teardownPlan(cfg), opts);
}
