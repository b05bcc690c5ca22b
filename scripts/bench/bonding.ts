// Bonding benchmark in the simulator: for each pair of access links (rate, one-way delay, loss)
// and each direction, one long MPTCP connection over both (min-RTT scheduler, uncoupled subflows)
// with each congestion control our TCP has, beside the ideal: the sum over the two links of the
// best that one plain TCP connection of ours gets on that link alone in the same simulator, with
// whichever congestion control does best there. Deterministic (seeded); prints a table and how
// much faster than real time the simulation ran.
//   node dist/scripts/bench/bonding.js [--window 10:30] [--seed 1] [--cc cubic,newreno,bbr]
//     [--pairs default,lossy,...] (default all)
import { performance } from 'node:perf_hooks';
import { type Direction, mptcpBulk, tcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';
import * as cc from '../../src/tcp/cc/index.js';
import { benchArgs } from './args.js';

/** Every congestion control our TCP has (src/tcp/cc): a new one joins this benchmark by itself. */
const ALL_CCS = cc.CONGESTION_CONTROL_NAMES;

const { values: a } = benchArgs({
  options: {
    window: { type: 'string', default: '10:30' },
    seed: { type: 'string', default: '1' },
    cc: { type: 'string', default: ALL_CCS.join(',') },
    pairs: { type: 'string' },
  },
});
const [w0, w1] = a.window.split(':').map((x) => Number(x) * 1000);
const seed = Number(a.seed);
const CCS = a.cc.split(',') as cc.CongestionControlName[];
for (const name of CCS) {
  if (!ALL_CCS.includes(name)) {
    console.error(`bench-bonding: unknown congestion control "${name}" (${ALL_CCS.join(', ')})`);
    process.exit(2);
  }
}

const PAIRS: [string, UplinkSpec, UplinkSpec][] = [
  ['default', { name: 'dsl', rate: 20e6, delay: 10 }, { name: 'lte', rate: 40e6, delay: 30 }],
  ['rural', { name: 'dsl', rate: 4e6, delay: 15 }, { name: 'lte', rate: 20e6, delay: 35 }],
  ['mild', { name: 'dsl', rate: 20e6, delay: 10 }, { name: 'lte', rate: 40e6, delay: 30, loss: 0.002 }],
  [
    'lte 0.5% loss',
    { name: 'dsl', rate: 20e6, delay: 10 },
    { name: 'lte', rate: 40e6, delay: 30, loss: 0.005 },
  ],
  ['fast lte', { name: 'dsl', rate: 8e6, delay: 5 }, { name: 'lte', rate: 80e6, delay: 25 }],
  ['long rtt', { name: 'dsl', rate: 16e6, delay: 20 }, { name: 'lte', rate: 50e6, delay: 60 }],
  // The lab's `lossy` (config/lab/profiles.yaml), with DSL at its download rate both ways.
  [
    'lossy',
    { name: 'dsl', rate: 16e6, delay: 12 },
    { name: 'lte', rate: 30e6, delay: 40, jitter: 5, loss: 0.01 },
  ],
];
const PICKED = a.pairs === undefined ? PAIRS : PAIRS.filter(([n]) => a.pairs!.split(',').includes(n));
if (PICKED.length === 0) {
  console.error(`bench-bonding: --pairs ${a.pairs}: none of ${PAIRS.map(([n]) => n).join(', ')}`);
  process.exit(2);
}

const mbit = (x: number) => (x / 1e6).toFixed(2).padStart(7);
const link = (l: UplinkSpec) =>
  `${l.rate / 1e6}M/${l.delay}ms${l.jitter ? `~${l.jitter}` : ''}${l.loss ? `/${l.loss * 100}%` : ''}`;
const ccWidth = Math.max(7, ...CCS.map((c) => c.length));

/** The best of `runs` (goodput, bit/s) and the congestion control that got it. */
function best(runs: Map<cc.CongestionControlName, number>): { cc: string; bps: number } {
  let top = { cc: '-', bps: 0 };
  for (const [name, bps] of runs) if (bps > top.bps) top = { cc: name, bps };
  return top;
}

console.log(`bonding in simulation, goodput from ${w0 / 1000} s to ${w1 / 1000} s, seed ${seed}`);
console.log(
  `congestion controls: ${CCS.join(', ')} (each row: every subflow and the single links with that one); ` +
    'ideal = best dsl alone + best lte alone over all of them',
);
console.log(
  `${'profile'.padEnd(14)} ${'dsl'.padEnd(13)} ${'lte'.padEnd(13)} dir   ${'cc'.padEnd(ccWidth)} ${'dsl alone'.padStart(9)} ${'lte alone'.padStart(9)} ${'bonded'.padStart(7)} ${'ideal'.padStart(7)}  ratio  lte share`,
);
let simMs = 0;
const t0 = performance.now();
for (const [name, dsl, lte] of PICKED) {
  for (const dir of ['down', 'up'] as Direction[]) {
    const alone = {
      dsl: new Map<cc.CongestionControlName, number>(),
      lte: new Map<cc.CongestionControlName, number>(),
    };
    const bonded = new Map<cc.CongestionControlName, { goodput: number; share: number }>();
    for (const congestionControl of CCS) {
      const o = { seed, warmupMs: w0, endMs: w1, tcp: { congestionControl } };
      alone.dsl.set(congestionControl, tcpBulk(dsl, dir, o).goodput);
      alone.lte.set(congestionControl, tcpBulk(lte, dir, o).goodput);
      const m = mptcpBulk([dsl, lte], dir, o);
      bonded.set(congestionControl, {
        goodput: m.goodput,
        share: m.perUplink[1] / (m.perUplink[0] + m.perUplink[1]),
      });
      simMs += 3 * w1;
    }
    const bd = best(alone.dsl);
    const bl = best(alone.lte);
    const ideal = bd.bps + bl.bps;
    for (const congestionControl of CCS) {
      const m = bonded.get(congestionControl)!;
      console.log(
        `${name.padEnd(14)} ${link(dsl).padEnd(13)} ${link(lte).padEnd(13)} ${dir.padEnd(5)} ${congestionControl.padEnd(ccWidth)} ${mbit(alone.dsl.get(congestionControl)!).padStart(9)} ${mbit(alone.lte.get(congestionControl)!).padStart(9)} ${mbit(m.goodput)} ${mbit(ideal)}  ${(m.goodput / ideal).toFixed(3)}  ${(m.share * 100).toFixed(1)}%`,
      );
    }
    console.log(`${''.padEnd(50)}ideal: dsl alone with ${bd.cc}, lte alone with ${bl.cc}`);
  }
}
const wall = performance.now() - t0;
console.log(
  `simulated ${(simMs / 1000).toFixed(0)} s in ${(wall / 1000).toFixed(1)} s of wall time: ${(simMs / wall).toFixed(1)}x real time`,
);
