// The HAG's access control pieces: address parsing, the destination policy (special ranges, the
// HAG's own addresses, internal networks, IPv4-mapped tricks), subscriber prefixes, where joins
// may come from, and the per-client rate limiter.
import { describe, expect, it } from 'vitest';
import { formatIp, inPrefix, parseIp, parsePrefix, unmap } from '../../hag/addr.js';
import { DestinationPolicy, JoinPolicy, SubscriberPolicy } from '../../hag/policy.js';
import { RateLimiter } from '../../hag/rate-limit.js';

const ip = (s: string) => parseIp(s)!;

describe('addresses', () => {
  it('parses and formats IPv4 and IPv6 (RFC 5952 form)', () => {
    for (const s of ['198.18.0.1', '2001:db8::1', '::', '::1', 'fe80::1:2', '2001:db8:0:1:1:1:1:1', '1::']) {
      expect(formatIp(ip(s))).toBe(s);
    }
    expect(formatIp(ip('2001:0db8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(formatIp(unmap(ip('::ffff:127.0.0.1')))).toBe('127.0.0.1');
    expect(parseIp('nope')).toBeUndefined();
  });

  it('prefix matching on bit boundaries', () => {
    const p = parsePrefix('198.18.0.0/15')!;
    expect(inPrefix(ip('198.19.255.255'), p)).toBe(true);
    expect(inPrefix(ip('198.20.0.0'), p)).toBe(false);
    expect(inPrefix(ip('2001:db8::1'), p)).toBe(false);
    const p6 = parsePrefix('2001:db8::/33')!;
    expect(inPrefix(ip('2001:db8:7fff::1'), p6)).toBe(true);
    expect(inPrefix(ip('2001:db8:8000::1'), p6)).toBe(false);
    expect(inPrefix(ip('10.1.2.3'), parsePrefix('0.0.0.0/0')!)).toBe(true);
  });
});

describe('destination policy', () => {
  const pol = new DestinationPolicy(['10.0.0.0/8', 'fd00::/8'], ['198.18.100.1', '2001:db8:100::1']);
  const verdict = (s: string) => pol.check(ip(s));

  it('allows ordinary internet destinations', () => {
    expect(verdict('198.18.3.2')).toEqual({ ok: true });
    expect(verdict('2001:db8:3::2')).toEqual({ ok: true });
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['198.18.100.1', 'hag-address'],
    ['2001:db8:100::1', 'hag-address'],
    ['10.9.8.7', 'internal-network 10.0.0.0/8'],
    ['fd12::1', 'internal-network fd00::/8'],
    // IPv4-mapped IPv6 is judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'internal-network 10.0.0.0/8'],
    ['::ffff:198.18.100.1', 'hag-address'],
  ])('refuses %s (%s)', (addr, reason) => {
    expect(verdict(addr)).toEqual({ ok: false, reason });
  });
});

describe('subscriber policy', () => {
  it('allows only configured prefixes, IPv4-mapped included', () => {
    const s = new SubscriberPolicy(['198.18.1.0/24', '2001:db8:1::/48']);
    expect(s.allows(ip('198.18.1.7'))).toBe(true);
    expect(s.allows(ip('::ffff:198.18.1.7'))).toBe(true);
    expect(s.allows(ip('198.18.2.7'))).toBe(false);
    expect(s.allows(ip('2001:db8:1:5::1'))).toBe(true);
    expect(s.allows(ip('2001:db8:2::1'))).toBe(false);
  });
});

describe('join policy (access.joins)', () => {
  const subs = new SubscriberPolicy(['198.18.0.0/16', '2001:db8:1::/48']);

  it('by default admits joins only from subscriber prefixes, as initial subflows', () => {
    const j = new JoinPolicy('subscribers', subs);
    expect(j.allows(ip('198.18.7.1'))).toBe(true);
    expect(j.allows(ip('2001:db8:1:5::1'))).toBe(true);
    expect(j.allows(ip('198.19.0.1'))).toBe(false);
    expect(j.allows(ip('2001:db8:2::1'))).toBe(false);
  });

  it("'any' admits joins from every address (roaming phones)", () => {
    const j = new JoinPolicy('any', subs);
    expect(j.allows(ip('198.19.0.1'))).toBe(true);
    expect(j.allows(ip('2001:db8:2::1'))).toBe(true);
  });
});

describe('rate limiter', () => {
  it('allows the burst, then the rate, per client', () => {
    const r = new RateLimiter(10, 5);
    let ok = 0;
    for (let i = 0; i < 20; i++) if (r.take('a', 0)) ok++;
    expect(ok).toBe(5);
    expect(r.take('b', 0)).toBe(true); // another client has its own bucket
    expect(r.take('a', 50)).toBe(false); // half a token
    expect(r.take('a', 100)).toBe(true); // one token after 100 ms at 10/s
    expect(r.take('a', 100)).toBe(false);
  });

  it('forgets refilled buckets and stays bounded', () => {
    const r = new RateLimiter(10, 2, 100);
    for (let i = 0; i < 500; i++) r.take(`c${i}`, 0);
    expect(r.size).toBeLessThanOrEqual(100);
    r.sweep(10_000);
    expect(r.size).toBe(0);
  });

  it('rate 0 means no limit', () => {
    const r = new RateLimiter(0, 0);
    for (let i = 0; i < 100; i++) expect(r.take('a', 0)).toBe(true);
  });
});
