// The quota state files: one JSON file per uplink under the state directory
// (`state.directory`), written atomically (src/util/atomic-write.ts) so that a power cut leaves
// the last saved count. Loading returns errors as values: no file is a first start.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import type { QuotaState } from './meter.js';

const VERSION = 1;

export function quotaFile(directory: string, uplink: string): string {
  return join(directory, `quota-${uplink}.json`);
}

function isState(x: unknown): x is QuotaState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  return (
    typeof s.interface === 'string' &&
    (s.period === 'day' || s.period === 'week' || s.period === 'month') &&
    num(s.resetDay) &&
    num(s.periodStart) &&
    num(s.periodEnd) &&
    num(s.used) &&
    (s.counterKey === undefined || typeof s.counterKey === 'string') &&
    num(s.lastRx) &&
    num(s.lastTx) &&
    typeof s.warned === 'boolean' &&
    typeof s.exhausted === 'boolean'
  );
}

/** The saved state at `path`: undefined when there is none, a string when it cannot be used. */
export function loadQuotaState(path: string): QuotaState | undefined | string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `cannot read ${path}: ${(e as Error).message}`;
  }
  try {
    const d = JSON.parse(text) as { version?: unknown; state?: unknown };
    if (d?.version !== VERSION || !isState(d.state))
      return `${path}: not a quota state file of version ${VERSION}`;
    return d.state;
  } catch (e) {
    return `${path} is not JSON: ${(e as Error).message}`;
  }
}

/** Saves `state` at `path` (creating the directory). Throws on I/O errors. */
export function saveQuotaState(path: string, state: QuotaState): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify({ version: VERSION, state })}\n`);
}
