// `hybrid-access hag`: loads and validates the config (errors with file and line, exit 2), starts
// the daemon, and wires the signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads the config
// (an invalid one is logged and the running one kept). `--check` validates the config and exits.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { formatIssues } from '../src/config/index.js';
import { loadHagConfig } from './config.js';
import { HagDaemon } from './daemon.js';

const USAGE = `usage: hybrid-access hag --config FILE [--check]

  --config FILE   the HAG configuration (YAML; see config/hag.yaml and config/schema/hag.md)
  --check         validate the configuration and exit (0: valid, 2: errors listed)
`;

export async function runHag(argv: string[]): Promise<number> {
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
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help || !args.config) {
    process.stderr.write(USAGE);
    return args.help ? 0 : 2;
  }
  const file = args.config;
  const loaded = loadHagConfig(file);
  if (!loaded.ok) {
    process.stderr.write(`${formatIssues(loaded.issues)}\n`);
    return 2;
  }
  if (args.check) {
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  const log = pino(
    { level: loaded.value.log.level, base: { service: 'hag' } },
    pino.destination({ sync: true }),
  );
  const daemon = new HagDaemon(loaded.value, log);
  try {
    await daemon.start();
  } catch (e) {
    log.fatal({ event: 'start-failed', err: e }, `cannot start: ${(e as Error).message}`);
    daemon.stop();
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ event: 'signal', signal }, `${signal}: draining`);
      daemon.drain().then(() => resolve(0));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      const next = loadHagConfig(file);
      if (!next.ok) {
        daemon.metrics.reloads.inc({ result: 'error' });
        for (const i of next.issues) log.error({ event: 'reload-failed', ...i }, formatIssues([i]));
        return;
      }
      const restart = daemon.reload(next.value);
      daemon.metrics.reloads.inc({ result: 'ok' });
      log.info(
        { event: 'reloaded', needRestart: restart },
        restart.length ? `reloaded; restart needed for ${restart.join(', ')}` : 'reloaded',
      );
    });
    process.on('uncaughtException', (e) => {
      log.fatal({ event: 'crash', err: e }, 'uncaught exception');
      daemon.stop();
      resolve(1);
    });
  });
}
