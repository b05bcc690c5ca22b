// A seeded simulation repeats (DEVELOPERS.md): the same run twice in one process gives the same
// counters, with BBR (random probe timing), random loss and MPTCP (random keys and nonces). Each
// stack and endpoint of the harness draws its secrets from the run's seed (Network.random), and
// BBR's stream is seeded from its connection's ISS, not from a counter shared by the process.
import { describe, expect, it } from 'vitest';
import { mptcpBulk, tcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 10, loss: 0.01 };
const LTE: UplinkSpec = { name: 'lte', rate: 40e6, delay: 30, loss: 0.01, jitter: 2 };
const bbr = { tcp: { congestionControl: 'bbr' as const }, warmupMs: 2000, endMs: 12_000 };

describe('a seeded simulation run twice in one process', () => {
  it('gives the same MPTCP counters and goodput (BBR subflows, 1% loss)', () => {
    const run = () => {
      const r = mptcpBulk([DSL, LTE], 'down', bbr);
      return { goodput: r.goodput, perUplink: r.perUplink, mib: { ...r.mib }, received: r.rx.received };
    };
    const first = run();
    expect(run()).toEqual(first);
  });

  it('gives the same plain TCP transfer with BBR', () => {
    const run = () => {
      const r = tcpBulk(LTE, 'down', bbr);
      return { goodput: r.goodput, received: r.rx.received, maxGap: r.rx.maxGap };
    };
    const first = run();
    expect(run()).toEqual(first);
  });
});
