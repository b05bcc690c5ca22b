// Transparent mode's kernel plumbing as data: the nftables table marks only MPTCP SYNs (and the
// rest of their flows) toward addresses not of this host, from the configured interfaces, never
// the core's own packets; setup removes leftovers first, teardown tolerates what is gone.
import { describe, expect, it } from 'vitest';
import { type DivertConfig, divertRules, divertSetup, divertTeardown } from '../../hag/transparent-divert.js';

const C: DivertConfig = {
  tun: 'hag0',
  interfaces: ['dsl0', 'lte0'],
  mark: 0x4841,
  table: 4841,
  rulePriority: 10000,
  ipv6: true,
};

describe('transparent divert', () => {
  it('marks MPTCP SYNs to foreign addresses and restores the mark of their flows', () => {
    const rules = divertRules(C);
    const lines = rules.split('\n').map((l) => l.trim());
    expect(lines).toContain('iifname "hag0" return');
    expect(lines).toContain('iifname != { "dsl0", "lte0" } return');
    expect(lines).toContain('ct direction original ct mark 0x4841 meta mark set 0x4841 return');
    expect(lines).toContain(
      'tcp flags & (syn | ack) == syn tcp option mptcp exists fib daddr type != local ct mark set 0x4841 meta mark set 0x4841',
    );
    // The TUN's packets are returned before anything can mark them (they would loop back in).
    expect(lines.indexOf('iifname "hag0" return')).toBeLessThan(
      lines.findIndex((l) => l.includes('mark set')),
    );
  });

  it('every interface but the TUN when none is named', () => {
    expect(divertRules({ ...C, interfaces: [] })).not.toContain('iifname !=');
  });

  it('setup: leftovers out, then route, rule, the table; IPv4 only without IPv6', () => {
    const cmds = divertSetup({ ...C, ipv6: false }).map((c) => `${c.mayFail ? '?' : ''}${c.argv.join(' ')}`);
    expect(cmds).toEqual([
      '?nft delete table inet hybrid_access_hag',
      '?ip -4 rule del fwmark 0x4841 lookup 4841 pref 10000',
      '?ip -4 route flush table 4841',
      'ip -4 route replace default dev hag0 table 4841',
      'ip -4 rule add fwmark 0x4841 lookup 4841 pref 10000',
      'nft -f -',
    ]);
    expect(divertSetup(C).at(-1)?.stdin).toBe(`${divertRules(C)}\n`);
  });

  it('teardown removes both families and may find everything gone', () => {
    const t = divertTeardown(C);
    expect(t.every((c) => c.mayFail)).toBe(true);
    expect(t.map((c) => c.argv.join(' '))).toContain('ip -6 rule del fwmark 0x4841 lookup 4841 pref 10000');
  });
});
