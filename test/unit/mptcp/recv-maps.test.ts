// The table of received DSS mappings (src/mptcp/recv-maps.ts): sorted by subflow offset whatever
// the order they arrive in, duplicates kept once, bounded, and forgotten once their bytes are read.
import { describe, expect, it } from 'vitest';
import { MAP_ADDED, MAP_DUPLICATE, MAP_FULL, NO_CSUM, RecvMaps } from '../../../src/mptcp/recv-maps.js';

const offsets = (m: RecvMaps, from: number) => {
  const out: number[] = [];
  for (let off = from; ; ) {
    const i = m.find(off);
    if (i < 0) return out;
    out.push(m.off(i));
    off = m.off(i) + m.len(i);
  }
};

describe('RecvMaps', () => {
  it('in order, out of order and far apart: found in subflow order, each by binary search', () => {
    const m = new RecvMaps(10_000);
    for (let k = 0; k < 5000; k += 2) expect(m.add(k * 100, 1 + k * 100, 100, NO_CSUM, 100)).toBe(MAP_ADDED);
    for (let k = 4999; k > 0; k -= 2) expect(m.add(k * 100, 1 + k * 100, 100, NO_CSUM, 100)).toBe(MAP_ADDED);
    expect(m.count).toBe(5000);
    const seen = offsets(m, 0);
    expect(seen).toHaveLength(5000);
    expect(seen.every((o, k) => o === k * 100)).toBe(true);
    expect(m.release(500_000)).toBe(0);
  });

  it('the same mapping twice is kept once; another at the same offset is kept beside it', () => {
    const m = new RecvMaps(16);
    expect(m.add(0, 1, 3000, NO_CSUM, 3000)).toBe(MAP_ADDED);
    expect(m.add(0, 1, 3000, NO_CSUM, 3000)).toBe(MAP_DUPLICATE);
    expect(m.add(0, 1, 1400, 7, 1400)).toBe(MAP_ADDED);
    expect(m.count).toBe(2);
  });

  it('full: a mapping ahead of all is refused; one before them takes the place of the furthest', () => {
    const m = new RecvMaps(4);
    for (let k = 1; k <= 4; k++) m.add(k * 10, k * 10, 10, NO_CSUM, 10);
    expect(m.add(100, 100, 10, NO_CSUM, 10)).toBe(MAP_FULL);
    expect(m.add(0, 0, 10, NO_CSUM, 10)).toBe(MAP_FULL);
    expect(m.count).toBe(4);
    expect(offsets(m, 0)).toEqual([0, 10, 20, 30]);
  });

  it('a mapping is found for a byte inside it; the used ones are forgotten from the front', () => {
    const m = new RecvMaps(16);
    m.add(0, 1, 1000, NO_CSUM, 1000);
    m.add(1000, 1001, 1000, NO_CSUM, 1000);
    expect(m.off(m.find(1500))).toBe(1000);
    expect(m.count).toBe(1);
    expect(m.find(2000)).toBe(-1);
    expect(m.count).toBe(0);
  });

  it('checksummed mappings that overlap (a segment sent again cut otherwise) form one run', () => {
    const m = new RecvMaps(16);
    m.add(0, 1, 1400, 1, 1400);
    m.add(1000, 1001, 1400, 2, 1400);
    m.add(3000, 3001, 100, 3, 100);
    expect(m.chainEnd(m.find(0), 65536)).toBe(2400);
    expect(m.chainEnd(m.find(0), 2000)).toBe(1400);
  });
});
