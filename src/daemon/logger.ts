// The daemons' and tools' logger: pino JSON lines with the level as its name ("level":"warn"),
// and each line's syslog priority kept for the service manager that collects the output.
// - "prefix": each line starts with "<N>", N the RFC 5424 6.2.1 severity. journald reads and
//   strips that prefix (SyslogLevelPrefix=, on by default) and stores it as PRIORITY; without it
//   journald gives stdout and stderr alike the unit's SyslogLevel= (info). The default when stdout
//   is the journal (systemd.exec(5), JOURNAL_STREAM).
// - "stderr": warn, error and fatal on stderr, the rest on stdout: OpenWrt's procd logs a
//   service's stdout at LOG_INFO and its stderr at LOG_ERR, and reads no prefix. The default
//   when the parent is procd (PID 1 named procd).
// - "none": everything on stdout (a terminal, a test, a container's log).
import { fstatSync, readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';

export const LOG_PRIORITIES = ['prefix', 'stderr', 'none'] as const;
export type LogPriority = (typeof LOG_PRIORITIES)[number];

interface Sink {
  write(line: string): unknown;
}

/** pino's level number to the syslog severity (RFC 5424 6.2.1): fatal 2, error 3, warn 4, info 6, debug and trace 7. */
export function syslogSeverity(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** Whether fd 1 is the journal stream systemd connected (JOURNAL_STREAM is "device:inode"). */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const want = env.JOURNAL_STREAM;
  if (!want) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return want === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** Whether OpenWrt's procd started this process: its parent is PID 1 and PID 1 is procd. */
export function startedByProcd(ppid = process.ppid, initName = readInitName): boolean {
  return ppid === 1 && initName() === 'procd';
}

function readInitName(): string {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The mode asked for, or for "auto": prefix under journald, stderr under procd, else none. */
export function resolveLogPriority(
  asked: LogPriority | 'auto',
  env: NodeJS.ProcessEnv = process.env,
  procd: () => boolean = startedByProcd,
): LogPriority {
  if (asked !== 'auto') return asked;
  if (stdoutIsJournal(env)) return 'prefix';
  return procd() ? 'stderr' : 'none';
}

/**
 * A pino destination that writes each line where its priority survives. pino sets `lastLevel`
 * before each write on a destination that asks for metadata.
 */
const PINO_METADATA: unique symbol = Symbol.for('pino.metadata') as never;

class PriorityDestination {
  readonly [PINO_METADATA] = true;
  lastLevel = 0;

  constructor(
    private readonly out: Sink,
    private readonly err: Sink | undefined,
    private readonly prefix: boolean,
  ) {}

  write(line: string): void {
    const level = this.lastLevel;
    const sink = this.err && level >= 40 ? this.err : this.out;
    sink.write(this.prefix ? `<${syslogSeverity(level)}>${line}` : line);
  }
}

export interface LoggerOptions {
  level: string;
  priority: LogPriority;
  /** Fields on every line ({ service: 'hag' }, { name: 'probe' }). */
  base?: Record<string, unknown>;
  /** Where lines go (tests); stdout and stderr by default, written synchronously. */
  out?: Sink;
  err?: Sink;
}

export function createLogger(o: LoggerOptions): Logger {
  const out = o.out ?? pino.destination({ fd: 1, sync: true });
  const err = o.priority === 'stderr' ? (o.err ?? pino.destination({ fd: 2, sync: true })) : undefined;
  const dest = o.priority === 'none' ? out : new PriorityDestination(out, err, o.priority === 'prefix');
  return pino(
    {
      level: o.level,
      base: o.base ?? {},
      formatters: { level: (label) => ({ level: label }) },
    },
    dest as pino.DestinationStream,
  );
}

/**
 * The level of a connection's open and close lines: debug unless the config's
 * `log.connections` asks for them (they carry the LAN host's addresses: privacy, and a router's
 * log buffer and flash). Refusals are logged at info or warn whatever this says.
 */
export function connectionLevel(log: { connections: boolean }): 'info' | 'debug' {
  return log.connections ? 'info' : 'debug';
}
