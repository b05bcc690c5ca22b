// The CPU profile summary of bench-lab --cpu-prof and scripts/cpuprofile-summary
// (scripts/bench/cpuprofile.ts): self time from the sample list (each sample owns the time to the
// next), functions at the same place counted once, the shares of (program), (garbage collector),
// native code and JavaScript, and file:line mapped back to the source through a .js.map.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type CpuProfile, formatSummary, summariseProfile } from '../../../scripts/bench/cpuprofile.js';

const dir = mkdtempSync(join(tmpdir(), 'ha-cpuprof-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = '', lineNumber = -1, columnNumber = -1) => ({
  functionName,
  url,
  lineNumber,
  columnNumber,
});

describe('cpuprofile summary', () => {
  // A script with a source map whose line 1 (0-based 0) comes from line 42 of src/x.ts.
  const js = join(dir, 'x.js');
  writeFileSync(js, 'function hot(){}\n');
  // "AAyCA": generated column 0 → source 0, original line 41 (0-based), column 1.
  writeFileSync(
    `${js}.map`,
    JSON.stringify({ version: 3, sources: ['src/x.ts'], names: [], mappings: 'AAyCA' }),
  );
  const url = pathToFileURL(js).href;
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(program)') },
      { id: 3, callFrame: frame('(garbage collector)') },
      { id: 4, callFrame: frame('hot', url, 0, 0) },
      { id: 5, callFrame: frame('hot', url, 0, 0) }, // the same function under another caller
      { id: 6, callFrame: frame('writev') },
      { id: 7, callFrame: frame('emit', 'node:events', 9, 0) },
      { id: 8, callFrame: frame('parse', 'file:///r/node_modules/yaml/x.js', 0, 0) },
      { id: 9, callFrame: frame('(idle)') },
    ],
    startTime: 0,
    endTime: 21_000,
    // Samples at 1000, 2000, ... 9000 and 11000 µs: each owns the time to the next (the last, to the end).
    samples: [4, 4, 5, 4, 2, 3, 6, 7, 8, 9],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 2000],
  };

  it('adds each sample up to the next one to the function on top, one line per function and place', () => {
    const s = summariseProfile(profile, dir);
    expect(s.totalMs).toBeCloseTo(20, 6);
    expect(s.functions[0]).toEqual({ name: '(idle)', where: '', selfMs: 10 });
    expect(s.functions[1]).toEqual({ name: 'hot', where: 'src/x.ts:42', selfMs: 4 });
    // parse owns the 2 ms up to the idle sample, which owns the 10 ms to the profile's end.
    expect(s.functions.find((f) => f.name === 'parse')?.selfMs).toBeCloseTo(2, 6);
    expect(s.byCategory).toEqual({
      '(program)': 1,
      '(garbage collector)': 1,
      '(idle)': 10,
      native: 1,
      'node internals': 1,
      dependencies: 2,
      'the rest': 4,
    });
  });

  it('prints the idle time, the shares of the busy time and the top functions with file:line', () => {
    const text = formatSummary(summariseProfile(profile, dir), 10);
    expect(text).toContain(
      '0.02 s sampled (10 samples), 0.01 s of it idle; of the 0.01 s busy: (program) 10.0%, (garbage collector) 10.0%',
    );
    expect(text).not.toMatch(/\(idle\)/);
    expect(text).toContain('native 10.0%');
    expect(text).toMatch(/4\.0 +40\.0% {2}hot {2}\(src\/x\.ts:42\)/);
    expect(text).toContain('emit  (node:events:10)');
    expect(text).toContain('writev  (native)');
    expect(text.split('\n')).toHaveLength(2 + 6);
    expect(formatSummary(summariseProfile(profile, dir), 2).split('\n')).toHaveLength(2 + 2);
  });

  it('spreads the duration over the hit counts when there is no sample list', () => {
    const s = summariseProfile({
      nodes: [
        { id: 1, callFrame: frame('(root)') },
        { id: 2, callFrame: frame('a', 'file:///a.js', 0, 0), hitCount: 3 },
        { id: 3, callFrame: frame('(garbage collector)'), hitCount: 1 },
      ],
      startTime: 0,
      endTime: 4000,
    });
    expect(s.functions.map((f) => [f.name, f.selfMs])).toEqual([
      ['a', 3],
      ['(garbage collector)', 1],
    ]);
  });
});
