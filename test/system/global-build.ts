// Global setup of the system test projects (vitest.config.ts): compiles the tree once for the run
// (test/system/lib/tree-build.ts), provides it to the test files, and removes it when the last
// project that uses it is done. The projects' setups run in vitest's one main process: the tree
// and its count of users are kept on its global object, so that two projects share one build.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { type BuiltTree, compileTreeRaw } from './lib/tree-compile.js';

const KEY = Symbol.for('hybrid-access.builtTree');
type Shared = { tree: BuiltTree; users: number };
const slot = globalThis as unknown as Record<symbol, Shared | undefined>;

export default function setup(project: TestProject): () => void {
  let shared = slot[KEY];
  if (!shared) {
    const dir = join(mkdtempSync(join(tmpdir(), 'ha-tree-')), 'dist');
    shared = { tree: compileTreeRaw(dir), users: 0 };
    slot[KEY] = shared;
  }
  shared.users++;
  project.provide('builtTree', shared.tree);
  return () => {
    const s = slot[KEY];
    if (!s || --s.users > 0) return;
    slot[KEY] = undefined;
    rmSync(join(s.tree.dir, '..'), { recursive: true, force: true });
  };
}
