// The redundant scheduler, for small latency-sensitive flows: every eligible subflow carries the
// same bytes, and the receiver keeps whichever copy arrives first (data-level reassembly drops the
// rest). Costs the sum of the links' volume for the latency of the fastest.
import type { Subflow } from '../subflow.js';
import { byRtt, eligible, type Scheduler, sortSubflows } from './scheduler.js';

export class RedundantScheduler implements Scheduler {
  readonly name = 'redundant' as const;
  readonly duplicate = true;
  readonly overflowDelayMs = 0;

  select(subflows: readonly Subflow[], _pending: number, out: Subflow[]): number {
    const n = eligible(subflows, out);
    sortSubflows(out, n, byRtt);
    return n;
  }
}
