// The CPE daemon: wires the packet path together. Start: the TUN (one private core address per
// uplink), the kernel state through cpe/net (nftables TPROXY of LAN TCP, per-uplink policy routing
// and masquerade, NAT of the LAN's non-TCP on the uplinks, QUIC policy), the MPTCP core on the TUN
// with the client path manager (uplinks as addresses; probes drive their health), the LAN's
// non-TCP and direct traffic on the uplink the selector picks (its policy rule moved and the
// conntrack entries NATed to the old uplink flushed on a switch), the LAN DHCP server, the
// transparent listener (each LAN connection: cpe/daemon/intercept.ts), inbound port forwarding
// through the HAG (cpe/daemon/inbound.ts, config `inbound`) and the status page. Stop
// (SIGTERM): drain, then remove everything it added. Reload (SIGHUP): what can change at run time.
import { execFileSync } from 'node:child_process';
import net, { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { raiseFileLimit, sizeConnections } from '../../src/daemon/file-limit.js';
import { TunDriver } from '../../src/io/tun-driver.js';
import { configureLink, Tun } from '../../src/io/tun-tap/index.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { TfoCookieCache } from '../../src/tcp/fastopen.js';
import { PathMetrics } from '../../src/tcp/path-metrics.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { DhcpServer } from '../dhcp/server.js';
import type { IaPrefix } from '../dhcp6/wire.js';
import { EventHook, type EventsConfig } from '../events/hook.js';
import { runPlan, setup, teardown } from '../net/apply.js';
import { flushNat } from '../net/conntrack.js';
import { type CpeNetConfig, nftRuleset } from '../net/plan.js';
import { listenTransparent, type TransparentListener } from '../net/transparent.js';
import { LanAdvertiser } from '../ra/advertiser.js';
import type { RaPrefix } from '../ra/wire.js';
import {
  type CpeConfig,
  coreAddress6Of,
  coreAddressOf,
  lanAdvertisement,
  tunKernelAddress,
  tunKernelAddress6,
} from './config.js';
import { LanDelegation } from './delegation.js';
import { hagAlive } from './hag-handshake.js';
import { HagLink } from './hag-link.js';
import { InboundForwarder } from './inbound.js';
import { Interceptor } from './intercept.js';
import { intToIpv4, ipv4ToInt, parseAddress, prefixParts } from './ip.js';
import { SourceRules } from './source-rules.js';
import { StatusServer, type StatusSnapshot } from './status.js';
import { type Uplink, Uplinks } from './uplinks.js';

/** The CpeNetConfig (cpe/net) for this configuration. */
export function netConfig(cfg: CpeConfig, uplinks: Uplinks): CpeNetConfig {
  const primary = uplinks.primary;
  return {
    suffix: cfg.intercept.suffix || undefined,
    lan: { interface: cfg.lan.interface },
    tproxy: { port: cfg.intercept.port, mark: cfg.intercept.mark, table: cfg.intercept.table },
    bypass: { destinations: cfg.bypass.destinations, ports: cfg.bypass.ports },
    quic: cfg.quic === 'block' ? 'drop' : 'pass',
    primary: primary.cfg.interface,
    uplinks: uplinks.list.map((u) => ({
      name: u.name,
      interface: u.cfg.interface,
      table: u.table,
      gateway: u.gateway,
      gateway6: u.gateway6,
      subnet: u.subnet,
      coreAddresses: u.coreAddresses,
    })),
    tun: {
      interface: cfg.tun.name,
      addresses: [
        tunKernelAddress(cfg),
        ...(uplinks.list.some((u) => u.coreAddress6) ? [tunKernelAddress6(cfg)] : []),
      ],
    },
    rulePriority: cfg.intercept.rulePriority,
  };
}

/** The hook's settings from the config's `events`. */
export function hookConfig(cfg: CpeConfig): EventsConfig {
  const e = cfg.events;
  return {
    command: e.command,
    webhook: e.webhook && {
      url: e.webhook.url,
      headers: e.webhook.authorization ? { authorization: e.webhook.authorization } : {},
    },
    timeout: e.timeout,
    retries: e.retries,
    backoff: e.backoff,
    queue: e.queue,
  };
}

function ip(args: string[]): string | undefined {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    return undefined;
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
  }
}

/** Files a connection holds: its LAN socket, and its socket to the server when it goes direct. */
export const FILES_PER_CONNECTION = 2;

export class CpeDaemon {
  readonly ep: MptcpEndpoint;
  readonly pm: ClientPathManager;
  readonly uplinks: Uplinks;
  readonly hag: HagLink;
  readonly intercept: Interceptor;
  /** Inbound port forwarding (config `inbound`), when configured. */
  readonly inbound: InboundForwarder | undefined;
  /** The operator's event hook (`events`); replaced at a reload that changes it. */
  events: EventHook;
  private readonly conns = new Set<MptcpConnection>();
  private tun: Tun | undefined;
  private driver: TunDriver | undefined;
  private net: CpeNetConfig | undefined;
  private netUp = false;
  private rules: SourceRules;
  private dhcp: DhcpServer | undefined;
  private ra: LanAdvertiser | undefined;
  private listener: TransparentListener | undefined;
  private status: StatusServer | undefined;
  private tick: NodeJS.Timeout | undefined;
  private readonly lanAdded: string[] = [];
  /** The LAN's prefix delegated on an uplink (uplinks[].delegation), and the RA prefixes configured. */
  readonly delegation = new LanDelegation();
  private raConfigured: RaPrefix[] = [];
  private readonly startedAt = Date.now();
  statusAddress: { address: string; port: number } | undefined;

  constructor(
    private cfg: CpeConfig,
    readonly log: Logger,
  ) {
    // Per uplink congestion control: its subflows leave from its core address.
    const ccByAddress = new Map(
      cfg.uplinks.flatMap((u, i) =>
        [coreAddressOf(cfg, i), coreAddress6Of(cfg, i)]
          .filter((a) => a !== undefined)
          .map((a) => [(parseAddress(a) as Uint8Array).join('.'), u.congestionControl] as const),
      ),
    );
    this.ep = new MptcpEndpoint({
      tcp: { mtu: cfg.tun.mtu, congestionControl: cfg.mptcp.congestionControl },
      congestionControlFor: (local) => ccByAddress.get(local.join('.')),
      mptcp: {
        checksum: cfg.mptcp.checksum,
        sendBuffer: cfg.mptcp.bufferBytes,
        recvBuffer: cfg.mptcp.bufferBytes,
        congestion: cfg.mptcp.congestion,
      },
      maxSubflows: Math.max(2, cfg.uplinks.length),
      stack: { pathMetrics: cfg.mptcp.pathSharing ? new PathMetrics() : undefined },
    });
    this.useFastOpen(cfg);
    this.pm = new ClientPathManager(this.ep);
    this.ep.on((e) => {
      if (e.type === 'created') this.conns.add(e.conn);
      else if (e.type === 'closed') this.conns.delete(e.conn);
    });
    this.uplinks = new Uplinks(
      cfg,
      this.pm,
      log,
      () => this.conns,
      (u) => this.checkHagVia(u),
    );
    this.uplinks.now = () => performance.now();
    this.uplinks.onChange = () => this.driver?.flush();
    this.hag = new HagLink(log, (a) => this.checkHag(a), cfg.hag.retryAfter, cfg.hag.addresses);
    this.intercept = new Interceptor(cfg, this.ep, this.pm, this.uplinks, this.hag, log, () =>
      performance.now(),
    );
    if (cfg.inbound)
      this.inbound = new InboundForwarder(
        cfg,
        cfg.inbound,
        this.ep,
        this.pm,
        this.uplinks,
        this.hag,
        log,
        () => performance.now(),
      );
    this.rules = new SourceRules(cfg.intercept.rulePriority + 100, log);
    this.events = new EventHook(hookConfig(cfg), log);
    this.reportEvents();
  }

  /** What the uplinks and the HAG link report becomes an event for the hook (cpe/events). */
  private reportEvents(): void {
    this.uplinks.on('health', (u, from, reason) => {
      // Down at every verdict of down; up only when it comes back (not the first verdict at start).
      if (u.health === 'down')
        this.events.emit('uplink-down', { uplink: u.name, reason, kind: u.healthKind });
      else if (u.health === 'up' && from === 'down')
        this.events.emit('uplink-up', { uplink: u.name, reason });
    });
    this.uplinks.on('quota', (u, kind) => {
      const q = u.quota;
      if (!q) return;
      this.events.emit(kind, {
        uplink: u.name,
        used: q.used,
        limit: q.limit,
        share: q.used / q.limit,
        periodStart: new Date(q.span.start).toISOString(),
        periodEnd: new Date(q.span.end).toISOString(),
      });
    });
    this.hag.on('state', (state, reason, address) =>
      this.events.emit(state === 'up' ? 'hag-back' : 'hag-unreachable', { address, reason }),
    );
  }

  get config(): CpeConfig {
    return this.cfg;
  }

  private lan4(): { address: string; len: number } | undefined {
    const a = this.cfg.lan.addresses.find((x) => isIP(x.split('/')[0]) === 4);
    if (!a) return undefined;
    const { base, len } = prefixParts(a);
    return { address: base, len };
  }

  async start(): Promise<void> {
    const c = this.cfg;
    const limits = raiseFileLimit();
    // The LAN addresses (the DHCP server's identity must be on the interface before it starts).
    for (const a of c.lan.addresses) {
      const v6 = isIP(a.split('/')[0]) === 6;
      const have = execFileSync('ip', [v6 ? '-6' : '-4', '-o', 'addr', 'show', 'dev', c.lan.interface], {
        encoding: 'utf8',
      });
      if (have.includes(` ${a} `) || have.includes(` ${a.split('/')[0]}/`)) continue;
      const err = ip([
        ...(v6 ? ['-6'] : []),
        'addr',
        'add',
        a,
        'dev',
        c.lan.interface,
        ...(v6 ? ['nodad'] : []),
      ]);
      if (err) throw new Error(`cannot add ${a} to ${c.lan.interface}: ${err}`);
      this.lanAdded.push(a);
    }
    // The TUN first: cpe/net puts the kernel's address on it.
    this.tun = Tun.open({ name: c.tun.name, mtu: c.tun.mtu, offload: c.tun.offload });
    this.log.info(
      { tun: this.tun.name, offload: c.tun.offload, offloads: this.tun.offloads },
      this.tun.describeOffloads(),
    );
    configureLink(this.tun.name, { mtu: c.tun.mtu, up: true, txQueueLen: 1000 });
    this.net = netConfig(c, this.uplinks);
    const r = setup(this.net, { logger: this.log });
    if (!r.ok) throw new Error(`network setup failed: ${r.failure.command}: ${r.failure.error}`);
    this.netUp = true;
    this.sourceRules();
    // What the LAN sends that is not intercepted (UDP, ICMP, bypasses) leaves by the active uplink.
    this.lanRule(this.uplinks.active);
    this.uplinks.on('switch', (from, to) => {
      this.lanRule(to);
      this.sourceRules();
      this.flushLan(from);
    });
    this.driver = new TunDriver(this.tun, this.ep, { rxHoldoffMs: c.tun.rxHoldoffMs }).start();
    // Before the uplinks start: a netifd uplink has its address at once.
    this.uplinks.onChange = () => {
      this.sourceRules();
      this.driver?.flush();
    };
    this.uplinks.on('delegation', (u, p, at) => this.delegated(u, p, at));
    this.uplinks.start(performance.now());
    const lan4 = this.lan4();
    if (c.lan.dhcp?.enabled && lan4) {
      const d = c.lan.dhcp;
      const mask = lan4.len === 0 ? 0 : (0xffffffff << (32 - lan4.len)) >>> 0;
      const subnet = `${intToIpv4((ipv4ToInt(lan4.address) & mask) >>> 0)}/${lan4.len}`;
      this.dhcp = await DhcpServer.start({
        subnet,
        serverId: lan4.address,
        ranges: d.ranges,
        statics: d.statics,
        leaseTime: Math.round(d.leaseTime / 1000),
        router: [lan4.address],
        dns: d.dns ?? [lan4.address],
        domain: d.domain,
        leaseFile: d.leaseFile,
        logger: this.log,
      });
      this.dhcp.on('error', (e) => this.log.error({ event: 'dhcp-error', err: e }, 'DHCP server error'));
    }
    // Router advertisements once the CPE forwards (cpe/net's setup): hosts take it as their router.
    const adv = lanAdvertisement(c);
    if (adv) {
      this.raConfigured = adv.ra.prefixes;
      this.ra = new LanAdvertiser({ ...adv, log: this.log, now: () => performance.now() });
      this.ra.start();
      // A prefix delegated while the RAs were not up yet.
      if (this.delegation.current) this.refreshRa();
    }
    this.listener = await listenTransparent({ port: c.intercept.port }, (conn) =>
      this.intercept.handle(conn),
    );
    this.inbound?.start();
    this.status = new StatusServer({ snapshot: () => this.snapshot() });
    this.statusAddress = await this.status.listen(c.status.port, c.status.address ?? lan4?.address);
    this.tick = setInterval(() => {
      this.uplinks.tick();
      // The delegated prefix's lifetimes count down in the RAs (RFC 9096 3.1).
      if (this.delegation.current || this.delegation.deprecated.length) this.refreshRa();
    }, 1000);
    this.tick.unref();
    this.intercept.fileCapacity = sizeConnections(this.log, limits, {
      setting: 'intercept.maxConnections',
      maxConnections: c.intercept.maxConnections,
      filesPerConnection: FILES_PER_CONNECTION,
    }).capacity;
    this.log.info(
      {
        event: 'start',
        tun: this.tun.name,
        uplinks: this.uplinks.list.map((u) => ({
          name: u.name,
          interface: u.cfg.interface,
          role: u.cfg.role,
          core: u.coreAddress,
        })),
        hag: c.hag.addresses.map((a) => `${a}:${c.hag.port}`),
        method: c.hag.method,
        interceptPort: c.intercept.port,
        status: `${this.statusAddress.address}:${this.statusAddress.port}`,
        table: `hybrid_access${c.intercept.suffix}`,
      },
      'CPE started',
    );
  }

  /**
   * The uplinks' source rules, the active uplink's first: where two uplinks have the same address
   * (two NAT boxes that gave out the same lease) a socket bound to it leaves by the active one, so
   * the direct connections (Interceptor, Uplinks.directSource) follow a failover.
   */
  private sourceRules(): void {
    const active = this.uplinks.active;
    this.uplinks.list.forEach((u, i) => {
      this.rules.set(u.name, u === active ? 0 : i + 1, u.address, u.table);
    });
  }

  /** The uplink a socket bound to `address` leaves by (the first of the source rules for it). */
  private routedBy(address: string): Uplink | undefined {
    const active = this.uplinks.active;
    return active.address === address ? active : this.uplinks.list.find((u) => u.address === address);
  }

  /** The LAN's non-intercepted traffic leaves by uplink `u` (its table). */
  private lanRule(u: Uplink): void {
    this.rules.fixed('lan', ['iif', this.cfg.lan.interface, 'lookup', String(u.table)], 99);
  }

  /** Flows of the LAN NATed to `from` start over on the uplink they leave by now (cpe/net/conntrack). */
  private flushLan(from: Uplink): void {
    const r = flushNat(this.cfg.lan.addresses, from.address);
    if (r.ok)
      this.log.info(
        { event: 'conntrack-flushed', uplink: from.name, address: from.address, deleted: r.deleted },
        `${r.deleted} conntrack entries of LAN flows NATed to ${from.name} removed`,
      );
    else
      this.log.error(
        { event: 'conntrack-flush-failed', uplink: from.name, error: r.error },
        `LAN flows NATed to ${from.name} stay on it until their conntrack entries expire: ${r.error}`,
      );
  }

  /**
   * Whether the HAG answers over uplink `u`: a kernel TCP connection from its address (its source
   * rule routes it out of that uplink) asking the HAG something; undefined without an address.
   */
  private async checkHagVia(u: Uplink): Promise<true | string | undefined> {
    if (!u.address) return undefined;
    // An address shared with the active uplink leaves by that one: no check of this one with it.
    if (this.routedBy(u.address) !== u) return undefined;
    // A HAG address of the uplink's address's family (an IPv6-only line asks the HAG's IPv6 one).
    const fam = isIP(u.address);
    const host = [this.hag.address, ...this.cfg.hag.addresses].find((a) => isIP(a) === fam);
    if (!host) return undefined;
    const sock = net.connect({ host, port: this.cfg.hag.port, localAddress: u.address });
    return this.askHag(sock);
  }

  /** Whether the HAG answers: a short MPTCP connection asking it something (HagLink's recheck). */
  private async checkHag(address: string): Promise<true | string> {
    const remote = parseAddress(address) as Uint8Array;
    const conn = this.pm.connect(performance.now(), remote, this.cfg.hag.port);
    if (!conn) return 'no usable uplink';
    const stream = new ConnStream(conn, this.ep);
    this.ep.wake(conn);
    return this.askHag(stream);
  }

  /** Asks the HAG something over `stream` (hagAlive), then closes it. */
  private async askHag(stream: Duplex): Promise<true | string> {
    stream.on('error', () => {});
    const c = this.cfg.hag;
    const r = await hagAlive(
      stream,
      { method: c.method, username: c.username, password: c.password },
      c.connectTimeout,
    );
    stream.destroy();
    return r;
  }

  private delegationStatus(): StatusSnapshot['delegation'] {
    if (!this.cfg.uplinks.some((u) => u.delegation)) return undefined;
    const d = this.delegation.current;
    const now = Date.now();
    const left = (t: number) =>
      t === Number.POSITIVE_INFINITY ? null : Math.max(0, Math.floor((t - now) / 1000));
    return {
      uplink: d?.uplink,
      prefix: d?.delegated,
      lanPrefix: d?.lanPrefix,
      lanAddress: d?.lanAddress,
      preferredS: d ? left(d.preferredUntil) : undefined,
      validS: d ? left(d.validUntil) : undefined,
      deprecated: this.delegation.deprecated.map((x) => x.lanPrefix),
      delegated: this.delegation.stats.delegated,
      lost: this.delegation.stats.lost,
    };
  }

  snapshot(): StatusSnapshot {
    const sessions = [...this.intercept.sessions.values()];
    const c = this.cfg;
    const leases = this.dhcp?.leases;
    return {
      time: Date.now(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      hag: {
        address: this.hag.address,
        port: c.hag.port,
        method: c.hag.method,
        state: this.hag.state,
        reason: this.hag.reason,
        since: this.hag.since,
      },
      uplinks: this.uplinks.list.map((u) => ({
        name: u.name,
        interface: u.cfg.interface,
        role: u.cfg.role,
        backup: u.backup,
        health: u.health,
        healthReason: u.healthReason,
        state: u.state,
        reason: u.reason,
        hagReachable: u.hag?.reachable,
        active: u === this.uplinks.active,
        probeLoss: u.probe?.status().loss,
        usable: u.usable,
        address: u.address,
        coreAddress: u.coreAddress,
        families: u.families,
        coreAddresses: u.coreAddresses,
        subflows6: u.subflows6,
        probeRttMs: u.probe?.status().srttMs,
        subflowRttMs: u.subflowRttMs,
        probeRtt: u.probeRtt,
        subflowSrtt: u.subflowSrtt,
        subflows: u.subflows,
        fallbackSubflows: u.fallbackSubflows,
        bytesIn: u.bytesIn,
        bytesOut: u.bytesOut,
        rateInBps: u.rateIn,
        rateOutBps: u.rateOut,
        capacityBps: u.capacityBps,
        quota:
          u.quota && u.cfg.quota
            ? {
                bytes: u.quota.limit,
                limit: u.quota.limit,
                used: u.quota.used,
                period: u.cfg.quota.period,
                resetDay: u.cfg.quota.resetDay,
                periodStart: u.quota.span.start,
                periodEnd: u.quota.span.end,
                warnAt: u.cfg.quota.warnAt,
                warned: u.quota.warned,
                exhausted: u.quota.exhausted,
                exceeded: u.quota.exhausted,
                events: { ...u.quotaEvents },
              }
            : undefined,
        history: u.samples.slice(-60),
      })),
      uplinkSwitches: this.uplinks.switches,
      events: this.events.stats(),
      connections: {
        active: sessions.length,
        bonded: sessions.filter((s) => s.path === 'bonded').length,
        direct: sessions.filter((s) => s.path === 'direct').length,
        accepted: this.intercept.stats.accepted,
        closed: this.intercept.stats.closed,
        bondedTotal: this.intercept.stats.bonded,
        directTotal: this.intercept.stats.direct,
        refused: { ...this.intercept.stats.refused },
      },
      dhcp: leases ? { leases: leases.length, list: leases } : undefined,
      inbound: this.inbound?.status(),
      ra: this.ra && { ...this.ra.stats },
      delegation: this.delegationStatus(),
      mib: { ...this.ep.mib } as unknown as Record<string, number>,
      tcpMib: { ...this.ep.tcp.mib } as unknown as Record<string, number>,
      memoryRss: process.memoryUsage.rss(),
      memory: { ...process.memoryUsage() },
    };
  }

  /** SIGTERM: stop accepting, let open connections finish (up to drainTimeout), reset the rest, tear down. */
  async drain(): Promise<void> {
    this.log.info(
      {
        event: 'drain',
        open: this.intercept.sessions.size,
        inbound: this.inbound?.sessions.size,
        timeoutMs: this.cfg.drainTimeout,
      },
      'draining',
    );
    const closing = this.listener?.close();
    const [lanLeft, inboundLeft] = await Promise.all([
      this.intercept.drain(this.cfg.drainTimeout),
      this.inbound?.drain(this.cfg.drainTimeout) ?? 0,
    ]);
    this.inbound?.stop();
    const left = lanLeft + inboundLeft;
    // Let the resets leave before the TUN goes.
    await new Promise((r) => setTimeout(r, left > 0 ? 200 : 0));
    await Promise.race([closing, new Promise((r) => setTimeout(r, 500))]);
    await this.stop();
    this.log.info({ event: 'stopped', reset: left }, 'CPE stopped');
  }

  /** Removes everything at once: listener, probes, DHCP, status, TUN, nftables table, rules, routes. */
  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = undefined;
    this.hag.stop();
    this.inbound?.stop();
    this.events.close();
    void this.listener?.close();
    this.listener = undefined;
    this.uplinks.stop();
    // The delegated prefix went back with the lease (Release): its LAN address goes too.
    const d = this.delegation.lost(Date.now());
    if (d) ip(['-6', 'addr', 'del', d.lanAddress, 'dev', this.cfg.lan.interface]);
    this.status?.close();
    this.ra?.stop();
    this.ra = undefined;
    if (this.dhcp) await this.dhcp.close().catch(() => {});
    this.dhcp = undefined;
    this.driver?.close();
    this.driver = undefined;
    if (!this.driver && this.tun) {
      try {
        this.tun.close();
      } catch {
        /* closed by the driver */
      }
    }
    this.tun = undefined;
    this.rules.clear();
    if (this.net && this.netUp) {
      const r = teardown(this.net, { logger: this.log });
      if (!r.ok) this.log.error({ event: 'teardown-failed', ...r.failure }, 'network teardown failed');
      this.netUp = false;
    }
    for (const a of this.lanAdded.splice(0)) {
      const v6 = isIP(a.split('/')[0]) === 6;
      ip([...(v6 ? ['-6'] : []), 'addr', 'del', a, 'dev', this.cfg.lan.interface]);
    }
  }

  /**
   * An uplink's DHCPv6 lease delegated `p` (or lost it): the LAN interface gets the CPE's address in
   * the first /64 with the lease's lifetimes, a withdrawn one is deprecated (preferred_lft 0, the
   * kernel removes it at its valid lifetime's end), and the RAs carry the change.
   */
  private delegated(u: Uplink, p: IaPrefix | undefined, at: number): void {
    const dev = this.cfg.lan.interface;
    const lft = (s: number) => (s === 0xffffffff ? 'forever' : String(s));
    const now = Date.now();
    const prev = p ? this.delegation.set(u.name, p, at) : this.delegation.lost(now);
    if (prev) {
      this.lastDelegationLogged = undefined;
      const err = ip(['-6', 'addr', 'change', prev.lanAddress, 'dev', dev, 'preferred_lft', '0']);
      this.log.warn(
        {
          event: 'lan-prefix-withdrawn',
          uplink: prev.uplink,
          prefix: prev.delegated,
          lanPrefix: prev.lanPrefix,
          error: err,
        },
        `the LAN's delegated prefix ${prev.lanPrefix} is withdrawn: advertised deprecated`,
      );
    }
    const d = this.delegation.current;
    if (p && d) {
      const left = (until: number) =>
        lft(until === Number.POSITIVE_INFINITY ? 0xffffffff : Math.max(0, Math.floor((until - now) / 1000)));
      const err = ip([
        '-6',
        'addr',
        'replace',
        d.lanAddress,
        'dev',
        dev,
        'valid_lft',
        left(d.validUntil),
        'preferred_lft',
        left(d.preferredUntil),
        'nodad',
      ]);
      if (err)
        this.log.error(
          { event: 'lan-prefix-failed', lanAddress: d.lanAddress, error: err },
          `${d.lanAddress} not put on ${dev}: ${err}`,
        );
      if (!this.loggedDelegation(d))
        this.log.info(
          {
            event: 'lan-prefix-delegated',
            uplink: u.name,
            prefix: d.delegated,
            lanPrefix: d.lanPrefix,
            address: d.lanAddress,
            validUntil: d.validUntil,
          },
          `${u.name} delegated ${d.delegated}: the LAN's prefix is ${d.lanPrefix}`,
        );
    }
    this.refreshRa();
  }

  private lastDelegationLogged: string | undefined;

  /** Whether this delegation was logged already (renewals of the same prefix are not). */
  private loggedDelegation(d: { delegated: string; uplink: string }): boolean {
    const k = `${d.uplink} ${d.delegated}`;
    const seen = this.lastDelegationLogged === k;
    this.lastDelegationLogged = k;
    return seen;
  }

  /** Hands the advertiser the prefixes of now (delegated, configured, withdrawn) and the DNS server. */
  private refreshRa(): void {
    const r = this.cfg.lan.ra;
    if (!this.ra || !r) return;
    const sec = (ms: number) => Math.floor(ms / 1000);
    const prefixes = this.delegation.raPrefixes(Date.now(), this.raConfigured, {
      validLifetime: sec(r.validLifetime),
      preferredLifetime: sec(r.preferredLifetime),
    });
    // RDNSS (RFC 8106 5.1): as configured; else the CPE's address in the advertised prefix.
    const base = lanAdvertisement(this.cfg)?.ra.dns;
    const d = this.delegation.current;
    const dns =
      base ??
      (r.dns === undefined && d
        ? { servers: [d.lanAddress.split('/')[0]], lifetime: sec(r.dnsLifetime ?? 3 * r.interval) }
        : undefined);
    this.ra.update(prefixes, dns);
  }

  /** The HAGs' TCP Fast Open cookies, by HAG address (kept across reloads, not restarts). */
  readonly tfoCache = new TfoCookieCache(64);

  /**
   * With Convert and fastOpen on, every connection to the HAG asks for a cookie or sends its
   * SYN with the cookie and the Convert header (RFC 8803, RFC 7413); SOCKS5 must wait for the
   * method selection, so it does not use it.
   */
  private useFastOpen(cfg: CpeConfig): void {
    this.ep.fastOpen.cache = cfg.hag.method === 'convert' && cfg.hag.fastOpen ? this.tfoCache : undefined;
  }

  /** SIGHUP: new HAG settings, bypasses, QUIC policy, quotas, failover hold-down, limits and log level; returns what needs a restart. */
  reload(next: CpeConfig): string[] {
    const old = this.cfg;
    const restart: string[] = [];
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(old.lan, next.lan)) restart.push('lan');
    if (!same(old.tun, next.tun)) restart.push('tun');
    if (!same(old.mptcp, next.mptcp)) restart.push('mptcp');
    if (!same(old.status, next.status)) restart.push('status');
    if (!same(old.state, next.state)) restart.push('state');
    if (!same(old.inbound, next.inbound)) restart.push('inbound');
    const strip = (u: CpeConfig['uplinks'][number]) => ({ ...u, quota: undefined, capacity: undefined });
    if (!same(old.uplinks.map(strip), next.uplinks.map(strip)))
      restart.push('uplinks (other than quota, capacity)');
    const { port, mark, table, suffix, rulePriority } = old.intercept;
    if (
      !same(
        { port, mark, table, suffix, rulePriority },
        { ...next.intercept, maxConnections: undefined, idleTimeout: undefined },
      )
    )
      restart.push('intercept (other than maxConnections, idleTimeout)');
    this.cfg = {
      ...next,
      lan: old.lan,
      tun: old.tun,
      mptcp: old.mptcp,
      status: old.status,
      state: old.state,
      inbound: old.inbound,
      uplinks: old.uplinks.map((u) => {
        const n = next.uplinks.find((x) => x.name === u.name);
        return n ? { ...u, quota: n.quota, capacity: n.capacity } : u;
      }),
      intercept: {
        ...old.intercept,
        maxConnections: next.intercept.maxConnections,
        idleTimeout: next.intercept.idleTimeout,
      },
    };
    this.intercept.cfg = this.cfg;
    if (!same(old.events, next.events)) {
      this.events.close();
      this.events = new EventHook(hookConfig(this.cfg), this.log);
    }
    this.useFastOpen(this.cfg);
    this.hag.retryAfterMs = this.cfg.hag.retryAfter;
    this.hag.setAddresses(this.cfg.hag.addresses);
    this.uplinks.reconfigure(this.cfg);
    // On OpenWrt the init script's interface trigger reloads when netifd reports a change.
    this.uplinks.refreshNetifd();
    this.log.level = next.log.level;
    if (!same(old.bypass, next.bypass) || old.quic !== next.quic) {
      // Only the nftables table changes: it is replaced atomically (cpe/net's ruleset), while the
      // rules, routes and TUN addresses stay as they are (no gap for running connections).
      const net = netConfig(this.cfg, this.uplinks);
      const r = runPlan([{ argv: ['nft', '-f', '-'], stdin: nftRuleset(net) }], { logger: this.log });
      if (!r.ok) this.log.error({ event: 'reload-net-failed', ...r.failure }, 'nftables update failed');
      else this.net = net;
    }
    return restart;
  }
}
