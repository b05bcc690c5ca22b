// The open-file limit of a daemon (RLIMIT_NOFILE): raised from the soft to the hard limit at start,
// and how many connections fit in it. Every connection holds files (the HAG one egress socket, the
// CPE a LAN socket and one toward the server when it goes direct); a reserve stays free so that the
// metrics and status endpoints, the logs and the control sockets always have files to open.
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { type FileLimit, getFileLimit, setFileLimit } from '../io/tun-tap/index.js';

/** Files kept free of connections: at least this many, or the share below of the limit. */
export const FILE_RESERVE_MIN = 64;
export const FILE_RESERVE_SHARE = 0.05;

/** What a daemon's connections cost in files. */
export interface FileBudgetInput {
  /** The open-file limit the daemon runs with (its soft limit, once raised). */
  limit: number;
  /** Files open before any connection (TUN, event loop, listeners, log, HTTP server). */
  baseFiles: number;
  /** Files one connection holds at most. */
  filesPerConnection: number;
}

/** Files left free for endpoints and logs under `limit`. */
export function fileReserve(limit: number): number {
  return Math.max(FILE_RESERVE_MIN, Math.ceil(limit * FILE_RESERVE_SHARE));
}

/** Connections that fit in the limit after the base files and the reserve (0 when none do). */
export function connectionCapacity(b: FileBudgetInput): number {
  if (!Number.isFinite(b.limit)) return Number.POSITIVE_INFINITY;
  const free = b.limit - b.baseFiles - fileReserve(b.limit);
  return Math.max(0, Math.floor(free / b.filesPerConnection));
}

/** The warning when `maxConnections` exceeds what the files allow, or undefined. */
export function connectionLimitWarning(
  setting: string,
  maxConnections: number,
  capacity: number,
  limit: number,
): string | undefined {
  if (maxConnections <= capacity) return undefined;
  return `${setting} is ${maxConnections}, but the open-file limit (${limit}) holds ${capacity} connections: more are refused (file-limit); raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower ${setting}`;
}

/** The limit the kernel lets a soft limit reach when the hard one is unlimited (fs.nr_open). */
function nrOpen(): number {
  try {
    return Number.parseInt(readFileSync('/proc/sys/fs/nr_open', 'utf8'), 10) || 1 << 20;
  } catch {
    return 1 << 20;
  }
}

/** The soft limit the daemon will run with: its hard limit (fs.nr_open when unlimited). */
export function targetFileLimit(l: FileLimit): number {
  return Number.isFinite(l.hard) ? l.hard : nrOpen();
}

/** Raises the soft open-file limit to the hard one; returns the limits before and after. */
export function raiseFileLimit(): { before: FileLimit; after: FileLimit } {
  const before = getFileLimit();
  const target = targetFileLimit(before);
  if (before.soft < target) setFileLimit(target);
  return { before, after: getFileLimit() };
}

/**
 * For `--check`: the warning the daemon would log at start, from the hard limit (what it raises
 * its soft limit to) and the files this process has open; undefined when all fit or the addon
 * cannot tell.
 */
export function checkFileLimit(
  setting: string,
  maxConnections: number,
  filesPerConnection: number,
): string | undefined {
  let l: FileLimit;
  try {
    l = getFileLimit();
  } catch {
    return undefined;
  }
  const limit = targetFileLimit(l);
  const capacity = connectionCapacity({ limit, baseFiles: openFiles(), filesPerConnection });
  return connectionLimitWarning(setting, maxConnections, capacity, limit);
}

/**
 * At start, once the daemon's own files are open: the connections its (raised) limit holds,
 * logged (`file-limit`), with a warning (`file-limit-low`) when `maxConnections` is more.
 */
export function sizeConnections(
  log: Logger,
  limits: { before: FileLimit; after: FileLimit },
  c: { setting: string; maxConnections: number; filesPerConnection: number },
): { limit: number; capacity: number } {
  const limit = limits.after.soft;
  const capacity = connectionCapacity({
    limit,
    baseFiles: openFiles(),
    filesPerConnection: c.filesPerConnection,
  });
  log.info(
    { event: 'file-limit', before: limits.before.soft, limit, capacity },
    `open-file limit ${limit}: ${capacity} connections`,
  );
  const warning = connectionLimitWarning(c.setting, c.maxConnections, capacity, limit);
  if (warning) log.warn({ event: 'file-limit-low', limit, capacity }, warning);
  return { limit, capacity };
}

/** Files this process has open now (/proc/self/fd, less the one that lists it). */
export function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return 0;
  }
}
