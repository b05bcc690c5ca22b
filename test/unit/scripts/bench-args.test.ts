// The bench scripts' command line (scripts/bench/args.ts): --help prints the script's top comment
// and exits 0; an unknown option or a missing value is one line on stderr and exit 2, not a stack.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { benchArgs } from '../../../scripts/bench/args.js';

const dir = mkdtempSync(join(tmpdir(), 'ha-bench-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const script = join(dir, 'demo.js');
writeFileSync(script, '// A demo bench: what it measures.\n//   node demo.js [--n 3]\nimport x from "y";\n');
const argv = process.argv;
afterEach(() => {
  process.argv = argv;
  vi.restoreAllMocks();
});

/** Runs benchArgs on `args` as the demo script; what it printed and the exit code it asked for. */
function run(...args: string[]): { out: string; err: string; code?: number; n?: unknown } {
  process.argv = [argv[0], script, ...args];
  let out = '';
  let err = '';
  vi.spyOn(console, 'log').mockImplementation((s: string) => {
    out += `${s}\n`;
  });
  vi.spyOn(console, 'error').mockImplementation((s: string) => {
    err += `${s}\n`;
  });
  class Exit extends Error {
    constructor(readonly code: number) {
      super('exit');
    }
  }
  vi.spyOn(process, 'exit').mockImplementation((c) => {
    throw new Exit(Number(c));
  });
  try {
    const { values } = benchArgs({ options: { n: { type: 'string', default: '3' } } });
    return { out, err, n: values.n };
  } catch (e) {
    if (e instanceof Exit) return { out, err, code: e.code };
    throw e;
  }
}

describe('bench scripts command line', () => {
  it('parses the options', () => {
    expect(run('--n', '5')).toEqual({ out: '', err: '', n: '5' });
  });
  it('prints the top comment for --help', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.out).toBe('A demo bench: what it measures.\n  node demo.js [--n 3]\n');
  });
  it('says in one line what is wrong with an unknown option or a missing value', () => {
    const r = run('--bogus');
    expect(r.code).toBe(2);
    expect(r.err).toBe("demo: Unknown option '--bogus' (--help for the usage)\n");
    const m = run('--n');
    expect(m.code).toBe(2);
    expect(m.err.trim().split('\n')).toHaveLength(1);
  });
});
