// TR-348's "DSL first": the primary uplinks' subflows take data first, by RTT; the overflow
// uplinks' subflows only what the primaries' windows cannot take right now (with an offered load
// below the primary's rate, they carry next to nothing). Backups as everywhere (scheduler.ts).
import type { Subflow } from '../subflow.js';
import { eligible, type Scheduler, srttOf } from './scheduler.js';

export class PrimaryFirstScheduler implements Scheduler {
  readonly name = 'primary-first' as const;
  readonly duplicate = false;

  select(subflows: readonly Subflow[], _pending: number, out: Subflow[]): number {
    const n = eligible(subflows, out);
    if (n > 1) out.sort((a, b) => Number(a.overflow) - Number(b.overflow) || srttOf(a) - srttOf(b));
    return n;
  }
}
