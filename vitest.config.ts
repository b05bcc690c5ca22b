// Test runner configuration: unit and simulation tests run everywhere; system tests (test/system)
// need root and network namespaces and are selected by the same config (they fail, never skip,
// when their requirements are missing).
//
// Three groups, one after the other (sequence.groupOrder):
// - first, the work that is CPU only and keeps no wall-clock bound: the unit tier, the simulation
//   tier (virtual time) and the system tests that build and unpack releases (bundles, the OpenWrt
//   package, the systemd units, the aarch64 release with the unit tier under qemu). Two files at a
//   time, one per core of the 2-core CI machine: the aarch64 file alone is about 210 s of one
//   core, and the rest fits beside it.
// - then the system tests that check function only (SYSTEM_PAR: leases, RAs, NAT boxes), two
//   files at a time: their waits are for timers, and none of them measures a rate or a duration;
// - then the system tests that move traffic through namespaces and delay lines and measure it,
//   one file at a time, so that no other file's load stretches their timings.
//
// The simulation tier runs in virtual time: a test's wall time is its CPU time, which a loaded
// host stretches (a full suite beside other work took 29 minutes instead of 7, and a sim test
// that takes 20 s passed 60). Its timeout only guards against a hang, so it is generous; the other
// tiers keep 60 s (system tests set their own where they need more).
import { defineConfig } from 'vitest/config';

/**
 * The aarch64 release with the unit tier under qemu: the longest file of the first group (about
 * 250 s of one core). Its project's name sorts first, so it starts first (vitest runs a group's
 * projects in name order): started after the others, it ran alone for its last two minutes.
 */
const AARCH64 = 'test/system/aarch64-release.test.ts';

/** System tests that only build, unpack and check releases: CPU work, no timing measured. */
const BUILDS = [
  'test/system/cpe-daemon-bundle.test.ts',
  'test/system/hag-bundle.test.ts',
  'test/system/openwrt-package.test.ts',
  'test/system/systemd-units.test.ts',
];

/**
 * System tests that check function, not rates or timings (DHCP, SLAAC and RAs, NAT boxes, the
 * kernel plumbing, a metrics linter): their waits are for timers and leases, not for CPU, so they
 * run two at a time, before the one-at-a-time group. Each makes its own namespaces (random
 * prefix), folders (mkdtemp) and nftables tables (inside its namespaces): nothing two of them
 * share.
 */
const SYSTEM_PAR = [
  'test/system/cpe-natboxes.test.ts',
  'test/system/cpe-natboxes-lab.test.ts',
  'test/system/cpe-daemon-dhcp.test.ts',
  'test/system/dhcpv6-lab.test.ts',
  'test/system/cpe-dhcp-client.test.ts',
  'test/system/lan-slaac-lab.test.ts',
  'test/system/ipv6-slaac-lab.test.ts',
  'test/system/cpe-dhcp-server.test.ts',
  'test/system/cpe-net.test.ts',
  'test/system/metrics-promtool.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'aarch64', include: [AARCH64], maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'sim',
          include: ['test/sim/**/*.test.ts'],
          testTimeout: 600_000,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', ...BUILDS],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'system-par',
          include: SYSTEM_PAR,
          globalSetup: ['test/system/global-build.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          exclude: [AARCH64, ...BUILDS, ...SYSTEM_PAR],
          // The tree compiled once for all of them (about 8 s of one core a file, when each did).
          globalSetup: ['test/system/global-build.ts'],
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
