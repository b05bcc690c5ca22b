// The receive side of one TCP connection (RFC 9293 3.3.1 receive sequence space): which
// segments are acceptable, the bytes in order for the application and those out of order
// (./assembler.ts), the window we advertise and its right edge, the SACK blocks we send
// (RFC 2018), and when an ACK is due (RFC 5681 4.2). The socket owns the state machine and
// sends the ACKs; this module tells it what a segment did.

import { setU32 } from '../wire/bytes.js';
import { Assembler } from './assembler.js';
import { ByteRing } from './ring.js';
import type { SegmentIn } from './segment.js';
import { seqAdd, seqDiff, seqLt, seqMax } from './seq.js';
import type { TcpSocketStats } from './stats.js';

/** What a segment's text did (take): bit flags. */
export const RX_ACK = 1;
/** New in-order bytes can be read. */
export const RX_READABLE = 2;

export class Receiver {
  irs = 0;
  nxt = 0;
  /** Right edge of the window we last advertised (never moved left, RFC 9293 3.8.6.2.2). */
  private advRight = 0;
  /** Shift applied to windows we send (our WS option). */
  shift: number;
  /** The ACK field of the last ACK we sent. */
  lastAckSent = 0;
  /** The window the last ACK advertised, in bytes. */
  windowAtLastAck = 0;
  /** In-order bytes waiting for the application. */
  readable = 0;
  private readonly ring: ByteRing;
  private readonly ooo = new Assembler();
  /** Full-sized segments received since the last ACK (RFC 5681 4.2). */
  private segsUnacked = 0;
  /** Sequence number of a FIN seen beyond nxt, or -1. */
  private finSeq = -1;
  /** The peer's FIN arrived, and every byte before it. */
  finDone = false;
  private readonly sackOrder: number[] = [];

  constructor(
    private readonly bufSize: number,
    shift: number,
    private readonly stats: TcpSocketStats,
  ) {
    this.ring = new ByteRing(bufSize);
    this.shift = shift;
  }

  /** The receive sequence space starts after the peer's SYN. */
  start(irs: number): void {
    this.irs = irs;
    this.nxt = seqAdd(irs, 1);
  }

  /** A SYN/ACK, or the ACK of one, advertised `wnd` bytes beyond nxt (the right edge from there). */
  advertisedTo(wnd: number): void {
    this.advRight = seqAdd(this.nxt, wnd);
  }

  /** Bytes the receive buffer can still take beyond nxt. */
  get space(): number {
    return this.bufSize - this.readable;
  }

  /** The window the peer may still fill, from what we advertised. */
  get advertised(): number {
    return Math.max(seqDiff(this.advRight, this.nxt), 0);
  }

  /** Whether the reassembly queue holds bytes (then ACKs carry SACK blocks). */
  get hasOoo(): boolean {
    return !this.ooo.isEmpty;
  }

  /** RFC 9293 3.10.7.4, the four cases: is any part of the segment inside the receive window? */
  acceptable(seg: SegmentIn): boolean {
    const wnd = this.advertised;
    const len = seg.seqLen;
    const nxt = this.nxt;
    if (len === 0)
      return wnd === 0 ? seg.seq === nxt : seqDiff(seg.seq, nxt) >= 0 && seqDiff(seg.seq, nxt) < wnd;
    if (wnd === 0) return false;
    const first = seqDiff(seg.seq, nxt);
    const last = first + len - 1;
    return (first >= 0 && first < wnd) || (last >= 0 && last < wnd);
  }

  /** RFC 7413 4.2.2: the `n` bytes of a SYN's data, taken before the handshake ends. */
  takeSynData(seg: SegmentIn, n: number): void {
    this.ring.copyIn(0, seg.buf, seg.payloadOff, n);
    this.readable = n;
    this.nxt = seqAdd(this.nxt, n);
    this.stats.bytesIn += n;
  }

  /**
   * Segment text (RFC 9293 3.10.7.4 seventh step) with `wnd` bytes of room beyond nxt: in order it
   * is readable, out of order it waits in the assembler. Returns RX_ flags: whether an ACK is due
   * now (else one may be delayed: RFC 5681 4.2) and whether new bytes can be read.
   */
  take(seg: SegmentIn, wnd: number, mss: number): number {
    let off = seqDiff(seg.seq, this.nxt);
    let skip = 0;
    if (off < 0) {
      skip = -off;
      off = 0;
    }
    const end = Math.min(seqDiff(seg.seq, this.nxt) + seg.len, wnd);
    const n = end - off;
    if (n <= 0) return RX_ACK; // a duplicate: acknowledge (RFC 9293 3.10.7.4)
    if (off === 0) {
      const hadOoo = !this.ooo.isEmpty;
      this.ring.copyIn(this.readable, seg.buf, seg.payloadOff + skip, n);
      const adv = this.ooo.advance(n);
      this.nxt = seqAdd(this.nxt, adv);
      this.readable += adv;
      this.stats.bytesIn += adv;
      // RFC 5681 4.2: ACK at least every second full segment; at once when a hole fills. A GRO
      // super-packet longer than the MSS stands for the segments it was cut from.
      this.segsUnacked += n > mss ? Math.ceil(n / mss) : 1;
      return hadOoo || this.segsUnacked >= 2 ? RX_READABLE | RX_ACK : RX_READABLE;
    }
    if (this.ooo.add(off, end)) {
      this.ring.copyIn(this.readable + off, seg.buf, seg.payloadOff + skip, n);
      this.stats.oooSegsIn++;
    }
    return RX_ACK; // RFC 5681 4.2: an out-of-order segment is acknowledged at once
  }

  /** A segment with FIN: where the FIN is (it counts once every byte before it has arrived). */
  noteFin(seg: SegmentIn): void {
    if (!this.finDone && this.finSeq < 0) this.finSeq = seqAdd(seg.seq, seg.len);
  }

  /** RFC 9293 3.10.7.4 eighth step: whether the FIN is at nxt now; if so it is taken. */
  takeFin(): boolean {
    if (this.finSeq < 0 || this.finDone || this.finSeq !== this.nxt) return false;
    this.finDone = true;
    this.nxt = seqAdd(this.nxt, 1);
    return true;
  }

  /** Copies up to `max` in-order bytes to dst[off...]; returns how many. */
  read(dst: Uint8Array, off: number, max: number): number {
    const n = Math.min(max, this.readable);
    if (n <= 0) return 0;
    this.ring.copyOut(0, dst, off, n);
    this.ring.advance(n);
    this.readable -= n;
    return n;
  }

  /** An ACK went out with `ack` in its ACK field. */
  acked(ack: number): void {
    this.segsUnacked = 0;
    this.lastAckSent = ack;
  }

  /**
   * The window field for `wnd` bytes of room: scaled, the right edge never moved left when
   * `holdEdge` (RFC 9293 3.8.6.2.2, RFC 7323 2.4); a SYN's is never scaled (RFC 7323 2.2).
   */
  advertise(wnd: number, syn: boolean, holdEdge: boolean): number {
    if (syn) return Math.min(wnd, 0xffff);
    let right = seqAdd(this.nxt, wnd);
    if (holdEdge && seqLt(right, this.advRight)) right = this.advRight;
    let field = seqDiff(right, this.nxt) >>> this.shift;
    if (field > 0xffff) field = 0xffff;
    this.advRight = seqMax(this.advRight, seqAdd(this.nxt, field << this.shift));
    this.windowAtLastAck = field << this.shift;
    return field;
  }

  /** Bytes the SACK option takes with at most `maxBlocks` blocks (0 without out-of-order data). */
  sackOptionLen(maxBlocks: number): number {
    if (this.ooo.isEmpty) return 0;
    return 4 + 8 * Math.min(this.ooo.rangeCount, maxBlocks);
  }

  /** SACK blocks for what arrived out of order (RFC 2018 section 4), at most `max`. */
  writeSack(buf: Uint8Array, off: number, max: number): number {
    const count = Math.min(this.ooo.sackOrder(this.sackOrder), max);
    buf[off] = 1;
    buf[off + 1] = 1;
    buf[off + 2] = 5;
    buf[off + 3] = 2 + 8 * count;
    let o = off + 4;
    for (let k = 0; k < count; k++) {
      const i = this.sackOrder[k];
      setU32(buf, o, seqAdd(this.nxt, this.ooo.start(i)));
      setU32(buf, o + 4, seqAdd(this.nxt, this.ooo.end(i)));
      o += 8;
    }
    return o;
  }

  /** Gives the buffer back when it holds no bytes. */
  trim(): void {
    if (this.readable === 0 && this.ooo.isEmpty) this.ring.release();
  }

  /** Buffer memory currently held. */
  get allocated(): number {
    return this.ring.allocated;
  }
}
