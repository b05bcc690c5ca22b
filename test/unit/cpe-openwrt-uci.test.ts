// The CPE on OpenWrt: the UCI reader (quoting, lists, errors with lines), the translation of
// /etc/config/hybrid-access to the CPE's config (sample files in fixtures/openwrt: every section
// with uplinks of each addressing, probes, quotas, scheduling rules and the LAN's own DHCP; the
// package's default, whose LAN and uplinks come from netifd and which leaves DHCP to dnsmasq),
// problems reported at the UCI line and option they came from, netifd's interface status (ubus
// JSON: DHCP, PPPoE up and down), and a netifd uplink taking its address from it at start and
// at a reload.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { Uplinks } from '../../cpe/daemon/uplinks.js';
import { type NetifdStatus, parseInterfaceStatus } from '../../cpe/openwrt/netifd.js';
import { looksLikeUci, parseUci } from '../../cpe/openwrt/uci.js';
import { type NetifdFacts, parseCpeUci } from '../../cpe/openwrt/uci-config.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';

const ROOT = join(import.meta.dirname, '../..');
const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures/openwrt', name), 'utf8');
const FILE = '/etc/config/hybrid-access';

const NETIFD: Record<string, NetifdFacts> = {
  lan: { device: 'br-lan', addresses: ['198.18.5.1/24'] },
  wan: { device: 'eth1', addresses: ['198.18.11.2/24'] },
  wwan: { device: 'wwan0', addresses: [] },
};
const opts = {
  netifd: (n: string) => NETIFD[n],
  interfaceExists: (n: string) => !n.startsWith('cpe'),
};

function load(text: string) {
  const r = parseCpeUci(text, FILE, opts);
  if (!r.ok) throw new Error(r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n'));
  return r.value;
}

function issues(text: string): string[] {
  const r = parseCpeUci(text, FILE, opts);
  if (r.ok) throw new Error('expected issues');
  return r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
}

describe('UCI files', () => {
  it('reads sections, options and lists with bare, single- and double-quoted words and comments', () => {
    const r = parseUci(`package hybrid-access
# a comment
config hag 'hag' # trailing comment
\tlist address 198.18.100.1
\tlist address "198.18.100.2"
\toption password 'it'\\''s "x"'
\toption username "a\\"b#c"
\toption port '1'
\toption port '2'

config rule
\toption scheduler redundant
`);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.sections.map((s) => [s.type, s.name, s.line])).toEqual([
      ['hag', 'hag', 3],
      ['rule', undefined, 11],
    ]);
    const hag = r.sections[0].options;
    expect(hag.get('address')).toEqual({ value: ['198.18.100.1', '198.18.100.2'], line: 4 });
    expect(hag.get('password')?.value).toBe(`it's "x"`);
    expect(hag.get('username')?.value).toBe('a"b#c');
    // As uci does, a repeated option keeps the last value.
    expect(hag.get('port')).toEqual({ value: '2', line: 9 });
  });

  it('refuses broken lines with their line number', () => {
    expect(parseUci("config hag 'hag'\n\toption port '5124\n")).toEqual({
      ok: false,
      line: 2,
      message: 'unterminated quote',
    });
    expect(parseUci("option port '1'\n")).toMatchObject({ ok: false, line: 1 });
    expect(
      parseUci("config hag 'hag'\n\tlist address 'a'\n\toption address 'b'\n\tlist address 'c'\n"),
    ).toEqual({ ok: false, line: 4, message: 'address is an option above and a list here' });
    expect(parseUci('config hag hag\n\tconfigure x\n')).toMatchObject({ ok: false, line: 2 });
  });

  it('tells UCI from YAML by the first statement', () => {
    expect(looksLikeUci(readFileSync(join(ROOT, 'config/cpe.yaml'), 'utf8'))).toBe(false);
    expect(looksLikeUci(fixture('full.uci'))).toBe(true);
    expect(looksLikeUci(fixture('typo.uci'))).toBe(true);
  });
});

describe('UCI to the CPE config', () => {
  it('translates every section (full.uci)', () => {
    const c = load(fixture('full.uci'));
    expect(c.log.level).toBe('debug');
    expect(c.quic).toBe('block');
    expect(c.drainTimeout).toBe(5000);
    expect(c.lan).toEqual({
      interface: 'br-lan',
      addresses: ['198.18.5.1/24', '2001:db8:5::1/64'],
      dhcp: {
        enabled: true,
        ranges: [
          { start: '198.18.5.100', end: '198.18.5.149' },
          { start: '198.18.5.150', end: '198.18.5.199' },
        ],
        statics: [{ mac: '02:11:22:33:44:55', address: '198.18.5.10' }],
        leaseTime: 3_600_000,
        dns: ['198.18.5.1', '2001:db8:5::1'],
        domain: 'home.example',
        leaseFile: '/var/lib/hybrid-access/dhcp-leases.json',
      },
    });
    expect(c.hag).toMatchObject({
      addresses: ['198.18.100.1', '198.18.100.2'],
      port: 1080,
      method: 'socks5',
      username: 'cpe-17',
      password: `it's "secret"`,
      connectTimeout: 2000,
      retryAfter: 10_000,
      fastOpen: false,
    });
    const [dsl, lte, sat] = c.uplinks;
    expect(dsl).toMatchObject({
      name: 'dsl',
      interface: 'eth1',
      addressing: 'netifd',
      network: 'wan',
      role: 'primary',
      capacity: '100Mbit',
      probe: {
        target: '198.18.200.1',
        interval: 500,
        timeout: 400,
        failures: 4,
        successes: 1,
        targets: ['198.18.200.2'],
        window: 20,
        maxLoss: 25.5,
        maxRtt: 300,
        hag: { interval: 5000, failures: 3 },
      },
    });
    expect(lte).toMatchObject({
      name: 'lte',
      interface: 'wwan0',
      addressing: 'static',
      address: '198.18.12.2/30',
      gateway: '198.18.12.1',
      role: 'overflow',
      quota: { bytes: '20GB', period: 'day' },
      congestionControl: 'bbr',
      table: 250,
    });
    expect(sat).toMatchObject({ name: 'sat', interface: 'eth2', addressing: 'dhcp', role: 'backup' });
    expect(c.bypass).toEqual({ destinations: ['198.51.100.0/24', '2001:db8:1::/48'], ports: [25, 587] });
    expect(c.scheduling).toEqual({
      default: 'primary-first',
      rules: [
        { ports: [53, 3478], destinations: [], sources: [], scheduler: 'redundant' },
        { ports: [], destinations: ['203.0.113.0/24'], sources: ['192.168.1.50/32'], scheduler: 'min-rtt' },
      ],
    });
    expect(c.failover).toEqual({ holdDown: 10_000 });
    expect(c.status).toEqual({ address: '198.18.5.1', port: 8081 });
    expect(c.tun).toMatchObject({ name: 'cpe1', prefix: '10.253.0.0/24' });
    expect(c.intercept).toMatchObject({ maxConnections: 2048, idleTimeout: 1_800_000 });
    expect(c.mptcp).toMatchObject({ congestion: 'olia', checksum: false, pathSharing: false });
  });

  it('log_connections: per-connection lines off in the package default, on with 1', () => {
    const text = readFileSync(join(ROOT, 'cpe/deploy/openwrt/files/hybrid-access.config'), 'utf8');
    expect(load(text).log).toEqual({ level: 'info', connections: false });
    const on = text.replace("option log_connections '0'", "option log_connections '1'");
    expect(load(on).log).toEqual({ level: 'info', connections: true });
  });

  it('the package default takes the LAN and the lines from netifd and leaves DHCP to dnsmasq', () => {
    const c = load(readFileSync(join(ROOT, 'cpe/deploy/openwrt/files/hybrid-access.config'), 'utf8'));
    expect(c.lan).toEqual({ interface: 'br-lan', addresses: ['198.18.5.1/24'] });
    expect(c.lan.dhcp).toBeUndefined();
    expect(c.uplinks.map((u) => [u.name, u.addressing, u.network, u.interface, u.role])).toEqual([
      ['dsl', 'netifd', 'wan', 'eth1', 'primary'],
      ['lte', 'netifd', 'wwan', 'wwan0', 'overflow'],
    ]);
    expect(c.uplinks[1].quota).toMatchObject({ bytes: '50GB', period: 'month' });
    expect(c.scheduling.rules).toEqual([
      { ports: [53, 3478], destinations: [], sources: [], scheduler: 'redundant' },
    ]);
    expect(c.status.port).toBe(8080);
    // Its YAML twin (config/cpe.yaml) says the same of the settings both have.
    const yaml = parseCpeConfig(readFileSync(join(ROOT, 'config/cpe.yaml'), 'utf8'), 'cpe.yaml', opts);
    if (!yaml.ok) throw new Error(JSON.stringify(yaml.issues));
    expect(c.hag).toEqual(yaml.value.hag);
    expect(c.scheduling).toEqual(yaml.value.scheduling);
  });

  it('translates the quota, state and events options', () => {
    const c = load(
      "config lan 'lan'\n\toption network 'lan'\nconfig hag 'hag'\n\tlist address '198.18.100.1'\n" +
        "config uplink 'dsl'\n\toption network 'wan'\n\toption role 'primary'\n\toption probe_target '198.18.200.1'\n" +
        "\toption quota '10GB'\n\toption quota_period 'week'\n\toption quota_reset_day '6'\n\toption quota_warn_at '75'\n\toption quota_save_interval '5m'\n" +
        "config state 'state'\n\toption directory '/etc/hybrid-access'\n" +
        "config events 'events'\n\tlist command '/usr/bin/logger'\n\tlist command '-t'\n\tlist command 'ha'\n" +
        "\toption webhook 'http://198.18.0.9:8000/hook'\n\toption webhook_authorization 'Bearer x'\n\toption retries '3'\n",
    );
    expect(c.uplinks[0].quota).toEqual({
      bytes: '10GB',
      period: 'week',
      resetDay: 6,
      warnAt: 75,
      saveInterval: 300_000,
    });
    expect(c.state.directory).toBe('/etc/hybrid-access');
    expect(c.events).toMatchObject({
      command: ['/usr/bin/logger', '-t', 'ha'],
      webhook: { url: 'http://198.18.0.9:8000/hook', authorization: 'Bearer x' },
      retries: 3,
    });
  });

  it("the DHCP server runs only with option dhcp '1'", () => {
    const base = "config lan 'lan'\n\toption network 'lan'\n\tlist dhcp_range '198.18.5.100-198.18.5.199'\n";
    const rest =
      "config hag 'hag'\n\tlist address '198.18.100.1'\nconfig uplink 'dsl'\n\toption network 'wan'\n\toption role 'primary'\n\toption probe_target '198.18.200.1'\n";
    expect(load(base + rest).lan.dhcp).toBeUndefined();
    expect(load(`${base}\toption dhcp '0'\n${rest}`).lan.dhcp).toBeUndefined();
    expect(load(`${base}\toption dhcp '1'\n${rest}`).lan.dhcp).toMatchObject({
      enabled: true,
      ranges: [{ start: '198.18.5.100', end: '198.18.5.199' }],
    });
  });

  it("router advertisements only with option ra '1' (odhcpd sends them otherwise)", () => {
    const base =
      "config lan 'lan'\n\toption network 'lan'\n\tlist address '198.18.5.1/24'\n\tlist address '2001:db8:5::1/64'\n\toption ra_interval '60s'\n";
    const rest =
      "config hag 'hag'\n\tlist address '198.18.100.1'\nconfig uplink 'dsl'\n\toption network 'wan'\n\toption role 'primary'\n\toption probe_target '198.18.200.1'\n";
    expect(load(base + rest).lan.ra).toBeUndefined();
    expect(load(`${base}\toption ra '0'\n${rest}`).lan.ra).toBeUndefined();
    expect(load(`${base}\toption ra '1'\n\tlist ra_dns '2001:db8:5::53'\n${rest}`).lan.ra).toMatchObject({
      enabled: true,
      interval: 60_000,
      dns: ['2001:db8:5::53'],
    });
  });

  it('reports problems of the schema at the UCI line and option (errors.uci)', () => {
    expect(issues(fixture('errors.uci'))).toEqual([
      '20: hybrid-access.lte.probe_failures: expected an integer 1-100, got 0',
      '10: hybrid-access.hag.port: expected an integer 1-65535, got "http"',
      '2: hybrid-access.main.log_level: expected one of "trace", "debug", "info", "warn", "error", "fatal", got "loud"',
    ]);
  });

  it('reports unknown options and sections, and an unnamed uplink (typo.uci)', () => {
    expect(issues(fixture('typo.uci'))).toEqual([
      '4: hybrid-access.lan.dchp: unknown option dchp in a lan section',
      '6: hybrid-access.dsl: unknown section type uplinks',
      "9: hybrid-access.@uplink[0]: an uplink section needs a name: config uplink 'dsl'",
    ]);
  });

  it('reports the checks across settings at the section, naming the option that is missing', () => {
    const text = `config lan 'lan'
\toption network 'lan'
config hag 'hag'
\tlist address '198.18.100.1'
config uplink 'dsl'
\toption network 'wan'
\toption role 'primary'
config uplink 'lte'
\toption device 'wwan0'
\toption address '198.18.12.2/30'
\toption role 'overflow'
config uplink 'sat'
\toption network 'wan'
\toption gateway '198.18.13.1'
\toption role 'backup'
\toption probe_target '198.18.200.1'
config uplink 'ppp'
\toption network 'nowhere'
\toption role 'backup'
`;
    expect(issues(text)).toEqual([
      '18: hybrid-access.ppp.network: netifd has no device for interface nowhere: give option device',
    ]);
    expect(issues(text.replace("\toption network 'nowhere'\n", "\toption device 'ppp0'\n"))).toEqual([
      '5: hybrid-access.dsl.probe_target: needed when the uplink has no static gateway',
      '8: hybrid-access.lte.gateway: a static uplink needs a gateway',
      '8: hybrid-access.lte.probe_target: needed when the uplink has no static gateway',
      '12: hybrid-access.sat.device: eth1 is already the LAN or another uplink',
      '14: hybrid-access.sat.gateway: a netifd uplink takes it from netifd; leave it out',
      '17: hybrid-access.ppp.gateway: a static uplink needs a gateway',
      '17: hybrid-access.ppp.probe_target: needed when the uplink has no static gateway',
    ]);
  });

  it('a netifd uplink need not have its device yet (PPPoE makes it when it connects)', () => {
    const text = fixture('full.uci').replace(
      "\toption network 'wan'\n",
      "\toption network 'wan'\n\toption device 'pppoe-wan'\n",
    );
    const c = parseCpeUci(text, FILE, {
      ...opts,
      interfaceExists: (n) => n !== 'pppoe-wan' && !n.startsWith('cpe'),
    });
    expect(c.ok && c.value.uplinks[0].interface).toBe('pppoe-wan');
  });
});

describe('netifd interface status', () => {
  it('YAML: addressing netifd needs network, and network only goes with it', () => {
    const yaml = (u: string) =>
      `lan: {interface: br-lan, addresses: [198.18.5.1/24]}\nuplinks:\n  - {name: dsl, role: primary, probe: {target: 198.18.200.1}, ${u}}\nhag: {addresses: [198.18.100.1]}\n`;
    const check = (u: string) => {
      const r = parseCpeConfig(yaml(u), 'cpe.yaml', opts);
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(check('interface: pppoe-wan, addressing: netifd, network: wan')).toEqual([]);
    expect(check('interface: eth1, addressing: netifd')).toEqual([
      'uplinks[0].network: addressing: netifd needs the netifd interface',
    ]);
    expect(check('interface: eth1, addressing: dhcp, network: wan')).toEqual([
      'uplinks[0].network: only for addressing: netifd',
    ]);
  });

  it('a DHCP line: device, address, IPv4 and IPv6 gateways', () => {
    expect(parseInterfaceStatus(fixture('ubus-wan-dhcp.json'), 'wan')).toEqual({
      up: true,
      device: 'eth1',
      address: '198.18.11.2/24',
      addresses: ['198.18.11.2/24', '2001:db8:11::2/64'],
      gateway: '198.18.11.1',
      gateway6: 'fe80::1',
    });
  });

  it('PPPoE: the peer is the gateway; while down the device is named after the interface', () => {
    expect(parseInterfaceStatus(fixture('ubus-wan-pppoe-up.json'), 'wan')).toMatchObject({
      up: true,
      device: 'pppoe-wan',
      address: '198.18.13.7/32',
      gateway: '198.18.13.1',
      gateway6: undefined,
    });
    expect(parseInterfaceStatus(fixture('ubus-wan-pppoe-down.json'), 'wan')).toEqual({
      up: false,
      device: 'pppoe-wan',
      address: undefined,
      addresses: [],
      gateway: undefined,
      gateway6: undefined,
    });
    expect(parseInterfaceStatus('Command failed', 'wan')).toBe('ubus status of wan is not JSON');
  });

  it('a netifd uplink takes its address from netifd and follows it at a reload', () => {
    const c = load(
      "config lan 'lan'\n\toption network 'lan'\nconfig hag 'hag'\n\tlist address '198.18.100.1'\n" +
        "config uplink 'dsl'\n\toption network 'wan'\n\toption role 'primary'\n\toption probe_target '198.18.200.1'\n",
    );
    const calls: PmAddress[] = [];
    const pm = { setAddress: (_: number, a: PmAddress) => calls.push({ ...a }), addressOf: () => undefined };
    const ups = new Uplinks(c, pm as never, pino({ level: 'silent' }), () => []);
    ups.netExec = () => undefined; // recorded nowhere, never run on this host
    // The status carries no gateway: the test adds no route to this host's tables.
    let status: NetifdStatus | string = {
      up: true,
      device: 'eth1',
      address: '198.18.11.2/24',
      addresses: ['198.18.11.2/24'],
      gateway: undefined,
      gateway6: undefined,
    };
    const asked: string[] = [];
    ups.netifd = (n) => {
      asked.push(n);
      return status;
    };
    let changes = 0;
    ups.onChange = () => changes++;
    // start() reads it the same way, but also starts the probes (raw sockets): not in a unit test.
    ups.refreshNetifd();
    const dsl = ups.list[0];
    expect(asked).toEqual(['wan']);
    expect(dsl.address).toBe('198.18.11.2');
    expect(dsl.usable).toBe(true);
    expect(calls.at(-1)).toMatchObject({ id: 1, up: true });
    expect(changes).toBe(1);
    ups.refreshNetifd(); // nothing changed: nothing to tell
    expect(changes).toBe(1);
    status = { ...status, up: false };
    ups.refreshNetifd();
    expect(dsl.address).toBeUndefined();
    expect(dsl.usable).toBe(false);
    expect(calls.at(-1)).toMatchObject({ id: 1, up: false });
    status = 'ubus call network.interface.wan status: Not found';
    ups.refreshNetifd();
    expect(dsl.usable).toBe(false);
  });
});
