// The home's congestion control reaches the HAG's downloads (issue 19): the CPE runs BBR on its
// lossy LTE uplink and CUBIC on DSL; its policy (MptcpConnection.peerPolicy with the CPE path
// manager's congestionIds, as the HAG applies the Convert policy TLV) makes the HAG's subflow
// toward each uplink run the same, whether the policy arrives before LTE's join or after it. The
// HAG's own default (CUBIC) on the lossy LTE subflow is what the test must tell apart.
import { describe, expect, it } from 'vitest';
import { mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 10, congestionControl: 'cubic' };
const LTE: UplinkSpec = { name: 'lte', rate: 40e6, delay: 30, loss: 0.005, congestionControl: 'bbr' };
const O = { warmupMs: 5000, endMs: 15_000 } as const;

/** The congestion control of the HAG's subflow toward each uplink (by the CPE's address). */
function hagCcs(r: ReturnType<typeof mptcpBulk>): string[] {
  return (r.hagConn?.subflows ?? []).map((sf) => `${sf.socket.tuple.remote[2]}:${sf.socket.cc.name}`).sort();
}

describe('download over DSL 20 Mbit/s (cubic) + LTE 40 Mbit/s 0.5% loss (bbr at the CPE)', () => {
  it('the HAG on its own default runs CUBIC toward LTE and the bond falls short', () => {
    const r = mptcpBulk([DSL, LTE], 'down', O);
    console.log(`HAG default: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, ${hagCcs(r).join(' ')}`);
    expect(hagCcs(r)).toEqual(['1:cubic', '2:cubic']);
    expect(r.goodput).toBeLessThan(35e6);
  });

  it.each(['policy-at-accept', 'policy-after-join'] as const)(
    'the HAG given the CPE policy (%s) runs BBR toward LTE, CUBIC toward DSL: the links sum',
    (how) => {
      const r = mptcpBulk([DSL, LTE], 'down', { ...O, serverScheduling: how });
      console.log(`${how}: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, ${hagCcs(r).join(' ')}`);
      expect(hagCcs(r)).toEqual(['1:cubic', '2:bbr']);
      expect(r.goodput).toBeGreaterThan(50e6);
    },
  );
});
