// NewReno loss recovery without SACK (RFC 6582): DupThresh duplicate ACKs start fast recovery, and
// each partial ACK marks the next unacknowledged segment lost, to go at once.

import { seqAdd, seqMax } from '../seq.js';
import { LossRecovery } from './loss-recovery.js';

export class RenoRecovery extends LossRecovery {
  readonly sack = false;

  /** Without SACK only duplicate ACKs tell of loss. */
  protected lostBoundary(): number {
    return 0;
  }

  /** RFC 6582 3.2 step 5: a partial ACK retransmits the next unacknowledged segment at once. */
  protected partialAck(una: number, mss: number): void {
    this.lostUntil = seqMax(this.lostUntil, seqAdd(una, mss));
    this.rtxFirst = true;
  }

  /** Without SACK a lost retransmission shows only at the RTO. */
  protected retransmitLost(): boolean {
    return false;
  }
}
