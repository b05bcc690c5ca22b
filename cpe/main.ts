// `hybrid-access cpe`: the CPE daemon's command line (src/daemon/run.ts: config with file:line
// errors, --check, SIGTERM/SIGINT drain and tear down, SIGHUP reload).
import { checkFileLimit } from '../src/daemon/file-limit.js';
import { runDaemon } from '../src/daemon/run.js';
import { type CpeConfig, loadCpeConfig } from './daemon/config.js';
import { CpeDaemon, FILES_PER_CONNECTION } from './daemon/daemon.js';

export function runCpe(argv: string[]): Promise<number> {
  return runDaemon(argv, {
    name: 'cpe',
    configHelp: 'the CPE configuration (YAML; see config/cpe.yaml and config/schema/cpe.md)',
    load: (file, running?: CpeConfig) => loadCpeConfig(file, { ownTun: running?.tun.name }),
    create: (cfg, log) => new CpeDaemon(cfg, log),
    warnings: (cfg) => {
      const w = checkFileLimit(
        'intercept.maxConnections',
        cfg.intercept.maxConnections,
        FILES_PER_CONNECTION,
      );
      return w ? [w] : [];
    },
  });
}
