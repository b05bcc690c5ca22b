// Page loads in simulation (src/sim/page.ts), as bench-lab's page workload: the lab's 30 objects
// of 5-200 KB (2.9 MB) over 6 keep-alive connections, each connection one request at a time, on
// the lab's default links (DSL 20 Mbit/s 10 ms + LTE 40 Mbit/s 30 ms one-way, 50 ms queues; the
// HAG's LTE subflows BBR as the lab's CPE policy asks). The links carry no randomness, so a run
// is one fixed outcome: nine orders of the same objects (seeded shuffles) give nine loads, of
// which the median is the figure; the same on the fast profile. What bounds it today (see README, "page load"): DSL carries
// about 62% of the bytes, at its 20 Mbit/s that alone is about 710 ms; LTE's subflows join
// about 150 ms in and each starts from its initial window.
import { describe, expect, it } from 'vitest';
import { pageSizes } from '../../scripts/bench/lab-page.js';
import type { UplinkSpec } from '../../src/sim/hybrid.js';
import { pageLoad } from '../../src/sim/page.js';

const DSL = { name: 'dsl', rate: 20e6, delay: 10 };
const LTE = { name: 'lte', rate: 40e6, delay: 30, congestionControl: 'bbr' as const };

/** The objects in a seeded order (Fisher-Yates with an LCG). */
function shuffled(xs: readonly number[], seed: number): number[] {
  const out = xs.slice();
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Nine loads of the lab's page (seeded orders): the median load, LTE's median share, the mean wait. */
function loads(links: UplinkSpec[]): { ms: number; lte: number; wait: number } {
  const ms: number[] = [];
  const lte: number[] = [];
  let wait = 0;
  let objects = 0;
  for (let seed = 1; seed <= 9; seed++) {
    const r = pageLoad(links, shuffled(pageSizes(), seed), 6);
    ms.push(r.ms);
    lte.push(r.perUplink[1] / (r.perUplink[0] + r.perUplink[1]));
    for (const o of r.objects) {
      expect(o.last).toBeGreaterThanOrEqual(o.first);
      wait += o.first - o.sent;
      objects++;
    }
  }
  console.log(
    `page load: median ${median(ms).toFixed(1)} ms [${ms.map((x) => x.toFixed(0)).join(' ')}], ` +
      `LTE ${(100 * median(lte)).toFixed(1)}% of the bytes, request to first byte ${(wait / objects).toFixed(1)} ms on average`,
  );
  return { ms: median(ms), lte: median(lte), wait: wait / objects };
}

describe('page load, DSL 20 Mbit/s 10 ms + LTE 40 Mbit/s 30 ms', () => {
  it('30 objects over 6 connections: every object whole, the median load within 900 ms, LTE carries at least 30%', () => {
    const r = loads([DSL, LTE]);
    // 804 ms on 2026-12-03 (min-RTT with its ECF test; the kernel's default scheduler in the lab
    // takes 886 ms there). Everything on DSL alone would take over 1160 ms.
    expect(r.ms).toBeLessThanOrEqual(900);
    expect(r.lte).toBeGreaterThanOrEqual(0.3);
  });

  it('the fast profile (DSL 100 Mbit/s 8 ms + LTE 300 Mbit/s 20 ms): within 350 ms, first bytes one DSL round trip after the request', () => {
    // 289 ms and 20.6 ms on 2026-12-03, where the lab's daemons take 587-868 ms and 43-68 ms (the
    // kernel's 468-479 and 29-30): on fast, what the lab adds is not the network's.
    const dsl = { name: 'dsl', rate: 100e6, delay: 8 };
    const lte = { name: 'lte', rate: 300e6, delay: 20, congestionControl: 'bbr' as const };
    const r = loads([dsl, lte]);
    expect(r.ms).toBeLessThanOrEqual(350);
    expect(r.wait).toBeLessThanOrEqual(16 + 8);
  });
});
