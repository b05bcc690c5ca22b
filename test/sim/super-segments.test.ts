// Bonding with super-segments (TSO) in simulation: both endpoints write TCP segments of up to
// 64 KB that their nodes cut into MSS pieces as the kernel under a TUN would (src/wire/
// gso-segment.ts). A bonded transfer over two lines, one of them lossy, goes as fast as with
// one segment per packet (loss-based CUBIC keeps it well below the lines' sum on the lossy one).
import { describe, expect, it } from 'vitest';
import { mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const LINKS: UplinkSpec[] = [
  { name: 'dsl', rate: 20e6, delay: 10 },
  { name: 'lte', rate: 40e6, delay: 30, loss: 0.002 },
];

describe('bonding with TCP super-segments (TSO)', () => {
  for (const dir of ['down', 'up'] as const) {
    it(`${dir}load: as fast as one segment per packet, over a lossy line too`, () => {
      const opts = { warmupMs: 3000, endMs: 12_000, seed: 3 };
      const plain = mptcpBulk(LINKS, dir, opts);
      const tso = mptcpBulk(LINKS, dir, { ...opts, tso: true });
      console.log(
        `${dir}: plain ${(plain.goodput / 1e6).toFixed(1)}, TSO ${(tso.goodput / 1e6).toFixed(1)} Mbit/s`,
      );
      expect(tso.goodput).toBeGreaterThan(0.9 * plain.goodput);
      // Both lines carried data, as super-segments.
      expect(Math.min(...tso.perUplink)).toBeGreaterThan(0);
      expect(tso.superSegments).toBeGreaterThan(100);
      expect(plain.superSegments).toBe(0);
    }, 120_000);
  }
});
