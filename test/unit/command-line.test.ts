// The command-line conventions of every command (src/command-line.ts, src/daemon/run.ts,
// src/cli.ts): --help on stdout with exit 0, --version with the git revision, and a bad command
// line as one line on stderr with exit 2.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, versionLine } from '../../src/command-line.js';
import { buildInfo } from '../../src/daemon/build-info.js';
import { runDaemon } from '../../src/daemon/run.js';

const spec = {
  command: 'hybrid-access tool',
  usage: 'usage: hybrid-access tool --name NAME\n',
  options: { name: { type: 'string' as const }, fast: { type: 'boolean' as const } },
};

describe('parseCommandLine', () => {
  it('returns the options', () => {
    const r = parseCommandLine(['--name', 'x', '--fast'], spec);
    expect(r).toEqual({ ok: true, values: { name: 'x', fast: true }, positionals: [] });
  });

  it('prints the help on stdout and exits 0', () => {
    for (const arg of ['--help', '-h']) {
      const r = parseCommandLine(['--name', 'x', arg], spec);
      expect(r).toMatchObject({ ok: false, exit: 0 });
      if (r.ok) continue;
      expect(r.stderr).toBeUndefined();
      expect(r.stdout).toMatch(/^usage: hybrid-access tool --name NAME\n/);
      expect(r.stdout).toContain('--version');
    }
  });

  it('prints the version and the git revision', () => {
    const r = parseCommandLine(['--version'], spec);
    expect(r).toMatchObject({ ok: false, exit: 0 });
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(buildInfo().revision).toBe(head);
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(!r.ok && r.stdout).toBe(`hybrid-access tool ${version} (git ${head}, node ${process.version})\n`);
  });

  it('refuses an unknown option, a missing value and a stray argument in one line, exit 2', () => {
    const cases: [string[], string][] = [
      [['--nmae', 'x'], 'unknown option --nmae'],
      [['-q'], 'unknown option -q'],
      [['--name'], "option '--name <value>' argument missing"],
      [['stray'], 'unexpected argument stray'],
    ];
    for (const [argv, what] of cases) {
      const r = parseCommandLine(argv, spec);
      expect(r).toEqual({
        ok: false,
        exit: 2,
        stderr: `hybrid-access tool: ${what} (see hybrid-access tool --help)\n`,
      });
    }
  });
});

describe('a daemon command line', () => {
  /** Runs runDaemon with stdout and stderr captured; the daemon itself is never created. */
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const o = process.stdout.write;
    const e = process.stderr.write;
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof o;
    process.stderr.write = ((s: string) => {
      err += s;
      return true;
    }) as typeof e;
    try {
      const code = await runDaemon(argv, {
        name: 'hag',
        configHelp: 'the HAG configuration',
        load: () => ({ ok: true, value: { log: { level: 'info' } } }),
        create: () => {
          throw new Error('not in this test');
        },
      });
      return { code, out, err };
    } finally {
      process.stdout.write = o;
      process.stderr.write = e;
    }
  }

  it('--help goes to stdout, exit 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^usage: hybrid-access hag --config FILE/);
  });

  it('--version', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, out: versionLine('hybrid-access hag'), err: '' });
  });

  it('an unknown option or no --config: one line on stderr, exit 2', async () => {
    expect(await run(['--config', 'x', '--bogus'])).toEqual({
      code: 2,
      out: '',
      err: 'hybrid-access hag: unknown option --bogus (see hybrid-access hag --help)\n',
    });
    expect(await run([])).toEqual({
      code: 2,
      out: '',
      err: 'hybrid-access hag: --config FILE is required (see hybrid-access hag --help)\n',
    });
    expect((await run(['-c', 'x', '--log-priority', 'loud'])).err).toBe(
      'hybrid-access hag: --log-priority must be one of auto, prefix, stderr, none (see hybrid-access hag --help)\n',
    );
  });
});
