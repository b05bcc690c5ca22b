// CPU of the MPTCP core in the simulator: one long MPTCP connection over two simulated access
// links (both endpoints ours, min-RTT scheduler), run in virtual time, beside one plain TCP
// connection of ours over the faster link alone in the same run (the baseline); prints each one's
// goodput and the CPU seconds this process spent per simulated GB (both endpoints and the
// simulator together), the ratio, and the MPTCP sender's scheduler passes (MPTCPSchedPasses).
// --tso: both ends on a device with checksum offload and TSO, as the daemons' TUN (super-segments).
// Run it under `node --cpu-prof` and read the profile with scripts/cpuprofile-summary.
//   node dist/scripts/bench/mptcp-cpu.js [--profile fast|default] [--dir down|up] [--seconds 20] [--tso]
import { parseArgs } from 'node:util';
import { type BulkRun, mptcpBulk, tcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const PROFILES: Record<string, [UplinkSpec, UplinkSpec]> = {
  default: [
    { name: 'dsl', rate: 20e6, delay: 10 },
    { name: 'lte', rate: 40e6, delay: 30 },
  ],
  fast: [
    { name: 'dsl', rate: 100e6, delay: 8 },
    { name: 'lte', rate: 300e6, delay: 20 },
  ],
};

const { values: a } = parseArgs({
  options: {
    profile: { type: 'string', default: 'fast' },
    dir: { type: 'string', default: 'down' },
    seconds: { type: 'string', default: '20' },
    tso: { type: 'boolean', default: false },
  },
});
const links = PROFILES[a.profile];
if (!links || (a.dir !== 'down' && a.dir !== 'up')) {
  console.error(`bench mptcp-cpu: --profile ${Object.keys(PROFILES).join('|')}, --dir down|up`);
  process.exit(2);
}
const end = Number(a.seconds) * 1000;
const dir = a.dir;

/** Runs `run` and returns it with the CPU seconds it took per simulated GB received. */
function timed(run: () => BulkRun): { r: BulkRun; perGb: number } {
  const cpu0 = process.cpuUsage();
  const r = run();
  const cpu = process.cpuUsage(cpu0);
  return { r, perGb: (cpu.user + cpu.system) / 1e6 / (r.rx.received / 1e9) };
}

const tso = a.tso;
const tcp = timed(() => tcpBulk(links[1], dir, { warmupMs: 2000, endMs: end, tso }));
const mp = timed(() => mptcpBulk(links, dir, { warmupMs: 2000, endMs: end, tso }));
const mbit = (r: BulkRun) => (r.goodput / 1e6).toFixed(1);
console.log(
  `${a.profile} ${dir}, ${(end / 1000).toFixed(0)} s virtual: MPTCP ${mbit(mp.r)} Mbit/s, ` +
    `${mp.perGb.toFixed(2)} CPU s per GB; TCP over ${links[1].name} alone ${mbit(tcp.r)} Mbit/s, ` +
    `${tcp.perGb.toFixed(2)} CPU s per GB; ratio ${(mp.perGb / tcp.perGb).toFixed(2)}; ` +
    `MPTCP sender's scheduler passes ${mp.r.mib?.MPTCPSchedPasses}`,
);
