// Where a stack's secrets and per-connection draws come from (StackOptions.random): the same
// source gives the same ISN, ephemeral port and congestion-control seed, so that a simulation
// that seeds it repeats; the sim's source (Rng.fill) and randomU32 read bytes in network order.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/sim/rng.js';
import { TcpStack } from '../../../src/tcp/stack.js';
import { randomU32 } from '../../../src/util/random.js';
import { u16, u32 } from '../../../src/wire/bytes.js';
import { A_ADDR, B_ADDR } from './pair.js';

/** The source port and sequence number of the first SYN a fresh stack with `seed`'s source sends. */
function firstSyn(seed: number): { port: number; seq: number } {
  const rng = new Rng(seed);
  const st = new TcpStack({ random: (out) => rng.fill(out) });
  st.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
  const buf = new Uint8Array(1500);
  expect(st.pollTransmit(0, buf)).toBeGreaterThan(40);
  return { port: u16(buf, 20), seq: u32(buf, 24) };
}

describe('a stack with a given random source', () => {
  it('sends the same first SYN (port, ISN) from the same seed, another from another seed', () => {
    expect(firstSyn(5)).toEqual(firstSyn(5));
    const other = firstSyn(6);
    expect(other.port).not.toBe(firstSyn(5).port);
    expect(other.seq).not.toBe(firstSyn(5).seq);
  });

  it('seeds each connection’s BBR from it: the same seed, the same probe timing', () => {
    const seeds = (seed: number) => {
      const rng = new Rng(seed);
      const st = new TcpStack({ random: (out) => rng.fill(out), tcp: { congestionControl: 'bbr' } });
      return [1, 2].map((i) => {
        const s = st.connect(0, { local: A_ADDR, remote: B_ADDR, remotePort: 80 + i });
        return (s.cc as unknown as { rng: number }).rng;
      });
    };
    const a = seeds(5);
    expect(seeds(5)).toEqual(a);
    expect(a[0]).not.toBe(a[1]);
  });
});

describe('Rng.fill and randomU32', () => {
  it('fill writes the stream’s 32-bit words big-endian, a partial word at the end', () => {
    const words = new Rng(9);
    const w0 = words.nextU32();
    const w1 = words.nextU32();
    const out = new Rng(9).fill(new Uint8Array(6));
    expect(Array.from(out)).toEqual([
      w0 >>> 24,
      (w0 >>> 16) & 255,
      (w0 >>> 8) & 255,
      w0 & 255,
      w1 >>> 24,
      (w1 >>> 16) & 255,
    ]);
  });

  it('randomU32 reads four bytes in network order', () => {
    expect(randomU32((out) => out.fill(0xff))).toBe(0xffffffff);
    const fill = (out: Uint8Array) => {
      out.set([0x80, 0, 0, 1]);
      return out;
    };
    expect(randomU32(fill)).toBe(0x80000001);
  });
});
