// The packet scheduler interface (RFC 8684 leaves scheduling to the implementation): which
// subflows take the connection's new data, in which order, and whether they all take the same
// bytes. The connection then gives each selected subflow up to about one congestion window ahead
// of what it has in flight. Reinjection and backup rules that every scheduler shares live here too.
import type { Subflow } from '../subflow.js';

export type SchedulerName = 'min-rtt' | 'primary-first' | 'redundant';

export interface Scheduler {
  readonly name: SchedulerName;
  /** Every selected subflow gets the same bytes (redundant), rather than each its own. */
  readonly duplicate: boolean;
  /**
   * Overflow subflows (selected after the others) take new data only once the others have been
   * full, with data waiting, for this long (ms); 0: whenever the others are full.
   */
  readonly overflowDelayMs: number;
  /**
   * Writes into `out` the subflows that may take new data now, in the order to fill them, and
   * returns how many. `pending` is how much data waits to be scheduled.
   */
  select(subflows: readonly Subflow[], pending: number, out: Subflow[]): number;
}

/**
 * The subflows that may carry new data at all: able to send, not stale unless every one is, and
 * backups only while no other is usable (RFC 8684 3.3.8).
 */
export function eligible(subflows: readonly Subflow[], out: Subflow[]): number {
  let anyFresh = false;
  let anyActive = false;
  for (const sf of subflows) {
    if (!sf.canSend || sf.stale) continue;
    anyFresh = true;
    if (!sf.backup) anyActive = true;
  }
  let n = 0;
  for (const sf of subflows) {
    if (!sf.canSend || (sf.stale && anyFresh) || (sf.backup && anyActive)) continue;
    out[n++] = sf;
  }
  out.length = n;
  return n;
}

/** Lower smoothed RTT first (srttOf). */
export function byRtt(a: Subflow, b: Subflow): number {
  return srttOf(a) - srttOf(b);
}

/**
 * Sorts out[0, n) in place, stably, by `cmp`: an insertion sort, for the few subflows a connection
 * has. Array.prototype.sort copies the array into a work array on every call, and this runs in
 * every scheduler pass (the largest allocation site of the MPTCP core in a heap profile).
 */
export function sortSubflows(out: Subflow[], n: number, cmp: (a: Subflow, b: Subflow) => number): void {
  for (let i = 1; i < n; i++) {
    const x = out[i];
    let j = i - 1;
    while (j >= 0 && cmp(out[j], x) > 0) {
      out[j + 1] = out[j];
      j--;
    }
    out[j + 1] = x;
  }
}

/** Smoothed RTT in ms, with a subflow that has no sample yet ranked after those that have. */
export function srttOf(sf: Subflow): number {
  const r = sf.socket.rtt.srtt;
  return r > 0 ? r : 1e6;
}
