// Network-namespace harness for system tests: creates namespaces and veth pairs under a prefix
// unique to this test run, runs commands inside them, and removes everything it created (processes,
// namespaces and with them their interfaces and nftables tables) in cleanup(), also after failures.
// System tests never skip: without root or netns support they fail with a clear message.
import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('system tests need root (network namespaces, TUN devices): run ./scripts/test as root');
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

/** A set of namespaces owned by one test; every name carries a run-unique prefix. */
export class Netns {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(tag = 'ha') {
    requireRoot();
    // Short, so that "<prefix><name>" fits in interface names too (15 chars).
    this.prefix = `${tag}${randomBytes(3).toString('hex')}`;
  }

  /** Full name of the namespace called `name` in this run. */
  name(name: string): string {
    return `${this.prefix}-${name}`;
  }

  add(name: string): string {
    const full = this.name(name);
    execFileSync('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    this.sh(name, 'ip link set lo up');
    return full;
  }

  /** A veth pair between two namespaces of this run; interface names are as given (per namespace). */
  veth(nsA: string, ifA: string, nsB: string, ifB: string): void {
    const tmpA = `v${randomBytes(5).toString('hex')}`;
    const tmpB = `v${randomBytes(5).toString('hex')}`;
    execFileSync('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    execFileSync('ip', ['link', 'set', tmpA, 'netns', this.name(nsA)]);
    execFileSync('ip', ['link', 'set', tmpB, 'netns', this.name(nsB)]);
    this.sh(nsA, `ip link set ${tmpA} name ${ifA} && ip link set ${ifA} up`);
    this.sh(nsB, `ip link set ${tmpB} name ${ifB} && ip link set ${ifB} up`);
  }

  /** Runs a shell command in namespace `ns` and returns its output; throws with stderr on failure. */
  sh(ns: string, command: string, timeoutMs = 60_000): string {
    try {
      return execFileSync('ip', ['netns', 'exec', this.name(ns), 'sh', '-c', command], {
        encoding: 'utf8',
        timeout: timeoutMs,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new Error(`[${ns}] ${command}: ${err.message}\n${err.stderr ?? ''}${err.stdout ?? ''}`);
    }
  }

  /** Starts a long-running command in `ns`; it is killed in cleanup(). */
  spawn(ns: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.name(ns), ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
    });
    this.procs.push(p);
    return p;
  }

  /** Removes every process and namespace this run created. Safe to call twice. */
  cleanup(): void {
    for (const p of this.procs.splice(0)) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    for (const ns of this.namespaces.splice(0).reverse()) {
      // Kill anything still running inside (e.g. processes spawned by shell commands).
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
          .split(/\s+/)
          .filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      } catch {
        /* namespace already gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  }
}

/** Waits until `check` returns (or resolves to) true, polling every `stepMs`, or throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  stepMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
