// Opportunistic retransmission and penalisation (Raiciu et al., "How Hard Can It Be? Designing
// and Implementing a Deployable Multipath TCP", NSDI 2012, section 4.2): when the peer's
// connection-level receive window blocks new data while a faster subflow could send, the data at
// the window's left edge is usually still on its way over a slower subflow. Send that data (one
// segment) again on the faster subflow, and shrink the slow subflow's congestion window so that
// it holds less of the window from then on.
//
// Only between paths of unequal length (base RTTs a quarter or more apart). Guards, because done
// naively both make small buffers slower (measured here: 256 KB, DSL 20 Mbit/s 10 ms + LTE 40
// Mbit/s 30 ms, from 33.9 to 26.8 Mbit/s):
// - retransmission: one segment per window-blocked event, each data range at most once, only
//   data the slow subflow's peer has not acknowledged, and only when the copy should reach the
//   peer before the original;
// - penalisation: at most once per round trip of the slow subflow, never while it is in loss
//   recovery (its own reduction is under way: RFC 5681 reduces once per window), and only when
//   a queue is what makes it slow: its smoothed RTT at least 1.5 times its base RTT (a cut by
//   CUBIC's beta, 0.7, then drains queue rather than starving the path) and its base RTT below
//   the faster subflow's. A subflow slow by path length gains nothing from a smaller window
//   (with LTE 40 ms one-way, penalising it cost up to 17% at 768 KB). The cut is the congestion
//   controller's own multiplicative decrease (RFC 9438 for CUBIC; the paper halves, as Reno).
// Measured (scripts/bench-rcvbuf): with LTE 30 ms one-way the copies would never arrive first and
// the gain at 256 KB (+28%) is penalising DSL, whose full queue holds the window; with LTE 100 ms
// one-way (the paper's case) the copies are the gain (256 KB: +56%) and nothing is penalised.
import { seqDiff, seqGe } from '../../tcp/seq.js';
import type { MptcpMib } from '../connection.js';
import { SentRanges } from '../sent-ranges.js';
import type { Subflow } from '../subflow.js';
import { eligible, srttOf } from './scheduler.js';

/** What the connection lets opportunistic retransmission see and do. */
export interface OpportunisticHost {
  readonly subflows: readonly Subflow[];
  /** Oldest data not yet DATA_ACKed. */
  readonly sndUna: number;
  readonly mib: MptcpMib;
  /** How much new data `sf` may take now (the scheduler's measure). */
  room(sf: Subflow): number;
  /** Puts [dsn, dsn + len) of the send buffer on `sf` again; returns how much it took. */
  resend(sf: Subflow, dsn: number, len: number): number;
}

/** Penalise only a subflow whose smoothed RTT is at least this many times its base RTT. */
const QUEUED_RTT_FACTOR = 1.5;

/** Base RTTs this far apart (ratio) make the paths unequal enough to act on. */
const PATH_RTT_RATIO = 1.25;

function unequalPaths(a: number, b: number): boolean {
  return a > 0 && b > 0 && Math.max(a, b) >= PATH_RTT_RATIO * Math.min(a, b);
}

/**
 * One-way delay of data on `sf`, estimated as its smoothed RTT less half its base RTT: the
 * queueing is on the data's way (ACKs are small), the propagation shared by both ways.
 */
function forwardDelay(sf: Subflow): number {
  return srttOf(sf) - sf.socket.rtt.minRtt / 2;
}

/** Subflow data offset of the next byte `sf` is given (its first data byte is offset 0). */
function queuedEnd(sf: Subflow): number {
  const s = sf.socket;
  return seqDiff(s.sndUna, s.iss) - 1 + s.sendQueued;
}

export class OpportunisticRetransmission {
  /** Who first carried each range of data, where in its stream, and when. */
  private readonly sent = new SentRanges();
  /** Data below this was already resent opportunistically: never twice. */
  private doneUntil = 0;
  /** Per slow subflow: its snd.nxt when last penalised; again only once snd.una passed it (made at the first penalty). */
  private penalty: WeakMap<Subflow, number> | undefined;
  private readonly ok: Subflow[] = [];

  /** `sf` just took new data [dsn, dsn + len) at time `now` (after Subflow.schedule). */
  noteSent(sf: Subflow, dsn: number, len: number, now: number): void {
    if (len > 0) this.sent.add(sf, dsn, len, now, queuedEnd(sf) - len);
  }

  /** Data below `una` is DATA_ACKed. */
  acked(una: number): void {
    this.sent.trim(una);
  }

  /** Bytes its table of sent ranges takes. */
  get memory(): number {
    return this.sent.memory;
  }

  /** The connection is idle: the sent ranges' arrays go back if every range was acknowledged. */
  trimMemory(): void {
    this.sent.release();
  }

  /**
   * The window blocks new data at time `now`: resend the oldest unacknowledged segment on a
   * faster subflow if the copy should reach the peer first, and penalise the slow subflow if its
   * queue is what holds the window. Returns whether it resent anything.
   */
  onWindowBlocked(c: OpportunisticHost, now: number): boolean {
    const una = c.sndUna;
    if (una < this.doneUntil) return false;
    this.sent.trim(una);
    const i = this.sent.find(una);
    if (i < 0) return false;
    const slow = this.sent.subflowAt(i);
    if (!slow?.canSend) return false;
    const ss = slow.socket;
    // Acknowledged at the subflow level: the peer has it and its DATA_ACK is on the way.
    if (seqDiff(ss.sndUna, ss.iss) - 1 > this.sent.offsetOf(i, una)) return false;
    const slowRtt = srttOf(slow);
    const fast = this.fastest(c, slow, slowRtt);
    if (!fast) return false;
    // Paths of about the same length: what one holds up is queueing that its own congestion
    // control deals with; resending bought at most 1.6% in our runs (DSL + DSL, under the
    // earlier whole-RTT rule) and costs volume.
    if (!unequalPaths(ss.rtt.minRtt, fast.socket.rtt.minRtt)) return false;
    // Resend only if the copy should reach the peer before the original: a later copy is wasted
    // (comparing whole RTTs instead sent 20 to 40 times as many copies, costing 4% at 512 KB with
    // LTE 100 ms one-way). Not for data that is overdue (lost): the slow subflow's own recovery
    // is resending it already; copies as well cost 5% with LTE 60 ms one-way.
    const age = now - this.sent.sentAt(i);
    let resent = false;
    if (age + forwardDelay(fast) < forwardDelay(slow)) {
      const len = Math.min(this.sent.endAt(i) - una, fast.socket.mss, c.room(fast));
      const took = len > 0 ? c.resend(fast, una, len) : 0;
      if (took > 0) {
        this.doneUntil = una + took;
        c.mib.MPTCPOpportunisticRetrans++;
        resent = true;
      }
    }
    if (this.queueHolds(slow, fast)) this.penalise(c, slow, now);
    return resent;
  }

  /** The lowest-RTT subflow other than `slow`, faster than it, with room for a segment. */
  private fastest(c: OpportunisticHost, slow: Subflow, slowRtt: number): Subflow | undefined {
    const ok = this.ok;
    const n = eligible(c.subflows, ok);
    let best: Subflow | undefined;
    for (let k = 0; k < n; k++) {
      const sf = ok[k];
      if (sf === slow || srttOf(sf) >= slowRtt || c.room(sf) < sf.socket.mss) continue;
      if (!best || srttOf(sf) < srttOf(best)) best = sf;
    }
    ok.length = 0;
    return best;
  }

  /** Whether `slow` is slower than `fast` because of its queue, and not recovering from loss. */
  private queueHolds(slow: Subflow, fast: Subflow): boolean {
    const s = slow.socket;
    const r = s.rtt;
    const recovering = seqDiff(s.sndNxt, s.sndUna) > s.pipe();
    return (
      !recovering &&
      r.minRtt > 0 &&
      r.srtt >= QUEUED_RTT_FACTOR * r.minRtt &&
      r.minRtt < fast.socket.rtt.minRtt
    );
  }

  /** Shrinks the slow subflow's congestion window, at most once per its round trip. */
  private penalise(c: OpportunisticHost, slow: Subflow, now: number): void {
    const s = slow.socket;
    const mark = this.penalty?.get(slow);
    if (mark !== undefined && !seqGe(s.sndUna, mark)) return;
    this.penalty ??= new WeakMap();
    this.penalty.set(slow, s.sndNxt);
    s.cc.onCongestionEvent(now, s.pipe());
    c.mib.MPTCPPenalisations++;
  }

  /** A subflow closed. */
  forget(sf: Subflow): void {
    this.sent.forget(sf);
  }
}
