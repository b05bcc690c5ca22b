// The daemons' logger (src/daemon/logger.ts): levels as names, each line's syslog priority kept
// as a journald "<N>" prefix or by putting warn and worse on stderr (procd), and the journal
// recognised from JOURNAL_STREAM.
import { fstatSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createLogger,
  resolveLogPriority,
  startedByProcd,
  stdoutIsJournal,
  syslogSeverity,
} from '../../src/daemon/logger.js';

function sinks() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    sinks: { out: { write: (s: string) => out.push(s) }, err: { write: (s: string) => err.push(s) } },
  };
}

function logEach(priority: 'prefix' | 'stderr' | 'none') {
  const s = sinks();
  const log = createLogger({ level: 'debug', priority, base: { service: 'hag' }, ...s.sinks });
  log.debug({ event: 'open' }, 'd');
  log.info({ event: 'start' }, 'i');
  log.warn({ event: 'refused' }, 'w');
  log.error('e');
  log.fatal('f');
  return s;
}

describe('daemon logger', () => {
  it('writes the level as a name', () => {
    const { out, err } = logEach('none');
    expect(err).toEqual([]);
    const lines = out.map((l) => JSON.parse(l));
    expect(lines.map((l) => l.level)).toEqual(['debug', 'info', 'warn', 'error', 'fatal']);
    expect(lines[1]).toMatchObject({ service: 'hag', event: 'start', msg: 'i' });
  });

  it('prefix: each line starts with its RFC 5424 severity for journald', () => {
    const { out, err } = logEach('prefix');
    expect(err).toEqual([]);
    expect(out.map((l) => l.slice(0, 3))).toEqual(['<7>', '<6>', '<4>', '<3>', '<2>']);
    expect(JSON.parse(out[2].slice(3))).toMatchObject({ level: 'warn', event: 'refused' });
  });

  it('stderr: warn and worse on stderr, the rest on stdout, no prefix (procd)', () => {
    const { out, err } = logEach('stderr');
    expect(out.map((l) => JSON.parse(l).level)).toEqual(['debug', 'info']);
    expect(err.map((l) => JSON.parse(l).level)).toEqual(['warn', 'error', 'fatal']);
  });

  it('maps pino levels to syslog severities', () => {
    expect([10, 20, 30, 40, 50, 60].map(syslogSeverity)).toEqual([7, 7, 6, 4, 3, 2]);
  });

  it('auto: the prefix only when stdout is the journal stream', () => {
    const st = fstatSync(1, { bigint: true });
    const journal = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
    expect(stdoutIsJournal(journal)).toBe(true);
    expect(resolveLogPriority('auto', journal)).toBe('prefix');
    expect(resolveLogPriority('auto', { JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` })).toBe('none');
    expect(resolveLogPriority('auto', {})).toBe('none');
    expect(resolveLogPriority('stderr', journal)).toBe('stderr');
  });

  it('auto: warn and worse on stderr when procd is the parent', () => {
    expect(resolveLogPriority('auto', {}, () => true)).toBe('stderr');
    expect(resolveLogPriority('auto', {}, () => false)).toBe('none');
    expect(startedByProcd(1, () => 'procd')).toBe(true);
    expect(startedByProcd(1, () => 'systemd')).toBe(false);
    expect(startedByProcd(4242, () => 'procd')).toBe(false);
  });
});
