// Test runner configuration: unit and simulation tests run everywhere; system tests (test/system)
// need root and network namespaces and are selected by the same config (they fail, never skip,
// when their requirements are missing).
//
// The simulation tier runs in virtual time: a test's wall time is its CPU time, which a loaded
// host stretches (a full suite beside other work took 29 minutes instead of 7, and a sim test
// that takes 20 s passed 60). Its timeout only guards against a hang, so it is generous; the other
// tiers keep 60 s (system tests set their own where they need more).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'sim', include: ['test/sim/**/*.test.ts'], testTimeout: 600_000 } },
      {
        extends: true,
        test: { name: 'unit+system', include: ['test/unit/**/*.test.ts', 'test/system/**/*.test.ts'] },
      },
    ],
  },
});
