// `hybrid-access hag`: the HAG daemon's command line (src/daemon/run.ts: config with file:line
// errors, --check, SIGTERM/SIGINT drain, SIGHUP reload counted in the metrics). With several
// workers (config `workers`, hag/workers/) this process is their supervisor, and each worker is
// this same command with HYBRID_ACCESS_HAG_WORKER set, running the config of its slot.
import { thisHost } from '../src/config/index.js';
import { checkFileLimit } from '../src/daemon/file-limit.js';
import { runDaemon } from '../src/daemon/run.js';
import { type HagConfig, loadHagConfig } from './config.js';
import { FILES_PER_CONNECTION, HagDaemon } from './daemon.js';
import { workerConfig, workerCount, workerSlot } from './workers/plan.js';
import { HagSupervisor, WORKER_ENV, WORKERS_ENV } from './workers/supervisor.js';

const warnings = (cfg: HagConfig) => {
  const w = checkFileLimit('limits.maxConnections', cfg.limits.maxConnections, FILES_PER_CONNECTION);
  return w ? [w] : [];
};

export function runHag(argv: string[]): Promise<number> {
  const worker = process.env[WORKER_ENV];
  if (worker !== undefined && process.send)
    return runWorker(argv, Number(worker), Number(process.env[WORKERS_ENV]));
  return runDaemon(argv, {
    name: 'hag',
    configHelp: 'the HAG configuration (YAML; see config/hag.yaml and config/schema/hag.md)',
    load: (file, running?: HagConfig) => loadHagConfig(file, { ...thisHost, ownTun: running?.tun.name }),
    create: (cfg, log) => {
      const n = workerCount(cfg);
      return n > 1 ? new HagSupervisor(cfg, log, n) : new HagDaemon(cfg, log);
    },
    warnings,
  });
}

/** Worker `index` of `count`: its slot's TUN, join addresses and port; ready told to the supervisor. */
function runWorker(argv: string[], index: number, count: number): Promise<number> {
  // The supervisor gone (killed): drain and go too.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  return runDaemon(argv, {
    name: 'hag',
    configHelp: 'the HAG configuration',
    load: (file, running?: HagConfig) => {
      const r = loadHagConfig(file, { ...thisHost, ownTun: running?.tun.name });
      return r.ok ? { ok: true, value: workerConfig(r.value, workerSlot(r.value, index, count)) } : r;
    },
    create: (cfg, log) => new HagDaemon(cfg, log, false, index),
    warnings,
    logBase: { worker: index },
    started: () => process.send?.({ type: 'ready' }),
  });
}
