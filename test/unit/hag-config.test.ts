// The HAG's configuration: the shipped example validates, defaults fill in, and mistakes are
// reported with file, line and setting.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHagConfig, parseHagConfig } from '../../hag/config.js';
import { formatIssues } from '../../src/config/index.js';

const ROOT = join(import.meta.dirname, '../..');

describe('HAG config', () => {
  it('config/hag.yaml is valid', () => {
    const r = loadHagConfig(join(ROOT, 'config/hag.yaml'));
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.socks?.port).toBe(1080);
    expect(r.value.service.convert?.port).toBe(5124);
    expect(r.value.egress.idleTimeout).toBe(3_600_000);
    expect(r.value.access.internalNetworks).toContain('10.0.0.0/8');
  });

  it('a minimal config gets the defaults', () => {
    const r = parseHagConfig(
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.0.0/15]\n',
      'min.yaml',
    );
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.tun).toEqual({ name: 'hag0', mtu: 1500, forwarding: true, offload: 'auto' });
    expect(r.value.service.convert).toBeUndefined();
    expect(r.value.service.socks?.users).toEqual([]);
    expect(r.value.access.rateLimit).toEqual({ perSecond: 50, burst: 100 });
    expect(r.value.access.joins).toBe('subscribers');
    expect(r.value.metrics).toBeUndefined();
  });

  it("access.joins is 'subscribers' or 'any'", () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.0.0/15]\n';
    const any = parseHagConfig(`${base}  joins: any\n`, 'c.yaml');
    expect(any.ok && any.value.access.joins).toBe('any');
    const bad = parseHagConfig(`${base}  joins: everyone\n`, 'c.yaml');
    expect(!bad.ok && formatIssues(bad.issues)).toBe(
      'c.yaml:6: access.joins: expected one of "subscribers", "any", got "everyone"',
    );
  });

  it('Convert gets TCP Fast Open by default, cookies required; a key must be 16 bytes of hex', () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  convert: {port: 5124%s}\naccess:\n  subscribers: [198.18.0.0/15]\n';
    const r = parseHagConfig(base.replace('%s', ''), 'c.yaml');
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.convert?.fastOpen).toEqual({
      enabled: true,
      key: undefined,
      acceptWithoutCookie: false,
    });
    const bad = parseHagConfig(base.replace('%s', ', fastOpen: {key: abcd}'), 'c.yaml');
    expect(!bad.ok && formatIssues(bad.issues)).toMatch(
      /service\.convert\.fastOpen\.key: expected 16 bytes in hex/,
    );
  });

  it('errors name file, line and setting', () => {
    const text = readFileSync(join(ROOT, 'config/hag.yaml'), 'utf8')
      .replace('port: 1080', 'port: "abc"')
      .replace('- 198.18.0.0/16', '- 198.18.0.0/99')
      .replace('idleTimeout: 1h', 'idleTimeout: 1 hour');
    const r = parseHagConfig(text, 'config/hag.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = text.split('\n');
    const lineOf = (s: string) => lines.findIndex((l) => l.includes(s)) + 1;
    expect(formatIssues(r.issues).split('\n')).toEqual([
      `config/hag.yaml:${lineOf('port: "abc"')}: service.socks.port: expected an integer 1-65535, got "abc"`,
      `config/hag.yaml:${lineOf('idleTimeout')}: egress.idleTimeout: expected a duration such as "500ms", "30s", "5m" or "1h", got "1 hour"`,
      `config/hag.yaml:${lineOf('/99')}: access.subscribers[0]: expected an IPv4 or IPv6 prefix such as 198.18.0.0/15, got "198.18.0.0/99"`,
    ]);
  });

  it('needs a protocol, distinct ports, and subscribers', () => {
    const r = parseHagConfig('service:\n  addresses: [198.18.100.1]\naccess:\n  subscribers: []\n', 'c.yaml');
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(formatIssues(r.issues)).toBe('c.yaml:4: access.subscribers: expected at least 1 item(s), got 0');
    const r2 = parseHagConfig(
      'service:\n  addresses: [198.18.100.1]\naccess:\n  subscribers: [198.18.0.0/15]\n',
      'c.yaml',
    );
    expect(!r2.ok && formatIssues(r2.issues)).toBe(
      'c.yaml: service: enable at least one of convert and socks',
    );
  });
});
