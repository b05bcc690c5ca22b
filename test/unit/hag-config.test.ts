// The HAG's configuration: the shipped example validates, defaults fill in, and mistakes are
// reported with file, line and setting.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadHagConfig, parseHagConfig } from '../../hag/config.js';
import { runHag } from '../../hag/main.js';
import { transparentEdits } from '../../scripts/lab-impl/stack.js';
import { formatIssues, type HostFacts } from '../../src/config/index.js';

const ROOT = join(import.meta.dirname, '../..');
/** A host with no interfaces: the host checks pass unless a test gives it addresses. */
const HOST = { addresses: () => [], interfaceExists: () => false };

describe('HAG config', () => {
  it('config/hag.yaml is valid', () => {
    const r = loadHagConfig(join(ROOT, 'config/hag.yaml'), HOST);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.socks?.port).toBe(1080);
    expect(r.value.service.convert?.port).toBe(5124);
    expect(r.value.egress.idleTimeout).toBe(3_600_000);
    expect(r.value.access.internalNetworks).toEqual([]);
    expect(r.value.access.allowDestinations).toEqual([]);
  });

  it("config/lab/hag.yaml is valid on the lab's HAG (its egress addresses on the server link)", () => {
    const lab = { addresses: () => ['198.18.30.1', '2001:db8:30::1'], interfaceExists: () => false };
    const r = loadHagConfig(join(ROOT, 'config/lab/hag.yaml'), lab);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.access.allowDestinations).toEqual(['198.18.30.0/24', '2001:db8:30::/64']);
    // And as the transparent profile edits it (the DSL router no subscriber, in the inbound rules too).
    const text = transparentEdits('hag.yaml', readFileSync(join(ROOT, 'config/lab/hag.yaml'), 'utf8'));
    const t = parseHagConfig(text, 'hag.yaml', lab);
    if (!t.ok) throw new Error(formatIssues(t.issues));
    expect(t.value.service.inbound?.allow[0].subscribers).not.toContain('198.18.11.1/32');
  });

  it('a minimal config gets the defaults', () => {
    const r = parseHagConfig(
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.1.0/24]\n',
      'min.yaml',
      HOST,
    );
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.tun).toEqual({
      name: 'hag0',
      mtu: 1500,
      forwarding: true,
      offload: 'auto',
      rxHoldoffMs: 0,
    });
    expect(r.value.service.convert).toBeUndefined();
    expect(r.value.service.socks?.users).toEqual([]);
    expect(r.value.access.rateLimit).toEqual({ perSecond: 50, burst: 100 });
    expect(r.value.access.joins).toBe('subscribers');
    expect(r.value.metrics).toBeUndefined();
  });

  it('service.transparent: defaults, alone is enough, needs forwarding, never the TUN, no open proxy', () => {
    const svc = 'service:\n  addresses: [198.18.100.1]\n';
    const subs = 'access:\n  subscribers: [198.18.0.0/18]\n';
    const r = parseHagConfig(`${svc}  transparent: {}\n${subs}`, 't.yaml', HOST);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.transparent).toEqual({
      interfaces: [],
      mark: 0x4841,
      table: 4841,
      rulePriority: 10000,
    });
    const bad = parseHagConfig(
      `tun: {forwarding: false}\n${svc}  transparent:\n    interfaces: [dsl0, hag0]\naccess:\n  subscribers: [0.0.0.0/2]\n`,
      'b.yaml',
      HOST,
    );
    expect(!bad.ok && formatIssues(bad.issues)).toBe(
      [
        'b.yaml:1: tun.forwarding: service.transparent needs it: the traffic not diverted is forwarded',
        "b.yaml:5: service.transparent.interfaces[1]: hag0 is the HAG's TUN; name the interfaces the subscribers arrive on",
        "b.yaml:7: access.subscribers[0]: 0.0.0.0/2 lets nearly anyone on the internet in while service.transparent asks for none: an open proxy. Narrow it to the subscribers' ranges (/8 or longer), require credentials, or set access.openProxy: true",
      ].join('\n'),
    );
    const none = parseHagConfig(`${svc}${subs}`, 'n.yaml', HOST);
    expect(!none.ok && formatIssues(none.issues)).toBe(
      'n.yaml:2: service: enable at least one of convert, socks and transparent',
    );
  });

  it("access.joins is 'subscribers' or 'any'", () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.0.0/18]\n';
    const any = parseHagConfig(`${base}  joins: any\n`, 'c.yaml');
    expect(any.ok && any.value.access.joins).toBe('any');
    const bad = parseHagConfig(`${base}  joins: everyone\n`, 'c.yaml');
    expect(!bad.ok && formatIssues(bad.issues)).toBe(
      'c.yaml:6: access.joins: expected one of "subscribers", "any", got "everyone"',
    );
  });

  it('Convert gets TCP Fast Open by default, cookies required; a key must be 16 bytes of hex', () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  convert: {port: 5124%s}\naccess:\n  subscribers: [198.18.1.0/24]\n';
    const r = parseHagConfig(base.replace('%s', ''), 'c.yaml', HOST);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.convert?.fastOpen).toEqual({
      enabled: true,
      key: undefined,
      acceptWithoutCookie: false,
    });
    const bad = parseHagConfig(base.replace('%s', ', fastOpen: {key: abcd}'), 'c.yaml', HOST);
    expect(!bad.ok && formatIssues(bad.issues)).toMatch(
      /service\.convert\.fastOpen\.key: expected 16 bytes in hex/,
    );
  });

  it('tcp.pathSharing: on by default (RFC 9040 path sharing), false turns it off, not a word', () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.1.0/24]\n';
    const on = parseHagConfig(base, 'p.yaml', HOST);
    if (!on.ok) throw new Error(formatIssues(on.issues));
    expect(on.value.tcp).toEqual({
      synCookies: 'auto',
      maxHalfOpen: 4096,
      finTimeout: 60_000,
      pathSharing: true,
    });
    const off = parseHagConfig(`${base}tcp: {pathSharing: false}\n`, 'p.yaml', HOST);
    if (!off.ok) throw new Error(formatIssues(off.issues));
    expect(off.value.tcp.pathSharing).toBe(false);
    expect(off.value.tcp.maxHalfOpen).toBe(4096);
    const bad = parseHagConfig(`${base}tcp: {pathSharing: 1}\n`, 'p.yaml', HOST);
    expect(!bad.ok && formatIssues(bad.issues)).toMatch(/p\.yaml:6: tcp\.pathSharing: expected/);
  });

  it('errors name file, line and setting', () => {
    const text = readFileSync(join(ROOT, 'config/hag.yaml'), 'utf8')
      .replace('port: 1080', 'port: "abc"')
      .replace('- 198.18.0.0/18', '- 198.18.0.0/99')
      .replace('idleTimeout: 1h', 'idleTimeout: 1 hour');
    const r = parseHagConfig(text, 'config/hag.yaml', HOST);
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
    const r = parseHagConfig(
      'service:\n  addresses: [198.18.100.1]\naccess:\n  subscribers: []\n',
      'c.yaml',
      HOST,
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(formatIssues(r.issues)).toBe('c.yaml:4: access.subscribers: expected at least 1 item(s), got 0');
    const r2 = parseHagConfig(
      'service:\n  addresses: [198.18.100.1]\naccess:\n  subscribers: [198.18.1.0/24]\n',
      'c.yaml',
      HOST,
    );
    expect(!r2.ok && formatIssues(r2.issues)).toBe(
      'c.yaml:2: service: enable at least one of convert, socks and transparent',
    );
  });
});

describe('HAG config: settings that would start but run wrong are refused, with their line', () => {
  const BASE = `tun: {name: hag0}
service:
  addresses: [198.18.100.1, 2001:db8:100::1]
  convert: {port: 5124}
  socks: {port: 1080, users: [{username: a, password: b}]}
egress: {source4: 198.18.3.1, source6: 2001:db8:3::1}
access:
  subscribers: [198.18.1.0/24, 2001:db8:1::/64]
  internalNetworks: [203.0.113.0/24]
uplinks:
  - {name: dsl, prefixes: [198.18.1.0/25]}
  - {name: lte, prefixes: [198.18.1.128/25]}
`;
  const host: HostFacts = {
    addresses: () => ['127.0.0.1', '::1', '198.18.3.1', '2001:db8:3:0::1'],
    interfaceExists: (n: string) => n === 'lo' || n === 'eth0',
  };
  const errors = (text: string, h = host) => {
    const r = parseHagConfig(text, 'h.yaml', h);
    return r.ok ? [] : formatIssues(r.issues).split('\n');
  };

  it('the base config is valid', () => {
    expect(errors(BASE)).toEqual([]);
  });

  it('an open proxy: a subscriber prefix wider than /8 or /16 while a service asks no credentials', () => {
    const open = BASE.replace('[198.18.1.0/24, 2001:db8:1::/64]', '[0.0.0.0/0, 2001:db8:1::/64, "::/0"]');
    expect(errors(open)).toEqual([
      "h.yaml:8: access.subscribers[0]: 0.0.0.0/0 lets nearly anyone on the internet in while service.convert has no cookies: an open proxy. Narrow it to the subscribers' ranges (/8 or longer), require credentials, or set access.openProxy: true",
      'h.yaml:8: access.subscribers[0]: 0.0.0.0/0 overlaps access.internalNetworks[0] 203.0.113.0/24: subscribers are not internal',
      'h.yaml:8: access.subscribers[0]: 0.0.0.0/0 holds the service address 198.18.100.1',
      "h.yaml:8: access.subscribers[2]: ::/0 lets nearly anyone on the internet in while service.convert has no cookies: an open proxy. Narrow it to the subscribers' ranges (/16 or longer), require credentials, or set access.openProxy: true",
      'h.yaml:8: access.subscribers[2]: ::/0 holds the service address 2001:db8:100::1',
    ]);
    // The v4-mapped form of a wide prefix is that IPv4 prefix.
    const mapped = BASE.replace('[198.18.1.0/24, 2001:db8:1::/64]', '["::ffff:0.0.0.0/97"]')
      .replace('internalNetworks: [203.0.113.0/24]', 'internalNetworks: []')
      .replace('addresses: [198.18.100.1, 2001:db8:100::1]', 'addresses: [2001:db8:100::1]');
    expect(errors(mapped)[0]).toMatch(
      /^h\.yaml:8: access\.subscribers\[0\]: ::ffff:0\.0\.0\.0\/97 lets nearly anyone/,
    );
    // Credentials on both services, or the acknowledgement, make it a choice.
    const wide = (s: string) =>
      s
        .replace('[198.18.1.0/24, 2001:db8:1::/64]', '[0.0.0.0/1]')
        .replace('internalNetworks: [203.0.113.0/24]', 'internalNetworks: []')
        .replace('addresses: [198.18.100.1, 2001:db8:100::1]', 'addresses: [198.19.100.1, 2001:db8:100::1]')
        .replace(/uplinks:[\s\S]*$/, '');
    expect(errors(wide(BASE))).toHaveLength(1);
    expect(
      errors(
        wide(BASE).replace(
          'convert: {port: 5124}',
          'convert: {port: 5124, cookies: [{name: c, cookie: 0a0b0c0d}]}',
        ),
      ),
    ).toEqual([]);
    expect(
      errors(wide(BASE).replace('internalNetworks: []', 'internalNetworks: []\n  openProxy: true')),
    ).toEqual([]);
    // A /8 is one operator's pool, not the internet.
    expect(errors(wide(BASE).replace('0.0.0.0/1', '100.0.0.0/8'))).toEqual([]);
  });

  it('subscribers overlapping the internal networks or holding a service address', () => {
    expect(
      errors(
        BASE.replace(
          'internalNetworks: [203.0.113.0/24]',
          'internalNetworks: [203.0.113.0/24, 198.18.1.64/26]',
        ),
      ),
    ).toEqual([
      'h.yaml:8: access.subscribers[0]: 198.18.1.0/24 overlaps access.internalNetworks[1] 198.18.1.64/26: subscribers are not internal',
    ]);
    expect(errors(BASE.replace('2001:db8:1::/64', '2001:db8::/32'))).toEqual([
      'h.yaml:8: access.subscribers[1]: 2001:db8::/32 holds the service address 2001:db8:100::1',
    ]);
  });

  it('two uplink entries with the same or overlapping prefixes', () => {
    expect(errors(BASE.replace('prefixes: [198.18.1.128/25]', 'prefixes: [198.18.1.0/25]'))).toEqual([
      'h.yaml:12: uplinks[1].prefixes[0]: 198.18.1.0/25 overlaps uplinks[0].prefixes[0] 198.18.1.0/25',
    ]);
    expect(
      errors(BASE.replace('prefixes: [198.18.1.128/25]', 'prefixes: [198.18.1.128/25, 198.18.0.0/16]')),
    ).toEqual([
      'h.yaml:12: uplinks[1].prefixes[1]: 198.18.0.0/16 overlaps uplinks[0].prefixes[0] 198.18.1.0/25',
    ]);
  });

  it('an egress source the host does not have, or of the wrong family', () => {
    expect(errors(BASE.replace('source4: 198.18.3.1', 'source4: 198.18.3.7'))).toEqual([
      'h.yaml:6: egress.source4: 198.18.3.7 is not an address of this host',
    ]);
    expect(errors(BASE.replace('source4: 198.18.3.1', 'source4: 2001:db8:3::1'))).toEqual([
      'h.yaml:6: egress.source4: expected an IPv4 address, got 2001:db8:3::1',
    ]);
    // Compared as addresses, not as text.
    expect(errors(BASE.replace('source6: 2001:db8:3::1', 'source6: 2001:0db8:3::0001'))).toEqual([]);
  });

  it("a TUN name that an interface has already, except the running daemon's own", () => {
    expect(errors(BASE.replace('name: hag0', 'name: eth0'))).toEqual([
      'h.yaml:1: tun.name: an interface named eth0 exists already; the HAG creates its own TUN',
    ]);
    const running = { ...host, interfaceExists: (n: string) => n === 'hag0', ownTun: 'hag0' };
    expect(errors(BASE, running)).toEqual([]);
  });

  it('the same port twice, with its line', () => {
    expect(errors(BASE.replace('socks: {port: 1080', 'socks: {port: 5124'))).toEqual([
      'h.yaml:5: service.socks.port: must differ from service.convert.port (both 5124)',
    ]);
  });

  it('service.inbound: defaults, port ranges, and its mistakes with their lines', () => {
    const ok = BASE.replace(
      '  socks:',
      '  inbound: {port: 5125, listen: [198.18.3.1], allow: [{subscribers: [198.18.1.0/25], ports: [8080, "9000-9009"]}]}\n  socks:',
    );
    const r = parseHagConfig(ok, 'h.yaml', host);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.service.inbound).toEqual({
      port: 5125,
      listen: ['198.18.3.1'],
      allow: [
        {
          subscribers: ['198.18.1.0/25'],
          ports: [
            { first: 8080, last: 8080 },
            { first: 9000, last: 9009 },
          ],
        },
      ],
      maxPorts: 64,
      attachTimeout: 10_000,
      idleTimeout: 120_000,
    });
    const bad = BASE.replace(
      '  socks:',
      '  inbound:\n    port: 5124\n    listen: [198.18.3.9, 198.18.100.1]\n    allow:\n      - {subscribers: [198.18.2.0/24], ports: ["9009-9000", 70000]}\n  socks:',
    );
    expect(errors(bad)).toEqual([
      'h.yaml:9: service.inbound.allow[0].ports[0]: expected a port 1-65535 or a range such as "27015-27030", got "9009-9000"',
      'h.yaml:9: service.inbound.allow[0].ports[1]: expected a port 1-65535 or a range such as "27015-27030", got 70000',
    ]);
    expect(errors(bad.replace('"9009-9000", 70000', '9000'))).toEqual([
      'h.yaml:6: service.inbound.port: must differ from the convert and socks ports (5124)',
      'h.yaml:7: service.inbound.listen[0]: 198.18.3.9 is not an address of this host',
      "h.yaml:7: service.inbound.listen[1]: 198.18.100.1 is a service address (the core's); name an address of this host",
      'h.yaml:9: service.inbound.allow[0].subscribers[0]: 198.18.2.0/24 is not inside access.subscribers',
    ]);
  });

  it('access.allowDestinations: each prefix inside a range refused by default', () => {
    const allow = (list: string) =>
      BASE.replace('internalNetworks: [203.0.113.0/24]', `allowDestinations: [${list}]`);
    expect(
      errors(allow('198.18.0.0/15, 10.1.0.0/16, "2001:db8::/32", "fd00::/8", "64:ff9b:1::/48"')),
    ).toEqual([]);
    expect(errors(allow('198.18.0.0/15, 8.8.8.0/24, 0.0.0.0/0'))).toEqual([
      'h.yaml:9: access.allowDestinations[1]: 8.8.8.0/24 is not inside a range refused by default (private, shared-address-space, benchmarking, documentation, unique-local, ...); nothing to open',
      'h.yaml:9: access.allowDestinations[2]: 0.0.0.0/0 is not inside a range refused by default (private, shared-address-space, benchmarking, documentation, unique-local, ...); nothing to open',
    ]);
  });
});

describe('hybrid-access hag --check', () => {
  const run = async (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'hag-check-'));
    const file = join(dir, 'hag.yaml');
    writeFileSync(file, text);
    let out = '';
    const write = (s: string | Uint8Array) => {
      out += String(s);
      return true;
    };
    const o = vi.spyOn(process.stdout, 'write').mockImplementation(write);
    const e = vi.spyOn(process.stderr, 'write').mockImplementation(write);
    try {
      const code = await runHag(['--config', file, '--check']);
      return { code, out: out.replaceAll(file, 'hag.yaml') };
    } finally {
      o.mockRestore();
      e.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const CFG = `tun: {name: hagchk0}
service: {addresses: [198.18.100.1], socks: {port: 1080}}
egress: {source4: 127.0.0.1}
access: {subscribers: [198.18.1.0/24]}
limits: {maxConnections: 1000}
`;

  // maxConnections within any open-file limit a test host has, so that no file-limit warning is due.
  it('exits 0 on a valid config', async () => {
    expect(await run(CFG)).toEqual({ code: 0, out: 'hag.yaml: valid\n' });
  });

  it('exits 2 listing what is refused on this host: the TUN name taken, an egress address not here', async () => {
    const r = await run(
      CFG.replace('hagchk0', 'lo')
        .replace('127.0.0.1', '198.18.199.199')
        .replace('198.18.1.0/24', '0.0.0.0/0'),
    );
    expect(r.code).toBe(2);
    expect(r.out.split('\n')).toEqual([
      'hag.yaml:1: tun.name: an interface named lo exists already; the HAG creates its own TUN',
      'hag.yaml:3: egress.source4: 198.18.199.199 is not an address of this host',
      "hag.yaml:4: access.subscribers[0]: 0.0.0.0/0 lets nearly anyone on the internet in while service.socks has no users: an open proxy. Narrow it to the subscribers' ranges (/8 or longer), require credentials, or set access.openProxy: true",
      'hag.yaml:4: access.subscribers[0]: 0.0.0.0/0 holds the service address 198.18.100.1',
      '',
    ]);
  });
});
