// The byte ring under the TCP and MPTCP send and receive buffers (src/tcp/ring.ts): it grows on
// demand up to its capacity, gives its memory back or shrinks to what it holds when its owner is
// idle, and no byte is lost or reordered across a resize, wrapped around or not.
import { describe, expect, it } from 'vitest';
import { ByteRing } from '../../../src/tcp/ring.js';

/** Bytes 0..n-1 of a recognisable sequence starting at `from`. */
function seq(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((from + i) * 7 + (from + i) / 256) & 0xff;
  return b;
}

/** Whether two byte arrays hold the same bytes (vitest's toEqual walks them element by element). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function contents(r: ByteRing, n: number): Uint8Array {
  const out = new Uint8Array(n);
  r.copyOut(0, out, 0, n);
  return out;
}

describe('ByteRing', () => {
  it('holds nothing until written, then grows in powers of two up to its capacity', () => {
    const r = new ByteRing(100_000);
    expect(r.allocated).toBe(0);
    r.copyIn(0, seq(0, 3), 0, 3);
    expect(r.allocated).toBe(64);
    r.copyIn(3, seq(3, 1000), 0, 1000);
    expect(r.allocated).toBe(1024);
    r.copyIn(1003, seq(1003, 70_000), 0, 70_000);
    // The next power of two would be 128 KiB: the capacity bounds it.
    expect(r.allocated).toBe(100_000);
    expect(same(contents(r, 71_003), seq(0, 71_003))).toBe(true);
    expect(() => r.copyIn(99_999, seq(0, 2), 0, 2)).toThrow(RangeError);
  });

  it('keeps the order of wrapped-around bytes when it grows', () => {
    const r = new ByteRing(1 << 20);
    r.copyIn(0, seq(0, 64), 0, 64);
    r.advance(40); // head at 40: the next bytes wrap to the array's start
    r.copyIn(24, seq(64, 30), 0, 30);
    expect(r.allocated).toBe(64);
    r.copyIn(54, seq(94, 500), 0, 500); // grows while wrapped
    expect(r.allocated).toBe(1024);
    expect(same(contents(r, 554), seq(40, 554))).toBe(true);
  });

  it('gives its memory back when its owner holds nothing, and grows again on the next write', () => {
    const r = new ByteRing(1 << 22);
    r.copyIn(0, seq(0, 300_000), 0, 300_000);
    r.advance(300_000);
    r.shrink(0);
    expect(r.allocated).toBe(0);
    r.copyIn(0, seq(9, 10), 0, 10);
    expect(r.allocated).toBe(64);
    expect(same(contents(r, 10), seq(9, 10))).toBe(true);
  });

  it('shrinks to the power of two that holds what is left, keeping it in order', () => {
    const r = new ByteRing(1 << 22);
    r.copyIn(0, seq(0, 1 << 20), 0, 1 << 20);
    expect(r.allocated).toBe(1 << 20);
    // 5,000 bytes left, straddling the array's end once the head has moved near it.
    r.advance((1 << 20) - 3000);
    r.copyIn(3000, seq(1 << 20, 2000), 0, 2000);
    r.shrink(5000);
    expect(r.allocated).toBe(8192);
    expect(same(contents(r, 5000), seq((1 << 20) - 3000, 5000))).toBe(true);
    // Not worth a copy when it would save less than three quarters.
    r.shrink(3000);
    expect(r.allocated).toBe(8192);
    r.shrink(2000);
    expect(r.allocated).toBe(2048);
    expect(same(contents(r, 2000), seq((1 << 20) - 3000, 2000))).toBe(true);
  });

  it('loses or reorders no byte over random writes, reads, grows, shrinks and releases', () => {
    // A FIFO model beside the ring; a seeded generator (xorshift32) so that a failure repeats.
    let x = 0x9e3779b9;
    const rand = (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
    const cap = 1 << 18;
    const r = new ByteRing(cap);
    // The model: every byte ever written, in order; [head, tail) is what the ring must hold.
    const model = new Uint8Array(64 << 20);
    let head = 0;
    let tail = 0;
    let resized = 0;
    for (let step = 0; step < 3000; step++) {
      const op = rand(10);
      const before = r.allocated;
      const held = tail - head;
      if (op < 5) {
        const n = Math.min(rand(op === 0 ? 40_000 : 700) + 1, cap - held);
        const src = seq(tail, n + 5);
        r.copyIn(held, src, 5, n); // from an offset in the source
        model.set(src.subarray(5, 5 + n), tail);
        tail += n;
      } else if (op < 9) {
        const n = rand(held + 1);
        const got = new Uint8Array(n);
        r.copyOut(0, got, 0, n);
        expect(same(got, model.subarray(head, head + n))).toBe(true);
        r.advance(n);
        head += n;
      } else {
        r.shrink(held);
        if (held === 0) expect(r.allocated).toBe(0);
      }
      if (r.allocated !== before) resized++;
      expect(r.allocated).toBeGreaterThanOrEqual(tail - head);
    }
    expect(same(contents(r, tail - head), model.subarray(head, tail))).toBe(true);
    expect(resized).toBeGreaterThan(50);
  });
});
