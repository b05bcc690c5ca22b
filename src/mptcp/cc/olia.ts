// OLIA, the Opportunistic Linked Increases Algorithm (Khalili et al., "MPTCP is not
// Pareto-optimal", the successor proposed to RFC 6356): like LIA it couples only the increase,
// but it is responsive and non-flappy: per ACK on path r, in packets,
//   w_r += (w_r / rtt_r^2) / (sum_p w_p / rtt_p)^2 + alpha_r / w_r,
// where alpha_r moves window from the paths with the largest windows (M) to the "best" paths
// (B: largest l_p^2 / rtt_p, l_p the bytes acknowledged between losses) that are not among them.
import type { CouplingGroup } from './coupling.js';
import { rttSec } from './coupling.js';
import { Lia } from './lia.js';

export class Olia extends Lia {
  override readonly name: string = 'olia';

  constructor(mss: number, group: CouplingGroup, start?: { window: number; ssthresh: number }) {
    super(mss, group, start);
  }

  protected override increase(acked: number): number {
    const ms = this.group.members;
    const n = ms.length;
    const mss = this.mss;
    let sum = 0;
    let maxW = 0;
    let bestQ = 0;
    for (const m of ms) {
      const r = rttSec(m);
      sum += m.window / mss / r;
      maxW = Math.max(maxW, m.window);
      const l = m.interLoss / mss;
      bestQ = Math.max(bestQ, (l * l) / r);
    }
    const wPk = this.window / mss;
    const r = rttSec(this);
    const coupled = sum > 0 ? wPk / (r * r) / (sum * sum) : 1 / wPk;
    // alpha_r (OLIA section 3): the sets M (max window) and B \ M (best, not max window).
    let inM = 0;
    let inBnotM = 0;
    const isM = (w: number) => w >= maxW;
    const isB = (l: number, rt: number) => ((l / mss) * (l / mss)) / rt >= bestQ;
    for (const m of ms) {
      const b = isB(m.interLoss, rttSec(m));
      if (isM(m.window)) inM++;
      else if (b) inBnotM++;
    }
    let alpha = 0;
    if (inBnotM > 0) {
      if (!isM(this.window) && isB(this.interLoss, r)) alpha = 1 / (n * inBnotM);
      else if (isM(this.window)) alpha = -1 / (n * inM);
    }
    const perPacket = coupled + alpha / wPk;
    // Per packet acknowledged, in packets; at least nothing (the window never shrinks on an ACK).
    return Math.max(0, perPacket * acked);
  }
}
