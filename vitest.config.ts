// Test runner configuration: unit and simulation tests run everywhere; system tests (test/system)
// need root and network namespaces and are selected by the same config (they fail, never skip,
// when their requirements are missing).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
