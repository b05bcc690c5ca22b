// The tree compiled for the system tests (tsc over tsconfig.build.json): once per test run by the
// system projects' global setup (test/system/global-build.ts), then copied into each test's own
// folder; compiled there directly when no run provides it (a file run outside the config). Each
// test keeps its own rule for type errors: tsc writes its output despite errors in files others
// are editing right now, and only errors in what the test runs fail it. Compiling once saves
// about 8 s of one core per system test file (24 files compiled the same tree).
import { cpSync } from 'node:fs';
import { inject } from 'vitest';
import { type BuiltTree, compileTreeRaw } from './tree-compile.js';

declare module 'vitest' {
  export interface ProvidedContext {
    builtTree: BuiltTree;
  }
}

/** Every line of tsc's output fails the test that passes this as `ours`. */
export const ANY_ERROR = /./;

/**
 * The compiled tree in `dir` (copied from this run's build, or compiled now). Throws when tsc
 * failed otherwise than by type errors, or reported an error in a file `ours` matches.
 */
export function builtTreeInto(dir: string, ours: RegExp): void {
  const shared = inject('builtTree');
  let tree: BuiltTree;
  if (shared) {
    cpSync(shared.dir, dir, { recursive: true });
    tree = shared;
  } else {
    tree = compileTreeRaw(dir);
  }
  if (!tree.failed) return;
  const mine = tree.out.split('\n').filter((l) => ours.test(l));
  if (mine.length > 0 || !tree.out.includes('error TS')) throw new Error(`tsc failed:\n${tree.out}`);
  process.stderr.write(`tsc reported errors elsewhere (ignored here):\n${tree.out}`);
}
