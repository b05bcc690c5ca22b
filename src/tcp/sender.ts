// The send side of one TCP connection (RFC 9293 3.3.1 send sequence space): the bytes the
// application wrote and not yet acknowledged, the peer's window and when to take a new one
// (3.10.7.4), our FIN, and how many new bytes may go in the next segment (sender-side silly
// window avoidance 3.8.6.2.1, Nagle 3.7.4). nxt is the highest sequence number sent so far plus
// one ("snd.max"): retransmissions are chosen by the loss recovery (./recovery), never by
// rewinding. The socket decides when to send and builds the segment.

import { ByteRing } from './ring.js';
import type { SegmentIn } from './segment.js';
import { seqAdd, seqDiff, seqLe, seqLt, seqMax } from './seq.js';

export class Sender {
  iss = 0;
  una = 0;
  nxt = 0;
  /** The peer's window, in bytes (scaled). */
  wnd = 0;
  private wl1 = 0;
  private wl2 = 0;
  /** The largest window the peer offered (RFC 9293 3.8.6.2.1, RFC 5961 5.2). */
  maxWnd = 0;
  /** Our shift for windows we receive (the peer's WS option). */
  shift = 0;
  private readonly ring: ByteRing;
  /** Bytes in the send ring: from una (after the SYN) to the last byte the app wrote. */
  len = 0;
  /** The application closed: a FIN follows the data. */
  finQueued = false;
  /** Whether our FIN went out, and its sequence number. */
  finOut = false;
  private finSeqNo = 0;

  constructor(private readonly bufSize: number) {
    this.ring = new ByteRing(bufSize);
  }

  /** The send sequence space starts at the ISS. */
  start(iss: number): void {
    this.iss = iss;
    this.una = iss;
    this.nxt = iss;
  }

  /** Our SYN went out with `dataLen` bytes of data (RFC 7413); a retransmitted one never pulls nxt back. */
  synSent(dataLen: number): void {
    this.nxt = seqMax(this.nxt, seqAdd(this.iss, 1 + dataLen));
  }

  /** Our SYN/ACK went out: nxt is just past our SYN. */
  synAckSent(): void {
    this.nxt = seqAdd(this.iss, 1);
  }

  /** The peer acknowledged our SYN (and `ack` - ISS - 1 bytes of its data). */
  synAcked(ack: number): void {
    this.una = ack;
  }

  /** RFC 7413 4.2.2: `n` bytes of our SYN's data were acknowledged with it; the rest goes again. */
  synDataAcked(n: number, ack: number): void {
    if (n > 0) {
      this.ring.advance(n);
      this.len -= n;
    }
    if (seqLt(ack, this.nxt)) this.nxt = ack;
  }

  /** The window of a simultaneous open's SYN (RFC 9293 figure 7), never scaled. */
  peerWindow(wnd: number): void {
    this.wnd = wnd;
  }

  /** The application closed (RFC 9293 3.10.4): a FIN follows the data. */
  queueFin(): void {
    this.finQueued = true;
  }

  /** Free space in the send buffer. */
  get space(): number {
    return this.finQueued ? 0 : this.bufSize - this.len;
  }

  /** Bytes sent and not acknowledged (data and SYN/FIN). */
  get outstanding(): number {
    return seqDiff(this.nxt, this.una);
  }

  /** Bytes queued and not yet sent. */
  get unsent(): number {
    return this.len - Math.min(Math.max(seqDiff(this.nxt, this.una), 0), this.len);
  }

  /** Whether data or our FIN waits to be sent for the first time. */
  get waiting(): boolean {
    return this.len > seqDiff(this.nxt, this.una) || (this.finQueued && !this.finOut);
  }

  /** Sequence number of our FIN (the byte after the last data byte). */
  get finSeq(): number {
    return this.finOut ? this.finSeqNo : seqAdd(this.una, this.len);
  }

  /** Copies up to `n` bytes into the send buffer; returns how many it took. */
  write(data: Uint8Array, off: number, n: number): number {
    const k = Math.min(n, this.bufSize - this.len);
    if (k <= 0) return 0;
    this.ring.copyIn(this.len, data, off, k);
    this.len += k;
    return k;
  }

  /** Payload bytes at offset `off` from una, into buf[at...]. */
  copyOut(off: number, buf: Uint8Array, at: number, n: number): void {
    this.ring.copyOut(off, buf, at, n);
  }

  /** The first window, from a SYN or the ACK of our SYN (`wnd` already scaled where it is). */
  startWindow(wnd: number, seq: number, ack: number): void {
    this.wnd = wnd;
    this.wl1 = seq;
    this.wl2 = ack;
    this.maxWnd = wnd;
  }

  /** RFC 9293 3.10.7.4: a window update, only from a newer segment or a newer ACK of the same one. */
  updateWindow(seg: SegmentIn): void {
    if (seqLt(this.wl1, seg.seq) || (this.wl1 === seg.seq && seqLe(this.wl2, seg.ack))) {
      this.wnd = seg.window << this.shift;
      this.wl1 = seg.seq;
      this.wl2 = seg.ack;
      if (this.wnd > this.maxWnd) this.maxWnd = this.wnd;
    }
  }

  /** The window field of `seg`, scaled. */
  windowOf(seg: SegmentIn): number {
    return seg.window << this.shift;
  }

  /** An ACK moved una up by `acked` (sequence space) to `ack`; returns the data bytes it freed. */
  acked(acked: number, ack: number): number {
    // The FIN takes sequence space but no buffer.
    const data = Math.min(acked, this.len);
    this.ring.advance(data);
    this.len -= data;
    this.una = ack;
    return data;
  }

  /**
   * How many new bytes the next segment may carry: `unsent` waiting, `usable` left in both windows,
   * `max` the most one segment may carry (one MSS, or a super-segment). 0 means wait: sender-side
   * SWS avoidance (RFC 9293 3.8.6.2.1), and Nagle (3.7.4) when `nagle` and data is unacknowledged.
   */
  nextLength(
    unsent: number,
    usable: number,
    mss: number,
    max: number,
    nagle: boolean,
    needFin: boolean,
  ): number {
    let len = Math.min(unsent, max, Math.max(usable, 0));
    if (len < unsent && len < mss) {
      // Only part of a segment fits: wait unless the window is half the largest we saw.
      if (len < this.maxWnd / 2 || len <= 0) len = 0;
    }
    // A super-segment is whole segments, but for the last of the data (Linux tcp_mss_split_point).
    if (len > mss && len < unsent) len -= len % mss;
    if (len > 0 && len < mss && len === unsent && !needFin && nagle && seqDiff(this.nxt, this.una) > 0) {
      len = 0; // a small segment waits while data is unacknowledged
    }
    return len;
  }

  /** New data went out: `len` bytes at nxt, and the FIN after them when `fin`. */
  sent(len: number, fin: boolean): void {
    const seq = this.nxt;
    this.nxt = seqAdd(seq, len + (fin ? 1 : 0));
    if (fin) {
      this.finOut = true;
      this.finSeqNo = seqAdd(seq, len);
    }
  }

  /** CLOSED: nothing of the buffer will ever be sent or acknowledged now. */
  drop(): void {
    this.len = 0;
  }

  /** Gives the buffer back when it holds no bytes. */
  trim(): void {
    if (this.len === 0) this.ring.release();
  }

  /** Buffer memory currently held. */
  get allocated(): number {
    return this.ring.allocated;
  }
}
