// The subflows of one MPTCP connection whose congestion windows are coupled (RFC 6356 LIA, OLIA):
// each coupled controller reads its siblings' windows and RTTs through this group.
import type { RttView } from '../../tcp/cc/congestion.js';

export interface CoupledMember {
  readonly window: number;
  readonly rtt: RttView;
  /** Bytes acknowledged between the last two losses and since the last one (OLIA's l_r). */
  readonly interLoss: number;
}

export class CouplingGroup {
  readonly members: CoupledMember[] = [];

  add(m: CoupledMember): void {
    if (!this.members.includes(m)) this.members.push(m);
  }

  remove(m: CoupledMember): void {
    const i = this.members.indexOf(m);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** Sum of the windows, bytes. */
  get totalWindow(): number {
    let t = 0;
    for (const m of this.members) t += m.window;
    return t;
  }
}

/** RTT in seconds for the coupling formulas; members without a sample count as 100 ms. */
export function rttSec(m: CoupledMember): number {
  const r = m.rtt.srtt;
  return (r > 0 ? r : 100) / 1000;
}
