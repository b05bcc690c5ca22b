// The command-line life of a daemon (`hybrid-access hag|cpe`): parses --config/--check (and the
// common --help/--version, src/command-line.ts), loads and validates the config (errors with file
// and line, exit 2), logs through src/daemon/logger.ts, starts the daemon, and wires the signals:
// SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config (an invalid one is logged and the
// running one kept); an uncaught exception stops it and exits 1. Shared by both daemons.
import type { Logger } from 'pino';
import { parseCommandLine, report, usageError } from '../command-line.js';
import { type ConfigResult, formatIssues } from '../config/index.js';
import { createLogger, LOG_PRIORITIES, type LogPriority, resolveLogPriority } from './logger.js';

export interface ManagedDaemon<C> {
  start(): Promise<void>;
  /** Lets open connections finish, then tears everything down. */
  drain(): Promise<void>;
  /** Tears everything down at once. */
  stop(): void | Promise<void>;
  /** Applies a new config; returns the settings that need a restart to take effect. */
  reload(next: C): string[];
  /** Called after each reload attempt (metrics). */
  onReload?(ok: boolean): void;
}

export interface DaemonSpec<C extends { log: { level: string } }> {
  /** "hag" or "cpe": the subcommand and the logs' `service`. */
  name: string;
  /** What --config names, for the usage text. */
  configHelp: string;
  /** At a reload `running` is the config the daemon started with (its TUN exists and is its own). */
  load(file: string, running?: C): ConfigResult<C>;
  create(cfg: C, log: Logger): ManagedDaemon<C>;
  /** Warnings about a valid config on this host (`--check` prints them; the daemon logs them). */
  warnings?(cfg: C): string[];
  /** More fields on every log line (a HAG worker's `worker`). */
  logBase?: Record<string, unknown>;
  /** After a successful start (a HAG worker tells its supervisor). */
  started?(): void;
}

export async function runDaemon<C extends { log: { level: string } }>(
  argv: string[],
  spec: DaemonSpec<C>,
): Promise<number> {
  const command = `hybrid-access ${spec.name}`;
  const parsed = parseCommandLine(argv, {
    command,
    usage: `usage: ${command} --config FILE [--check] [--log-priority MODE]

  -c, --config FILE      ${spec.configHelp}
  --check                validate the configuration and exit (0: valid, 2: errors listed)
  --log-priority MODE    how each log line keeps its syslog priority: prefix ("<N>" before the
                         line, for journald), stderr (warn and worse on stderr, for OpenWrt's
                         procd), none, or auto (the default: prefix when stdout is the journal,
                         stderr when procd started the daemon, else none)
`,
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      'log-priority': { type: 'string', default: 'auto' },
    },
  });
  if (!parsed.ok) return report(parsed);
  const args = parsed.values;
  if (!args.config) return report(usageError(command, '--config FILE is required'));
  const priority = args['log-priority'] as LogPriority | 'auto';
  if (priority !== 'auto' && !LOG_PRIORITIES.includes(priority)) {
    return report(usageError(command, `--log-priority must be one of auto, ${LOG_PRIORITIES.join(', ')}`));
  }
  const file = args.config;
  const loaded = spec.load(file);
  if (!loaded.ok) {
    process.stderr.write(`${formatIssues(loaded.issues)}\n`);
    return 2;
  }
  if (args.check) {
    for (const w of spec.warnings?.(loaded.value) ?? []) process.stderr.write(`${file}: warning: ${w}\n`);
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  const log = createLogger({
    level: loaded.value.log.level,
    priority: resolveLogPriority(priority),
    base: { service: spec.name, ...spec.logBase },
  });
  const daemon = spec.create(loaded.value, log);
  try {
    await daemon.start();
  } catch (e) {
    log.fatal({ event: 'start-failed', err: e }, `cannot start: ${(e as Error).message}`);
    await daemon.stop();
    return 1;
  }
  spec.started?.();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ event: 'signal', signal }, `${signal}: draining`);
      daemon.drain().then(() => resolve(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      const next = spec.load(file, loaded.value);
      if (!next.ok) {
        daemon.onReload?.(false);
        for (const i of next.issues) log.error({ event: 'reload-failed', ...i }, formatIssues([i]));
        return;
      }
      const restart = daemon.reload(next.value);
      daemon.onReload?.(true);
      log.info(
        { event: 'reloaded', needRestart: restart },
        restart.length ? `reloaded; restart needed for ${restart.join(', ')}` : 'reloaded',
      );
    });
    process.on('uncaughtException', (e) => {
      log.fatal({ event: 'crash', err: e }, 'uncaught exception');
      Promise.resolve(daemon.stop()).finally(() => resolve(1));
    });
  });
}
