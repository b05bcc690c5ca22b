// A byte ring that grows on demand up to a fixed capacity and can give its memory back when
// empty: the storage of a TCP send buffer (bytes from snd.una on) and receive buffer (in-order
// bytes for the application, then out-of-order bytes at their place in the window). Positions are
// relative to the head; the owner keeps track of what is valid. Idle connections hold no buffer.

import { NO_BYTES } from '../wire/bytes.js';

// The first allocation: a connection that carries a handshake's few bytes (or one byte and
// stalls, as a slowloris client does) holds 64 bytes per ring, which V8 keeps inside the heap
// object (typed arrays up to 64 bytes have no separate backing store); a larger first write is
// sized from what arrives (the next power of two), so a bulk flow grows past it on its first
// segment, in one step.
const MIN_ALLOC = 64;

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
    cap = Math.min(cap, this.capacity);
    const next = new Uint8Array(cap);
    const old = this.buf;
    if (old.length > 0) {
      const first = old.subarray(this.head);
      next.set(first, 0);
      next.set(old.subarray(0, this.head), first.length);
    }
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
}
