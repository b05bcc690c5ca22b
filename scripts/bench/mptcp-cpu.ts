// CPU of the MPTCP core in the simulator: one long MPTCP connection over two simulated access
// links (both endpoints ours, min-RTT scheduler), run in virtual time; prints the goodput, the CPU
// seconds this process spent per simulated GB (both endpoints and the simulator together), and
// the sending endpoint's scheduler passes (MPTCPSchedPasses) per segment it took (TCP InSegs).
// Run it under `node --cpu-prof` and read the profile with scripts/cpuprofile-summary.
//   node dist/scripts/bench/mptcp-cpu.js [--profile fast|default] [--dir down|up] [--seconds 20]
import { parseArgs } from 'node:util';
import { mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

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
  },
});
const links = PROFILES[a.profile];
if (!links || (a.dir !== 'down' && a.dir !== 'up')) {
  console.error(`bench mptcp-cpu: --profile ${Object.keys(PROFILES).join('|')}, --dir down|up`);
  process.exit(2);
}
const end = Number(a.seconds) * 1000;
const cpu0 = process.cpuUsage();
const r = mptcpBulk(links, a.dir, { warmupMs: 2000, endMs: end });
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const gb = r.rx.received / 1e9;
const passes = r.mib?.MPTCPSchedPasses ?? Number.NaN;
console.log(
  `${a.profile} ${a.dir}: ${(r.goodput / 1e6).toFixed(1)} Mbit/s simulated, ${r.rx.received} bytes in ` +
    `${(end / 1000).toFixed(0)} s virtual; CPU ${cpuS.toFixed(2)} s, ${(cpuS / gb).toFixed(2)} s per GB; ` +
    `sender's scheduler passes ${passes}`,
);
