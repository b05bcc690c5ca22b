// A byte ring that grows on demand up to a fixed capacity and can give its memory back when
// empty: the storage of a TCP send buffer (bytes from snd.una on) and receive buffer (in-order
// bytes for the application, then out-of-order bytes at their place in the window). Positions are
// relative to the head; the owner keeps track of what is valid. Idle connections hold no buffer:
// the owner releases the ring when it holds nothing, and shrinks it to what it holds when it has
// been idle (both happen once per idle period, never per packet).

import { NO_BYTES } from '../wire/bytes.js';

// The first allocation: a connection that carries a handshake's few bytes (or one byte and
// stalls, as a slowloris client does) holds 64 bytes per ring, which V8 keeps inside the heap
// object (typed arrays up to 64 bytes have no separate backing store); a larger first write is
// sized from what arrives (the next power of two), so a bulk flow grows past it on its first
// segment, in one step.
const MIN_ALLOC = 64;

/** A connection without traffic for this long gives its buffer memory back (TCP sockets, MPTCP connections). */
export const IDLE_TRIM_MS = 1000;

export class ByteRing {
  private buf: Uint8Array = NO_BYTES;
  private head = 0;

  constructor(readonly capacity: number) {}

  /** Bytes currently allocated. */
  get allocated(): number {
    return this.buf.length;
  }

  /** Makes positions [0, size) addressable, keeping the contents in order. */
  private ensure(size: number): void {
    if (size <= this.buf.length) return;
    if (size > this.capacity) throw new RangeError(`ring position ${size} beyond capacity ${this.capacity}`);
    let cap = Math.max(MIN_ALLOC, this.buf.length);
    while (cap < size) cap *= 2;
    this.resize(Math.min(cap, this.capacity), this.buf.length);
  }

  /** Moves positions [0, keep) into a new array of `cap` bytes, at its start. */
  private resize(cap: number, keep: number): void {
    const next = new Uint8Array(cap);
    if (keep > 0) this.copyOut(0, next, 0, keep);
    this.buf = next;
    this.head = 0;
  }

  /** Copies src[srcOff, srcOff+len) to ring positions [pos, pos+len). */
  copyIn(pos: number, src: Uint8Array, srcOff: number, len: number): void {
    if (len <= 0) return;
    this.ensure(pos + len);
    const cap = this.buf.length;
    let at = (this.head + pos) % cap;
    let off = srcOff;
    let left = len;
    while (left > 0) {
      const n = Math.min(left, cap - at);
      this.buf.set(src.subarray(off, off + n), at);
      off += n;
      left -= n;
      at = 0;
    }
  }

  /** Copies ring positions [pos, pos+len) to dst[dstOff...). */
  copyOut(pos: number, dst: Uint8Array, dstOff: number, len: number): void {
    const cap = this.buf.length;
    let at = (this.head + pos) % cap;
    let off = dstOff;
    let left = len;
    while (left > 0) {
      const n = Math.min(left, cap - at);
      dst.set(this.buf.subarray(at, at + n), off);
      off += n;
      left -= n;
      at = 0;
    }
  }

  /** Calls fn on each contiguous run of ring positions [pos, pos+len) (at most two). */
  forEachRun(pos: number, len: number, fn: (buf: Uint8Array, off: number, n: number) => void): void {
    const cap = this.buf.length;
    let at = (this.head + pos) % cap;
    let left = len;
    while (left > 0) {
      const n = Math.min(left, cap - at);
      fn(this.buf, at, n);
      left -= n;
      at = 0;
    }
  }

  /** Drops `n` bytes at the head. */
  advance(n: number): void {
    if (this.buf.length > 0) this.head = (this.head + n) % this.buf.length;
  }

  /** Gives the memory back; only when the owner holds no valid bytes. */
  release(): void {
    this.buf = NO_BYTES;
    this.head = 0;
  }

  /**
   * For an owner gone idle that holds positions [0, used): gives the memory back (used 0), or
   * moves them, in order, into the smallest power of two that holds them when that is at most a
   * quarter of what is allocated (a bulk flow's 4 MB ring that stalled with a few KB in it).
   */
  shrink(used: number): void {
    if (used <= 0) {
      this.release();
      return;
    }
    let cap = MIN_ALLOC;
    while (cap < used) cap *= 2;
    if (cap * 4 <= this.buf.length) this.resize(cap, used);
  }
}
