// The open-file limit of the daemons (src/daemon/file-limit.ts): how many connections fit after
// the base files and the reserve, the warning when maxConnections is more, and the addon's
// getrlimit/setrlimit raising the soft limit to the hard one (in a child under prlimit).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  connectionCapacity,
  connectionLimitWarning,
  FILE_RESERVE_MIN,
  fileReserve,
  targetFileLimit,
} from '../../src/daemon/file-limit.js';
import { addonCandidates } from '../../src/io/tun-tap/index.js';
import { NODE_COMMAND } from './lib/node-command.js';

describe('file limit', () => {
  it('keeps a reserve of 64 files or 5% of the limit, whichever is more', () => {
    expect(fileReserve(256)).toBe(FILE_RESERVE_MIN);
    expect(fileReserve(1024)).toBe(64);
    expect(fileReserve(20_000)).toBe(1000);
    expect(fileReserve(1 << 20)).toBe(52_429);
  });

  it('derives the connections a limit holds from the files each one takes', () => {
    // The HAG: one egress socket per connection.
    expect(connectionCapacity({ limit: 20_000, baseFiles: 30, filesPerConnection: 1 })).toBe(18_970);
    expect(connectionCapacity({ limit: 256, baseFiles: 22, filesPerConnection: 1 })).toBe(170);
    // The CPE: the LAN socket and a direct one.
    expect(connectionCapacity({ limit: 256, baseFiles: 22, filesPerConnection: 2 })).toBe(85);
    // Nothing fits: 0, never negative.
    expect(connectionCapacity({ limit: 64, baseFiles: 22, filesPerConnection: 1 })).toBe(0);
    expect(
      connectionCapacity({ limit: Number.POSITIVE_INFINITY, baseFiles: 22, filesPerConnection: 1 }),
    ).toBe(Number.POSITIVE_INFINITY);
  });

  it('warns when maxConnections is more than the limit holds, naming the setting', () => {
    expect(connectionLimitWarning('limits.maxConnections', 100, 170, 256)).toBeUndefined();
    expect(connectionLimitWarning('limits.maxConnections', 170, 170, 256)).toBeUndefined();
    const w = connectionLimitWarning('limits.maxConnections', 100_000, 18_970, 20_000);
    expect(w).toMatch(/limits\.maxConnections is 100000/);
    expect(w).toMatch(/\(20000\) holds 18970 connections/);
  });

  it('targets the hard limit (fs.nr_open when unlimited)', () => {
    expect(targetFileLimit({ soft: 1024, hard: 4096 })).toBe(4096);
    const unlimited = targetFileLimit({ soft: 1024, hard: Number.POSITIVE_INFINITY });
    expect(Number.isFinite(unlimited)).toBe(true);
    expect(unlimited).toBeGreaterThan(1024);
  });

  it('the addon reads RLIMIT_NOFILE and raises the soft limit to the hard one', () => {
    const addon = addonCandidates().find((p) => spawnSync('test', ['-f', p]).status === 0);
    expect(addon).toBeDefined();
    // (Node itself raises the soft limit at start: lower it first, then raise it again.)
    const js = `const a = require(${JSON.stringify(addon)}); a.setFileLimit(100); const b = a.getFileLimit();
      a.setFileLimit(b.hard); process.stdout.write(JSON.stringify([b, a.getFileLimit()]));`;
    const r = spawnSync('prlimit', ['--nofile=300:300', NODE_COMMAND, '-e', js], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([
      { soft: 100, hard: 300 },
      { soft: 300, hard: 300 },
    ]);
  });
});
