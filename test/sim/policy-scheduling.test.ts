// The home's policy both ways (issue 14): primary-first with LTE as the overflow uplink, where LTE
// has the shorter RTT, so that a scheduler that ignored the roles (min-RTT by RTT) would fill LTE
// first. Downloads: the HAG's side follows the CPE's policy (MptcpConnection.peerPolicy, as the
// HAG applies the Convert policy TLV) whether it arrives before the join or after. Uploads: the
// CPE's own joins from an overflow uplink count as overflow.
import { describe, expect, it } from 'vitest';
import { mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 20 };
const LTE: UplinkSpec = { name: 'lte', rate: 40e6, delay: 5, overflow: true };
const LOAD = 12e6; // below DSL's rate: LTE is not needed
const O = { scheduler: 'primary-first', load: LOAD, warmupMs: 5000, endMs: 15_000 } as const;

function lteShare(r: { perUplink: number[] }): number {
  return r.perUplink[1] / (r.perUplink[0] + r.perUplink[1]);
}

describe('primary-first at 12 Mbit/s over DSL 20 Mbit/s 40 ms RTT + LTE (overflow) 40 Mbit/s 10 ms RTT', () => {
  it('without the policy the HAG fills the short-RTT LTE (what the test must tell apart)', () => {
    const r = mptcpBulk([DSL, LTE], 'down', { ...O, scheduler: 'min-rtt' });
    console.log(`download, HAG min-RTT: LTE share ${(lteShare(r) * 100).toFixed(1)}%`);
    expect(lteShare(r)).toBeGreaterThan(0.5);
  });

  it.each(['policy-at-accept', 'policy-after-join'] as const)(
    'download, the HAG given the CPE policy (%s): at most 3 percent on LTE, the load carried',
    (how) => {
      const r = mptcpBulk([DSL, LTE], 'down', { ...O, serverScheduling: how });
      console.log(
        `download, ${how}: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, LTE share ${(lteShare(r) * 100).toFixed(2)}%`,
      );
      expect(r.goodput).toBeGreaterThan(0.97 * LOAD);
      expect(lteShare(r)).toBeLessThanOrEqual(0.03);
    },
  );

  it('download in bursts (150 KB every 100 ms, more than DSL takes at once): at most 3 percent on LTE', () => {
    // A burst fills DSL's window; its next ACKs drain the rest within a round trip or two. Sent on
    // LTE at once, as when an overflow subflow took whatever the primaries could not take right
    // now, 7.4% of this load went on LTE.
    const r = mptcpBulk([DSL, LTE], 'down', { ...O, burstMs: 100, serverScheduling: 'policy-at-accept' });
    console.log(
      `bursty download: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, LTE share ${(lteShare(r) * 100).toFixed(2)}%`,
    );
    expect(r.goodput).toBeGreaterThan(0.97 * LOAD);
    expect(lteShare(r)).toBeLessThanOrEqual(0.03);
  });

  it('upload: the CPE joins LTE as overflow, at most 3% on LTE', () => {
    const r = mptcpBulk([DSL, LTE], 'up', O);
    console.log(
      `upload: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, LTE share ${(lteShare(r) * 100).toFixed(2)}%`,
    );
    expect(r.goodput).toBeGreaterThan(0.97 * LOAD);
    expect(lteShare(r)).toBeLessThanOrEqual(0.03);
  });
});
