// The shared YAML config loader: values and defaults through a schema, and errors that name the
// file, the line, the setting's path and what is wrong; invalid YAML with its line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssues, loadConfigFile, parseConfig, s } from '../../src/config/index.js';

const schema = s.object({
  listen: s.object({
    address: s.optional(s.ipAddress(), '0.0.0.0'),
    port: s.int({ min: 1, max: 65535 }),
  }),
  prefixes: s.optional(s.list(s.cidr()), []),
  mode: s.optional(s.oneOf(['a', 'b']), 'a'),
  timeout: s.optional(s.duration(), 30_000),
  debug: s.optional(s.bool(), false),
  users: s.optional(s.list(s.object({ name: s.str(), password: s.str() })), []),
});

function errors(text: string): string[] {
  const r = parseConfig(text, 'config/hag.yaml', schema);
  if (r.ok) throw new Error('expected errors');
  return formatIssues(r.issues).split('\n');
}

describe('config loader', () => {
  it('gives values and defaults', () => {
    const r = parseConfig(
      'listen:\n  port: 1080\nprefixes: [198.18.0.0/15, 2001:db8::1]\ntimeout: 5s\n',
      'x.yaml',
      schema,
    );
    expect(r).toEqual({
      ok: true,
      value: {
        listen: { address: '0.0.0.0', port: 1080 },
        prefixes: ['198.18.0.0/15', '2001:db8::1/128'],
        mode: 'a',
        timeout: 5000,
        debug: false,
        users: [],
      },
    });
  });

  it('names file, line, path and the problem', () => {
    const text = ['# comment', 'listen:', '  address: 10.0.0.1', '  port: abc', 'mode: c', ''].join('\n');
    expect(errors(text)).toEqual([
      'config/hag.yaml:4: listen.port: expected an integer 1-65535, got "abc"',
      'config/hag.yaml:5: mode: expected one of "a", "b", got "c"',
    ]);
  });

  it('out-of-range numbers, bad prefixes, list items and durations', () => {
    const text = [
      'listen:',
      '  port: 70000',
      'prefixes:',
      '  - 198.18.0.0/15',
      '  - 198.18.0.0/33',
      'timeout: 30',
      'users:',
      '  - name: a',
      '    password: 5',
    ].join('\n');
    expect(errors(text)).toEqual([
      'config/hag.yaml:2: listen.port: expected an integer 1-65535, got 70000',
      'config/hag.yaml:5: prefixes[1]: expected an IPv4 or IPv6 prefix such as 198.18.0.0/15, got "198.18.0.0/33"',
      'config/hag.yaml:6: timeout: expected a duration such as "500ms", "30s", "5m" or "1h", got 30',
      'config/hag.yaml:9: users[0].password: expected a string, got 5',
    ]);
  });

  it('unknown keys (typos) and missing required keys', () => {
    expect(errors('listen:\n  prot: 1\n')).toEqual([
      'config/hag.yaml:2: listen.prot: unknown setting (expected one of: address, port)',
      'config/hag.yaml:2: listen.port: missing (expected an integer 1-65535)',
    ]);
    expect(errors('mode: a\n')).toEqual(['config/hag.yaml:1: listen: missing (expected a mapping)']);
  });

  it('invalid YAML names its line', () => {
    const e = errors('listen:\n  port: 1\n  x: [1, 2\n');
    expect(e[0]).toMatch(/^config\/hag\.yaml:\d+: \(yaml\): invalid YAML: /);
    expect(errors('listen: {port: 1}\nlisten: {port: 2}\n')[0]).toMatch(
      /^config\/hag\.yaml:2: listen: given twice/,
    );
  });

  it('loads a file; a missing file is an error value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    try {
      const f = join(dir, 'a.yaml');
      writeFileSync(f, 'listen:\n  port: 9\n');
      const r = loadConfigFile(f, schema);
      expect(r.ok && r.value.listen.port).toBe(9);
      const m = loadConfigFile(join(dir, 'missing.yaml'), schema);
      expect(m.ok).toBe(false);
      if (!m.ok) expect(formatIssues(m.issues)).toMatch(/missing\.yaml: \(file\): cannot read/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
