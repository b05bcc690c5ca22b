// Scheduling rules: first match by destination port and prefix and LAN source prefix, else the default.
import { describe, expect, it } from 'vitest';
import { SchedulingRules } from '../../../src/mptcp/sched/index.js';

const v4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
const v6 = (hi: number) => {
  const a = new Uint8Array(16);
  a[0] = 0x20;
  a[1] = 0x01;
  a[2] = 0x0d;
  a[3] = 0xb8;
  a[15] = hi;
  return a;
};

describe('scheduling rules', () => {
  const rules = new SchedulingRules(
    [
      { ports: [53, 3478], scheduler: 'redundant' },
      { prefixes: ['198.18.10.0/24', '2001:db8::/32'], ports: [443], scheduler: 'min-rtt' },
      { prefixes: ['198.19.0.0/16'], scheduler: 'min-rtt' },
    ],
    'primary-first',
  );
  it('picks the first rule that matches both port and prefix', () => {
    expect(rules.pick(v4('8.8.8.8'), 53)).toBe('redundant');
    expect(rules.pick(v4('198.18.10.7'), 443)).toBe('min-rtt');
    expect(rules.pick(v6(1), 443)).toBe('min-rtt');
    expect(rules.pick(v4('198.19.200.1'), 80)).toBe('min-rtt');
  });
  it('falls back to the default', () => {
    expect(rules.pick(v4('198.18.10.7'), 80)).toBe('primary-first');
    expect(rules.pick(v4('198.18.11.7'), 443)).toBe('primary-first');
    expect(new SchedulingRules([]).pick(v4('1.2.3.4'), 1)).toBe('min-rtt');
  });
  it('a rule for LAN hosts matches only their connections', () => {
    const r = new SchedulingRules(
      [
        { sources: ['192.168.1.50/32', 'fd00::/64'], scheduler: 'redundant' },
        { ports: [443], scheduler: 'min-rtt' },
      ],
      'primary-first',
    );
    expect(r.pick(v4('8.8.8.8'), 443, v4('192.168.1.50'))).toBe('redundant');
    expect(r.pick(v4('8.8.8.8'), 443, v4('192.168.1.51'))).toBe('min-rtt');
    expect(r.pick(v4('8.8.8.8'), 80, v4('192.168.1.51'))).toBe('primary-first');
    // No source known: a rule that names sources does not match.
    expect(r.pick(v4('8.8.8.8'), 80)).toBe('primary-first');
  });
  it('rejects a malformed prefix', () => {
    expect(() => new SchedulingRules([{ prefixes: ['198.18.0.0/33'], scheduler: 'min-rtt' }])).toThrow(
      RangeError,
    );
    expect(() => new SchedulingRules([{ prefixes: ['2001:db8:::1/64'], scheduler: 'min-rtt' }])).toThrow(
      RangeError,
    );
  });
});
