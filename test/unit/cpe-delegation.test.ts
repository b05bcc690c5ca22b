// The LAN's prefix from DHCPv6 prefix delegation (cpe/daemon/delegation.ts): the first /64 of the
// delegated prefix and the CPE's ::1 in it; the RA prefixes: the delegated /64 in place of the
// configured ones, lifetimes capped by the lease's remaining ones (RFC 9096 3.1); a lost or replaced
// prefix advertised deprecated (lifetimes 0, RFC 9096 3.5) for 2 hours, then no more.
import { describe, expect, it } from 'vitest';
import { DEPRECATED_FOR_MS, LanDelegation, lanPrefixOf } from '../../cpe/daemon/delegation.js';
import type { RaPrefix } from '../../cpe/ra/wire.js';

const configured: RaPrefix[] = [
  {
    prefix: '2001:db8:1::',
    length: 64,
    onLink: true,
    autonomous: true,
    validLifetime: 86400,
    preferredLifetime: 14400,
  },
];
const limits = { validLifetime: 86400, preferredLifetime: 14400 };
const p56 = { prefix: '2001:db8:f0:100::', length: 56, preferred: 200, valid: 300 };

describe('LAN prefix delegation', () => {
  it('the first /64 of the delegated prefix, the CPE at ::1', () => {
    expect(lanPrefixOf(p56)).toEqual({ prefix: '2001:db8:f0:100::/64', address: '2001:db8:f0:100::1/64' });
    expect(lanPrefixOf({ ...p56, prefix: '2001:db8:f0:1234::', length: 64 }).prefix).toBe(
      '2001:db8:f0:1234::/64',
    );
  });

  it('replaces the configured prefix, lifetimes counting down with the lease', () => {
    const d = new LanDelegation();
    expect(d.raPrefixes(0, configured, limits)).toEqual(configured);
    expect(d.set('lte', p56, 1000)).toBeUndefined();
    expect(d.raPrefixes(1000, configured, limits)).toEqual([
      {
        prefix: '2001:db8:f0:100::',
        length: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 300,
        preferredLifetime: 200,
      },
    ]);
    expect(d.raPrefixes(101_000, configured, limits)[0]).toMatchObject({
      validLifetime: 200,
      preferredLifetime: 100,
    });
    // The configured lifetimes cap a long lease.
    d.set('lte', { ...p56, preferred: 0xffffffff, valid: 0xffffffff }, 1000);
    expect(d.raPrefixes(1000, configured, limits)[0]).toMatchObject({
      validLifetime: 86400,
      preferredLifetime: 14400,
    });
    expect(d.stats).toEqual({ delegated: 1, lost: 0 });
  });

  it('a lost prefix is advertised deprecated for 2 hours beside the configured one again', () => {
    const d = new LanDelegation();
    d.set('lte', p56, 0);
    expect(d.lost(5000)?.lanPrefix).toBe('2001:db8:f0:100::/64');
    expect(d.raPrefixes(5000, configured, limits)).toEqual([
      ...configured,
      {
        prefix: '2001:db8:f0:100::',
        length: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 0,
        preferredLifetime: 0,
      },
    ]);
    expect(d.raPrefixes(5000 + DEPRECATED_FOR_MS, configured, limits)).toEqual(configured);
    expect(d.stats).toEqual({ delegated: 1, lost: 1 });
  });

  it('a new prefix deprecates the old one; the same one delegated again is not deprecated', () => {
    const d = new LanDelegation();
    d.set('lte', p56, 0);
    expect(d.set('lte', { ...p56, prefix: '2001:db8:f0:200::' }, 10)?.lanPrefix).toBe('2001:db8:f0:100::/64');
    expect(d.raPrefixes(10, [], limits).map((p) => [p.prefix, p.validLifetime])).toEqual([
      ['2001:db8:f0:200::', 300],
      ['2001:db8:f0:100::', 0],
    ]);
    d.set('lte', p56, 20);
    expect(d.raPrefixes(20, [], limits).map((p) => [p.prefix, p.validLifetime])).toEqual([
      ['2001:db8:f0:100::', 300],
      ['2001:db8:f0:200::', 0],
    ]);
  });
});
