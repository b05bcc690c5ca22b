// The CPE's configuration: the schema of config/cpe.yaml (validated by src/config with file:line
// errors), the checks across settings a schema cannot express (overlapping ranges, unknown
// interfaces, a primary uplink, core addresses), and the typed form. See config/schema/cpe.md.
import { isIP } from 'node:net';
import {
  type ConfigIssue,
  type ConfigResult,
  lineFinder,
  parseConfig,
  s,
  thisHost,
} from '../../src/config/index.js';
import { RX_HOLDOFF_MS } from '../../src/io/tun-driver.js';
import { CONGESTION_CONTROL_NAMES } from '../../src/tcp/cc/index.js';
import { formatIp, parseIp, parsePrefix, prefixMatches } from '../../src/wire/addr.js';
import type { RouterAdvertisement } from '../ra/wire.js';
import { inPrefix, intToIpv4, ipv4ToInt, prefixParts } from './ip.js';

const port = () => s.int({ min: 1, max: 65535 });
const ifname = () =>
  s.str({ pattern: /^[A-Za-z0-9_.:-]{1,15}$/, what: 'an interface name of 1-15 characters' });
const ipv4 = () => s.refine(s.ipAddress(), (v) => (isIP(v) === 4 ? undefined : 'expected an IPv4 address'));
const ipv6 = () => s.refine(s.ipAddress(), (v) => (isIP(v) === 6 ? undefined : 'expected an IPv6 address'));
const mac = () => s.str({ pattern: /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/, what: 'a MAC address' });
const domainName = () =>
  s.str({
    pattern:
      /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/,
    what: 'a domain name',
  });
/** A byte count: an integer, or a number with a unit ("500MB", "20GB"; decimal units). */
const bytes = () =>
  s.str({ pattern: /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB)?$/i, what: 'a size such as "500MB" or "20GB"' });
/** A rate: "20Mbit", "1Gbit", "500kbit". */
const rate = () => s.str({ pattern: /^\d+(\.\d+)?\s*(kbit|Mbit|Gbit)$/i, what: 'a rate such as "20Mbit"' });

const uplink = s.object({
  /** Name in logs, the status page and metrics ("dsl", "lte"). */
  name: s.str({ pattern: /^[a-z][a-z0-9_-]{0,15}$/, what: 'a lower-case name of 1-16 characters' }),
  interface: ifname(),
  /**
   * static: `address` (CIDR, IPv4 or IPv6) is configured on the interface and `gateway` and/or
   * `gateway6` given (only `gateway6`: an IPv6-only line); slaac: an IPv6-only line whose address
   * and IPv6 gateway come from router advertisements (RFC 4862; cpe/net/slaac.ts); dhcp: both come from
   * a lease; netifd: OpenWrt's netifd runs the line (DHCP, PPPoE, LTE) and its `network` interface's
   * status gives both (cpe/openwrt/netifd.ts); dhcpv6: an IPv6-only line whose address comes from
   * the CPE's DHCPv6 client (IA_NA, RFC 8415; cpe/dhcp6) and its gateway from the link's router
   * advertisements (DHCPv6 gives no route).
   */
  addressing: s.optional(s.oneOf(['static', 'dhcp', 'netifd', 'slaac', 'dhcpv6']), 'static'),
  /**
   * Prefix delegation (DHCPv6 IA_PD, RFC 8415 6.3) on this uplink (addressing dhcpv6 or slaac; one
   * uplink at most): the CPE asks for a prefix of `prefixLength` (a hint the server may ignore);
   * its first /64 becomes the LAN's prefix (the CPE's address ::1 there, and lan.ra's prefix,
   * in place of configured ones while the lease lasts).
   */
  delegation: s.optional(s.object({ prefixLength: s.optional(s.int({ min: 32, max: 64 }), 56) }), undefined),
  /** With addressing netifd: the logical interface of /etc/config/network ("wan", "wwan"). */
  network: s.optional(s.str({ pattern: /^[A-Za-z0-9_]{1,15}$/, what: 'a netifd interface name' }), undefined),
  address: s.optional(s.cidr(), undefined),
  gateway: s.optional(ipv4(), undefined),
  /** The IPv6 gateway: the uplink has IPv6, and the core an IPv6 address routed out of it. */
  gateway6: s.optional(ipv6(), undefined),
  /** primary: carries the initial subflow and direct traffic; overflow: a regular subflow; backup: RFC 8684 3.3.8 backup subflows only. */
  role: s.oneOf(['primary', 'overflow', 'backup']),
  /** Nominal capacity, for the status page ("20Mbit"). */
  capacity: s.optional(rate(), undefined),
  /**
   * The quota as the carrier bills it: the interface's bytes both ways per period (cpe/quota).
   * `resetDay`: the day of the month (1-28) a month starts on, or the ISO weekday (1-7, Monday 1)
   * a week starts on; `warnAt`: the percentage that gives the warning; `saveInterval`: how often
   * the count is saved (a power cut loses at most that). Past `bytes` the uplink only carries
   * backup subflows until the period ends.
   */
  quota: s.optional(
    s.object({
      bytes: bytes(),
      period: s.optional(s.oneOf(['day', 'week', 'month']), 'month'),
      resetDay: s.optional(s.int({ min: 1, max: 28 }), 1),
      warnAt: s.optional(s.num({ min: 1, max: 100 }), 80),
      saveInterval: s.optional(s.duration(), 60_000),
    }),
    undefined,
  ),
  /**
   * The health probe: a round of ICMP echoes every interval to the target(s) (default: the
   * gateway), a round answered by any of them is a success. Down after `failures` failed rounds in
   * a row, or when over the last `window` rounds more than `maxLoss` percent were lost or the mean
   * RTT passed `maxRtt`; up after `successes` in a row within those limits. `hag`: whether the HAG
   * answers over this uplink (a connection every `interval` unless its subflows received data
   * since the last one; 0 turns it off; after `failures` failures the uplink is direct-only: no
   * subflows).
   */
  probe: s.optional(
    s.object({
      target: s.optional(s.ipAddress(), undefined),
      targets: s.optional(s.list(s.ipAddress(), { max: 8 }), []),
      interval: s.optional(s.duration(), 1000),
      timeout: s.optional(s.duration(), 1000),
      failures: s.optional(s.int({ min: 1, max: 100 }), 3),
      successes: s.optional(s.int({ min: 1, max: 100 }), 2),
      window: s.optional(s.int({ min: 1, max: 1000 }), 10),
      maxLoss: s.optional(s.num({ min: 1, max: 100 }), 50),
      maxRtt: s.optional(s.duration(), undefined),
      hag: s.optional(
        s.object({
          interval: s.optional(s.duration(), 10_000),
          failures: s.optional(s.int({ min: 1, max: 100 }), 2),
        }),
        { interval: 10_000, failures: 2 },
      ),
    }),
    {
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
    },
  ),
  /** Routing table for this uplink (default 200 + its position). */
  table: s.optional(s.int({ min: 1, max: 0x7fffffff }), undefined),
  /** The core's private source address for this uplink (default: the TUN prefix's .2, .3, ...). */
  coreAddress: s.optional(ipv4(), undefined),
  /** The core's private IPv6 source address for this uplink, when it has IPv6 (default: `tun.prefix6` ::2, ::3, ...). */
  coreAddress6: s.optional(ipv6(), undefined),
  /** Congestion control of the subflows sent over this uplink (default `mptcp.congestionControl`). */
  congestionControl: s.optional(s.oneOf(CONGESTION_CONTROL_NAMES), undefined),
});

export const cpeSchema = s.object({
  lan: s.object({
    interface: ifname(),
    /** The CPE's LAN address(es) with prefix length; the first IPv4 one is the DHCP server's. */
    addresses: s.list(s.cidr(), { min: 1 }),
    dhcp: s.optional(
      s.object({
        enabled: s.optional(s.bool(), true),
        ranges: s.list(s.object({ start: ipv4(), end: ipv4() }), { min: 1 }),
        statics: s.optional(s.list(s.object({ mac: mac(), address: ipv4() })), []),
        leaseTime: s.optional(s.duration(), 43_200_000),
        dns: s.optional(s.list(s.ipAddress()), undefined),
        domain: s.optional(s.str({ maxLength: 253 }), undefined),
        leaseFile: s.optional(s.str(), '/var/lib/hybrid-access/dhcp-leases.json'),
      }),
      undefined,
    ),
    /**
     * Router advertisements on the LAN (cpe/ra; RFC 4861, RFC 4862 SLAAC, RFC 8106 RDNSS/DNSSL):
     * LAN hosts configure their IPv6 addresses in `prefixes` (default: the /64s of the IPv6
     * `addresses`) and take the CPE as their default router and DNS server. Leave it out (or
     * `enabled: false`) where another daemon sends them (OpenWrt's odhcpd).
     */
    ra: s.optional(
      s.object({
        enabled: s.optional(s.bool(), true),
        prefixes: s.optional(s.list(s.cidr(), { min: 1, max: 8 }), undefined),
        /** MaxRtrAdvInterval (RFC 4861 6.2.1, 4s..1800s); MinRtrAdvInterval is a third of it. */
        interval: s.optional(s.duration(), 600_000),
        /** How long hosts keep the CPE as a default router (0: never one); default 3 x interval. */
        routerLifetime: s.optional(s.duration(), undefined),
        validLifetime: s.optional(s.duration(), 2_592_000_000),
        preferredLifetime: s.optional(s.duration(), 604_800_000),
        /** RDNSS (RFC 8106 5.1): default the CPE's LAN address in the first prefix; [] sends none. */
        dns: s.optional(s.list(ipv6(), { max: 8 }), undefined),
        /** DNSSL (RFC 8106 5.2): the search domains handed out; none by default. */
        domains: s.optional(s.list(domainName(), { max: 8 }), undefined),
        /** Lifetime of the RDNSS and DNSSL options; default 3 x interval (RFC 8106 5.1). */
        dnsLifetime: s.optional(s.duration(), undefined),
        /** The MTU option (RFC 4861 4.6.4), when the LAN's MTU is not the link's default. */
        mtu: s.optional(s.int({ min: 1280, max: 65535 }), undefined),
      }),
      undefined,
    ),
  }),
  uplinks: s.list(uplink, { min: 1, max: 16 }),
  hag: s.object({
    addresses: s.list(s.ipAddress(), { min: 1 }),
    port: s.optional(port(), 5124),
    /**
     * convert (RFC 8803), socks5 (RFC 1928), or transparent: the MPTCP connection goes to the LAN
     * host's destination itself and a HAG on the path of the uplinks terminates it (no header).
     */
    method: s.optional(s.oneOf(['convert', 'socks5', 'transparent']), 'convert'),
    /** RFC 8803 4.2.5 Cookie TLV (hex), when the HAG asks for one. */
    cookie: s.optional(
      s.str({ pattern: /^([0-9a-fA-F]{2}){4,64}$/, what: 'a hex string of 4 to 64 bytes' }),
      undefined,
    ),
    /**
     * TCP Fast Open (RFC 7413) with method convert: the Convert header and Connect TLV ride in the
     * SYN with the cookie this HAG gave on an earlier connection (RFC 8803's 0-RTT).
     */
    fastOpen: s.optional(s.bool(), true),
    /** RFC 1929 credentials for method socks5. */
    username: s.optional(s.str({ maxLength: 255 }), undefined),
    password: s.optional(s.str({ maxLength: 255 }), undefined),
    /** How long the HAG may take to answer (MPTCP handshake plus Convert/SOCKS reply) before a connection goes direct. */
    connectTimeout: s.optional(s.duration(), 3000),
    /** After a failure, new connections go direct for this long before the HAG is tried again. */
    retryAfter: s.optional(s.duration(), 5000),
  }),
  /**
   * Inbound port forwarding through the HAG (cpe/daemon/inbound.ts): the CPE keeps a control
   * connection to the HAG's inbound port (its service.inbound.port) open over MPTCP, registers
   * the public ports of `forwards` there, and carries each connection a client makes to one of
   * them, over a new bonded MPTCP connection, to the forward's LAN host. Works behind carrier NAT.
   */
  inbound: s.optional(
    s.object({
      port: s.optional(port(), 5125),
      /** A PING on the control connection this often (keeps the carriers' NAT mappings); 3 unanswered: reconnect. */
      keepalive: s.optional(s.duration(), 30_000),
      /** Wait before the control connection is tried again after a failure (doubling up to 15 s). */
      retry: s.optional(s.duration(), 2000),
      forwards: s.list(
        s.object({
          /** Name in logs, the status page and metrics. */
          name: s.str({ pattern: /^[a-z][a-z0-9_-]{0,31}$/, what: 'a lower-case name of 1-32 characters' }),
          /** The HAG's public port, or a range ("27015-27030"). */
          public: s.portRange(),
          /** The LAN host the connections go to. */
          host: s.ipAddress(),
          /** Its port (for a range, the first of a range as long); default: the public port(s). */
          port: s.optional(port(), undefined),
          protocol: s.optional(s.oneOf(['tcp']), 'tcp'),
        }),
        { min: 1, max: 64 },
      ),
    }),
    undefined,
  ),
  /**
   * Non-TCP traffic and direct connections use the first usable uplink by role (primary, overflow,
   * backup); a better one that comes back takes over again once it has been up for `holdDown`.
   */
  failover: s.optional(s.object({ holdDown: s.optional(s.duration(), 30_000) }), { holdDown: 30_000 }),
  bypass: s.optional(
    s.object({
      destinations: s.optional(s.list(s.cidr()), []),
      ports: s.optional(s.list(port()), []),
    }),
    { destinations: [], ports: [] },
  ),
  quic: s.optional(s.oneOf(['pass', 'block']), 'pass'),
  tun: s.optional(
    s.object({
      name: s.optional(ifname(), 'cpe0'),
      mtu: s.optional(s.int({ min: 1280, max: 9000 }), 1500),
      /** IPv4 prefix of the core's private addresses; the kernel's side of the TUN takes its .1. */
      prefix: s.optional(s.cidr(), '10.254.0.0/24'),
      /** IPv6 prefix of the core's private addresses (uplinks with IPv6); the kernel's side takes ::1. */
      prefix6: s.optional(s.cidr(), 'fd48:4143:5045::/64'),
      /** TUN offloads (checksum, TSO, GRO'd reads): 'auto' probes them at start, 'off' forces the plain TUN. */
      offload: s.optional(s.oneOf(['auto', 'off']), 'auto'),
      /** After a read of data that emptied the TUN's queue, wait this long (ms) before reading again (0: at once). */
      rxHoldoffMs: s.optional(s.int({ min: 0, max: 10 }), RX_HOLDOFF_MS),
    }),
    {
      name: 'cpe0',
      mtu: 1500,
      prefix: '10.254.0.0/24',
      prefix6: 'fd48:4143:5045::/64',
      offload: 'auto' as const,
      rxHoldoffMs: RX_HOLDOFF_MS,
    },
  ),
  intercept: s.optional(
    s.object({
      /** Port of the transparent listener (TPROXY target). */
      port: s.optional(port(), 7070),
      mark: s.optional(s.int({ min: 1, max: 0x7fffffff }), 1),
      table: s.optional(s.int({ min: 1, max: 0x7fffffff }), 100),
      maxConnections: s.optional(s.int({ min: 1 }), 4096),
      idleTimeout: s.optional(s.duration(), 3_600_000),
      /** Distinguishes the nftables table (hybrid_access<suffix>), e.g. for tests. */
      suffix: s.optional(s.str({ pattern: /^[A-Za-z0-9_]{1,32}$/, what: 'letters, digits or _' }), ''),
      rulePriority: s.optional(s.int({ min: 1, max: 32000 }), 10000),
    }),
    {
      port: 7070,
      mark: 1,
      table: 100,
      maxConnections: 4096,
      idleTimeout: 3_600_000,
      suffix: '',
      rulePriority: 10000,
    },
  ),
  mptcp: s.optional(
    s.object({
      checksum: s.optional(s.bool(), false),
      bufferBytes: s.optional(s.int({ min: 65536, max: 64 << 20 }), 4 << 20),
      /** Congestion control across subflows: each its own CUBIC, or coupled (LIA, OLIA). */
      congestion: s.optional(s.oneOf(['uncoupled', 'lia', 'olia']), 'uncoupled'),
      /** Each subflow's own congestion control when uncoupled: cubic, newreno or bbr. */
      congestionControl: s.optional(s.oneOf(CONGESTION_CONTROL_NAMES), 'cubic'),
      /**
       * RFC 9040 path sharing (src/tcp/path-metrics.ts): a new subflow over an uplink starts from
       * the RTT, window and ssthresh recent ones to the HAG left; false: each starts afresh.
       */
      pathSharing: s.optional(s.bool(), true),
    }),
    {
      checksum: false,
      bufferBytes: 4 << 20,
      congestion: 'uncoupled' as const,
      congestionControl: 'cubic' as const,
      pathSharing: true,
    },
  ),
  /**
   * Which scheduler a connection gets, both ways (the HAG schedules the download as this says: the
   * policy goes with each connection): the first rule whose destination ports and prefixes and
   * LAN source prefixes match, else `default`. min-rtt: the fastest uplink first, the others as it fills; primary-first: the
   * primary uplink first, overflow uplinks only for what it cannot take (spares LTE volume);
   * redundant: every uplink carries the same bytes (small latency-sensitive flows).
   */
  scheduling: s.optional(
    s.object({
      default: s.optional(s.oneOf(['min-rtt', 'primary-first', 'redundant']), 'min-rtt'),
      rules: s.optional(
        s.list(
          s.object({
            ports: s.optional(s.list(port()), []),
            destinations: s.optional(s.list(s.cidr()), []),
            /** LAN hosts the rule is for (their addresses or prefixes); any when empty. */
            sources: s.optional(s.list(s.cidr()), []),
            scheduler: s.oneOf(['min-rtt', 'primary-first', 'redundant']),
          }),
        ),
        [],
      ),
    }),
    { default: 'min-rtt' as const, rules: [] },
  ),
  status: s.optional(
    s.object({ address: s.optional(s.ipAddress(), undefined), port: s.optional(port(), 8080) }),
    { address: undefined, port: 8080 },
  ),
  /** Where the daemon keeps what must survive a restart (the quota counts). */
  state: s.optional(s.object({ directory: s.optional(s.str({ minLength: 1 }), '/var/lib/hybrid-access') }), {
    directory: '/var/lib/hybrid-access',
  }),
  /**
   * Events (uplink down/up, HAG unreachable/back, quota warning/exhausted/reset) handed to a
   * command (argv, no shell; the JSON on stdin) and/or POSTed as JSON to a webhook (cpe/events).
   */
  events: s.optional(
    s.object({
      command: s.optional(s.list(s.str({ minLength: 1 }), { min: 1 }), undefined),
      webhook: s.optional(
        s.object({
          url: s.str({ pattern: /^https?:\/\/[^\s/]+(\/\S*)?$/, what: 'an http:// or https:// URL' }),
          /** Sent as the Authorization header ("Bearer ..."). */
          authorization: s.optional(s.str({ maxLength: 4096 }), undefined),
        }),
        undefined,
      ),
      timeout: s.optional(s.duration(), 10_000),
      retries: s.optional(s.int({ min: 0, max: 20 }), 5),
      backoff: s.optional(s.duration(), 2000),
      queue: s.optional(s.int({ min: 1, max: 10_000 }), 100),
    }),
    { command: undefined, webhook: undefined, timeout: 10_000, retries: 5, backoff: 2000, queue: 100 },
  ),
  drainTimeout: s.optional(s.duration(), 10_000),
  log: s.optional(
    s.object({
      level: s.optional(s.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), 'info'),
      // Each connection's open and close lines at info (else debug): src/daemon/logger.ts.
      connections: s.optional(s.bool(), false),
    }),
    { level: 'info' as const, connections: false },
  ),
});

export type CpeConfig = s.Infer<typeof cpeSchema>;
export type UplinkConfig = CpeConfig['uplinks'][number];

export interface CheckOptions {
  /** Whether an interface exists (default: /sys/class/net/<name>); false in `--check` off the router. */
  interfaceExists?: (name: string) => boolean;
  /** The TUN the running daemon made (at a reload it exists, and it is the daemon's own). */
  ownTun?: string;
}

/** The byte count a quota or size string stands for. */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(v);
  if (!m) throw new TypeError(`not a size: ${v}`);
  const unit: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };
  return Math.round(Number(m[1]) * unit[(m[2] ?? 'B').toUpperCase()]);
}

/** Bits per second of a rate string. */
export function parseRate(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(kbit|Mbit|Gbit)$/i.exec(v);
  if (!m) throw new TypeError(`not a rate: ${v}`);
  const unit: Record<string, number> = { kbit: 1e3, mbit: 1e6, gbit: 1e9 };
  return Number(m[1]) * unit[m[2].toLowerCase()];
}

/** The core's private address of uplink `i`. */
export function coreAddressOf(cfg: CpeConfig, i: number): string {
  const u = cfg.uplinks[i];
  if (u.coreAddress) return u.coreAddress;
  const { base } = prefixParts(cfg.tun.prefix);
  return intToIpv4(ipv4ToInt(base) + 2 + i);
}

/** Whether uplink `u` has IPv4: a lease or netifd gives it, or a static IPv4 gateway or address. */
export function hasIpv4(u: UplinkConfig): boolean {
  if (u.addressing === 'slaac' || u.addressing === 'dhcpv6') return false;
  return u.addressing !== 'static' || u.gateway !== undefined || isIP(u.address?.split('/')[0] ?? '') === 4;
}

/** Whether uplink `u` has IPv6: an IPv6 gateway (static), or router advertisements (slaac, dhcpv6). */
export function hasIpv6(u: UplinkConfig): boolean {
  return u.gateway6 !== undefined || u.addressing === 'slaac' || u.addressing === 'dhcpv6';
}

/** The `n`th address of IPv6 prefix `cidr` (n < 2^32). */
function nthIpv6(cidr: string, n: number): string {
  const b = parsePrefix(cidr).bytes;
  const v = new DataView(b.buffer);
  v.setUint32(12, (v.getUint32(12) + n) >>> 0);
  return formatIp(b);
}

/** The core's private IPv6 address of uplink `i`, when it has IPv6. */
export function coreAddress6Of(cfg: CpeConfig, i: number): string | undefined {
  const u = cfg.uplinks[i];
  if (!hasIpv6(u)) return undefined;
  return u.coreAddress6 ?? nthIpv6(cfg.tun.prefix6, 2 + i);
}

/** The kernel's IPv6 address on the TUN (CIDR): the prefix6's ::1. */
export function tunKernelAddress6(cfg: CpeConfig): string {
  return `${nthIpv6(cfg.tun.prefix6, 1)}/${prefixParts(cfg.tun.prefix6).len}`;
}

/** The kernel's address on the TUN (CIDR): the prefix's .1. */
export function tunKernelAddress(cfg: CpeConfig): string {
  const { base, len } = prefixParts(cfg.tun.prefix);
  return `${intToIpv4(ipv4ToInt(base) + 1)}/${len}`;
}

export function tableOf(cfg: CpeConfig, i: number): number {
  return cfg.uplinks[i].table ?? 200 + i;
}

const v6Lan = (c: CpeConfig) =>
  c.lan.addresses.filter((a) => isIP(a.split('/')[0]) === 6 && !/^fe[89ab]/i.test(a));

/** Whether IPv6 prefix (or address) `cidr` lies inside the network `a` (an address with its length). */
function inside(cidr: string, a: string): boolean {
  const net = parsePrefix(a);
  const p = parsePrefix(cidr);
  return (
    p.bytes.length === 16 && net.bytes.length === 16 && net.len <= p.len && prefixMatches(net, p.bytes, 0)
  );
}

/** The prefixes the LAN's router advertisements carry: `lan.ra.prefixes`, else the /64s of the IPv6 LAN addresses. */
export function raPrefixesOf(c: CpeConfig): string[] {
  if (c.lan.ra?.prefixes) return c.lan.ra.prefixes;
  return v6Lan(c)
    .filter((a) => prefixParts(a).len === 64)
    .map((a) => {
      const p = parsePrefix(a);
      return `${formatIp(p.bytes)}/${p.len}`;
    });
}

/** What the LAN's router advertisements say and how often (cpe/ra/advertiser.ts); undefined when off. */
export function lanAdvertisement(
  c: CpeConfig,
): { interface: string; ra: RouterAdvertisement; minInterval: number; maxInterval: number } | undefined {
  const r = c.lan.ra;
  if (!r?.enabled) return undefined;
  const prefixes = raPrefixesOf(c);
  const sec = (ms: number) => Math.floor(ms / 1000);
  const own =
    v6Lan(c).find((a) => prefixes.length > 0 && inside(a.split('/')[0], prefixes[0])) ?? v6Lan(c)[0];
  const dns = r.dns ?? (own ? [own.split('/')[0]] : []);
  const dnsLifetime = sec(r.dnsLifetime ?? 3 * r.interval);
  return {
    interface: c.lan.interface,
    // RFC 4861 6.2.1: MinRtrAdvInterval defaults to 0.33 x MaxRtrAdvInterval (at least 3 s).
    minInterval: Math.max(3000, Math.round(r.interval / 3)),
    maxInterval: r.interval,
    ra: {
      curHopLimit: 64,
      managed: false,
      other: false,
      routerLifetime: sec(r.routerLifetime ?? 3 * r.interval),
      reachableTime: 0,
      retransTimer: 0,
      mtu: r.mtu,
      prefixes: prefixes.map((p) => ({
        prefix: formatIp(parsePrefix(p).bytes),
        length: parsePrefix(p).len,
        onLink: true,
        autonomous: true,
        validLifetime: sec(r.validLifetime),
        preferredLifetime: sec(r.preferredLifetime),
      })),
      dns: dns.length ? { servers: dns, lifetime: dnsLifetime } : undefined,
      domains: r.domains?.length ? { names: r.domains, lifetime: dnsLifetime } : undefined,
    },
  };
}

/** Why `p` cannot be advertised for SLAAC on this LAN, or undefined. */
function raPrefixProblem(c: CpeConfig, p: string): string | undefined {
  const [a, len] = [p.split('/')[0], prefixParts(p).len];
  if (isIP(a) !== 6) return `${p} is not an IPv6 prefix`;
  // RFC 4862 5.5.3 (d): prefix and interface identifier (64 bits, RFC 4291 2.5.1) make 128.
  if (len !== 64) return `${p}: SLAAC needs a /64 (RFC 4862 5.5.3, 64-bit interface identifiers)`;
  // RFC 4861 6.2.1: the link-local prefix is not advertised; multicast is no prefix of a link.
  if (/^f[ef]/i.test(a)) return `${p} is link-local or multicast, not a prefix to advertise`;
  const net = formatIp(parsePrefix(p).bytes);
  if (net !== formatIp(parseIp(a))) return `${p} has host bits set (the prefix is ${net}/64)`;
  if (!v6Lan(c).some((x) => inside(p, x)))
    return `${p} is not on the LAN: no IPv6 lan.addresses entry covers it (the CPE would not route it)`;
  return undefined;
}

/** The checks of lan.ra (RFC 4861 6.2.1 limits, RFC 4862 SLAAC prefixes, RFC 8106 lifetimes). */
function checkRa(c: CpeConfig, add: (path: string, message: string) => void): void {
  const r = c.lan.ra;
  if (!r?.enabled) return;
  const prefixes = raPrefixesOf(c);
  if (prefixes.length === 0 && !c.uplinks.some((u) => u.delegation))
    add(
      'lan.ra',
      'router advertisements need an IPv6 /64 in lan.addresses (or lan.ra.prefixes, or an uplink with delegation)',
    );
  prefixes.forEach((p, i) => {
    const why = raPrefixProblem(c, p);
    if (why) add(r.prefixes ? `lan.ra.prefixes[${i}]` : 'lan.addresses', why);
  });
  if (r.interval < 4000 || r.interval > 1_800_000)
    add('lan.ra.interval', 'between 4s and 1800s (RFC 4861 6.2.1 MaxRtrAdvInterval)');
  const rl = r.routerLifetime;
  if (rl !== undefined && rl !== 0 && (rl < r.interval || rl > 9_000_000))
    add('lan.ra.routerLifetime', '0, or between lan.ra.interval and 9000s (RFC 4861 6.2.1)');
  const MAX_S = 0xffffffff * 1000;
  if (r.validLifetime < 1000 || r.validLifetime > MAX_S)
    add('lan.ra.validLifetime', 'between 1s and 2^32-1 s');
  if (r.preferredLifetime > r.validLifetime)
    add(
      'lan.ra.preferredLifetime',
      'at most lan.ra.validLifetime (RFC 4862 5.5.3 c: else hosts ignore the prefix)',
    );
  if (r.dnsLifetime !== undefined && (r.dnsLifetime < r.interval || r.dnsLifetime > MAX_S))
    add(
      'lan.ra.dnsLifetime',
      'at least lan.ra.interval, or hosts forget the DNS servers between advertisements (RFC 8106 5.1)',
    );
}

function crossCheck(file: string, text: string, c: CpeConfig, opts: CheckOptions): ConfigResult<CpeConfig> {
  const issues: ConfigIssue[] = [];
  const where = lineFinder(text);
  const add = (path: string, message: string) => issues.push({ file, line: where(path), path, message });
  const exists = opts.interfaceExists ?? thisHost.interfaceExists;
  if (!exists(c.lan.interface)) add('lan.interface', `no interface named ${c.lan.interface} on this system`);
  const names = new Set<string>();
  const ifs = new Set<string>([c.lan.interface]);
  c.uplinks.forEach((u, i) => {
    const p = `uplinks[${i}]`;
    if (names.has(u.name)) add(`${p}.name`, `"${u.name}" is used by two uplinks`);
    names.add(u.name);
    if (ifs.has(u.interface)) add(`${p}.interface`, `${u.interface} is already the LAN or another uplink`);
    ifs.add(u.interface);
    // netifd brings a line's device up when it connects (pppoe-wan appears then): not needed at start.
    if (u.addressing !== 'netifd' && !exists(u.interface))
      add(`${p}.interface`, `no interface named ${u.interface} on this system`);
    if (u.addressing === 'static') {
      if (!u.gateway && !u.gateway6) add(`${p}.gateway`, 'a static uplink needs a gateway');
    } else if (u.addressing === 'dhcp' && u.gateway) {
      add(`${p}.gateway`, 'a DHCP uplink takes its gateway from the lease; leave it out');
    } else if (u.addressing === 'netifd' && (u.gateway || u.address)) {
      add(`${p}.${u.gateway ? 'gateway' : 'address'}`, 'a netifd uplink takes it from netifd; leave it out');
    } else if (
      (u.addressing === 'slaac' || u.addressing === 'dhcpv6') &&
      (u.gateway || u.gateway6 || u.address)
    ) {
      const k = u.gateway ? 'gateway' : u.gateway6 ? 'gateway6' : 'address';
      add(
        `${p}.${k}`,
        u.addressing === 'slaac'
          ? 'a slaac uplink takes its address and gateway from router advertisements; leave it out'
          : 'a dhcpv6 uplink takes its address from DHCPv6 and its gateway from router advertisements; leave it out',
      );
    }
    if (u.delegation && u.addressing !== 'dhcpv6' && u.addressing !== 'slaac')
      add(`${p}.delegation`, 'prefix delegation (DHCPv6) needs addressing dhcpv6 or slaac');
    if ((u.addressing === 'netifd') !== (u.network !== undefined))
      add(
        `${p}.network`,
        u.network ? 'only for addressing: netifd' : 'addressing: netifd needs the netifd interface',
      );
    // A slaac uplink is probed at the router its RAs name, once known.
    if (
      !u.probe.target &&
      u.probe.targets.length === 0 &&
      !u.gateway &&
      !u.gateway6 &&
      u.addressing !== 'slaac' &&
      u.addressing !== 'dhcpv6'
    )
      add(`${p}.probe.target`, 'needed when the uplink has no static gateway');
    if (u.address && isIP(u.address.split('/')[0]) === 6 && !u.gateway6)
      add(`${p}.gateway6`, 'an uplink with an IPv6 address needs gateway6');
    const targets = [...(u.probe.target ? [u.probe.target] : []), ...u.probe.targets];
    if (new Set(targets.map((t) => isIP(t))).size > 1)
      add(`${p}.probe.targets`, 'all probe targets of an uplink must be of one family (IPv4 or IPv6)');
    if (u.quota) {
      try {
        if (parseBytes(u.quota.bytes) <= 0) add(`${p}.quota.bytes`, 'must be above zero');
      } catch (e) {
        add(`${p}.quota.bytes`, (e as Error).message);
      }
      if (u.quota.period === 'week' && u.quota.resetDay > 7)
        add(`${p}.quota.resetDay`, 'a week starts on an ISO weekday: 1 (Monday) to 7 (Sunday)');
      if (u.quota.saveInterval < 1000) add(`${p}.quota.saveInterval`, 'at least 1s');
    }
  });
  // Two uplinks on one address: the source rules and the probes could not tell them apart.
  c.uplinks.forEach((u, i) => {
    const a = u.address?.split('/')[0];
    const j = c.uplinks.findIndex((o) => o.address?.split('/')[0] === a);
    if (a !== undefined && j < i) add(`uplinks[${i}].address`, `${a} is also uplinks[${j}]'s address`);
  });
  // The TUN is created at start: a name already taken would fail there (or be someone else's).
  if (c.tun.name !== opts.ownTun && exists(c.tun.name))
    add('tun.name', `an interface named ${c.tun.name} exists already; the CPE creates its own TUN`);
  c.uplinks.forEach((u, i) => {
    const j = c.uplinks.findIndex((o) => o.delegation);
    if (u.delegation && j < i)
      add(`uplinks[${i}].delegation`, `only one uplink asks for the LAN's prefix (uplinks[${j}] does)`);
  });
  if (!c.uplinks.some((u) => u.role === 'primary')) add('uplinks', 'one uplink needs role: primary');
  if (c.uplinks.filter((u) => u.role === 'primary').length > 1)
    add('uplinks', 'only one uplink may be primary');
  const tables = new Set<number>([c.intercept.table]);
  c.uplinks.forEach((_, i) => {
    const t = tableOf(c, i);
    if (tables.has(t) || (t >= 253 && t <= 255))
      add(`uplinks[${i}].table`, `table ${t} is taken or reserved`);
    tables.add(t);
  });
  // The core's addresses must be in the TUN prefix (the kernel routes them into the TUN) and distinct.
  const tunPrefix = c.tun.prefix;
  if (isIP(tunPrefix.split('/')[0]) !== 4) add('tun.prefix', 'must be an IPv4 prefix');
  else {
    const { len } = prefixParts(tunPrefix);
    if (2 ** (32 - len) - 2 < c.uplinks.length + 1)
      add('tun.prefix', `a /${len} has no room for ${c.uplinks.length} core addresses and the kernel's`);
    // The core's private addresses must not be on the LAN or an uplink, or the routes would clash.
    const others = [
      ...c.lan.addresses.map((a, i) => ({ a, at: `lan.addresses[${i}]` })),
      ...c.uplinks.map((u, i) => ({ a: u.address, at: `uplinks[${i}].address` })),
    ];
    for (const { a, at } of others) {
      if (a === undefined || isIP(a.split('/')[0]) !== 4) continue;
      const net = `${a.split('/')[0]}/${prefixParts(a).len}`;
      if (inPrefix(prefixParts(tunPrefix).base, net) || inPrefix(a.split('/')[0], tunPrefix))
        add('tun.prefix', `${tunPrefix} overlaps ${at} ${a}`);
    }
    const seen = new Set<string>([tunKernelAddress(c).split('/')[0]]);
    c.uplinks.forEach((_, i) => {
      const a = coreAddressOf(c, i);
      if (!inPrefix(a, tunPrefix))
        add(`uplinks[${i}].coreAddress`, `${a} is outside tun.prefix ${tunPrefix}`);
      if (seen.has(a)) add(`uplinks[${i}].coreAddress`, `${a} is used twice`);
      seen.add(a);
    });
  }
  const lan4 = c.lan.addresses.find((a) => isIP(a.split('/')[0]) === 4);
  if (c.lan.dhcp?.enabled) {
    if (!lan4) add('lan.addresses', 'the DHCP server needs an IPv4 LAN address');
    const rs = c.lan.dhcp.ranges;
    rs.forEach((r, i) => {
      const p = `lan.dhcp.ranges[${i}]`;
      if (ipv4ToInt(r.start) > ipv4ToInt(r.end)) add(p, `start ${r.start} is after end ${r.end}`);
      if (lan4 && (!inPrefix(r.start, lan4) || !inPrefix(r.end, lan4)))
        add(p, `${r.start}-${r.end} is not inside the LAN ${lan4}`);
      for (let j = 0; j < i; j++) {
        const o = rs[j];
        if (ipv4ToInt(r.start) <= ipv4ToInt(o.end) && ipv4ToInt(o.start) <= ipv4ToInt(r.end))
          add(p, `${r.start}-${r.end} overlaps lan.dhcp.ranges[${j}] ${o.start}-${o.end}`);
      }
    });
    if (c.lan.dhcp.leaseTime < 60_000) add('lan.dhcp.leaseTime', 'at least 60s');
  }
  checkRa(c, add);
  if (c.hag.method === 'socks5' && c.hag.username !== undefined && c.hag.password === undefined)
    add('hag.password', 'a username needs a password');
  if (c.hag.method === 'convert' && c.hag.username !== undefined)
    add('hag.username', 'credentials are for method socks5; Convert uses hag.cookie');
  if (c.hag.method === 'transparent' && (c.hag.username !== undefined || c.hag.cookie !== undefined))
    add(
      c.hag.username !== undefined ? 'hag.username' : 'hag.cookie',
      'method transparent sends no handshake: credentials and cookies are for socks5 and convert',
    );
  // The core's IPv6 addresses: in tun.prefix6 (the kernel routes it into the TUN), distinct.
  const p6 = c.tun.prefix6;
  if (isIP(p6.split('/')[0]) !== 6 || prefixParts(p6).len > 120)
    add('tun.prefix6', 'must be an IPv6 prefix of /120 or wider');
  else {
    const net6 = parsePrefix(p6);
    const seen6 = new Set<string>([tunKernelAddress6(c).split('/')[0]]);
    c.uplinks.forEach((_, i) => {
      const a = coreAddress6Of(c, i);
      if (a === undefined) return;
      if (!prefixMatches(net6, parsePrefix(a).bytes, 0))
        add(`uplinks[${i}].coreAddress6`, `${a} is outside tun.prefix6 ${p6}`);
      if (seen6.has(a)) add(`uplinks[${i}].coreAddress6`, `${a} is used twice`);
      seen6.add(a);
    });
  }
  c.inbound?.forwards.forEach((f, i) => {
    const p = `inbound.forwards[${i}]`;
    const j = c.inbound!.forwards.findIndex((o) => o.name === f.name);
    if (j < i) add(`${p}.name`, `"${f.name}" is also inbound.forwards[${j}]'s name`);
    const k = c.inbound!.forwards.findIndex(
      (o) => o.public.first <= f.public.last && f.public.first <= o.public.last,
    );
    if (k < i) add(`${p}.public`, `overlaps inbound.forwards[${k}].public`);
    const size = f.public.last - f.public.first;
    if (f.port !== undefined && f.port + size > 65535)
      add(`${p}.port`, `${f.port} + ${size + 1} ports passes 65535`);
    const fam = isIP(f.host);
    if (!c.lan.addresses.some((a) => isIP(a.split('/')[0]) === fam && inLanPrefix(f.host, a)))
      add(`${p}.host`, `${f.host} is not on the LAN (${c.lan.addresses.join(', ')})`);
  });
  // A HAG address of a family no uplink has could never be reached.
  for (const a of c.hag.addresses) {
    const v6 = isIP(a) === 6;
    if (!c.uplinks.some((u) => (v6 ? hasIpv6(u) : hasIpv4(u))))
      add('hag.addresses', `${a}: no uplink has IPv${v6 ? 6 : 4} (${v6 ? 'gateway6' : 'gateway'})`);
  }
  return issues.length ? { ok: false, issues } : { ok: true, value: c };
}

/** Whether `host` lies in the LAN prefix `cidr` (either family). */
function inLanPrefix(host: string, cidr: string): boolean {
  const p = parsePrefix(cidr);
  return prefixMatches(p, parsePrefix(host).bytes, 0);
}

export function parseCpeConfig(text: string, file: string, opts: CheckOptions = {}): ConfigResult<CpeConfig> {
  const r = parseConfig(text, file, cpeSchema);
  return r.ok ? crossCheck(file, text, r.value, opts) : r;
}
