// `hybrid-access hag`: the HAG daemon's command line (src/daemon/run.ts: config with file:line
// errors, --check, SIGTERM/SIGINT drain, SIGHUP reload counted in the metrics).
import { thisHost } from '../src/config/index.js';
import { checkFileLimit } from '../src/daemon/file-limit.js';
import { runDaemon } from '../src/daemon/run.js';
import { type HagConfig, loadHagConfig } from './config.js';
import { FILES_PER_CONNECTION, HagDaemon } from './daemon.js';

export function runHag(argv: string[]): Promise<number> {
  return runDaemon(argv, {
    name: 'hag',
    configHelp: 'the HAG configuration (YAML; see config/hag.yaml and config/schema/hag.md)',
    load: (file, running?: HagConfig) => loadHagConfig(file, { ...thisHost, ownTun: running?.tun.name }),
    create: (cfg, log) => new HagDaemon(cfg, log),
    warnings: (cfg) => {
      const w = checkFileLimit('limits.maxConnections', cfg.limits.maxConnections, FILES_PER_CONNECTION);
      return w ? [w] : [];
    },
  });
}
