// System test of scripts/bench-attacks, as root: runs every scenario with --quick (a few seconds
// each, the script's own namespaces) and checks the report's shape, not the targets: each
// scenario's table with the no-attack column beside the attack's, a PASS or FAIL line per target,
// the summary, the JSON report, and that the run's namespaces are gone afterwards.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { requireRoot } from './lib/netns.js';

const ROOT = join(import.meta.dirname, '../..');
const SCENARIOS = ['syn-flood', 'syn-burst', 'map-flood', 'slowloris', 'join'];
const work = mkdtempSync(join(tmpdir(), 'bench-attacks-test-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('scripts/bench-attacks --quick', () => {
  it('prints every scenario beside its no-attack run, a verdict per target and a summary; cleans up', async () => {
    requireRoot();
    const json = join(work, 'report.json');
    const r = await promisify(execFile)(join(ROOT, 'scripts/bench-attacks'), ['--quick', '--json', json], {
      cwd: ROOT,
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
    const text = r.stdout;
    for (const name of SCENARIOS) {
      const block = text.split('\nscenario ').find((b) => b.startsWith(`${name}:`));
      expect(block, `${name} in:\n${text}`).toBeDefined();
      const lines = block!.split('\n');
      expect(lines[1]).toMatch(/no attack/);
      expect(lines.find((l) => l.includes('legitimate connects ok'))).toMatch(
        /\d+\/\d+ [\d.]+%.*\d+\/\d+ [\d.]+%/,
      );
      expect(lines.some((l) => /HAG CPU s\s+[\d.]+\s+[\d.]+/.test(l))).toBe(true);
      expect(lines.some((l) => /HAG RSS peak MB\s+[\d.]+\s+[\d.]+/.test(l))).toBe(true);
      expect(lines.some((l) => l.startsWith('  error'))).toBe(false);
      expect(lines.filter((l) => /^ {2}target: .* (PASS|FAIL)$/.test(l)).length).toBeGreaterThan(0);
    }
    expect(text).toMatch(/\nsummary: \d+ of 12 targets pass \(--quick/);

    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.quick).toBe(true);
    expect(report.scenarios.map((s: { name: string }) => s.name)).toEqual(SCENARIOS);
    for (const s of report.scenarios) {
      expect(s.phases.length).toBeGreaterThanOrEqual(2);
      for (const p of s.phases) {
        expect(p.error).toBeUndefined();
        expect(p.probe.attempts).toBeGreaterThan(0);
        expect(p.hagCpuSeconds).toBeGreaterThan(0);
        expect(p.hagRssMiB.peak).toBeGreaterThan(0);
      }
      for (const t of s.targets) expect(typeof t.pass).toBe('boolean');
    }
    // The legitimate client got through when nothing attacked it; the attacks really ran.
    for (const s of report.scenarios) expect(s.phases[0].probe.ok).toBe(s.phases[0].probe.attempts);
    const phase = (n: string, i: number) =>
      report.scenarios.find((s: { name: string }) => s.name === n).phases[i];
    expect(phase('syn-flood', 1).attacker.sent).toBeGreaterThan(10_000);
    expect(phase('syn-burst', 1).attacker.sent).toBe(2100);
    expect(phase('map-flood', 2).attacker.sent).toBeGreaterThan(3000);
    expect(phase('slowloris', 1).attacker.closedByHag).toBeGreaterThan(0);
    expect(phase('join', 0).join.accepted).toBe(true);

    // Its namespaces are gone.
    const prefix = /namespaces (\S+)-\{c,a,h,s\}/.exec(r.stderr)?.[1];
    expect(prefix, r.stderr).toBeDefined();
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith(`${prefix}-`));
    expect(left).toEqual([]);
  }, 660_000);
});
