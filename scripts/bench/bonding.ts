// Bonding benchmark in the simulator: for each pair of access links (rate, one-way delay, loss)
// and each direction, one long MPTCP connection over both (min-RTT scheduler, uncoupled CUBIC)
// beside its ideal, the sum of what one plain TCP connection gets on each link alone in the same
// simulator, and the ratio. Deterministic (seeded); prints a table and how much faster than real
// time the simulation ran.
//   node dist/scripts/bench/bonding.js [--window 10:30] [--seed 1]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type Direction, mptcpBulk, tcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const { values: a } = parseArgs({
  options: {
    window: { type: 'string', default: '10:30' },
    seed: { type: 'string', default: '1' },
  },
});
const [w0, w1] = a.window.split(':').map((x) => Number(x) * 1000);
const seed = Number(a.seed);

const PAIRS: [string, UplinkSpec, UplinkSpec][] = [
  ['default', { name: 'dsl', rate: 20e6, delay: 10 }, { name: 'lte', rate: 40e6, delay: 30 }],
  ['rural', { name: 'dsl', rate: 4e6, delay: 15 }, { name: 'lte', rate: 20e6, delay: 35 }],
  [
    'lte 0.5% loss',
    { name: 'dsl', rate: 20e6, delay: 10 },
    { name: 'lte', rate: 40e6, delay: 30, loss: 0.005 },
  ],
  ['fast lte', { name: 'dsl', rate: 8e6, delay: 5 }, { name: 'lte', rate: 80e6, delay: 25 }],
  ['long rtt', { name: 'dsl', rate: 16e6, delay: 20 }, { name: 'lte', rate: 50e6, delay: 60 }],
];

const mbit = (x: number) => (x / 1e6).toFixed(2).padStart(7);
const link = (l: UplinkSpec) => `${l.rate / 1e6}M/${l.delay}ms${l.loss ? `/${l.loss * 100}%` : ''}`;

console.log(`bonding in simulation, goodput from ${w0 / 1000} s to ${w1 / 1000} s, seed ${seed}`);
console.log(
  `${'profile'.padEnd(14)} ${'dsl'.padEnd(13)} ${'lte'.padEnd(13)} dir   ${'dsl alone'.padStart(9)} ${'lte alone'.padStart(9)} ${'ideal'.padStart(7)} ${'bonded'.padStart(7)}  ratio  lte share`,
);
let simMs = 0;
const t0 = performance.now();
for (const [name, dsl, lte] of PAIRS) {
  for (const dir of ['down', 'up'] as Direction[]) {
    const o = { seed, warmupMs: w0, endMs: w1 };
    const d = tcpBulk(dsl, dir, o).goodput;
    const l = tcpBulk(lte, dir, o).goodput;
    const m = mptcpBulk([dsl, lte], dir, o);
    simMs += 3 * w1;
    const share = m.perUplink[1] / (m.perUplink[0] + m.perUplink[1]);
    console.log(
      `${name.padEnd(14)} ${link(dsl).padEnd(13)} ${link(lte).padEnd(13)} ${dir.padEnd(5)} ${mbit(d).padStart(9)} ${mbit(l).padStart(9)} ${mbit(d + l)} ${mbit(m.goodput)}  ${(m.goodput / (d + l)).toFixed(3)}  ${(share * 100).toFixed(1)}%`,
    );
  }
}
const wall = performance.now() - t0;
console.log(
  `simulated ${(simMs / 1000).toFixed(0)} s in ${(wall / 1000).toFixed(1)} s of wall time: ${(simMs / wall).toFixed(1)}x real time`,
);
