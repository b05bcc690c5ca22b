// TIME-WAIT without the connection (RFC 9293 3.4.2, 3.10.7.4): once a socket has sent its last
// segment in TIME-WAIT, the stack keeps only this small record of the connection (4-tuple, the
// sequence numbers, timestamps, the deadline) and drops the socket with its buffers, scoreboard
// and extension, as Linux keeps a tcp_timewait_sock. The record acknowledges a retransmitted FIN
// and restarts the 2 MSL wait, answers a RST, and lets a new SYN reopen the 4-tuple (RFC 6191).
import type { HasDeadline } from '../util/timer-queue.js';
import { TimerQueue } from '../util/timer-queue.js';
import { TCP_FLAG } from '../wire/tcp.js';
import {
  type FourTuple,
  fillTcpChecksum,
  type SegmentIn,
  tsClock,
  writeIpHeader,
  writeTcpHeader,
  writeTimestamps,
} from './segment.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLt } from './seq.js';
import { TupleMap } from './tuple-map.js';

const { fin: FIN, syn: SYN, rst: RST, ack: ACK } = TCP_FLAG;

/** What a segment does to a connection in TIME-WAIT. */
export const TW = {
  /** Nothing to do (a duplicate ACK, an unacceptable RST, a SYN that may not reopen). */
  drop: 0,
  /** Answer with an ACK (an unacceptable segment, a challenge ACK for a RST or SYN). */
  ack: 1,
  /** A retransmitted FIN: acknowledge it and restart the 2 MSL wait. */
  restart: 2,
  /** A RST at rcv.nxt: the connection is gone. */
  close: 3,
  /** A SYN that may open a new incarnation of the 4-tuple. */
  reopen: 4,
} as const;
export type TwAction = (typeof TW)[keyof typeof TW];

/**
 * RFC 9293 3.10.7.4 for a connection in TIME-WAIT, with PAWS (RFC 7323 5.3) and RFC 6191: what
 * `seg` does, given rcv.nxt, the receive window last advertised (bytes beyond rcv.nxt), and the
 * timestamps state. One judgement for the socket in TIME-WAIT and for the record that replaces it.
 */
export function timeWaitAction(
  seg: SegmentIn,
  rcvNxt: number,
  rcvWnd: number,
  tsOk: boolean,
  tsRecent: number,
): TwAction {
  const flags = seg.flags;
  if ((flags & (SYN | ACK | RST)) === SYN) {
    // RFC 6191 2: a SYN may reopen when its timestamp is newer than the last one seen; without
    // timestamps, when its sequence number is above rcv.nxt (RFC 1122 4.2.2.13). Else it is dropped.
    const newer = tsOk && seg.hasTs ? seqGt(seg.tsval, tsRecent) : seqGt(seg.seq, rcvNxt);
    return newer ? TW.reopen : TW.drop;
  }
  // RFC 7323 5.3 R1: an old timestamp is a duplicate from an earlier incarnation: acknowledge.
  if (tsOk && seg.hasTs && !(flags & RST) && seqLt(seg.tsval, tsRecent)) return TW.ack;
  // A retransmitted FIN (our ACK of it was lost): acknowledge, restart the 2 MSL timeout.
  if (flags & FIN && !(flags & RST) && seqLt(seg.seq, rcvNxt)) return TW.restart;
  if (!inWindow(seg, rcvNxt, rcvWnd)) return flags & RST ? TW.drop : TW.ack;
  // RFC 5961 3.2: a RST exactly at rcv.nxt closes; elsewhere in the window draws a challenge ACK.
  if (flags & RST) return seg.seq === rcvNxt ? TW.close : TW.ack;
  // RFC 5961 4.2: a SYN in a synchronized state draws a challenge ACK; nothing else can be new.
  if (flags & SYN || seg.len > 0 || flags & FIN) return TW.ack;
  return TW.drop;
}

/** RFC 9293 3.10.7.4: is any part of the segment inside the receive window? */
function inWindow(seg: SegmentIn, rcvNxt: number, wnd: number): boolean {
  const len = seg.seqLen;
  if (len === 0) return wnd === 0 ? seg.seq === rcvNxt : within(seg.seq, rcvNxt, wnd);
  if (wnd === 0) return false;
  return within(seg.seq, rcvNxt, wnd) || within(seqAdd(seg.seq, len - 1), rcvNxt, wnd);
}

function within(x: number, left: number, wnd: number): boolean {
  return seqGe(x, left) && seqDiff(x, left) < wnd;
}

/** One connection in TIME-WAIT: all that is left of it. */
export class TimeWaitRecord implements HasDeadline {
  /** Whether an ACK for it waits in the table's output queue. */
  ackQueued = false;

  constructor(
    readonly tuple: FourTuple,
    /** Our snd.nxt: our FIN was sent and acknowledged. */
    readonly sndNxt: number,
    readonly rcvNxt: number,
    readonly rcvWnd: number,
    /** The window field of our ACKs (scaled). */
    readonly windowField: number,
    readonly tsOk: boolean,
    public tsRecent: number,
    /** Our timestamp clock's offset (RFC 7323 5.4). */
    readonly tsOffset: number,
    /** 2 MSL (RFC 9293 3.4.2), restarted by a retransmitted FIN. */
    readonly waitMs: number,
    /** The end of TIME-WAIT; Infinity once the record is gone. */
    public pollAt: number,
  ) {}
}

/** Records' fixed part and the two address arrays, as the heap holds them (bytes, estimated). */
const RECORD_BYTES = 200;
const ADDRESS_BYTES = 96;
/** ACKs waiting to go out at most; more are dropped (the peer retransmits its FIN). */
const MAX_QUEUED_ACKS = 256;

/** The stack's TIME-WAIT records: lookup by 4-tuple, the 2 MSL timers, and their ACKs. */
export class TimeWaitTable {
  private readonly records = new TupleMap<TimeWaitRecord>();
  private readonly timers = new TimerQueue<TimeWaitRecord>();
  private readonly acks: TimeWaitRecord[] = [];

  /** Records held. */
  get size(): number {
    return this.records.size;
  }

  /** Heap memory the records hold, in bytes (an estimate: no buffers, only the record itself). */
  get memory(): number {
    return this.records.size * (RECORD_BYTES + 2 * ADDRESS_BYTES);
  }

  add(rec: TimeWaitRecord): void {
    this.records.add(rec);
    this.timers.push(rec.pollAt, rec);
  }

  private remove(rec: TimeWaitRecord): void {
    if (this.records.delete(rec)) rec.pollAt = Number.POSITIVE_INFINITY;
  }

  find(
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
  ): TimeWaitRecord | undefined {
    return this.records.find(local, localPort, remote, remotePort);
  }

  findIn(
    buf: Uint8Array,
    dstOff: number,
    srcOff: number,
    alen: number,
    dport: number,
    sport: number,
  ): TimeWaitRecord | undefined {
    return this.records.findIn(buf, dstOff, srcOff, alen, dport, sport);
  }

  /**
   * A segment for a connection in TIME-WAIT. Returns true when it is a SYN that reopens the
   * 4-tuple: the record is gone and the segment goes on to the listener.
   */
  input(now: number, seg: SegmentIn, rec: TimeWaitRecord): boolean {
    const action = timeWaitAction(seg, rec.rcvNxt, rec.rcvWnd, rec.tsOk, rec.tsRecent);
    switch (action) {
      case TW.reopen:
      case TW.close:
        this.remove(rec);
        return action === TW.reopen;
      case TW.restart:
        rec.pollAt = now + rec.waitMs;
        this.timers.push(rec.pollAt, rec);
        this.queueAck(rec, seg);
        return false;
      case TW.ack:
        this.queueAck(rec, seg);
        return false;
      default:
        return false;
    }
  }

  private queueAck(rec: TimeWaitRecord, seg: SegmentIn): void {
    // RFC 7323 4.3: the timestamp to echo is the newest of the segments that reach rcv.nxt.
    if (rec.tsOk && seg.hasTs && seqGt(seg.tsval, rec.tsRecent) && !seqGt(seg.seq, rec.rcvNxt))
      rec.tsRecent = seg.tsval;
    if (rec.ackQueued || this.acks.length >= MAX_QUEUED_ACKS) return;
    rec.ackQueued = true;
    this.acks.push(rec);
  }

  /** Writes the next queued ACK into `buf`; returns its length, 0 when none waits. */
  pollTransmit(now: number, buf: Uint8Array): number {
    const rec = this.acks.shift();
    if (!rec) return 0;
    rec.ackQueued = false;
    const t = rec.tuple;
    const hl = rec.tsOk ? 32 : 20;
    const ipHl = writeIpHeader(buf, t.local, t.remote, hl);
    writeTcpHeader(buf, ipHl, t.localPort, t.remotePort, rec.sndNxt, rec.rcvNxt, hl, ACK, rec.windowField);
    if (rec.tsOk) {
      buf[ipHl + 20] = 1; // NOP NOP TIMESTAMP (RFC 7323 appendix A)
      buf[ipHl + 21] = 1;
      writeTimestamps(buf, ipHl + 22, tsClock(now, rec.tsOffset), rec.tsRecent);
    }
    fillTcpChecksum(buf, ipHl, hl, t.local, t.remote);
    return ipHl + hl;
  }

  get wantsToSend(): boolean {
    return this.acks.length > 0;
  }

  pollTimeout(): number {
    return this.timers.peek();
  }

  /** Forgets the records whose 2 MSL are over. */
  handleTimeout(now: number): void {
    for (;;) {
      const rec = this.timers.popDue(now);
      if (!rec) return;
      this.remove(rec);
    }
  }
}
