// The command-line life of a daemon (`hybrid-access hag|cpe`): parses --config/--check, loads and
// validates the config (errors with file and line, exit 2), starts the daemon, and wires the
// signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config (an invalid one is logged and
// the running one kept); an uncaught exception stops it and exits 1. Shared by both daemons.
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { type ConfigResult, formatIssues } from '../config/index.js';

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
}

export async function runDaemon<C extends { log: { level: string } }>(
  argv: string[],
  spec: DaemonSpec<C>,
): Promise<number> {
  const usage = `usage: hybrid-access ${spec.name} --config FILE [--check]

  --config FILE   ${spec.configHelp}
  --check         validate the configuration and exit (0: valid, 2: errors listed)
`;
  let args: { config?: string; check?: boolean; help?: boolean };
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  if (args.help || !args.config) {
    process.stderr.write(usage);
    return args.help ? 0 : 2;
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
  const log = pino(
    { level: loaded.value.log.level, base: { service: spec.name } },
    pino.destination({ sync: true }),
  );
  const daemon = spec.create(loaded.value, log);
  try {
    await daemon.start();
  } catch (e) {
    log.fatal({ event: 'start-failed', err: e }, `cannot start: ${(e as Error).message}`);
    await daemon.stop();
    return 1;
  }
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
