// Loss recovery of one TCP sender: the scoreboard (RFC 6675), which bytes count as lost, how far
// retransmission got (HighRxt), and the phase (none, fast recovery, after an RTO). Two strategies
// share this state and differ in how they find loss: SACK (./sack.ts, RFC 6675) and NewReno
// without SACK (./reno.ts, RFC 6582). The socket asks and reports; the congestion controller,
// the counters and the rate sampler stay with it (this module returns what it found).

import { Scoreboard } from '../scoreboard.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax } from '../seq.js';

export const enum Phase {
  none = 0,
  fast = 1,
  rto = 2,
}

/** What a new cumulative ACK means for the recovery (onNewAck). */
export const enum AckIn {
  /** Not recovering (or an RTO recovery): the controller grows the window. */
  grow = 0,
  /** A partial ACK in fast recovery: the window stays. */
  partial = 1,
  /** The ACK reached the recovery point: fast recovery is over. */
  ended = 2,
}

export abstract class LossRecovery {
  /** RFC 6675 4: SACK is used on this connection. */
  abstract readonly sack: boolean;
  protected readonly sb = new Scoreboard();
  phase: Phase = Phase.none;
  protected dupAcks = 0;
  /** RFC 6675 5 step 4.3: the first retransmission of a recovery goes out whatever the pipe. */
  protected rtxFirst = false;
  protected recoveryPoint = 0;
  /** Bytes below this sequence number that are not SACKed are lost (RFC 6675 IsLost, or RTO). */
  lostUntil = 0;
  /** Highest sequence number retransmitted in this recovery (RFC 6675 HighRxt). */
  protected highRxt = 0;
  /** snd.nxt when the latest retransmission went out (to detect a lost retransmission). */
  protected rtxLastNxt = 0;

  /** Bytes above snd.una the loss detection counts as lost now (0: none). */
  protected abstract lostBoundary(mss: number): number;

  /** A partial ACK in fast recovery (snd.una now `una`). */
  protected abstract partialAck(una: number, mss: number): void;

  /** Whether retransmissions below HighRxt were lost too (the caller then sends them again). */
  protected abstract retransmitLost(una: number, mss: number): boolean;

  /**
   * RFC 6675 "pipe": outstanding bytes not SACKed, less the lost ones not yet retransmitted.
   */
  pipe(una: number, nxt: number): number {
    const outstanding = seqDiff(nxt, una);
    if (outstanding <= 0) return 0;
    let p = outstanding - this.sb.sacked;
    if (seqGt(this.lostUntil, una)) {
      const from = Math.max(seqDiff(this.highRxt, una), 0);
      const to = seqDiff(this.lostUntil, una);
      p -= this.sb.holeBytes(from, to);
    }
    return Math.max(p, 0);
  }

  /** Whether bytes above snd.una wait for retransmission. */
  hasLost(una: number): boolean {
    return seqGt(this.lostUntil, una);
  }

  /** Whether lost bytes wait that were not yet retransmitted (for CheckIfApplicationLimited). */
  get lostPending(): boolean {
    return seqGt(this.lostUntil, this.highRxt);
  }

  /** Bytes not SACKed in [from, to), offsets from snd.una. */
  holeBytes(from: number, to: number): number {
    return this.sb.holeBytes(from, to);
  }

  /**
   * The first un-SACKed range at or above offset `from` and below `to`, into out[0], out[1]
   * (Scoreboard.nextHole): asked before addSack, what a block over [from, to) newly SACKs.
   */
  unsackedIn(from: number, to: number, out: Float64Array): boolean {
    return this.sb.nextHole(from, to, out);
  }

  /** One SACK block (RFC 2018), offsets from snd.una; `outstanding` bounds it. */
  addSack(start: number, end: number, outstanding: number): void {
    this.sb.add(start, end, outstanding);
  }

  /** RFC 5681 2 (and RFC 6675 for ACKs with new SACK information): one duplicate ACK. */
  countDupAck(): void {
    this.dupAcks++;
  }

  /**
   * The cumulative ACK moved snd.una up by `acked` to `una` (RFC 6675 5, RFC 6582 3.2); says
   * whether the window may grow, stays (partial ACK), or fast recovery ended here.
   */
  onNewAck(acked: number, una: number, mss: number): AckIn {
    this.sb.advance(acked);
    this.dupAcks = 0;
    if (this.phase === Phase.fast) {
      if (!seqGe(una, this.recoveryPoint)) {
        this.partialAck(una, mss);
        return AckIn.partial;
      }
      this.phase = Phase.none;
      this.lostUntil = una;
      this.highRxt = una;
      return AckIn.ended;
    }
    if (this.phase === Phase.rto && seqGe(una, this.recoveryPoint)) this.phase = Phase.none;
    return AckIn.grow;
  }

  /**
   * After an ACK outside recovery: the boundary of what is lost when fast recovery must begin
   * (RFC 6675 5: DupThresh duplicate ACKs, or IsLost), else -1.
   */
  lossDetected(mss: number): number {
    const boundary = this.lostBoundary(mss);
    return this.dupAcks >= 3 || boundary > 0 ? boundary : -1;
  }

  /**
   * RFC 6675 5 step 4: fast recovery begins at snd.una `una` with snd.nxt `nxt`: at least the
   * first `first` bytes are lost, and their retransmission goes out first.
   */
  enterFast(una: number, nxt: number, boundary: number, first: number): void {
    this.phase = Phase.fast;
    this.recoveryPoint = nxt;
    this.highRxt = una;
    this.lostUntil = seqAdd(una, Math.max(boundary, first));
    this.rtxFirst = true;
  }

  /**
   * After an ACK in recovery: more loss found, HighRxt kept at or above snd.una. Returns the bytes
   * newly presumed lost when retransmissions were found lost (they go again), else -1.
   */
  progress(una: number, nxt: number, mss: number): number {
    const boundary = this.lostBoundary(mss);
    if (boundary > 0) this.lostUntil = seqMax(this.lostUntil, seqAdd(una, boundary));
    if (seqLt(this.highRxt, una)) this.highRxt = una;
    if (!this.retransmitLost(una, mss)) return -1;
    const lost = this.sb.holeBytes(0, seqDiff(this.highRxt, una));
    this.highRxt = una;
    this.rtxLastNxt = nxt;
    return lost;
  }

  /**
   * RFC 6298 5.4-5.6: the retransmission timer expired. Everything outstanding is presumed lost,
   * SACK information may be reneged (RFC 2018 8). Returns the bytes newly presumed lost.
   */
  onRto(una: number, nxt: number): number {
    const lost = this.sb.holeBytes(Math.max(seqDiff(this.lostUntil, una), 0), seqDiff(nxt, una));
    this.sb.clear();
    this.phase = Phase.rto;
    this.recoveryPoint = nxt;
    this.lostUntil = nxt;
    this.highRxt = una;
    this.dupAcks = 0;
    return lost;
  }

  /**
   * RFC 6675 NextSeg rule 1: whether lost bytes wait and may go now (the pipe has room, or this is
   * the recovery's first retransmission, which the call uses up: see keepFirst).
   */
  mayRetransmit(una: number, pipe: number, cwnd: number): boolean {
    return seqGt(this.lostUntil, una) && (pipe < cwnd || this.rtxFirst);
  }

  /** Takes the first-retransmission flag (returns its value for keepFirst). */
  takeFirst(): boolean {
    const first = this.rtxFirst;
    this.rtxFirst = false;
    return first;
  }

  /** The retransmission did not go after all (the pacer held it): the flag is back as it was. */
  keepFirst(first: boolean): void {
    this.rtxFirst = first;
  }

  /** The next lost hole above HighRxt, offsets from snd.una, into out[0], out[1]; false when none. */
  nextHole(una: number, out: Float64Array): boolean {
    const from = Math.max(seqDiff(this.highRxt, una), 0);
    return this.sb.nextHole(from, seqDiff(this.lostUntil, una), out);
  }

  /** A retransmission went out, up to `end` (HighRxt), with snd.nxt at `nxt`. */
  retransmitted(end: number, nxt: number): void {
    this.highRxt = end;
    this.rtxLastNxt = nxt;
  }
}
