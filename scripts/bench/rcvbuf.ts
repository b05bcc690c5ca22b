// Receive-buffer benchmark in the simulator: one long MPTCP transfer over DSL 20 Mbit/s 10 ms and
// LTE 40 Mbit/s one-way (30 ms unless told otherwise; 50 ms queues, min-RTT), for several
// connection-level receive buffers, with opportunistic retransmission and penalisation (Raiciu et
// al., NSDI 2012, section 4.2; src/mptcp/sched/opportunistic.ts) off and on, over a clean LTE and
// one with 1% loss. Prints goodput per buffer, the change, and the sender's counters.
// Deterministic (seeded).
//   node dist/scripts/bench/rcvbuf.js [--window 10:30] [--seed 1] [--dir down]
//     [--buffers 128,256,512,1024,default] [--lte-delays 30] [--losses 0,0.01] [--lte-queue-ms 50]

import { type Direction, mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: {
    window: { type: 'string', default: '10:30' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string', default: 'down' },
    buffers: { type: 'string', default: '128,256,512,1024,default' },
    'lte-delays': { type: 'string', default: '30' },
    losses: { type: 'string', default: '0,0.01' },
    'lte-queue-ms': { type: 'string', default: '50' },
  },
});
const [w0, w1] = a.window.split(':').map((x) => Number(x) * 1000);
const seed = Number(a.seed);
const dir = a.dir as Direction;
const list = (s: string) => s.split(',').map((x) => x.trim());

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 10 };
const mbit = (x: number) => (x / 1e6).toFixed(2).padStart(8);

console.log(`${dir}, goodput in Mbit/s from ${w0 / 1000} s to ${w1 / 1000} s, seed ${seed}`);
console.log(
  `${'lte'.padEnd(12)} ${'buffer'.padEnd(8)} ${'without'.padStart(8)} ${'with'.padStart(8)}   change  orp retrans / penalisations`,
);
for (const delay of list(a['lte-delays']).map(Number)) {
  for (const loss of list(a.losses).map(Number)) {
    const queueMs = Number(a['lte-queue-ms']);
    const lte: UplinkSpec = { name: 'lte', rate: 40e6, delay, loss, queueMs };
    const name = `${delay}ms${loss ? ` ${loss * 100}%` : ''}${queueMs !== 50 ? ` q${queueMs}` : ''}`;
    for (const b of list(a.buffers)) {
      const recvBuffer = b === 'default' ? undefined : Number(b) * 1024;
      const o = { seed, warmupMs: w0, endMs: w1, recvBuffer };
      const off = mptcpBulk([DSL, lte], dir, { ...o, mptcp: { opportunistic: false } });
      const on = mptcpBulk([DSL, lte], dir, { ...o, mptcp: { opportunistic: true } });
      const change = `${on.goodput >= off.goodput ? '+' : ''}${((on.goodput / off.goodput - 1) * 100).toFixed(1)}%`;
      const size = b === 'default' ? b : `${b}K`;
      console.log(
        `${name.padEnd(12)} ${size.padEnd(8)} ${mbit(off.goodput)} ${mbit(on.goodput)} ${change.padStart(8)}  ${on.mib?.MPTCPOpportunisticRetrans} / ${on.mib?.MPTCPPenalisations}`,
      );
    }
  }
}
