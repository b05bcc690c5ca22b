// SACK-based loss recovery (RFC 6675): loss is what the scoreboard says (IsLost, DupThresh
// segments SACKed above a hole), and a retransmission is presumed lost once enough data sent
// after it has been SACKed.

import { DUP_THRESH } from '../scoreboard.js';
import { seqDiff, seqGt } from '../seq.js';
import { LossRecovery } from './loss-recovery.js';

export class SackRecovery extends LossRecovery {
  readonly sack = true;

  /** RFC 6675 4 IsLost: below the boundary, holes with DupThresh segments SACKed above them. */
  protected lostBoundary(mss: number): number {
    return this.sb.lostBoundary(mss);
  }

  /** RFC 6675 5: partial ACKs need nothing more; the scoreboard finds the next hole. */
  protected partialAck(): void {}

  /**
   * A lost retransmission: data sent after the latest retransmission has been SACKed (more than
   * DupThresh - 1 segments of it) while holes below HighRxt remain. On a path that does not
   * reorder, those retransmissions are lost too: retransmit them again rather than wait for the
   * RTO (the idea of RACK, RFC 8985, and of Linux's lost-retransmit marking).
   */
  protected retransmitLost(una: number, mss: number): boolean {
    return (
      seqGt(this.highRxt, una) &&
      seqGt(this.rtxLastNxt, una) &&
      this.sb.sackedAbove(seqDiff(this.rtxLastNxt, una)) > (DUP_THRESH - 1) * mss
    );
  }
}
