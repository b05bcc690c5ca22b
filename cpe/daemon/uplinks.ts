// The CPE's uplinks at run time: for each configured uplink its core address and path-manager
// address id, its health (the ICMP probe's up/down events and whether the HAG answers over it drive
// ClientPathManager.setUp; a line that reaches the internet but not the HAG is direct-only), its
// interface address (static; from the uplink DHCP client, whose lease also sets the uplink's
// routing table; or from OpenWrt's netifd, cpe/openwrt/netifd.ts), its byte counters (summed from
// the subflows' socket stats, by which uplink each subflow leaves from) and its quota as billed
// (cpe/quota: the interface's counters, saved in the state directory; past it the uplink carries
// only backup subflows, RFC 8684 3.3.8, until the period ends). Health changes and quota events
// are reported as 'health' and 'quota' events (the daemon hands them to cpe/events). Which uplink carries non-TCP and direct traffic (UplinkSelector)
// is decided here and reported as a 'switch' event; the daemon moves the kernel state.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { HistogramSeries, RTT_BUCKETS_SECONDS } from '../../src/daemon/exposition.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpState } from '../../src/tcp/state.js';
import { applyLeaseCommands, DhcpClient, type DhcpLease, removeLeaseCommands } from '../dhcp/client.js';
import { Dhcp6Client, type Dhcp6Lease, prefixText } from '../dhcp6/client.js';
import { applyLease6Commands, removeLease6Commands } from '../dhcp6/lease.js';
import { type Dhcp6Transport, linkLocalOf, Udp6Transport } from '../dhcp6/udp6.js';
import type { IaPrefix } from '../dhcp6/wire.js';
import { type CmdExec, execCmd, runPlan } from '../net/apply.js';
import { uplinkRoute } from '../net/plan.js';
import { readSlaac, type SlaacState, slaacSysctls } from '../net/slaac.js';
import { type NetifdStatus, queryNetifd } from '../openwrt/netifd.js';
import type { HealthReason } from '../probe/health.js';
import { UplinkProbe } from '../probe/probe.js';
import { type InterfaceCounters, readInterfaceCounters } from '../quota/counters.js';
import { type QuotaEventKind, QuotaMeter, type QuotaSettings } from '../quota/meter.js';
import { loadQuotaState, quotaFile, saveQuotaState } from '../quota/store.js';
import {
  type CpeConfig,
  coreAddress6Of,
  coreAddressOf,
  hasIpv4,
  parseBytes,
  parseRate,
  tableOf,
  type UplinkConfig,
} from './config.js';
import { type HagCheck, HagReach } from './hag-reach.js';
import { networkOf, parseAddress } from './ip.js';
import { UplinkSelector } from './uplink-select.js';

export type UplinkHealth = 'unknown' | 'up' | 'down';

/** What an uplink is good for: everything, direct traffic only (the HAG does not answer over it), nothing. */
export type UplinkState = 'up' | 'direct-only' | 'down' | 'unknown';

/** Why an uplink is in its state (the status page and metrics). */
export type UplinkReason = 'ok' | 'not-probed' | 'no-address' | HealthReason | 'hag-unreachable';

export interface UplinkSample {
  t: number;
  bytesIn: number;
  bytesOut: number;
  /** The probe's and the subflows' smoothed RTT at that second, ms (absent when none). */
  probeRttMs?: number;
  subflowRttMs?: number;
}

export class Uplink {
  /** Path manager address id (RFC 8684 3.4.1): 1-based position. */
  readonly id: number;
  /** The core's IPv4 address for this uplink (unused when it has no IPv4). */
  readonly coreAddress: string;
  /** The core's IPv6 address, when the uplink has IPv6. */
  readonly coreAddress6: string | undefined;
  /** Whether the uplink has IPv4 (an IPv6-only one has only `coreAddress6`). */
  readonly ipv4: boolean;
  /** The core's addresses for the path manager: the first family's, and the other's (RFC 8684 3.4.1). */
  readonly coreBytes: Uint8Array;
  readonly coreBytesOther: Uint8Array | undefined;
  readonly table: number;
  health: UplinkHealth = 'unknown';
  healthReason = 'not probed yet';
  /** What the probe said last (its reason kind). */
  healthKind: HealthReason | undefined;
  /** The uplink's own address (without prefix length), when known. */
  address: string | undefined;
  gateway: string | undefined;
  /** The IPv6 gateway: static, or the router of a slaac uplink's RAs. */
  gateway6: string | undefined;
  probe: UplinkProbe | undefined;
  /** Whether the HAG answers over this uplink (undefined: not checked, or checks off). */
  hag: HagReach | undefined;
  dhcp: DhcpClient | undefined;
  lease: DhcpLease | undefined;
  /** The DHCPv6 client (addressing dhcpv6, or delegation) and its lease. */
  dhcp6: Dhcp6Client | undefined;
  lease6: Dhcp6Lease | undefined;
  /** Bytes carried by subflows of this uplink, payload only (in: from the HAG, out: to it). */
  bytesIn = 0;
  bytesOut = 0;
  /** The quota as billed (none without `quota`), when it was last saved, and its events so far. */
  quota: QuotaMeter | undefined;
  quotaSavedAt = 0;
  readonly quotaEvents: Record<QuotaEventKind, number> = {
    'quota-warning': 0,
    'quota-exhausted': 0,
    'quota-reset': 0,
  };
  /** The interface's counters at the start: a quota added by a reload counts from them. */
  startCounters: InterfaceCounters | undefined;
  /** Why the interface's counters could not be read last (logged when it changes). */
  countersError: string | undefined;
  /** Per-second samples for the status page's charts (the last 120). */
  readonly samples: UplinkSample[] = [];
  rateIn = 0;
  rateOut = 0;
  /** Smoothed RTT of this uplink's subflows, ms (mean over the open ones). */
  subflowRttMs: number | undefined;
  /** For /metrics: the probe's RTTs, and each open subflow's SRTT once a second (seconds). */
  readonly probeRtt = new HistogramSeries(RTT_BUCKETS_SECONDS);
  readonly subflowSrtt = new HistogramSeries(RTT_BUCKETS_SECONDS);
  subflows = 0;
  /** Of the open subflows, those over IPv6 (RFC 8684 3.4.1: either family). */
  subflows6 = 0;
  /** Of the open subflows, those whose connection fell back to plain TCP (RFC 8684 3.7). */
  fallbackSubflows = 0;

  constructor(
    public cfg: UplinkConfig,
    index: number,
    all: CpeConfig,
  ) {
    this.id = index + 1;
    this.coreAddress = coreAddressOf(all, index);
    this.coreAddress6 = coreAddress6Of(all, index);
    this.ipv4 = hasIpv4(cfg);
    const b4 = parseAddress(this.coreAddress) as Uint8Array;
    const b6 = this.coreAddress6 === undefined ? undefined : (parseAddress(this.coreAddress6) as Uint8Array);
    this.coreBytes = this.ipv4 || !b6 ? b4 : b6;
    this.coreBytesOther = this.ipv4 ? b6 : undefined;
    this.table = tableOf(all, index);
    this.address = cfg.address?.split('/')[0];
    this.gateway = cfg.gateway;
    this.gateway6 = cfg.gateway6;
  }

  get name(): string {
    return this.cfg.name;
  }

  /** The IP families the uplink has. */
  get families(): ('ipv4' | 'ipv6')[] {
    return [...(this.ipv4 ? ['ipv4' as const] : []), ...(this.coreAddress6 ? ['ipv6' as const] : [])];
  }

  /** The core's addresses of this uplink (policy routing and masquerade), IPv4 and/or IPv6. */
  get coreAddresses(): string[] {
    return [...(this.ipv4 ? [this.coreAddress] : []), ...(this.coreAddress6 ? [this.coreAddress6] : [])];
  }

  /** Backup subflows only: its role, or the quota ran out. */
  get backup(): boolean {
    return this.cfg.role === 'backup' || this.quotaExceeded;
  }

  get quotaExceeded(): boolean {
    return this.quota?.exhausted ?? false;
  }

  /** Usable for direct traffic: the probe has not said down (an unprobed uplink is tried), and it has an address. */
  get usableDirect(): boolean {
    return this.health !== 'down' && (this.cfg.addressing === 'static' || this.address !== undefined);
  }

  /** Usable for subflows: usable for direct traffic, and the HAG has not been found unreachable over it. */
  get usable(): boolean {
    return this.usableDirect && this.hag?.reachable !== false;
  }

  get state(): UplinkState {
    if (!this.usableDirect) return 'down';
    if (!this.usable) return 'direct-only';
    return this.health === 'up' ? 'up' : 'unknown';
  }

  get reason(): UplinkReason {
    if (this.cfg.addressing !== 'static' && this.address === undefined) return 'no-address';
    if (this.health === 'unknown') return 'not-probed';
    if (this.health === 'down') return this.healthKind ?? 'echo-lost';
    return this.hag?.reachable === false ? 'hag-unreachable' : 'ok';
  }

  get quotaBytes(): number | undefined {
    return this.cfg.quota ? parseBytes(this.cfg.quota.bytes) : undefined;
  }

  /** The meter's settings from the config (undefined: no quota). */
  get quotaSettings(): QuotaSettings | undefined {
    const q = this.cfg.quota;
    if (!q) return undefined;
    return {
      interface: this.cfg.interface,
      limit: parseBytes(q.bytes),
      period: q.period,
      resetDay: q.resetDay,
      warnAt: q.warnAt / 100,
    };
  }

  /** A DHCP uplink's leased IPv4 subnet and address: its route goes into the uplink's table only
   * (the lease's address is added without the main table's prefix route). Static addresses are
   * the operator's, with their routes; netifd routes its lines itself. */
  get subnet(): { prefix: string; source: string } | undefined {
    const l = this.lease;
    if (!l || isIP(l.address) !== 4) return undefined;
    return { prefix: networkOf(l.address, l.prefixLength), source: l.address };
  }

  get capacityBps(): number | undefined {
    return this.cfg.capacity ? parseRate(this.cfg.capacity) : undefined;
  }
}

export interface UplinksEvents {
  /** Non-TCP and direct traffic moves from one uplink to another. */
  switch: [from: Uplink, to: Uplink, why: 'failover' | 'return'];
  /** The probe's verdict changed (`from`: the verdict before). */
  health: [u: Uplink, from: UplinkHealth, reason: string];
  /** The quota's period began again, its warning share or its limit was reached. */
  quota: [u: Uplink, kind: QuotaEventKind];
  /** The uplink's DHCPv6 lease delegated a prefix (bound, renewed: `at` is when its lifetimes
   * began, ms since the epoch), or the lease with one ended (undefined). */
  delegation: [u: Uplink, prefix: IaPrefix | undefined, at: number];
}

export class Uplinks extends EventEmitter<UplinksEvents> {
  readonly list: Uplink[];
  /** Picks the uplink of non-TCP and direct traffic. */
  readonly selector: UplinkSelector;
  /** Non-TCP and direct traffic switches so far. */
  switches = 0;
  /** Where the quota state files are (`state.directory`). */
  private readonly stateDir: string;
  /** How an interface's counters are read (sysfs; tests give their own). */
  readCounters: (ifname: string) => InterfaceCounters | string = readInterfaceCounters;
  /** How the uplinks' address and route commands run (tests give a recorder: never the host's). */
  netExec: CmdExec = execCmd;
  /** Wall-clock time, for the quota periods (tests give a fake clock). */
  clock: () => number = Date.now;
  /** Socket stats already counted, per subflow socket. */
  private readonly counted = new Map<TcpSocket, { in: number; out: number; uplink: Uplink }>();

  constructor(
    cfg: CpeConfig,
    private readonly pm: ClientPathManager,
    private readonly log: Logger,
    private readonly conns: () => Iterable<MptcpConnection>,
    /** Asks the HAG over an uplink (HagReach); none: the HAG is not checked per uplink. */
    private readonly hagCheck?: (u: Uplink) => ReturnType<HagCheck>,
  ) {
    super();
    this.stateDir = cfg.state.directory;
    this.list = cfg.uplinks.map((u, i) => new Uplink(u, i, cfg));
    for (const u of this.list) this.openQuota(u);
    this.selector = new UplinkSelector(
      cfg.uplinks.map((u) => u.role),
      cfg.failover.holdDown,
    );
  }

  /** The uplink that carries non-TCP and direct traffic now. */
  get active(): Uplink {
    return this.list[this.selector.active];
  }

  byId(id: number): Uplink | undefined {
    return this.list[id - 1];
  }

  get primary(): Uplink {
    return this.list.find((u) => u.cfg.role === 'primary') ?? this.list[0];
  }

  /** Gives the path manager every uplink and starts probes and DHCP clients. */
  start(now: number): void {
    for (const u of this.list) {
      const c = this.readCounters(u.cfg.interface);
      if (typeof c !== 'string') u.startCounters = c;
      // The quota's first reading now: a first start counts from here, a restart adds what came since.
      this.checkQuota(u, this.clock());
      this.pm.setAddress(now, {
        id: u.id,
        addr: u.coreBytes,
        otherFamily: u.coreBytesOther,
        backup: u.backup,
        overflow: u.cfg.role === 'overflow',
        up: u.usable,
      });
      if (u.cfg.addressing === 'dhcp') this.startDhcp(u);
      if (u.cfg.addressing === 'netifd') this.fromNetifd(u);
      if (u.cfg.addressing === 'slaac' || u.cfg.addressing === 'dhcpv6') {
        // A dhcpv6 uplink takes only the router from the RAs: the kernel makes no address of them.
        this.runQuiet(slaacSysctls(u.cfg.interface, u.cfg.addressing === 'slaac').argv);
        this.fromSlaac(u);
      }
      if (this.wantsDhcp6(u)) this.startDhcp6(u);
      this.startProbe(u);
      this.startHagReach(u);
    }
  }

  /** How netifd's view of an interface is read (ubus; tests give their own). */
  netifd: (network: string) => NetifdStatus | string = queryNetifd;

  /** Reads netifd's status of every netifd uplink again (at a reload: netifd reported a change). */
  refreshNetifd(): void {
    for (const u of this.list) if (u.cfg.addressing === 'netifd') this.fromNetifd(u);
  }

  /** netifd runs the line: the uplink takes its address and gateway (netifd has put them on the device). */
  private fromNetifd(u: Uplink): void {
    const network = u.cfg.network ?? u.name;
    const s = this.netifd(network);
    const st = typeof s === 'string' ? undefined : s;
    if (typeof s === 'string') this.log.warn({ event: 'netifd-failed', uplink: u.name, reason: s }, s);
    else if (s.device && s.device !== u.cfg.interface)
      this.log.warn(
        { event: 'netifd-device', uplink: u.name, device: s.device, interface: u.cfg.interface },
        `${u.name}: netifd's ${network} is on ${s.device} now, not ${u.cfg.interface}: restart to follow it`,
      );
    const address = st?.up ? st.address?.split('/')[0] : undefined;
    const gateway = st?.up ? st.gateway : undefined;
    if (address === u.address && gateway === u.gateway) return;
    const gwChanged = gateway !== u.gateway;
    u.address = address;
    u.gateway = gateway;
    this.route(u);
    if (gwChanged && !u.cfg.probe.target) this.startProbe(u);
    this.sync(u);
    this.log.info(
      { event: 'uplink-netifd', uplink: u.name, network, address, gateway },
      address ? `${u.name}: netifd's ${network} has ${address}` : `${u.name}: netifd's ${network} is down`,
    );
  }

  /** How a slaac uplink's state is read (ip -j; tests give their own). */
  slaac: (ifname: string) => SlaacState | string = readSlaac;

  /**
   * A slaac uplink (RFC 4862): takes the global address the kernel configured from the RAs and the
   * RA's router as its IPv6 gateway (its table's default route, the probe's target); checked at
   * start and every tick, since RAs come and go.
   */
  private fromSlaac(u: Uplink): void {
    const st = this.slaac(u.cfg.interface);
    if (typeof st === 'string') {
      if (u.address !== undefined)
        this.log.warn({ event: 'uplink-slaac-failed', uplink: u.name, reason: st }, `${u.name}: ${st}`);
      return;
    }
    // A dhcpv6 uplink's address is its lease's (onLease6).
    const address = u.cfg.addressing === 'slaac' ? st.address : u.address;
    if (address === u.address && st.router === u.gateway6) return;
    const gwChanged = st.router !== u.gateway6;
    u.address = address;
    u.gateway6 = st.router;
    this.route(u);
    if (gwChanged && !u.cfg.probe.target && u.cfg.probe.targets.length === 0) this.startProbe(u);
    this.sync(u);
    if (u.cfg.addressing === 'dhcpv6') {
      this.log.info(
        { event: 'uplink-ra-router', uplink: u.name, router: st.router },
        `${u.name}: router ${st.router ?? 'none'} from router advertisements`,
      );
      return;
    }
    this.log.info(
      { event: 'uplink-slaac', uplink: u.name, address: st.address, router: st.router },
      st.address
        ? `${u.name}: ${st.address} from router advertisements (router ${st.router ?? 'none'})`
        : `${u.name}: no address from router advertisements`,
    );
  }

  private startHagReach(u: Uplink): void {
    const c = u.cfg.probe.hag;
    const check = this.hagCheck;
    if (!check || c.interval === 0) return;
    u.hag = new HagReach(
      // While the probe calls the line down, a failed check says nothing about the HAG.
      async () => (u.health === 'down' ? undefined : check(u)),
      c.interval,
      c.failures,
      (reachable, reason) => {
        this.log[reachable ? 'info' : 'warn'](
          { event: reachable ? 'uplink-hag-reachable' : 'uplink-hag-unreachable', uplink: u.name, reason },
          `${u.name}: HAG ${reachable ? 'reachable' : 'unreachable'} over this uplink: ${reason}`,
        );
        this.sync(u);
      },
      () => u.bytesIn,
    );
    u.hag.start();
  }

  private startProbe(u: Uplink): void {
    const target = u.cfg.probe.targets[0] ?? u.cfg.probe.target ?? u.gateway ?? u.gateway6;
    if (!target) return; // a DHCP uplink: probed once its lease names a gateway
    u.probe?.stop();
    const p = new UplinkProbe({
      interface: u.cfg.interface,
      target,
      targets: [...(u.cfg.probe.target ? [u.cfg.probe.target] : []), ...u.cfg.probe.targets],
      name: u.name,
      intervalMs: u.cfg.probe.interval,
      timeoutMs: u.cfg.probe.timeout,
      failuresToDown: u.cfg.probe.failures,
      successesToUp: u.cfg.probe.successes,
      window: u.cfg.probe.window,
      maxLoss: u.cfg.probe.maxLoss / 100,
      maxRttMs: u.cfg.probe.maxRtt,
      logger: this.log,
    });
    p.on('up', (info) => this.setHealth(u, 'up', info.kind, info.reason));
    p.on('down', (info) => this.setHealth(u, 'down', info.kind, info.reason));
    p.on('result', (r) => {
      if (r.ok) u.probeRtt.observe(r.rttMs / 1000);
    });
    u.probe = p;
    try {
      p.start();
    } catch (e) {
      // No raw socket (no CAP_NET_RAW, the interface gone): the uplink cannot be judged; say so.
      this.log.error({ event: 'probe-failed', uplink: u.name, err: e }, `probe of ${u.name} cannot run`);
      u.probe = undefined;
    }
  }

  private startDhcp(u: Uplink): void {
    const c = new DhcpClient({ interface: u.cfg.interface, logger: this.log });
    u.dhcp = c;
    c.on('state', (state) =>
      this.log.debug({ event: 'uplink-dhcp-state', uplink: u.name, state }, `${u.name}: DHCP ${state}`),
    );
    c.on('bound', (lease) => this.onLease(u, lease));
    c.on('renewed', (lease) => this.onLease(u, lease));
    c.on('lost', (lease, reason) => {
      this.log.warn(
        { event: 'uplink-lease-lost', uplink: u.name, reason },
        `${u.name}: lease lost: ${reason}`,
      );
      for (const cmd of removeLeaseCommands(u.cfg.interface, lease)) this.runQuiet(cmd);
      u.lease = undefined;
      u.address = undefined;
      this.sync(u);
    });
    c.start();
  }

  /** Whether the uplink runs the DHCPv6 client: for its address (dhcpv6), or for the LAN's prefix (delegation). */
  private wantsDhcp6(u: Uplink): boolean {
    return u.cfg.addressing === 'dhcpv6' || (u.cfg.addressing === 'slaac' && u.cfg.delegation !== undefined);
  }

  /** How the DHCPv6 client's transport is opened (undefined: no usable link-local address yet; tests give their own). */
  dhcp6Transport: (ifname: string) => Dhcp6Transport | undefined = (ifname) => {
    const ll = linkLocalOf(ifname);
    return ll ? new Udp6Transport(ifname, ll, this.log) : undefined;
  };

  /** The interface's MAC for the DHCPv6 client's DUID (undefined: the client reads sysfs; tests give one). */
  dhcp6Mac: (ifname: string) => string | undefined = () => undefined;

  /** Starts the uplink's DHCPv6 client once the interface has its link-local address (tried again each tick). */
  private startDhcp6(u: Uplink): void {
    if (u.dhcp6) return;
    const t = this.dhcp6Transport(u.cfg.interface);
    if (!t) return;
    const c = new Dhcp6Client({
      interface: u.cfg.interface,
      mac: this.dhcp6Mac(u.cfg.interface),
      address: u.cfg.addressing === 'dhcpv6',
      prefixLength: u.cfg.delegation?.prefixLength,
      transport: t,
      logger: this.log,
    });
    u.dhcp6 = c;
    c.on('state', (state) =>
      this.log.debug({ event: 'uplink-dhcp6-state', uplink: u.name, state }, `${u.name}: DHCPv6 ${state}`),
    );
    c.on('bound', (lease) => this.onLease6(u, lease, undefined));
    c.on('renewed', (lease, previous) => this.onLease6(u, lease, previous));
    c.on('lost', (lease, reason) => {
      this.log.warn(
        {
          event: 'uplink-lease6-lost',
          uplink: u.name,
          reason,
          address: lease.address?.address,
          prefix: prefixText(lease.prefix),
        },
        `${u.name}: DHCPv6 lease lost: ${reason}`,
      );
      for (const cmd of removeLease6Commands(u.cfg.interface, lease)) this.runQuiet(cmd);
      u.lease6 = undefined;
      if (u.cfg.addressing === 'dhcpv6') u.address = undefined;
      if (lease.prefix) this.emit('delegation', u, undefined, Date.now());
      this.sync(u);
    });
    c.start();
  }

  private onLease6(u: Uplink, lease: Dhcp6Lease, previous: Dhcp6Lease | undefined): void {
    for (const cmd of applyLease6Commands(u.cfg.interface, lease, previous)) this.runQuiet(cmd);
    u.lease6 = lease;
    if (u.cfg.addressing === 'dhcpv6') u.address = lease.address?.address;
    this.route(u);
    this.sync(u);
    this.log.info(
      {
        event: 'uplink-lease6',
        uplink: u.name,
        address: lease.address?.address,
        prefix: prefixText(lease.prefix),
        gateway6: u.gateway6,
        t1: lease.t1,
        t2: lease.t2,
      },
      `${u.name}: DHCPv6 ${[lease.address?.address, prefixText(lease.prefix)].filter(Boolean).join(' and ')}`,
    );
    if (lease.prefix) this.emit('delegation', u, lease.prefix, lease.obtainedAt);
    else if (previous?.prefix) this.emit('delegation', u, undefined, Date.now());
  }

  private onLease(u: Uplink, lease: DhcpLease): void {
    for (const cmd of applyLeaseCommands(u.cfg.interface, lease, u.lease, { noPrefixRoute: true }))
      this.runQuiet(cmd);
    const gwChanged = lease.routers[0] !== u.gateway;
    u.lease = lease;
    u.address = lease.address;
    u.gateway = lease.routers[0];
    this.route(u);
    if (gwChanged && !u.cfg.probe.target) this.startProbe(u);
    this.sync(u);
    // Logged once the lease is in force: address, route and (through onChange) the source rule.
    this.log.info(
      { event: 'uplink-lease', uplink: u.name, address: lease.address, gateway: u.gateway },
      `${u.name}: leased ${lease.address}`,
    );
  }

  /** A lease's address command, best effort (the interface may be gone). */
  private runQuiet(argv: string[]): void {
    this.netExec({ argv });
  }

  /** The subnet and default route(s) of the uplink's table (cpe/net's uplinkRoute). */
  private route(u: Uplink): void {
    if (!u.gateway && !u.gateway6 && !u.subnet) return;
    const r = runPlan(
      uplinkRoute({
        name: u.name,
        interface: u.cfg.interface,
        table: u.table,
        gateway: u.gateway,
        gateway6: u.gateway6,
        subnet: u.subnet,
        coreAddresses: u.coreAddresses,
      }),
      { logger: this.log, exec: this.netExec },
    );
    if (!r.ok)
      this.log.warn({ event: 'uplink-route-failed', uplink: u.name, ...r.failure }, 'uplink route not set');
  }

  /** Sets an uplink's probe verdict (the probe's events; tests call it directly). */
  setHealth(u: Uplink, h: UplinkHealth, kind: HealthReason, reason: string): void {
    if (u.health === h) return;
    const from = u.health;
    u.health = h;
    u.healthKind = kind;
    u.healthReason = reason;
    if (h === 'down') u.hag?.forget();
    this.log.info(
      { event: h === 'up' ? 'uplink-up' : 'uplink-down', uplink: u.name, kind, reason },
      `uplink ${u.name} ${h}: ${reason}`,
    );
    // The kernel drops an interface's routes when its link goes down: put the uplink's back.
    if (h === 'up') this.route(u);
    this.sync(u);
    this.emit('health', u, from, reason);
  }

  /** Tells the path manager the uplink's usability and role. */
  private sync(u: Uplink): void {
    this.pm.setAddress(this.now(), {
      id: u.id,
      addr: u.coreBytes,
      otherFamily: u.coreBytesOther,
      backup: u.backup,
      overflow: u.cfg.role === 'overflow',
      up: u.usable,
    });
    this.reselect(this.now());
    this.onChange?.();
  }

  /** Lets the selector move non-TCP and direct traffic; emits 'switch' when it does. */
  private reselect(now: number): void {
    const s = this.selector.step(
      now,
      this.list.map((u) => u.usableDirect),
    );
    if (!s) return;
    const from = this.list[s.from];
    const to = this.list[s.to];
    this.switches++;
    this.log.warn(
      { event: 'uplink-switch', from: from.name, to: to.name, why: s.why, fromReason: from.reason },
      `non-TCP and direct traffic moves from ${from.name} to ${to.name} (${s.why === 'failover' ? `${from.name} ${from.reason}` : 'hold-down over'})`,
    );
    this.emit('switch', from, to, s.why);
  }

  /** Called after any uplink changed (the daemon wakes the driver). */
  onChange: (() => void) | undefined;
  now: () => number = () => performance.now();

  /** Adds what a subflow carried since it was last counted to its uplink. */
  count(sf: Subflow): void {
    const id = this.pm.addressOf(sf);
    const u = id === undefined ? undefined : this.byId(id);
    if (!u) return;
    const s = sf.socket.stats;
    const seen = this.counted.get(sf.socket) ?? { in: 0, out: 0, uplink: u };
    const dIn = s.bytesIn - seen.in;
    const dOut = s.bytesOut - seen.out;
    if (dIn > 0 || dOut > 0) {
      u.bytesIn += dIn;
      u.bytesOut += dOut;
    }
    seen.in = s.bytesIn;
    seen.out = s.bytesOut;
    this.counted.set(sf.socket, seen);
  }

  /** A subflow ended: count its last bytes and forget it. */
  closed(sf: Subflow): void {
    this.count(sf);
    this.counted.delete(sf.socket);
  }

  /** Once a second: counters, rates, RTTs, samples, quotas, the hold-down of a returning uplink. */
  tick(): void {
    for (const u of this.list) {
      if (u.cfg.addressing === 'slaac' || u.cfg.addressing === 'dhcpv6') this.fromSlaac(u);
      if (this.wantsDhcp6(u) && !u.dhcp6) this.startDhcp6(u);
    }
    this.reselect(this.now());
    const rtt = new Map<Uplink, number[]>();
    for (const u of this.list) {
      u.fallbackSubflows = 0;
      u.subflows6 = 0;
    }
    for (const c of this.conns()) {
      for (const sf of c.subflows) {
        this.count(sf);
        const u = this.byId(this.pm.addressOf(sf) ?? -1);
        // Open subflows only (not those lingering in TIME-WAIT after their connection ended).
        if (u && sf.socket.state === TcpState.Established && sf.socket.rtt.srtt > 0) {
          if (c.fallback) u.fallbackSubflows++;
          if (sf.socket.tuple.local.length === 16) u.subflows6++;
          const l = rtt.get(u) ?? [];
          l.push(sf.socket.rtt.srtt);
          rtt.set(u, l);
          u.subflowSrtt.observe(sf.socket.rtt.srtt / 1000);
        }
      }
    }
    const t = Date.now();
    const wall = this.clock();
    for (const u of this.list) {
      const r = rtt.get(u);
      u.subflows = r?.length ?? 0;
      u.subflowRttMs = r ? r.reduce((a, b) => a + b, 0) / r.length : undefined;
      const last = u.samples.at(-1);
      if (last) {
        const dt = (t - last.t) / 1000;
        u.rateIn = dt > 0 ? ((u.bytesIn - last.bytesIn) * 8) / dt : 0;
        u.rateOut = dt > 0 ? ((u.bytesOut - last.bytesOut) * 8) / dt : 0;
      }
      u.samples.push({
        t,
        bytesIn: u.bytesIn,
        bytesOut: u.bytesOut,
        probeRttMs: u.probe?.status().srttMs,
        subflowRttMs: u.subflowRttMs,
      });
      if (u.samples.length > 120) u.samples.shift();
      this.checkQuota(u, wall);
    }
  }

  /** The uplink's quota meter, continuing from its state file when there is one. */
  private openQuota(u: Uplink): void {
    const q = u.quotaSettings;
    if (!q) return;
    const file = quotaFile(this.stateDir, u.name);
    const saved = loadQuotaState(file);
    if (typeof saved === 'string')
      this.log.error(
        { event: 'quota-state-unreadable', uplink: u.name, reason: saved },
        `${saved}: counting from zero`,
      );
    const now = this.clock();
    u.quota = new QuotaMeter(q, now, typeof saved === 'string' ? undefined : saved);
    u.quotaSavedAt = now;
    // A first quota given by a reload counts what the interface carried since the daemon started.
    if (!saved && u.startCounters) u.quota.update(u.startCounters, now);
    if (saved && typeof saved !== 'string')
      this.log.info(
        { event: 'quota-continued', uplink: u.name, used: u.quota.used, file },
        `${u.name}: quota count continues at ${u.quota.used} bytes`,
      );
  }

  /** Reads the interface's counters into the quota; acts on and reports what happened; saves when due. */
  private checkQuota(u: Uplink, now: number): void {
    const m = u.quota;
    if (!m) return;
    const c = this.readCounters(u.cfg.interface);
    const err = typeof c === 'string' ? c : undefined;
    if (err !== u.countersError && err)
      this.log.warn({ event: 'quota-counters-unreadable', uplink: u.name, reason: err }, err);
    u.countersError = err;
    const wasExhausted = m.exhausted;
    const key = m.counterKey;
    const events = m.update(c, now);
    for (const kind of events) {
      u.quotaEvents[kind]++;
      // The log keeps its older name for exhaustion (config/schema/cpe.md, "Log events").
      const event = kind === 'quota-exhausted' ? 'quota-exceeded' : kind;
      const detail = { event, uplink: u.name, used: m.used, quota: m.limit };
      if (kind === 'quota-reset') this.log.info(detail, `${u.name}: new quota period`);
      else if (kind === 'quota-warning')
        this.log.warn(
          detail,
          `${u.name}: ${Math.round(m.warnAt * 100)}% of the quota of ${m.limit} bytes used`,
        );
      else
        this.log.warn(
          detail,
          `${u.name}: quota of ${m.limit} bytes used up; backup only until the period ends`,
        );
      this.emit('quota', u, kind);
    }
    if (m.exhausted !== wasExhausted) this.setPriority(u, m.exhausted);
    // Saved at once when the counters followed are new (the first reading, a reset), so that a
    // restart knows from where the interface counted on.
    if (
      events.length > 0 ||
      m.counterKey !== key ||
      now - u.quotaSavedAt >= (u.cfg.quota?.saveInterval ?? 60_000)
    )
      this.saveQuota(u, now);
  }

  private saveQuota(u: Uplink, now: number): void {
    if (!u.quota) return;
    u.quotaSavedAt = now;
    try {
      saveQuotaState(quotaFile(this.stateDir, u.name), u.quota.state());
    } catch (e) {
      this.log.error(
        { event: 'quota-save-failed', uplink: u.name, err: e },
        `${u.name}: quota count not saved: ${(e as Error).message}`,
      );
    }
  }

  /** RFC 8684 3.3.8: MP_PRIO marks the uplink's open subflows; new ones follow the address's flag. */
  private setPriority(u: Uplink, backup: boolean): void {
    for (const c of this.conns())
      for (const sf of c.subflows) if (this.pm.addressOf(sf) === u.id) c.setBackup(sf, backup || u.backup);
    this.sync(u);
  }

  /** Takes a reloaded config's quotas, capacities and failover hold-down (the rest of an uplink needs a restart). */
  reconfigure(cfg: CpeConfig): void {
    this.selector.holdDownMs = cfg.failover.holdDown;
    for (const u of this.list) {
      const next = cfg.uplinks.find((x) => x.name === u.name);
      if (!next) continue;
      const was = u.backup;
      u.cfg = { ...u.cfg, quota: next.quota, capacity: next.capacity };
      const q = u.quotaSettings;
      // A changed limit keeps what was counted in the period; a new quota continues its state file.
      if (!q) u.quota = undefined;
      else if (u.quota) u.quota.reconfigure(q, this.clock());
      else this.openQuota(u);
      if (u.quota) this.checkQuota(u, this.clock());
      if (u.backup !== was) this.setPriority(u, u.backup);
    }
  }

  stop(): void {
    for (const u of this.list) {
      // A clean exit saves the count up to now.
      if (u.quota) {
        u.quota.update(this.readCounters(u.cfg.interface), this.clock());
        this.saveQuota(u, this.clock());
      }
      u.probe?.stop();
      u.probe = undefined;
      u.hag?.stop();
      if (u.dhcp) {
        u.dhcp.release();
        if (u.lease) for (const cmd of removeLeaseCommands(u.cfg.interface, u.lease)) this.runQuiet(cmd);
      }
      if (u.dhcp6) {
        // RFC 8415 18.2.7: the address and prefix go back to the server.
        u.dhcp6.release();
        if (u.lease6) for (const cmd of removeLease6Commands(u.cfg.interface, u.lease6)) this.runQuiet(cmd);
      }
    }
  }

  /** The uplink address a direct connection to `family` leaves from (undefined: let the kernel choose). */
  directSource(family: 4 | 6): { uplink: Uplink; address: string | undefined } {
    const p = this.active;
    const a = p.address && isIP(p.address) === family ? p.address : undefined;
    return { uplink: p, address: a };
  }
}
