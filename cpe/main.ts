// `hybrid-access cpe`: the CPE daemon's command line (src/daemon/run.ts: config with file:line
// errors, --check, SIGTERM/SIGINT drain and tear down, SIGHUP reload).
import { readConfigFile } from '../src/config/index.js';
import { checkFileLimit } from '../src/daemon/file-limit.js';
import { runDaemon } from '../src/daemon/run.js';
import { type CpeConfig, parseCpeConfig } from './daemon/config.js';
import { CpeDaemon, FILES_PER_CONNECTION } from './daemon/daemon.js';
import { netifdFacts } from './openwrt/netifd.js';
import { looksLikeUci } from './openwrt/uci.js';
import { parseCpeUci } from './openwrt/uci-config.js';

export function runCpe(argv: string[]): Promise<number> {
  return runDaemon(argv, {
    name: 'cpe',
    configHelp:
      'the CPE configuration (YAML: config/cpe.yaml, config/schema/cpe.md; or OpenWrt UCI: /etc/config/hybrid-access)',
    // A UCI file (OpenWrt) is translated to the YAML form first, with netifd's view of its networks.
    load: (file, running?: CpeConfig) =>
      readConfigFile(file, (text, f) =>
        looksLikeUci(text)
          ? parseCpeUci(text, f, { ownTun: running?.tun.name, netifd: netifdFacts })
          : parseCpeConfig(text, f, { ownTun: running?.tun.name }),
      ),
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
