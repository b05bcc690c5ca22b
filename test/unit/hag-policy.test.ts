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
  // The test hosts' ranges (benchmarking, documentation) opened, as the lab's config does.
  const pol = new DestinationPolicy(
    ['10.0.0.0/8', 'fd00::/8'],
    ['198.18.100.1', '2001:db8:100::1'],
    ['198.18.0.0/15', '2001:db8::/32'],
  );
  const verdict = (s: string) => pol.check(ip(s));

  it('allows ordinary internet destinations, and the ranges opened', () => {
    expect(verdict('198.18.3.2')).toEqual({ ok: true });
    expect(verdict('2001:db8:3::2')).toEqual({ ok: true });
    expect(verdict('64:ff9b::198.18.3.2')).toEqual({ ok: true });
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

describe('destination policy: ranges refused by default', () => {
  const pol = new DestinationPolicy([], ['198.18.100.1']);
  const verdict = (s: string) => pol.check(ip(s));

  it('allows public addresses, also inside NAT64, 6to4 and Teredo', () => {
    for (const a of [
      '8.8.8.8',
      '2a00:1450::1',
      '64:ff9b::808:808',
      '2002:808:808::1',
      '2001:0:808:808::f7f7:f7f7',
    ])
      expect(verdict(a), a).toEqual({ ok: true });
  });

  it.each([
    ['10.1.2.3', 'private 10.0.0.0/8'],
    ['172.31.0.1', 'private 172.16.0.0/12'],
    ['192.168.1.1', 'private 192.168.0.0/16'],
    ['100.64.0.1', 'shared-address-space 100.64.0.0/10'],
    ['100.127.255.254', 'shared-address-space 100.64.0.0/10'],
    ['192.0.0.8', 'ietf-protocol-assignment 192.0.0.0/24'],
    ['198.18.3.2', 'benchmarking 198.18.0.0/15'],
    ['198.19.255.1', 'benchmarking 198.18.0.0/15'],
    ['2001:2::1', 'benchmarking 2001:2::/48'],
    ['192.0.2.1', 'documentation 192.0.2.0/24'],
    ['198.51.100.7', 'documentation 198.51.100.0/24'],
    ['203.0.113.9', 'documentation 203.0.113.0/24'],
    ['2001:db8:3::2', 'documentation 2001:db8::/32'],
    ['3fff::1', 'documentation 3fff::/20'],
    ['fd00::1', 'unique-local fc00::/7'],
    ['fc00::1', 'unique-local fc00::/7'],
    ['fec0::1', 'site-local fec0::/10'],
    ['100::1', 'discard-only 100::/64'],
    ['::ffff:10.0.0.1', 'private 10.0.0.0/8'],
    // IPv4-compatible (RFC 4291 2.5.5.1): refused, and judged on the IPv4 address it carries.
    ['::8.8.8.8', 'ipv4-compatible ::/96'],
    ['::127.0.0.1', 'ipv4-compatible ::/96'],
    // NAT64 (RFC 6052): the well-known prefix with a non-global IPv4 address inside.
    ['64:ff9b::127.0.0.1', 'nat64 embedding 127.0.0.1: loopback'],
    ['64:ff9b::a00:1', 'nat64 embedding 10.0.0.1: private 10.0.0.0/8'],
    ['64:ff9b::198.18.100.1', 'nat64 embedding 198.18.100.1: hag-address'],
    ['64:ff9b::c612:302', 'nat64 embedding 198.18.3.2: benchmarking 198.18.0.0/15'],
    ['64:ff9b:1::808:808', 'nat64-local 64:ff9b:1::/48'],
    // 6to4 (RFC 3056): the IPv4 address in bits 16-47.
    ['2002:a00:1::1', '6to4 embedding 10.0.0.1: private 10.0.0.0/8'],
    ['2002:7f00:1::1', '6to4 embedding 127.0.0.1: loopback'],
    ['2002:6440:1::1', '6to4 embedding 100.64.0.1: shared-address-space 100.64.0.0/10'],
    // Teredo (RFC 4380 4): the server in bits 32-63, the client inverted in bits 96-127.
    ['2001:0:a00:1::f7f7:f7f7', 'teredo-server embedding 10.0.0.1: private 10.0.0.0/8'],
    ['2001:0:808:808::80ff:fffe', 'teredo-client embedding 127.0.0.1: loopback'],
    ['2001:0:808:808::f5ff:fffe', 'teredo-client embedding 10.0.0.1: private 10.0.0.0/8'],
  ])('refuses %s (%s)', (addr, reason) => {
    expect(verdict(addr)).toEqual({ ok: false, reason });
  });

  it('an opened prefix wins over the default; the embedded IPv4 is judged with it', () => {
    const open = new DestinationPolicy(['10.9.0.0/16'], [], ['10.0.0.0/8', '::/96', '198.18.3.0/24']);
    expect(open.check(ip('10.1.2.3'))).toEqual({ ok: true });
    expect(open.check(ip('2002:a01:203::1'))).toEqual({ ok: true });
    expect(open.check(ip('64:ff9b::c612:302'))).toEqual({ ok: true });
    expect(open.check(ip('198.18.4.1'))).toEqual({ ok: false, reason: 'benchmarking 198.18.0.0/15' });
    // The internal networks and the fixed ranges are never opened.
    expect(open.check(ip('10.9.0.1'))).toEqual({ ok: false, reason: 'internal-network 10.9.0.0/16' });
    expect(open.check(ip('::127.0.0.1'))).toEqual({
      ok: false,
      reason: 'ipv4-compatible embedding 127.0.0.1: loopback',
    });
    expect(open.check(ip('::10.9.0.1'))).toEqual({
      ok: false,
      reason: 'ipv4-compatible embedding 10.9.0.1: internal-network 10.9.0.0/16',
    });
  });
});

describe('subscriber policy', () => {
  it('allows only configured prefixes; an IPv4-mapped IPv6 source is refused (RFC 6890 2.2.3)', () => {
    const s = new SubscriberPolicy(['198.18.1.0/24', '2001:db8:1::/48']);
    expect(s.allows(ip('198.18.1.7'))).toBe(true);
    expect(s.allows(ip('::ffff:198.18.1.7'))).toBe(false);
    expect(s.refusal(ip('::ffff:198.18.1.7'))).toBe('v4-mapped-source');
    expect(s.refusal(ip('198.18.2.7'))).toBe('not-subscriber');
    expect(s.refusal(ip('198.18.1.7'))).toBeUndefined();
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
