// The CPE's kernel state as data: the nftables ruleset (TPROXY of LAN TCP, NAT, QUIC policy, DHCP
// only from the LAN) and the ip(8) commands for policy routing (TPROXY's fwmark table, one table per
// uplink selected by the core's private source address) and the TUN's addresses. Pure functions:
// they build commands, apply.ts runs them. Setup replaces whatever an earlier run (or a crashed one)
// left; teardown removes it and succeeds whether or not anything was there.
import { isIP } from 'node:net';

export interface UplinkNet {
  /** Name in logs ("dsl"). */
  name: string;
  /** The uplink's interface ("dsl0"). */
  interface: string;
  /** Routing table of this uplink (1..2^31, not 253-255). */
  table: number;
  /** IPv4 gateway; without it (e.g. DHCP not bound yet) the default route is added later with uplinkRoute(). */
  gateway?: string;
  gateway6?: string;
  /** The uplink's IPv4 subnet and its own address there: the subnet's route goes into this table
   * (src `source`), not the main one, where uplinks behind boxes with the same subnet would collide. */
  subnet?: { prefix: string; source: string };
  /** The core's private source addresses for this uplink (on the TUN side), IPv4 and/or IPv6. */
  coreAddresses: readonly string[];
}

export interface CpeNetConfig {
  /** Appended to the nftables table name (hybrid_access<suffix>), so tests can run side by side. */
  suffix?: string;
  lan: {
    interface: string;
  };
  tproxy: {
    /** Port of the transparent listener (listening on 0.0.0.0 and ::). */
    port: number;
    /** fwmark for intercepted packets (default 0x1); the rule "fwmark lookup table" routes them to lo. */
    mark?: number;
    /** Table holding "local default dev lo" (default 100). */
    table?: number;
  };
  /** Destinations (addresses or CIDR prefixes, v4/v6) and destination ports that are not intercepted. */
  bypass?: {
    destinations?: readonly string[];
    ports?: readonly number[];
  };
  /** Addresses of the CPE that are never intercepted besides its local ones (which never are). */
  ownAddresses?: readonly string[];
  /** UDP/443 from the LAN: pass, or drop so browsers fall back to TCP (default pass). */
  quic?: 'pass' | 'drop';
  /** Interface of the primary uplink. */
  primary: string;
  /** Also masquerade IPv6 from the LAN (NAT66; default false). */
  nat66?: boolean;
  uplinks: readonly UplinkNet[];
  /** The TUN the core uses (opened elsewhere): addresses (CIDR) to add and bring it up. */
  tun?: {
    interface: string;
    addresses: readonly string[];
  };
  /** Priority of the first ip rule; the others follow (default 10000). */
  rulePriority?: number;
}

/** One command: argv, optional stdin; `mayFail` when it removes something that may not exist; `repeat`
 * to run it until it fails (removing duplicates left by earlier runs). */
import type { Cmd } from '../../src/daemon/command-plan.js';

export type { Cmd };

export function tableName(cfg: Pick<CpeNetConfig, 'suffix'>): string {
  const name = `hybrid_access${cfg.suffix ?? ''}`;
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) throw new TypeError(`bad nftables table name ${name}`);
  return name;
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/** Validates the configuration; returns every problem (empty when fine). */
export function checkConfig(cfg: CpeNetConfig): string[] {
  const errs: string[] = [];
  const ifname = (what: string, n: string) => {
    if (!IFNAME.test(n)) errs.push(`${what}: "${n}" is not an interface name (1-15 characters)`);
  };
  const table = (what: string, t: number) => {
    if (!Number.isInteger(t) || t < 1 || t > 0x7fffffff || (t >= 253 && t <= 255)) {
      errs.push(`${what}: table ${t} must be an integer 1..2^31-1, not 253-255`);
    }
  };
  const addr = (what: string, a: string, prefix: boolean) => {
    const [ip, len, ...rest] = a.split('/');
    const fam = isIP(ip);
    const okLen = len === undefined || (prefix && /^\d+$/.test(len) && Number(len) <= (fam === 6 ? 128 : 32));
    if (fam === 0 || !okLen || rest.length)
      errs.push(`${what}: "${a}" is not an IP address${prefix ? ' or prefix' : ''}`);
  };
  try {
    tableName(cfg);
  } catch (e) {
    errs.push((e as Error).message);
  }
  ifname('lan.interface', cfg.lan.interface);
  ifname('primary', cfg.primary);
  if (!Number.isInteger(cfg.tproxy.port) || cfg.tproxy.port < 1 || cfg.tproxy.port > 65535) {
    errs.push(`tproxy.port ${cfg.tproxy.port} is not a port`);
  }
  const mark = cfg.tproxy.mark ?? 1;
  if (!Number.isInteger(mark) || mark < 1 || mark > 0xffffffff)
    errs.push(`tproxy.mark ${mark} is not a 32-bit mark`);
  table('tproxy.table', cfg.tproxy.table ?? 100);
  for (const d of cfg.bypass?.destinations ?? []) addr('bypass.destinations', d, true);
  for (const p of cfg.bypass?.ports ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) errs.push(`bypass.ports: ${p} is not a port`);
  }
  for (const a of cfg.ownAddresses ?? []) addr('ownAddresses', a, true);
  const tables = new Set([cfg.tproxy.table ?? 100]);
  for (const [i, u] of cfg.uplinks.entries()) {
    ifname(`uplinks[${i}].interface`, u.interface);
    table(`uplinks[${i}].table`, u.table);
    if (tables.has(u.table)) errs.push(`uplinks[${i}].table ${u.table} is used twice`);
    tables.add(u.table);
    if (u.gateway !== undefined && isIP(u.gateway) !== 4)
      errs.push(`uplinks[${i}].gateway ${u.gateway} is not IPv4`);
    if (u.subnet) {
      addr(`uplinks[${i}].subnet.prefix`, u.subnet.prefix, true);
      if (isIP(u.subnet.source) !== 4)
        errs.push(`uplinks[${i}].subnet.source ${u.subnet.source} is not IPv4`);
    }
    if (u.gateway6 !== undefined && isIP(u.gateway6) !== 6)
      errs.push(`uplinks[${i}].gateway6 ${u.gateway6} is not IPv6`);
    for (const a of u.coreAddresses) addr(`uplinks[${i}].coreAddresses`, a, false);
  }
  if (!cfg.uplinks.some((u) => u.interface === cfg.primary))
    errs.push(`primary ${cfg.primary} is none of the uplinks`);
  if (cfg.tun) {
    ifname('tun.interface', cfg.tun.interface);
    for (const a of cfg.tun.addresses) addr('tun.addresses', a, true);
  }
  return errs;
}

function assertValid(cfg: CpeNetConfig): void {
  const errs = checkConfig(cfg);
  if (errs.length) throw new TypeError(`invalid CPE network config:\n  ${errs.join('\n  ')}`);
}

const q = (s: string) => `"${s}"`;
const fam = (a: string) => isIP(a.split('/')[0]);
const hex = (n: number) => `0x${n.toString(16)}`;

function set(name: string, type: string, elements: readonly (string | number)[], interval: boolean): string {
  const flags = interval ? ' flags interval;' : '';
  const elems = elements.length ? ` elements = { ${elements.join(', ')} }` : '';
  return `  set ${name} { type ${type};${flags}${elems} }`;
}

/**
 * The nftables script: one `inet` table, replaced atomically (the create-delete-create idiom works
 * whether or not the table exists).
 */
export function nftRuleset(cfg: CpeNetConfig): string {
  assertValid(cfg);
  const t = tableName(cfg);
  const lan = q(cfg.lan.interface);
  const mark = hex(cfg.tproxy.mark ?? 1);
  const port = cfg.tproxy.port;
  const dest = cfg.bypass?.destinations ?? [];
  const own = cfg.ownAddresses ?? [];
  const v4 = [...dest, ...own].filter((a) => fam(a) === 4);
  const v6 = [...dest, ...own].filter((a) => fam(a) === 6);
  const lines = [
    `table inet ${t} {}`,
    `delete table inet ${t}`,
    `table inet ${t} {`,
    set('bypass4', 'ipv4_addr', v4, true),
    set('bypass6', 'ipv6_addr', v6, true),
    set('bypass_ports', 'inet_service', cfg.bypass?.ports ?? [], false),
    '  chain prerouting {',
    '    type filter hook prerouting priority mangle; policy accept;',
    // Packets of connections already taken over: to the local socket (through the fwmark route).
    `    meta l4proto tcp socket transparent 1 meta mark set ${mark} accept`,
    `    iifname != ${lan} return`,
    '    meta l4proto != tcp return',
    // The CPE's own addresses (any interface, whatever DHCP gave the uplinks) are served locally.
    '    fib daddr type local return',
    '    ip daddr @bypass4 return',
    '    ip6 daddr @bypass6 return',
    '    tcp dport @bypass_ports return',
    `    meta nfproto ipv4 meta l4proto tcp tproxy ip to :${port} meta mark set ${mark} accept`,
    `    meta nfproto ipv6 meta l4proto tcp tproxy ip6 to :${port} meta mark set ${mark} accept`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...(cfg.quic === 'drop'
      ? [`    iifname ${lan} udp dport 443 counter drop comment "QUIC blocked: browsers fall back to TCP"`]
      : []),
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    // The LAN DHCP server listens on 0.0.0.0:67: only the LAN may reach it.
    `    udp dport 67 iifname != ${lan} drop`,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    // Non-intercepted LAN traffic is masqueraded by whichever uplink the LAN's policy rule sends it
    // out of (the daemon moves that rule when the uplink fails), so the NAT follows at once.
    `    ${cfg.nat66 ? '' : 'meta nfproto ipv4 '}iifname ${lan} oifname { ${cfg.uplinks.map((u) => q(u.interface)).join(', ')} } masquerade`,
    ...cfg.uplinks.flatMap((u) =>
      u.coreAddresses.map(
        (a) => `    ${fam(a) === 4 ? 'ip' : 'ip6'} saddr ${a} oifname ${q(u.interface)} masquerade`,
      ),
    ),
    '  }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** The ip rules this configuration owns, as the arguments after `ip [-6] rule add|del`. */
function rules(cfg: CpeNetConfig): { v6: boolean; spec: string[] }[] {
  const base = cfg.rulePriority ?? 10000;
  const tproxyTable = String(cfg.tproxy.table ?? 100);
  const mark = hex(cfg.tproxy.mark ?? 1);
  const out: { v6: boolean; spec: string[] }[] = [
    { v6: false, spec: ['fwmark', mark, 'lookup', tproxyTable, 'priority', String(base)] },
    { v6: true, spec: ['fwmark', mark, 'lookup', tproxyTable, 'priority', String(base)] },
  ];
  cfg.uplinks.forEach((u, i) => {
    const prio = String(base + 1 + i);
    for (const a of u.coreAddresses) {
      out.push({ v6: fam(a) === 6, spec: ['from', a, 'lookup', String(u.table), 'priority', prio] });
    }
    // Sockets bound to the uplink (probes, the DHCP client) route by its table too.
    for (const v6 of [false, true])
      out.push({ v6, spec: ['oif', u.interface, 'lookup', String(u.table), 'priority', prio] });
  });
  return out;
}

const ip = (v6: boolean, ...args: string[]) => (v6 ? ['ip', '-6', ...args] : ['ip', ...args]);

/** The subnet and default route(s) of one uplink's table; call again when DHCP gives a new lease. */
export function uplinkRoute(u: UplinkNet): Cmd[] {
  const cmds: Cmd[] = [];
  // First the subnet: the kernel checks that the default route's gateway is reachable on the
  // interface, looking in this table first.
  if (u.subnet)
    cmds.push({
      argv: ip(
        false,
        'route',
        'replace',
        u.subnet.prefix,
        'dev',
        u.interface,
        'proto',
        'kernel',
        'scope',
        'link',
        'src',
        u.subnet.source,
        'table',
        String(u.table),
      ),
    });
  if (u.gateway)
    cmds.push({
      argv: ip(
        false,
        'route',
        'replace',
        'default',
        'via',
        u.gateway,
        'dev',
        u.interface,
        'table',
        String(u.table),
      ),
    });
  if (u.gateway6)
    cmds.push({
      argv: ip(
        true,
        'route',
        'replace',
        'default',
        'via',
        u.gateway6,
        'dev',
        u.interface,
        'table',
        String(u.table),
      ),
    });
  return cmds;
}

/** Everything setup() does, in order. Starts by removing leftovers, so running it twice is harmless. */
export function setupPlan(cfg: CpeNetConfig): Cmd[] {
  assertValid(cfg);
  const tproxyTable = String(cfg.tproxy.table ?? 100);
  const cmds: Cmd[] = [
    ...teardownPlan(cfg).filter((c) => c.argv[0] !== 'nft'),
    { argv: ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'] },
    { argv: ['nft', '-f', '-'], stdin: nftRuleset(cfg) },
    // TPROXY (kernel docs, tproxy.rst): marked packets are delivered locally.
    { argv: ip(false, 'route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', tproxyTable) },
    { argv: ip(true, 'route', 'replace', 'local', '::/0', 'dev', 'lo', 'table', tproxyTable) },
  ];
  for (const r of rules(cfg)) cmds.push({ argv: ip(r.v6, 'rule', 'add', ...r.spec) });
  if (cfg.tun) {
    const t = cfg.tun.interface;
    cmds.push({ argv: ['ip', 'link', 'set', 'dev', t, 'up'] });
    for (const a of cfg.tun.addresses) {
      cmds.push({
        argv:
          fam(a) === 6
            ? ['ip', '-6', 'addr', 'replace', a, 'dev', t, 'nodad']
            : ['ip', 'addr', 'replace', a, 'dev', t],
      });
    }
  }
  for (const u of cfg.uplinks) cmds.push(...uplinkRoute(u));
  return cmds;
}

/** Removes the table, the rules (all copies) and the tables' routes; harmless when nothing is there. */
export function teardownPlan(cfg: CpeNetConfig): Cmd[] {
  assertValid(cfg);
  const t = tableName(cfg);
  const cmds: Cmd[] = [{ argv: ['nft', '-f', '-'], stdin: `table inet ${t} {}\ndelete table inet ${t}\n` }];
  for (const r of rules(cfg))
    cmds.push({ argv: ip(r.v6, 'rule', 'del', ...r.spec), mayFail: true, repeat: true });
  for (const table of [cfg.tproxy.table ?? 100, ...cfg.uplinks.map((u) => u.table)]) {
    for (const v6 of [false, true])
      cmds.push({ argv: ip(v6, 'route', 'flush', 'table', String(table)), mayFail: true });
  }
  if (cfg.tun) {
    for (const a of cfg.tun.addresses) {
      cmds.push({ argv: ip(fam(a) === 6, 'addr', 'del', a, 'dev', cfg.tun.interface), mayFail: true });
    }
  }
  return cmds;
}
