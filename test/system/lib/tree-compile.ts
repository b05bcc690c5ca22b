// The tree compiled by tsc (tsconfig.build.json) into a folder, with tsc's output: for the system
// tests' global setup (test/system/global-build.ts) and test/system/lib/tree-build.ts. No vitest
// import here: the global setup runs in vitest's main process.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../../..');

/** A compiled tree: its folder, tsc's output, and whether tsc reported errors. */
export interface BuiltTree {
  dir: string;
  out: string;
  failed: boolean;
}

/** Compiles the tree into `dir`; never throws for type errors (the caller judges them). */
export function compileTreeRaw(dir: string): BuiltTree {
  try {
    execFileSync('npx', ['tsc', '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dir], {
      cwd: ROOT,
      stdio: 'pipe',
    });
    return { dir, out: '', failed: false };
  } catch (e) {
    return { dir, out: String((e as { stdout?: Buffer }).stdout ?? ''), failed: true };
  }
}
