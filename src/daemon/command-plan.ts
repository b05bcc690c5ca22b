// Runs plans of system commands (nft, ip, sysctl) that set up or tear down a daemon's kernel
// plumbing: each command's failure is a value naming the command and the tool's own message;
// commands marked mayFail (deleting what may be gone) never stop a plan. Optionally inside a
// named network namespace (`ip netns exec`), which the system tests use.
import { execFileSync } from 'node:child_process';
import { type Logger, pino } from 'pino';

/** One command of a plan. */
export interface Cmd {
  argv: string[];
  /** Given to the command on stdin (an nft script). */
  stdin?: string;
  /** Its failure is fine (what it deletes may not exist). */
  mayFail?: boolean;
  /** Run until it fails (duplicates left by crashed runs), at most MAX_REPEAT times. */
  repeat?: boolean;
}

export interface ApplyOptions {
  /** Run the commands in this network namespace (ip netns exec). */
  netns?: string;
  logger?: Logger;
  /** The `module` of its log lines (default "net"). */
  module?: string;
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
  const module = opts.module ?? 'net';
  const log = (opts.logger ?? pino({ name: module })).child({ module });
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
