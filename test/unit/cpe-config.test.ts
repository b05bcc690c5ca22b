// The CPE's config loader: the example config is valid; bad configs (an unknown interface,
// overlapping DHCP ranges, no HAG address, no primary uplink, a gateway-less static uplink, bad
// types) give errors naming the file, the line and what is wrong; derived addresses and tables.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  coreAddress6Of,
  coreAddressOf,
  hasIpv4,
  hasIpv6,
  lanAdvertisement,
  parseBytes,
  parseCpeConfig,
  parseRate,
  tableOf,
  tunKernelAddress,
  tunKernelAddress6,
} from '../../cpe/daemon/config.js';
import { runCpe } from '../../cpe/main.js';
import { inboundEdits, lanSlaacEdits } from '../../scripts/lab-impl/stack.js';
import { formatIssues } from '../../src/config/index.js';

const ROOT = join(import.meta.dirname, '../..');
const known = new Set(['br-lan', 'wan', 'wwan0', 'lan0', 'dsl0', 'lte0']);
const opts = { interfaceExists: (n: string) => known.has(n) };

const BASE = `lan:
  interface: lan0
  addresses: [198.18.5.1/24]
  dhcp:
    ranges: [{start: 198.18.5.100, end: 198.18.5.150}]
uplinks:
  - name: dsl
    interface: dsl0
    address: 198.18.11.2/24
    gateway: 198.18.11.1
    role: primary
  - name: lte
    interface: lte0
    address: 198.18.12.2/24
    gateway: 198.18.12.1
    role: backup
hag:
  addresses: [198.18.100.1]
`;

function errors(text: string): string {
  const r = parseCpeConfig(text, 'cpe.yaml', opts);
  expect(r.ok).toBe(false);
  return r.ok ? '' : formatIssues(r.issues);
}

describe('CPE config', () => {
  it('the example config/cpe.yaml is valid', () => {
    const text = readFileSync(join(ROOT, 'config/cpe.yaml'), 'utf8');
    const r = parseCpeConfig(text, 'config/cpe.yaml', opts);
    expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
    if (!r.ok) return;
    expect(r.value.hag.method).toBe('convert');
    expect(r.value.uplinks.map((u) => u.role)).toEqual(['primary', 'overflow']);
  });

  it('hag.method transparent: accepted, without credentials or a cookie', () => {
    const r = parseCpeConfig(`${BASE}  method: transparent\n`, 'cpe.yaml', opts);
    expect(r.ok && r.value.hag.method).toBe('transparent');
    expect(errors(`${BASE}  method: transparent\n  cookie: 0a0b0c0d\n`)).toBe(
      'cpe.yaml:20: hag.cookie: method transparent sends no handshake: credentials and cookies are for socks5 and convert',
    );
  });

  it('fills defaults and derives core addresses, tables and the TUN address', () => {
    const r = parseCpeConfig(BASE, 'cpe.yaml', opts);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    const c = r.value;
    expect(c.hag.port).toBe(5124);
    expect(c.hag.fastOpen).toBe(true); // TCP Fast Open to the HAG with Convert
    expect(c.quic).toBe('pass');
    expect(c.tun).toEqual({
      name: 'cpe0',
      mtu: 1500,
      prefix: '10.254.0.0/24',
      prefix6: 'fd48:4143:5045::/64',
      offload: 'auto',
      rxHoldoffMs: 1,
    });
    expect(tunKernelAddress(c)).toBe('10.254.0.1/24');
    expect([coreAddressOf(c, 0), coreAddressOf(c, 1)]).toEqual(['10.254.0.2', '10.254.0.3']);
    expect([tableOf(c, 0), tableOf(c, 1)]).toEqual([200, 201]);
    expect(c.uplinks[0].probe).toEqual({
      target: undefined,
      targets: [],
      interval: 1000,
      timeout: 1000,
      failures: 3,
      successes: 2,
      window: 10,
      maxLoss: 50,
      maxRtt: undefined,
      hag: { interval: 10_000, failures: 2 },
    });
    expect(c.failover).toEqual({ holdDown: 30_000 });
  });

  it('probe targets, loss, RTT, HAG checks and the failover hold-down are read; mixed families refused', () => {
    const text = BASE.replace(
      '    role: backup\n',
      '    role: backup\n    probe: {targets: [198.18.12.9, 198.18.12.10], window: 20, maxLoss: 25, maxRtt: 400ms, hag: {interval: 0s}}\n',
    ).concat('failover: {holdDown: 10s}\n');
    const r = parseCpeConfig(text, 'cpe.yaml', opts);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.uplinks[1].probe).toMatchObject({
      targets: ['198.18.12.9', '198.18.12.10'],
      window: 20,
      maxLoss: 25,
      maxRtt: 400,
      hag: { interval: 0, failures: 2 },
    });
    expect(r.value.failover.holdDown).toBe(10_000);
    const e = errors(
      BASE.replace(
        '    role: backup\n',
        '    role: backup\n    probe: {target: 198.18.12.1, targets: [2001:db8::1]}\n',
      ),
    );
    expect(e).toMatch(/uplinks\[1\]\.probe\.targets: all probe targets of an uplink must be of one family/);
  });

  it('quotas as billed, the state directory and the event hook are read; bad ones name the line', () => {
    const text = BASE.replace(
      '    role: backup\n',
      '    role: backup\n    quota: {bytes: 20GB, period: week, resetDay: 3, warnAt: 90, saveInterval: 30s}\n',
    ).concat(
      'state: {directory: /srv/ha}\nevents: {command: [/usr/bin/logger, -t, ha], webhook: {url: "https://198.18.0.9/hook"}, retries: 2}\n',
    );
    const r = parseCpeConfig(text, 'cpe.yaml', opts);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.uplinks[1].quota).toEqual({
      bytes: '20GB',
      period: 'week',
      resetDay: 3,
      warnAt: 90,
      saveInterval: 30_000,
    });
    expect(r.value.uplinks[0].quota).toBeUndefined();
    expect(r.value.state.directory).toBe('/srv/ha');
    expect(r.value.events).toMatchObject({
      command: ['/usr/bin/logger', '-t', 'ha'],
      webhook: { url: 'https://198.18.0.9/hook' },
      retries: 2,
      backoff: 2000,
      queue: 100,
    });
    const bad = (quota: string, more = '') =>
      errors(BASE.replace('    role: backup\n', `    role: backup\n    quota: ${quota}\n`).concat(more));
    expect(bad('{bytes: 1GB, resetDay: 29}')).toMatch(/^cpe\.yaml:17: uplinks\[1\]\.quota\.resetDay: /m);
    expect(bad('{bytes: 1GB, period: week, resetDay: 8}')).toMatch(
      /^cpe\.yaml:17: uplinks\[1\]\.quota\.resetDay: a week starts on an ISO weekday/m,
    );
    expect(bad('{bytes: 1GB, warnAt: 0}')).toMatch(/^cpe\.yaml:17: uplinks\[1\]\.quota\.warnAt: /m);
    expect(bad('{bytes: 1GB, saveInterval: 10ms}')).toMatch(/uplinks\[1\]\.quota\.saveInterval: at least 1s/);
    expect(bad('{bytes: 1GB}', 'events: {webhook: {url: "ftp://x"}}\n')).toMatch(
      /^cpe\.yaml:20: events\.webhook\.url: .*http:\/\/ or https:\/\/ URL/m,
    );
  });

  it('inbound forwards: ports or ranges, the LAN port defaulting to the public one; mistakes with their lines', () => {
    const fwd = (lines: string) => `${BASE}inbound:\n  forwards:\n${lines}`;
    const r = parseCpeConfig(
      fwd(
        '    - {name: web, public: 8080, host: 198.18.5.10, port: 80}\n    - {name: games, public: "27015-27030", host: 198.18.5.11}\n',
      ),
      'cpe.yaml',
      opts,
    );
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(r.value.inbound).toEqual({
      port: 5125,
      keepalive: 30_000,
      retry: 2000,
      forwards: [
        { name: 'web', public: { first: 8080, last: 8080 }, host: '198.18.5.10', port: 80, protocol: 'tcp' },
        {
          name: 'games',
          public: { first: 27015, last: 27030 },
          host: '198.18.5.11',
          port: undefined,
          protocol: 'tcp',
        },
      ],
    });
    const at = BASE.split('\n').length + 3;
    expect(
      errors(
        fwd(
          '    - {name: web, public: 8080, host: 198.18.5.10, port: 80}\n' +
            '    - {name: web, public: "8000-8080", host: 198.18.9.9, port: 65535}\n' +
            '    - {name: udp, public: 53, host: 198.18.5.10, protocol: udp}\n',
        ),
      ).split('\n'),
    ).toEqual([`cpe.yaml:${at + 1}: inbound.forwards[2].protocol: expected one of "tcp", got "udp"`]);
    expect(
      errors(
        fwd(
          '    - {name: web, public: 8080, host: 198.18.5.10, port: 80}\n' +
            '    - {name: web, public: "8000-8080", host: 198.18.9.9, port: 65535}\n',
        ),
      ).split('\n'),
    ).toEqual([
      `cpe.yaml:${at}: inbound.forwards[1].name: "web" is also inbound.forwards[0]'s name`,
      `cpe.yaml:${at}: inbound.forwards[1].public: overlaps inbound.forwards[0].public`,
      `cpe.yaml:${at}: inbound.forwards[1].port: 65535 + 81 ports passes 65535`,
      `cpe.yaml:${at}: inbound.forwards[1].host: 198.18.9.9 is not on the LAN (198.18.5.1/24)`,
    ]);
  });

  it("the lab's CPE configs with the forwards of config/lab/cpe-inbound.yaml are valid", () => {
    for (const name of ['cpe.yaml', 'cpe-natboxes.yaml']) {
      const text = inboundEdits(
        readFileSync(join(ROOT, 'config/lab', name), 'utf8')
          .replaceAll('{{PREFIX}}', 'lab1')
          .replaceAll('{{RUN_DIR}}', '/run/lab1'),
      );
      const r = parseCpeConfig(text, name, opts);
      expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
      if (r.ok) expect(r.value.inbound?.forwards.map((f) => f.name)).toEqual(['web', 'games', 'ssh']);
    }
  });

  it("bench-lab's IPv6-subflow CPE (config/lab/cpe-ipv6.yaml): valid, every uplink and the HAG IPv6 only", () => {
    const text = readFileSync(join(ROOT, 'config/lab/cpe-ipv6.yaml'), 'utf8')
      .replaceAll('{{PREFIX}}', 'lab1')
      .replaceAll('{{RUN_DIR}}', '/run/lab1');
    const r = parseCpeConfig(text, 'cpe-ipv6.yaml', opts);
    expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
    if (!r.ok) return;
    expect(r.value.uplinks.map((u) => [u.address, u.gateway, u.gateway6])).toEqual([
      ['2001:db8:10::2/64', undefined, '2001:db8:10::1'],
      ['2001:db8:20::2/64', undefined, '2001:db8:20::1'],
    ]);
    expect(r.value.hag.addresses).toEqual(['2001:db8:100::1']);
  });

  it('an unknown interface: file, line and name', () => {
    const e = errors(BASE.replace('interface: lte0', 'interface: wwan9'));
    expect(e).toMatch(/^cpe\.yaml:13: uplinks\[1\]\.interface: no interface named wwan9 on this system$/m);
  });

  it('overlapping DHCP ranges and a range outside the LAN', () => {
    const e = errors(
      BASE.replace(
        'ranges: [{start: 198.18.5.100, end: 198.18.5.150}]',
        'ranges: [{start: 198.18.5.100, end: 198.18.5.150}, {start: 198.18.5.140, end: 198.18.5.160}, {start: 198.18.6.1, end: 198.18.6.9}]',
      ),
    );
    expect(e).toMatch(
      /cpe\.yaml:5: lan\.dhcp\.ranges\[1\]: 198\.18\.5\.140-198\.18\.5\.160 overlaps lan\.dhcp\.ranges\[0\]/,
    );
    expect(e).toMatch(
      /lan\.dhcp\.ranges\[2\]: 198\.18\.6\.1-198\.18\.6\.9 is not inside the LAN 198\.18\.5\.1\/24/,
    );
  });

  it('no HAG address', () => {
    expect(errors(BASE.replace('hag:\n  addresses: [198.18.100.1]\n', 'hag: {port: 5124}\n'))).toMatch(
      /cpe\.yaml:17: hag\.addresses: missing \(expected a list of an IPv4 or IPv6 address/,
    );
    expect(errors(BASE.replace('addresses: [198.18.100.1]', 'addresses: []'))).toMatch(
      /cpe\.yaml:18: hag\.addresses: expected at least 1 item\(s\), got 0/,
    );
  });

  it('no primary uplink, two primaries, duplicate names and interfaces', () => {
    expect(errors(BASE.replace('role: primary', 'role: overflow'))).toMatch(
      /uplinks: one uplink needs role: primary/,
    );
    expect(errors(BASE.replace('role: backup', 'role: primary'))).toMatch(/only one uplink may be primary/);
    expect(errors(BASE.replace('name: lte', 'name: dsl'))).toMatch(
      /uplinks\[1\]\.name: "dsl" is used by two uplinks/,
    );
    expect(errors(BASE.replace('interface: lte0', 'interface: dsl0'))).toMatch(
      /dsl0 is already the LAN or another uplink/,
    );
  });

  it('a static uplink without a gateway; a DHCP uplink with one', () => {
    expect(errors(BASE.replace('    gateway: 198.18.12.1\n', ''))).toMatch(
      /uplinks\[1\]\.gateway: a static uplink needs a gateway/,
    );
    expect(errors(BASE.replace('    address: 198.18.12.2/24\n', '    addressing: dhcp\n'))).toMatch(
      /uplinks\[1\]\.gateway: a DHCP uplink takes its gateway from the lease/,
    );
  });

  it('wrong types and unknown settings name the line', () => {
    const e = errors(`${BASE}quic: maybe\nstatus: {port: 99999}\nbogus: 1\n`);
    expect(e).toMatch(/cpe\.yaml:19: quic: expected one of "pass", "block", got "maybe"/);
    expect(e).toMatch(/cpe\.yaml:20: status\.port: expected an integer 1-65535, got 99999/);
    expect(e).toMatch(/cpe\.yaml:21: bogus: unknown setting/);
  });

  it('scheduling rules and coupled congestion control', () => {
    const ok = parseCpeConfig(
      `${BASE}mptcp: {congestion: olia}\nscheduling:\n  default: primary-first\n  rules:\n    - {ports: [53], scheduler: redundant}\n    - {destinations: [198.19.0.0/16], scheduler: min-rtt}\n`,
      'cpe.yaml',
      opts,
    );
    if (!ok.ok) throw new Error(formatIssues(ok.issues));
    expect(ok.value.mptcp.congestion).toBe('olia');
    expect(ok.value.scheduling.default).toBe('primary-first');
    expect(ok.value.scheduling.rules[1]).toEqual({
      ports: [],
      destinations: ['198.19.0.0/16'],
      sources: [],
      scheduler: 'min-rtt',
    });
    const e = errors(`${BASE}scheduling:\n  rules:\n    - {ports: [53], scheduler: fastest}\n`);
    expect(e).toMatch(
      /cpe\.yaml:21: scheduling\.rules\[0\]\.scheduler: expected one of "min-rtt", "primary-first", "redundant", got "fastest"/,
    );
  });

  it('mptcp.pathSharing: on by default (RFC 9040 path sharing), false turns it off, not a word', () => {
    const on = parseCpeConfig(BASE, 'cpe.yaml', opts);
    if (!on.ok) throw new Error(formatIssues(on.issues));
    expect(on.value.mptcp.pathSharing).toBe(true);
    const off = parseCpeConfig(`${BASE}mptcp: {pathSharing: false}\n`, 'cpe.yaml', opts);
    if (!off.ok) throw new Error(formatIssues(off.issues));
    expect(off.value.mptcp.pathSharing).toBe(false);
    expect(off.value.mptcp.congestion).toBe('uncoupled');
    expect(errors(`${BASE}mptcp: {pathSharing: sometimes}\n`)).toMatch(
      /cpe\.yaml:19: mptcp\.pathSharing: expected/,
    );
  });

  it('a TUN prefix too small and core addresses outside it', () => {
    expect(errors(`${BASE}tun: {prefix: 10.0.0.0/31}\n`)).toMatch(/tun\.prefix: a \/31 has no room/);
    expect(errors(BASE.replace('role: backup', 'role: backup\n    coreAddress: 10.9.9.9'))).toMatch(
      /uplinks\[1\]\.coreAddress: 10\.9\.9\.9 is outside tun\.prefix 10\.254\.0\.0\/24/,
    );
  });

  it('a TUN prefix overlapping the LAN or an uplink, with the line of tun.prefix', () => {
    expect(errors(`${BASE}tun: {prefix: 198.18.5.0/24}\n`).split('\n')).toEqual([
      'cpe.yaml:19: tun.prefix: 198.18.5.0/24 overlaps lan.addresses[0] 198.18.5.1/24',
    ]);
    expect(errors(`${BASE}tun: {prefix: 198.18.12.0/28}\n`)).toBe(
      'cpe.yaml:19: tun.prefix: 198.18.12.0/28 overlaps uplinks[1].address 198.18.12.2/24',
    );
    expect(errors(`${BASE}tun: {prefix: 198.18.0.0/16}\n`)).toMatch(
      /tun\.prefix: 198\.18\.0\.0\/16 overlaps lan/,
    );
  });

  it('IPv6: an IPv6-only uplink, a dual-stack one, IPv6 HAG addresses and the core IPv6 addresses', () => {
    const v6only = BASE.replace(
      'address: 198.18.12.2/24\n    gateway: 198.18.12.1',
      'address: "2001:db8:12::2/64"\n    gateway6: "2001:db8:12::1"',
    )
      .replace('gateway: 198.18.11.1', 'gateway: 198.18.11.1\n    gateway6: "2001:db8:11::1"')
      .replace('addresses: [198.18.100.1]', 'addresses: [198.18.100.1, "2001:db8:100::1"]');
    const r = parseCpeConfig(v6only, 'cpe.yaml', opts);
    expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
    if (!r.ok) return;
    expect(r.value.uplinks.map((u) => [hasIpv4(u), hasIpv6(u)])).toEqual([
      [true, true],
      [false, true],
    ]);
    expect(r.value.tun.prefix6).toBe('fd48:4143:5045::/64');
    expect(tunKernelAddress6(r.value)).toBe('fd48:4143:5045::1/64');
    expect([coreAddress6Of(r.value, 0), coreAddress6Of(r.value, 1)]).toEqual([
      'fd48:4143:5045::2',
      'fd48:4143:5045::3',
    ]);
    // Without gateway6 an uplink has no IPv6 core address.
    const base = parseCpeConfig(BASE, 'cpe.yaml', opts);
    expect(base.ok && coreAddress6Of(base.value, 0)).toBe(undefined);
  });

  it('IPv6 mistakes: a HAG address of a family no uplink has, an IPv6 address without gateway6, a core address outside tun.prefix6', () => {
    expect(errors(BASE.replace('addresses: [198.18.100.1]', 'addresses: ["2001:db8:100::1"]'))).toMatch(
      /hag\.addresses: 2001:db8:100::1: no uplink has IPv6 \(gateway6\)/,
    );
    expect(errors(BASE.replace('address: 198.18.12.2/24', 'address: "2001:db8:12::2/64"'))).toMatch(
      /uplinks\[1\]\.gateway6: an uplink with an IPv6 address needs gateway6/,
    );
    expect(
      errors(
        BASE.replace(
          'role: backup',
          'role: backup\n    gateway6: "2001:db8:12::1"\n    coreAddress6: "fd00::9"',
        ),
      ),
    ).toMatch(/uplinks\[1\]\.coreAddress6: fd00::9 is outside tun\.prefix6/);
    expect(errors(`${BASE}tun: {prefix6: 10.9.0.0/24}\n`)).toMatch(/tun\.prefix6: must be an IPv6 prefix/);
    expect(errors(BASE.replace('role: backup', 'role: backup\n    gateway6: 198.18.12.1'))).toMatch(
      /gateway6: expected an IPv6 address/,
    );
  });

  it('addressing slaac: an IPv6-only uplink without static addresses; a static address or gateway refused', () => {
    const slaac = BASE.replace(
      'address: 198.18.12.2/24\n    gateway: 198.18.12.1',
      'addressing: slaac',
    ).replace('addresses: [198.18.100.1]', 'addresses: [198.18.100.1, "2001:db8:100::1"]');
    const r = parseCpeConfig(slaac, 'cpe.yaml', opts);
    expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
    if (!r.ok) return;
    expect([hasIpv4(r.value.uplinks[1]), hasIpv6(r.value.uplinks[1])]).toEqual([false, true]);
    expect(coreAddress6Of(r.value, 1)).toBe('fd48:4143:5045::3');
    expect(
      errors(slaac.replace('addressing: slaac', 'addressing: slaac\n    gateway6: "2001:db8:12::1"')),
    ).toMatch(
      /uplinks\[1\]\.gateway6: a slaac uplink takes its address and gateway from router advertisements/,
    );
  });

  it('addressing dhcpv6 and delegation: IPv6-only, no static address; delegation on dhcpv6/slaac, one uplink', () => {
    const d6 = BASE.replace(
      'address: 198.18.12.2/24\n    gateway: 198.18.12.1',
      'addressing: dhcpv6\n    delegation: { prefixLength: 60 }',
    ).replace('addresses: [198.18.100.1]', 'addresses: [198.18.100.1, "2001:db8:100::1"]');
    const r = parseCpeConfig(d6, 'cpe.yaml', opts);
    expect(r.ok ? [] : formatIssues(r.issues)).toEqual([]);
    if (!r.ok) return;
    expect([hasIpv4(r.value.uplinks[1]), hasIpv6(r.value.uplinks[1])]).toEqual([false, true]);
    expect(r.value.uplinks[1].delegation).toEqual({ prefixLength: 60 });
    expect(
      errors(d6.replace('addressing: dhcpv6', 'addressing: dhcpv6\n    gateway6: "2001:db8:12::1"')),
    ).toMatch(
      /^cpe\.yaml:\d+: uplinks\[1\]\.gateway6: a dhcpv6 uplink takes its address from DHCPv6 and its gateway from router advertisements/,
    );
    expect(errors(d6.replace('prefixLength: 60', 'prefixLength: 65'))).toMatch(
      /uplinks\[1\]\.delegation\.prefixLength/,
    );
    // Delegation on a static uplink; on two uplinks.
    expect(errors(BASE.replace('role: backup', 'role: backup\n    delegation: {}'))).toBe(
      'cpe.yaml:17: uplinks[1].delegation: prefix delegation (DHCPv6) needs addressing dhcpv6 or slaac',
    );
    const two = d6
      .replace('address: 198.18.11.2/24\n    gateway: 198.18.11.1', 'addressing: slaac\n    delegation: {}')
      .replace(
        'addressing: slaac\n    delegation: {}\n    role: primary',
        'addressing: slaac\n    delegation: {}\n    role: primary',
      );
    expect(errors(two)).toMatch(
      /uplinks\[1\]\.delegation: only one uplink asks for the LAN's prefix \(uplinks\[0\] does\)/,
    );
    // The lab's (profile lte-dhcpv6, RAs on).
    const lab = lanSlaacEdits(
      readFileSync(join(ROOT, 'config/lab/cpe-lte-dhcpv6.yaml'), 'utf8')
        .replaceAll('{{PREFIX}}', 'lab1')
        .replaceAll('{{RUN_DIR}}', '/run/lab1'),
    );
    const l = parseCpeConfig(lab, 'cpe-lte-dhcpv6.yaml', opts);
    expect(l.ok ? [] : formatIssues(l.issues)).toEqual([]);
    if (l.ok) expect([l.value.uplinks[1].addressing, l.value.lan.ra?.enabled]).toEqual(['dhcpv6', true]);
    // lan.ra needs no configured prefix when one is delegated.
    const ra = parseCpeConfig(
      d6.replace('  addresses: [198.18.5.1/24]\n', '  addresses: [198.18.5.1/24]\n  ra: {}\n'),
      'cpe.yaml',
      opts,
    );
    expect(ra.ok ? [] : formatIssues(ra.issues)).toEqual([]);
  });

  it('two uplinks with one address', () => {
    expect(errors(BASE.replace('address: 198.18.12.2/24', 'address: 198.18.11.2/25'))).toBe(
      "cpe.yaml:14: uplinks[1].address: 198.18.11.2 is also uplinks[0]'s address",
    );
  });

  it("a TUN name an interface has already, except the running daemon's own TUN", () => {
    expect(errors(`${BASE}tun: {name: wan}\n`)).toBe(
      'cpe.yaml:19: tun.name: an interface named wan exists already; the CPE creates its own TUN',
    );
    const own = { interfaceExists: (n: string) => known.has(n) || n === 'cpe0', ownTun: 'cpe0' };
    expect(parseCpeConfig(BASE, 'cpe.yaml', own).ok).toBe(true);
  });

  it('invalid YAML names the line', () => {
    expect(errors('lan: [\n')).toMatch(/^cpe\.yaml:\d+: \(yaml\): invalid YAML/);
  });

  it('sizes and rates', () => {
    expect(parseBytes('50GB')).toBe(50e9);
    expect(parseBytes('1.5MB')).toBe(1_500_000);
    expect(parseBytes('1234')).toBe(1234);
    expect(parseRate('20Mbit')).toBe(20e6);
    expect(parseRate('500kbit')).toBe(500e3);
  });
});

describe('CPE config: lan.ra, the LAN router advertisements', () => {
  // The LAN gets an IPv6 /64 beside its IPv4 address, and ra from `ra`.
  const withRa = (ra: string, addresses = '[198.18.5.1/24, "2001:db8:5::1/64"]') =>
    BASE.replace('  addresses: [198.18.5.1/24]\n', `  addresses: ${addresses}\n  ra: ${ra}\n`);

  it('off unless given; given, the LAN /64, the CPE as DNS server, RFC 4861 6.2.1 defaults', () => {
    const off = parseCpeConfig(BASE, 'cpe.yaml', opts);
    expect(off.ok && lanAdvertisement(off.value)).toBe(undefined);
    const disabled = parseCpeConfig(withRa('{enabled: false}'), 'cpe.yaml', opts);
    expect(disabled.ok && lanAdvertisement(disabled.value)).toBe(undefined);
    const r = parseCpeConfig(withRa('{}'), 'cpe.yaml', opts);
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(lanAdvertisement(r.value)).toEqual({
      interface: 'lan0',
      minInterval: 200_000,
      maxInterval: 600_000,
      ra: {
        curHopLimit: 64,
        managed: false,
        other: false,
        routerLifetime: 1800,
        reachableTime: 0,
        retransTimer: 0,
        mtu: undefined,
        prefixes: [
          {
            prefix: '2001:db8:5::',
            length: 64,
            onLink: true,
            autonomous: true,
            validLifetime: 2_592_000,
            preferredLifetime: 604_800,
          },
        ],
        dns: { servers: ['2001:db8:5::1'], lifetime: 1800 },
        domains: undefined,
      },
    });
  });

  it('reads prefixes, interval, lifetimes, DNS servers, domains and the MTU', () => {
    const r = parseCpeConfig(
      withRa(
        '{prefixes: ["2001:db8:5::/64"], interval: 30s, routerLifetime: 0s, validLifetime: 2h, preferredLifetime: 1h, dns: ["2001:db8:5::53"], domains: [home.example], dnsLifetime: 60s, mtu: 1492}',
      ),
      'cpe.yaml',
      opts,
    );
    if (!r.ok) throw new Error(formatIssues(r.issues));
    const a = lanAdvertisement(r.value);
    expect([a?.minInterval, a?.maxInterval, a?.ra.routerLifetime, a?.ra.mtu]).toEqual([
      10_000, 30_000, 0, 1492,
    ]);
    expect(a?.ra.prefixes[0]).toMatchObject({ validLifetime: 7200, preferredLifetime: 3600 });
    expect(a?.ra.dns).toEqual({ servers: ['2001:db8:5::53'], lifetime: 60 });
    expect(a?.ra.domains).toEqual({ names: ['home.example'], lifetime: 60 });
    const none = parseCpeConfig(withRa('{dns: []}'), 'cpe.yaml', opts);
    expect(none.ok && lanAdvertisement(none.value)?.ra.dns).toBe(undefined);
  });

  it.each([
    ['{}', '[198.18.5.1/24]', 'cpe.yaml:4: lan.ra: router advertisements need an IPv6 /64 in lan.addresses'],
    ['{}', '[198.18.5.1/24, "2001:db8:5::1/56"]', 'lan.ra: router advertisements need an IPv6 /64'],
    [
      '{prefixes: ["2001:db8:5::/56"]}',
      undefined,
      'cpe.yaml:4: lan.ra.prefixes[0]: 2001:db8:5::/56: SLAAC needs a /64',
    ],
    [
      '{prefixes: ["2001:db8:5::1/64"]}',
      undefined,
      'lan.ra.prefixes[0]: 2001:db8:5::1/64 has host bits set (the prefix is 2001:db8:5::/64)',
    ],
    ['{prefixes: ["2001:db8:9::/64"]}', undefined, 'lan.ra.prefixes[0]: 2001:db8:9::/64 is not on the LAN'],
    ['{prefixes: ["fe80::/64"]}', undefined, 'lan.ra.prefixes[0]: fe80::/64 is link-local or multicast'],
    ['{prefixes: [198.18.5.0/24]}', undefined, 'lan.ra.prefixes[0]: 198.18.5.0/24 is not an IPv6 prefix'],
    ['{interval: 2s}', undefined, 'lan.ra.interval: between 4s and 1800s (RFC 4861 6.2.1 MaxRtrAdvInterval)'],
    [
      '{interval: 60s, routerLifetime: 30s}',
      undefined,
      'lan.ra.routerLifetime: 0, or between lan.ra.interval and 9000s',
    ],
    [
      '{validLifetime: 1h, preferredLifetime: 2h}',
      undefined,
      'lan.ra.preferredLifetime: at most lan.ra.validLifetime',
    ],
    ['{interval: 60s, dnsLifetime: 30s}', undefined, 'lan.ra.dnsLifetime: at least lan.ra.interval'],
    ['{dns: [198.18.5.1]}', undefined, 'lan.ra.dns[0]: expected an IPv6 address'],
    ['{domains: ["bad..name"]}', undefined, 'lan.ra.domains[0]'],
    ['{mtu: 1000}', undefined, 'lan.ra.mtu'],
  ])('refuses lan.ra %s (addresses %s): %s', (ra, addresses, message) => {
    expect(errors(withRa(ra, addresses))).toContain(message);
  });
});

describe('hybrid-access cpe --check', () => {
  it('exits 2 naming the line of a TUN name this host has already', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpe-check-'));
    const file = join(dir, 'cpe.yaml');
    writeFileSync(file, `${BASE}tun: {name: lo}\n`);
    let out = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
      out += String(s);
      return true;
    });
    try {
      expect(await runCpe(['--config', file, '--check'])).toBe(2);
    } finally {
      o.mockRestore();
      e.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(out).toContain(
      `${file}:19: tun.name: an interface named lo exists already; the CPE creates its own TUN\n`,
    );
  });
});
