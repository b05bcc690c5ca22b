// `hybrid-access cpe`: loads and validates the config (errors with file and line, exit 2), starts
// the daemon, and wires the signals: SIGTERM/SIGINT drain, tear down and exit; SIGHUP reloads the
// config (an invalid one is logged and the running one kept). `--check` validates and exits.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { formatIssues } from '../src/config/index.js';
import { loadCpeConfig } from './daemon/config.js';
import { CpeDaemon } from './daemon/daemon.js';

const USAGE = `usage: hybrid-access cpe --config FILE [--check]

  --config FILE   the CPE configuration (YAML; see config/cpe.yaml and config/schema/cpe.md)
  --check         validate the configuration and exit (0: valid, 2: errors listed)
`;

export async function runCpe(argv: string[]): Promise<number> {
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
  const loaded = loadCpeConfig(file);
  if (!loaded.ok) {
    process.stderr.write(`${formatIssues(loaded.issues)}\n`);
    return 2;
  }
  if (args.check) {
    process.stdout.write(`${file}: valid\n`);
    return 0;
  }
  const log = pino(
    { level: loaded.value.log.level, base: { service: 'cpe' } },
    pino.destination({ sync: true }),
  );
  const daemon = new CpeDaemon(loaded.value, log);
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
      const next = loadCpeConfig(file);
      if (!next.ok) {
        for (const i of next.issues) log.error({ event: 'reload-failed', ...i }, formatIssues([i]));
        return;
      }
      const restart = daemon.reload(next.value);
      log.info(
        { event: 'reloaded', needRestart: restart },
        restart.length ? `reloaded; restart needed for ${restart.join(', ')}` : 'reloaded',
      );
    });
    process.on('uncaughtException', (e) => {
      log.fatal({ event: 'crash', err: e }, 'uncaught exception');
      daemon.stop().finally(() => resolve(1));
    });
  });
}
