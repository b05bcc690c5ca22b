// The default scheduler: the lowest-RTT subflow first, the others when its window is full, but a
// slower subflow only when the data would not arrive sooner by waiting for the faster one (the
// idea of ECF and BLEST: never put on the slow path what the fast one would deliver first, which
// keeps a short transfer off a 60 ms LTE path when 20 ms DSL can carry it in a round or two).
import type { Subflow } from '../subflow.js';
import { byRtt, eligible, type Scheduler, sortSubflows, srttOf } from './scheduler.js';

export class MinRttScheduler implements Scheduler {
  readonly name = 'min-rtt' as const;
  readonly duplicate = false;
  readonly overflowDelayMs = 0;

  select(subflows: readonly Subflow[], pending: number, out: Subflow[]): number {
    const n = eligible(subflows, out);
    if (n < 2) return n;
    sortSubflows(out, n, byRtt);
    // ECF's test: the fastest subflow f needs about pending / cwnd_f more rounds of srtt_f to send
    // everything; a slower subflow s helps only if one of its RTTs is shorter than that.
    const f = out[0].socket;
    const fWnd = Math.max(f.cc.window, f.mss);
    const fDone = (1 + pending / fWnd) * srttOf(out[0]);
    let k = 1;
    for (let i = 1; i < n; i++) if (srttOf(out[i]) < fDone) out[k++] = out[i];
    out.length = k;
    return k;
  }
}
