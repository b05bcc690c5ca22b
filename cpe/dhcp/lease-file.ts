// The DHCP server's lease file: the lease table as JSON, written atomically (a temporary file in the
// same directory, fsync, rename over the old one) so a crash leaves the old or the new file, never
// half of one. Loading returns errors as values: a missing file is an empty table.
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { writeFileAtomic } from '../../src/util/atomic-write.js';
import type { Lease, LeaseState } from './leases.js';

const VERSION = 1;
const STATES: readonly LeaseState[] = ['offered', 'bound', 'released', 'expired', 'declined'];

export type LoadResult = { ok: true; leases: Lease[] } | { ok: false; error: string };

function isLease(x: unknown): x is Lease {
  if (typeof x !== 'object' || x === null) return false;
  const l = x as Record<string, unknown>;
  return (
    typeof l.address === 'string' &&
    isIPv4(l.address) &&
    (l.mac === null || (typeof l.mac === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l.mac))) &&
    typeof l.state === 'string' &&
    STATES.includes(l.state as LeaseState) &&
    typeof l.expiresAt === 'number' &&
    Number.isFinite(l.expiresAt) &&
    (l.hostname === undefined || typeof l.hostname === 'string')
  );
}

export function loadLeases(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, leases: [] };
    return { ok: false, error: `cannot read ${path}: ${(e as Error).message}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${path} is not JSON: ${(e as Error).message}` };
  }
  const d = doc as { version?: unknown; leases?: unknown };
  if (d?.version !== VERSION || !Array.isArray(d.leases)) {
    return { ok: false, error: `${path}: expected {"version": ${VERSION}, "leases": [...]}` };
  }
  const bad = d.leases.findIndex((l) => !isLease(l));
  if (bad >= 0)
    return { ok: false, error: `${path}: lease ${bad} is malformed: ${JSON.stringify(d.leases[bad])}` };
  return { ok: true, leases: d.leases as Lease[] };
}

/** Writes the leases to `path` atomically (src/util/atomic-write.ts). Throws on I/O errors. */
export function saveLeases(path: string, leases: readonly Lease[]): void {
  writeFileAtomic(path, `${JSON.stringify({ version: VERSION, leases }, null, 1)}\n`);
}
