// The CPE's kernel-state builders (cpe/net/plan.ts): the nftables ruleset (TPROXY for LAN TCP v4/v6
// with bypasses, QUIC policy, NAT, DHCP only from the LAN) and the ip(8) plans for setup and
// teardown; config errors listed, not thrown one by one.
import { describe, expect, it } from 'vitest';
import { flushArgs } from '../../cpe/net/conntrack.js';
import {
  type CpeNetConfig,
  checkConfig,
  nftRuleset,
  setupPlan,
  tableName,
  teardownPlan,
  uplinkRoute,
} from '../../cpe/net/plan.js';

const CFG: CpeNetConfig = {
  suffix: '_t1',
  lan: { interface: 'lan0' },
  tproxy: { port: 15001, mark: 0x10, table: 110 },
  bypass: { destinations: ['198.18.9.0/24', '2001:db8:9::/48'], ports: [22] },
  ownAddresses: ['198.18.1.1'],
  quic: 'drop',
  primary: 'dsl0',
  uplinks: [
    { name: 'dsl', interface: 'dsl0', table: 201, gateway: '198.18.2.1', coreAddresses: ['198.18.200.2'] },
    { name: 'lte', interface: 'lte0', table: 202, coreAddresses: ['198.18.200.3', '2001:db8:200::3'] },
  ],
  tun: { interface: 'cpe0', addresses: ['198.18.200.1/24', '2001:db8:200::1/64'] },
  rulePriority: 5000,
};

const argv = (cmds: { argv: string[] }[]) => cmds.map((c) => c.argv.join(' '));

describe('nftables ruleset', () => {
  const nft = nftRuleset(CFG);

  it('replaces one inet table atomically, named with the suffix', () => {
    expect(tableName(CFG)).toBe('hybrid_access_t1');
    expect(nft.split('\n').slice(0, 3)).toEqual([
      'table inet hybrid_access_t1 {}',
      'delete table inet hybrid_access_t1',
      'table inet hybrid_access_t1 {',
    ]);
  });

  it('steers LAN TCP of both families to the listener with the mark, after the exclusions', () => {
    const lines = nft.split('\n').map((l) => l.trim());
    const at = (s: string) => {
      const i = lines.indexOf(s);
      expect(i, s).toBeGreaterThan(0);
      return i;
    };
    const v4 = at('meta nfproto ipv4 meta l4proto tcp tproxy ip to :15001 meta mark set 0x10 accept');
    const v6 = at('meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :15001 meta mark set 0x10 accept');
    for (const ex of [
      'iifname != "lan0" return',
      'meta l4proto != tcp return',
      'fib daddr type local return',
      'ip daddr @bypass4 return',
      'ip6 daddr @bypass6 return',
      'tcp dport @bypass_ports return',
    ]) {
      expect(at(ex)).toBeLessThan(Math.min(v4, v6));
    }
    expect(nft).toContain(
      'set bypass4 { type ipv4_addr; flags interval; elements = { 198.18.9.0/24, 198.18.1.1 } }',
    );
    expect(nft).toContain('set bypass6 { type ipv6_addr; flags interval; elements = { 2001:db8:9::/48 } }');
    expect(nft).toContain('set bypass_ports { type inet_service; elements = { 22 } }');
  });

  it('drops QUIC from the LAN only when asked; DHCP only from the LAN', () => {
    expect(nft).toMatch(/iifname "lan0" udp dport 443 counter drop/);
    expect(nftRuleset({ ...CFG, quic: 'pass' })).not.toMatch(/dport 443/);
    expect(nft).toContain('udp dport 67 iifname != "lan0" drop');
  });

  it('masquerades the LAN (IPv4 unless nat66) on every uplink and each core address on its uplink', () => {
    // Whichever uplink the LAN's policy rule picks (failover moves it), its traffic is NATed there.
    expect(nft).toContain('meta nfproto ipv4 iifname "lan0" oifname { "dsl0", "lte0" } masquerade');
    expect(nftRuleset({ ...CFG, nat66: true })).toContain(
      '    iifname "lan0" oifname { "dsl0", "lte0" } masquerade',
    );
    expect(nft).toContain('ip saddr 198.18.200.2 oifname "dsl0" masquerade');
    expect(nft).toContain('ip saddr 198.18.200.3 oifname "lte0" masquerade');
    expect(nft).toContain('ip6 saddr 2001:db8:200::3 oifname "lte0" masquerade');
  });

  it('leaves empty sets without elements', () => {
    expect(nftRuleset({ ...CFG, bypass: undefined, ownAddresses: undefined })).toContain(
      'set bypass4 { type ipv4_addr; flags interval; }',
    );
  });
});

describe('ip(8) plans', () => {
  it('setup: leftovers removed first, forwarding, the ruleset, TPROXY routes and rules, policy routing, TUN, routes', () => {
    const cmds = setupPlan(CFG);
    const s = argv(cmds);
    const firstAdd = s.findIndex((c) => c.includes(' rule add '));
    const lastDel = s.map((c) => c.includes(' rule del ')).lastIndexOf(true);
    expect(lastDel).toBeLessThan(firstAdd);
    expect(cmds.filter((c) => c.argv[0] === 'nft')).toHaveLength(1);
    expect(s).toEqual(
      expect.arrayContaining([
        'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1',
        'nft -f -',
        'ip route replace local 0.0.0.0/0 dev lo table 110',
        'ip -6 route replace local ::/0 dev lo table 110',
        'ip rule add fwmark 0x10 lookup 110 priority 5000',
        'ip -6 rule add fwmark 0x10 lookup 110 priority 5000',
        'ip rule add from 198.18.200.2 lookup 201 priority 5001',
        'ip rule add oif dsl0 lookup 201 priority 5001',
        'ip rule add from 198.18.200.3 lookup 202 priority 5002',
        'ip -6 rule add from 2001:db8:200::3 lookup 202 priority 5002',
        'ip -6 rule add oif lte0 lookup 202 priority 5002',
        'ip link set dev cpe0 up',
        'ip addr replace 198.18.200.1/24 dev cpe0',
        'ip -6 addr replace 2001:db8:200::1/64 dev cpe0 nodad',
        'ip route replace default via 198.18.2.1 dev dsl0 table 201',
      ]),
    );
    // lte has no gateway yet (DHCP): no default route until uplinkRoute() with one.
    expect(s.some((c) => c.includes('table 202') && c.includes('default'))).toBe(false);
    expect(argv(uplinkRoute({ ...CFG.uplinks[1], gateway: '198.18.3.1' }))).toEqual([
      'ip route replace default via 198.18.3.1 dev lte0 table 202',
    ]);
  });

  it("an uplink behind a box with another uplink's subnet: its subnet route in its own table, before the default", () => {
    // Two boxes handing out 192.168.1.0/24 via 192.168.1.1: in main the two subnet routes collide.
    const lte = {
      ...CFG.uplinks[1],
      gateway: '192.168.1.1',
      subnet: { prefix: '192.168.1.0/24', source: '192.168.1.152' },
    };
    expect(argv(uplinkRoute(lte))).toEqual([
      'ip route replace 192.168.1.0/24 dev lte0 proto kernel scope link src 192.168.1.152 table 202',
      'ip route replace default via 192.168.1.1 dev lte0 table 202',
    ]);
    const bad = {
      ...CFG,
      uplinks: [CFG.uplinks[0], { ...lte, subnet: { prefix: '192.168.1/24', source: '::1' } }],
    };
    expect(checkConfig(bad)).toEqual([
      'uplinks[1].subnet.prefix: "192.168.1/24" is not an IP address or prefix',
      'uplinks[1].subnet.source ::1 is not IPv4',
    ]);
  });

  it('teardown: table deleted in a way that works when absent; rules removed repeatedly; tables flushed', () => {
    const cmds = teardownPlan(CFG);
    expect(cmds[0]).toEqual({
      argv: ['nft', '-f', '-'],
      stdin: 'table inet hybrid_access_t1 {}\ndelete table inet hybrid_access_t1\n',
    });
    const dels = cmds.filter((c) => c.argv.includes('rule'));
    expect(dels.length).toBe(
      setupPlan(CFG).filter((c) => c.argv.includes('add') && c.argv.includes('rule')).length,
    );
    for (const d of dels) expect(d).toMatchObject({ mayFail: true, repeat: true });
    const s = argv(cmds);
    for (const t of [110, 201, 202]) {
      expect(s).toContain(`ip route flush table ${t}`);
      expect(s).toContain(`ip -6 route flush table ${t}`);
    }
  });

  it('lists every config problem at once', () => {
    const errs = checkConfig({
      ...CFG,
      suffix: '-x',
      lan: { interface: 'a-very-long-interface-name' },
      tproxy: { port: 70000, table: 254 },
      bypass: { destinations: ['198.18.0.0/33', 'nope'], ports: [0] },
      primary: 'wan9',
      uplinks: [
        { name: 'a', interface: 'dsl0', table: 201, gateway: '2001:db8::1', coreAddresses: ['1.2.3.4/24'] },
        { name: 'b', interface: 'lte0', table: 201, coreAddresses: [] },
      ],
    });
    expect(errs).toEqual([
      'bad nftables table name hybrid_access-x',
      'lan.interface: "a-very-long-interface-name" is not an interface name (1-15 characters)',
      'tproxy.port 70000 is not a port',
      'tproxy.table: table 254 must be an integer 1..2^31-1, not 253-255',
      'bypass.destinations: "198.18.0.0/33" is not an IP address or prefix',
      'bypass.destinations: "nope" is not an IP address or prefix',
      'bypass.ports: 0 is not a port',
      'uplinks[0].gateway 2001:db8::1 is not IPv4',
      'uplinks[0].coreAddresses: "1.2.3.4/24" is not an IP address',
      'uplinks[1].table 201 is used twice',
      'primary wan9 is none of the uplinks',
    ]);
    expect(() => setupPlan({ ...CFG, primary: 'wan9' })).toThrow(/primary wan9 is none of the uplinks/);
    expect(checkConfig(CFG)).toEqual([]);
  });
});

describe('conntrack flush of LAN flows NATed to an uplink', () => {
  it('by original source (the LAN, IPv4 only) and reply destination (the NAT address)', () => {
    expect(flushArgs(['198.18.1.1/24', '2001:db8:1::1/64'], '198.18.10.2')).toEqual([
      ['-D', '-f', 'ipv4', '--orig-src', '198.18.1.1/24', '--reply-dst', '198.18.10.2'],
    ]);
  });

  it("without the uplink's address: the LAN's UDP and ICMP entries", () => {
    expect(flushArgs(['198.18.1.1/24'], undefined)).toEqual([
      ['-D', '-f', 'ipv4', '--orig-src', '198.18.1.1/24', '-p', 'udp'],
      ['-D', '-f', 'ipv4', '--orig-src', '198.18.1.1/24', '-p', 'icmp'],
    ]);
  });
});
