// The HAG with several workers (DESIGN.md "The HAG beyond one core and one machine"): this process
// starts one worker process per slot (plan.ts; the same command with HYBRID_ACCESS_HAG_WORKER set),
// each a whole HAG with its own TUN, core and join addresses, and routes the service addresses
// over the live workers' TUNs (ecmp.ts). A worker that dies is taken out of the group (the kernel
// does it with its TUN), started again after a backoff, and put back once it says it is ready;
// the others go on. SIGTERM drains every worker, SIGHUP has each reload the config itself.
// At metrics.port it serves /workers (each worker's pid, TUN, join addresses, port, restarts),
// /healthz, and /sessions and /metrics of all workers in one (each session with its `worker`,
// each sample with a worker label), and the live page (/, /status.json) of the whole host with a
// row per worker (merge-status.ts); each worker serves its own at metrics.port + 1 + index.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { Logger } from 'pino';
import { runPlan } from '../../src/daemon/command-plan.js';
import type { ManagedDaemon } from '../../src/daemon/run.js';
import { hostPort } from '../addr.js';
import type { HagConfig } from '../config.js';
import type { HagStatus } from '../status.js';
import { renderHagPage } from '../status-page.js';
import { sysctl } from '../tun-setup.js';
import { HASH_FIELDS, HASH_SYSCTLS, syncPlan, teardownPlan } from './ecmp.js';
import { mergeExpositions } from './merge-metrics.js';
import { mergeStatus } from './merge-status.js';
import { type WorkerSlot, workerSlot } from './plan.js';

/** The environment variables that make a `hybrid-access hag` a worker: its index and the count. */
export const WORKER_ENV = 'HYBRID_ACCESS_HAG_WORKER';
export const WORKERS_ENV = 'HYBRID_ACCESS_HAG_WORKERS';

/** First restart delay after a worker died; doubled while it keeps dying within RESTART_RESET_MS. */
const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30_000;
const RESTART_RESET_MS = 30_000;
/** How long a worker may take to start. */
const START_TIMEOUT_MS = 30_000;

interface Worker {
  slot: WorkerSlot;
  proc: ChildProcess | undefined;
  live: boolean;
  restarts: number;
  startedAt: number;
  delay: number;
  timer: NodeJS.Timeout | undefined;
}

export class HagSupervisor implements ManagedDaemon<HagConfig> {
  private readonly workers: Worker[];
  private http: http.Server | undefined;
  private stopping = false;
  private readonly startedAt = Date.now();

  constructor(
    private cfg: HagConfig,
    readonly log: Logger,
    count: number,
  ) {
    this.workers = Array.from({ length: count }, (_, i) => ({
      slot: workerSlot(cfg, i, count),
      proc: undefined,
      live: false,
      restarts: 0,
      startedAt: 0,
      delay: RESTART_MIN_MS,
      timer: undefined,
    }));
  }

  async start(): Promise<void> {
    HASH_SYSCTLS.policy.forEach((p, i) => {
      // Fields first: policy 3 hashes what they name.
      const custom =
        sysctl(HASH_SYSCTLS.fields[i], HASH_FIELDS) !== undefined && sysctl(p, '3') !== undefined;
      if (!custom) sysctl(p, '1');
    });
    // Nexthops left by a supervisor that was killed: its workers' TUNs are gone, so are they.
    runPlan(teardownPlan(this.cfg.service.addresses, this.workers.length), {
      logger: this.log,
      module: 'ecmp',
    });
    const ready = this.workers.map((w) => this.spawn(w));
    await Promise.all(ready);
    const m = this.cfg.metrics;
    if (m) {
      this.http = http.createServer((req, res) => {
        this.serveHttp(req, res).catch((e) => {
          this.log.warn({ event: 'http-error', err: e }, 'supervisor page failed');
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
      });
      this.http.listen(m.port, m.address);
      await once(this.http, 'listening');
    }
    this.log.info(
      {
        event: 'start',
        workers: this.workers.map((w) => ({
          tun: w.slot.tun,
          joins: w.slot.joins,
          metrics: w.slot.metricsPort,
        })),
        addresses: this.cfg.service.addresses,
        metrics: m ? `${m.address}:${m.port}` : undefined,
      },
      `HAG started with ${this.workers.length} workers`,
    );
  }

  /** Starts `w`; resolves once it is ready, rejects if it exits or hangs before (the first start). */
  private spawn(w: Worker): Promise<void> {
    const env = { ...process.env, [WORKER_ENV]: String(w.slot.index), [WORKERS_ENV]: String(w.slot.count) };
    const proc = fork(process.argv[1], process.argv.slice(2), {
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    w.proc = proc;
    w.startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`worker ${w.slot.index} did not start within ${START_TIMEOUT_MS / 1000} s`));
        proc.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      proc.on('message', (m: { type?: string }) => {
        if (m?.type !== 'ready' || w.proc !== proc) return;
        clearTimeout(timer);
        w.live = true;
        this.sync();
        this.log.info(
          { event: 'worker-ready', worker: w.slot.index, pid: proc.pid, tun: w.slot.tun },
          `worker ${w.slot.index} ready`,
        );
        resolve();
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker ${w.slot.index} exited (${signal ?? code}) before it was ready`));
        this.exited(w, proc, code, signal);
      });
    });
  }

  /** A worker ended: out of the ECMP group, and (unless we stop) started again after a backoff. */
  private exited(w: Worker, proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (w.proc !== proc) return;
    w.proc = undefined;
    const wasLive = w.live;
    w.live = false;
    if (wasLive) this.sync();
    if (this.stopping) return;
    w.delay = Date.now() - w.startedAt > RESTART_RESET_MS ? RESTART_MIN_MS : w.delay;
    this.log.warn(
      { event: 'worker-exit', worker: w.slot.index, pid: proc.pid, code, signal, restartInMs: w.delay },
      `worker ${w.slot.index} exited (${signal ?? code}); restarting in ${w.delay} ms`,
    );
    w.timer = setTimeout(() => {
      w.timer = undefined;
      if (this.stopping) return;
      w.restarts++;
      this.spawn(w).catch((e) =>
        this.log.error({ event: 'worker-start-failed', worker: w.slot.index, err: e }, (e as Error).message),
      );
    }, w.delay);
    w.delay = Math.min(RESTART_MAX_MS, w.delay * 2);
  }

  /** The service addresses over the TUNs of the live workers. */
  private sync(): void {
    const live = this.workers.filter((w) => w.live).map((w) => ({ index: w.slot.index, tun: w.slot.tun }));
    const r = runPlan(syncPlan(this.cfg.service.addresses, live), { logger: this.log, module: 'ecmp' });
    if (!r.ok)
      this.log.error({ event: 'ecmp-failed', ...r.failure }, `ECMP routes not set: ${r.failure.command}`);
    else
      this.log.info(
        { event: 'ecmp', live: live.map((l) => l.tun) },
        `service addresses over ${live.length} workers`,
      );
  }

  /** SIGTERM: every worker drains (up to limits.drainTimeout), then the routes go. */
  async drain(): Promise<void> {
    this.stopping = true;
    const exits = this.workers.map((w) =>
      w.proc && w.proc.exitCode === null ? once(w.proc, 'exit') : undefined,
    );
    for (const w of this.workers) w.proc?.kill('SIGTERM');
    await Promise.all(exits);
    this.stop();
    this.log.info({ event: 'stopped' }, 'HAG stopped');
  }

  stop(): void {
    this.stopping = true;
    for (const w of this.workers) {
      if (w.timer) clearTimeout(w.timer);
      w.proc?.kill('SIGKILL');
    }
    this.http?.close();
    this.http?.closeAllConnections();
    runPlan(teardownPlan(this.cfg.service.addresses, this.workers.length), {
      logger: this.log,
      module: 'ecmp',
    });
  }

  /** SIGHUP: each worker reloads the file itself; what needs a restart is the workers'. */
  reload(next: HagConfig): string[] {
    for (const w of this.workers) w.proc?.kill('SIGHUP');
    const restart: string[] = [];
    if (next.workers !== this.cfg.workers) restart.push('workers');
    if (JSON.stringify(next.service.joinAddresses) !== JSON.stringify(this.cfg.service.joinAddresses))
      restart.push('service.joinAddresses');
    if (JSON.stringify(next.service.addresses) !== JSON.stringify(this.cfg.service.addresses))
      restart.push('service.addresses');
    this.log.level = next.log.level;
    return restart;
  }

  /** The workers as /workers shows them. */
  status() {
    return this.workers.map((w) => ({
      worker: w.slot.index,
      pid: w.proc?.pid,
      live: w.live,
      tun: w.slot.tun,
      joinAddresses: w.slot.joins,
      metricsPort: w.slot.metricsPort,
      restarts: w.restarts,
      startedAt: new Date(w.startedAt).toISOString(),
    }));
  }

  private async serveHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/workers') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(this.status())}\n`);
    } else if (path === '/healthz') {
      const ok = !this.stopping && this.workers.some((w) => w.live);
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'no worker\n');
    } else if (path === '/sessions') {
      const lists = await this.fromWorkers('/sessions');
      const all = lists.flatMap(({ index, body }) =>
        (JSON.parse(body) as Record<string, unknown>[]).map((s) => ({ worker: index, ...s })),
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(all)}\n`);
    } else if (path === '/' || path === '/status.json') {
      const s = await this.hostStatus();
      if (path === '/')
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderHagPage(s));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(s)}\n`);
    } else if (path === '/metrics') {
      const texts = await this.fromWorkers('/metrics');
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(mergeExpositions(texts.map((t) => ({ labels: { worker: String(t.index) }, text: t.body }))));
    } else {
      res.writeHead(404).end();
    }
  }

  /** The page's snapshot: the live workers' added up, a row for every worker. */
  private async hostStatus(): Promise<HagStatus> {
    const got = await this.fromWorkers('/status.json?clients');
    const now = Date.now();
    return mergeStatus(
      got.map((g) => JSON.parse(g.body) as HagStatus),
      this.workers.map((w) => ({
        worker: w.slot.index,
        pid: w.proc?.pid,
        live: w.live,
        restarts: w.restarts,
      })),
      { uptimeS: (now - this.startedAt) / 1000, draining: this.stopping, time: now },
    );
  }

  /** `path` of every live worker's own endpoint (a worker that does not answer is left out). */
  private async fromWorkers(path: string): Promise<{ index: number; body: string }[]> {
    const m = this.cfg.metrics!;
    const got = await Promise.all(
      this.workers
        .filter((w) => w.live && w.slot.metricsPort)
        .map(async (w) => {
          try {
            const r = await fetch(`http://${hostPort(m.address, w.slot.metricsPort!)}${path}`, {
              signal: AbortSignal.timeout(5000),
            });
            return r.ok ? { index: w.slot.index, body: await r.text() } : undefined;
          } catch {
            return undefined;
          }
        }),
    );
    return got.filter((x): x is { index: number; body: string } => x !== undefined);
  }
}
