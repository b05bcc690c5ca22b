// How many HAG workers run and what each one is: its TUN, its join addresses (the i-th of each
// family in service.joinAddresses) and its metrics port. Pure: the supervisor (supervisor.ts)
// starts the workers from it, each worker derives its own config from it (workerConfig).
import { isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import type { HagConfig } from '../config.js';

export interface WorkerSlot {
  index: number;
  count: number;
  /** Its TUN: the configured name with one worker, NAME-i with several. */
  tun: string;
  /** Its unicast join addresses (one per family configured). */
  joins: string[];
  /** Where its /metrics and /sessions are served: metrics.port + 1 + i with several workers. */
  metricsPort: number | undefined;
}

/** service.joinAddresses by family, in their order. */
export function joinsByFamily(joins: readonly string[]): { v4: string[]; v6: string[] } {
  return { v4: joins.filter((a) => !isIPv6(a)), v6: joins.filter((a) => isIPv6(a)) };
}

/** Workers that join addresses can tell apart: as many as each configured family has. */
export function joinCapacity(joins: readonly string[]): number {
  const { v4, v6 } = joinsByFamily(joins);
  if (v4.length === 0 && v6.length === 0) return 1;
  if (v4.length === 0) return v6.length;
  if (v6.length === 0) return v4.length;
  return Math.min(v4.length, v6.length);
}

/**
 * The workers to run: `workers`, or with 0 one per core up to what the join addresses allow;
 * transparent mode one (its divert rules name one TUN).
 */
export function workerCount(cfg: HagConfig, cores = availableParallelism()): number {
  if (cfg.service.transparent) return 1;
  if (cfg.workers > 0) return cfg.workers;
  return Math.max(1, Math.min(cores, joinCapacity(cfg.service.joinAddresses)));
}

export function workerSlot(cfg: HagConfig, index: number, count: number): WorkerSlot {
  const { v4, v6 } = joinsByFamily(cfg.service.joinAddresses);
  const joins = [v4[index], v6[index]].filter((a): a is string => a !== undefined);
  return {
    index,
    count,
    tun: count > 1 ? `${cfg.tun.name}-${index}` : cfg.tun.name,
    joins,
    metricsPort: cfg.metrics && count > 1 ? cfg.metrics.port + 1 + index : cfg.metrics?.port,
  };
}

/** The config worker `slot` runs: its TUN, its join addresses, its metrics port. */
export function workerConfig(cfg: HagConfig, slot: WorkerSlot): HagConfig {
  return {
    ...cfg,
    tun: { ...cfg.tun, name: slot.tun },
    service: { ...cfg.service, joinAddresses: slot.joins },
    metrics: cfg.metrics && slot.metricsPort ? { ...cfg.metrics, port: slot.metricsPort } : cfg.metrics,
    workers: 1,
  };
}
