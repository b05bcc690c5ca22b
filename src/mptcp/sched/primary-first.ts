// TR-348's "DSL first": the primary uplinks' subflows take data first, by RTT; the overflow
// uplinks' subflows only what the primaries cannot carry: once the primaries' windows have been
// full with data waiting for OVERFLOW_DELAY_MS. A full window alone says little: a download that
// the receiver's application paces (8 Mbit/s on a 20 Mbit/s line) opens the peer's window in
// bursts larger than the primary's congestion window, which its next ACKs drain within a round
// trip; sent on the overflow uplink at once those bursts put 40-70% of such a download on LTE (lab,
// curl --limit-rate 1M). A primary that stays full a second is the bottleneck. Backups as
// everywhere (scheduler.ts).
import type { Subflow } from '../subflow.js';
import { byRtt, eligible, type Scheduler, sortSubflows } from './scheduler.js';

/** How long the primaries must stay full before an overflow subflow takes data. */
export const OVERFLOW_DELAY_MS = 1000;

/** Primaries before overflow subflows, each by RTT. */
function primariesFirst(a: Subflow, b: Subflow): number {
  return Number(a.overflow) - Number(b.overflow) || byRtt(a, b);
}

export class PrimaryFirstScheduler implements Scheduler {
  readonly name = 'primary-first' as const;
  readonly duplicate = false;
  readonly overflowDelayMs = OVERFLOW_DELAY_MS;

  select(subflows: readonly Subflow[], _pending: number, out: Subflow[]): number {
    const n = eligible(subflows, out);
    sortSubflows(out, n, primariesFirst);
    return n;
  }
}
