// Global setup of the system test projects (vitest.config.ts): compiles the tree once for the run
// (test/system/lib/tree-build.ts), provides it to the test files, and removes it at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { compileTreeRaw } from './lib/tree-compile.js';

export default function setup(project: TestProject): () => void {
  const dir = join(mkdtempSync(join(tmpdir(), 'ha-tree-')), 'dist');
  project.provide('builtTree', compileTreeRaw(dir));
  return () => rmSync(join(dir, '..'), { recursive: true, force: true });
}
