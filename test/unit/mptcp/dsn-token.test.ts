// Data sequence number conversions (64-bit wire values and 32-bit truncations against relative
// numbers) and the token table (unique tokens, a colliding key drawn again).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyToken } from '../../../src/crypto/keys.js';
import { expand32, fromWire, toWire } from '../../../src/mptcp/dsn.js';
import { TokenTable } from '../../../src/mptcp/token.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const rel = fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 53 - 1 }));

describe('DSN conversions (RFC 8684 3.3)', () => {
  it('toWire and fromWire are inverse, across the 2^32 and 2^64 wraps', () => {
    fc.assert(
      fc.property(u32, u32, rel, (high, low, r) => {
        const idsn = { high, low };
        const w = toWire(idsn, r);
        expect(fromWire(idsn, w.high, w.low)).toBe(r);
        // Independent check with bigint arithmetic.
        const big = ((BigInt(high) << 32n) + BigInt(low) + BigInt(r)) & ((1n << 64n) - 1n);
        expect(w.high).toBe(Number(big >> 32n));
        expect(w.low).toBe(Number(big & 0xffffffffn));
      }),
      { seed: 3, numRuns: 5000 },
    );
  });

  it('toWire of a number a little below zero (TCP Fast Open data before IDSN + 1) is IDSN less that, mod 2^64', () => {
    fc.assert(
      fc.property(u32, u32, fc.integer({ min: -65535, max: 0 }), (high, low, r) => {
        const w = toWire({ high, low }, r);
        const big = ((BigInt(high) << 32n) + BigInt(low) + BigInt(r) + (1n << 64n)) & ((1n << 64n) - 1n);
        expect(w.high).toBe(Number(big >> 32n));
        expect(w.low).toBe(Number(big & 0xffffffffn));
      }),
      { seed: 5, numRuns: 5000 },
    );
  });

  it('rejects wire values before the IDSN or absurdly far after it', () => {
    const idsn = { high: 5, low: 10 };
    expect(fromWire(idsn, 5, 9)).toBe(-1);
    expect(fromWire(idsn, 5 + 0x20_0000, 10)).toBe(-1);
    expect(fromWire(idsn, 5, 10)).toBe(0);
  });

  it('expands a 32-bit value to the relative number nearest the expected one', () => {
    fc.assert(
      fc.property(u32, u32, rel, fc.integer({ min: -(2 ** 30), max: 2 ** 30 }), (high, low, r, skew) => {
        const idsn = { high, low };
        const w = toWire(idsn, r);
        const near = Math.max(0, r + skew);
        expect(expand32(idsn, w.low, near)).toBe(r);
      }),
      { seed: 4, numRuns: 5000 },
    );
  });
});

describe('TokenTable (RFC 8684 3.1)', () => {
  it('gives every connection a distinct token derived from its key', () => {
    const t = new TokenTable<number>();
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const k = t.allocate(i);
      expect(k.token).toBe(keyToken(k.key));
      expect(seen.has(k.token)).toBe(false);
      seen.add(k.token);
      expect(t.lookup(k.token)).toBe(i);
    }
    expect(t.size).toBe(1000);
  });

  it('draws a key again when its token is taken', () => {
    const keys = [
      Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9),
    ];
    let i = 0;
    const t = new TokenTable<string>(() => keys[i++]);
    const a = t.allocate('a');
    const b = t.allocate('b');
    expect(b.token).not.toBe(a.token);
    expect(b.key).toEqual(keys[2]);
    expect(t.collisions).toBe(1);
    t.release(a.token);
    expect(t.lookup(a.token)).toBeUndefined();
    expect(t.register(a.token, 'c')).toBe(true);
    expect(t.register(a.token, 'd')).toBe(false);
  });

  it('gives up with a clear error instead of looping forever', () => {
    const t = new TokenTable<number>(() => Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1));
    t.allocate(1);
    expect(() => t.allocate(2, 4)).toThrow(/no free MPTCP token/);
  });
});
