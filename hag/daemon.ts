// The HAG daemon: the TUN and its routes, the userspace MPTCP core in the server role on the
// Convert and SOCKS ports (and in transparent mode for the MPTCP SYNs to any destination that the
// kernel diverts into the TUN, hag/transparent-divert.ts), admission (subscriber prefixes,
// connection limit, per-client rate, in transparent mode the destination policy at the SYN), a
// session per connection (handshake, egress, relay), pino logs for every open, close and refusal,
// inbound port forwarding (hag/inbound.ts: a CPE's control connection registers public ports, its
// attach connections are paired with the clients of those ports), the metrics/session HTTP
// endpoint, config reload and graceful drain.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { CONVERT_ERROR, convertErrorMessage } from '../src/convert/index.js';
import { runPlan } from '../src/daemon/command-plan.js';
import { raiseFileLimit, sizeConnections } from '../src/daemon/file-limit.js';
import { connectionLevel } from '../src/daemon/logger.js';
import { INBOUND_HEADER_BYTES, INBOUND_VERSION } from '../src/inbound/index.js';
import { TunDriver } from '../src/io/tun-driver.js';
import type { MptcpConnection } from '../src/mptcp/connection.js';
import { MptcpEndpoint } from '../src/mptcp/endpoint.js';
import { ServerPathManager } from '../src/mptcp/pm/server.js';
import { type SchedulerName, scheduler } from '../src/mptcp/sched/index.js';
import { endName, type RelayEnd, relay } from '../src/relay/relay.js';
import { TfoCookies, type TfoServerOptions } from '../src/tcp/fastopen.js';
import { PathMetrics } from '../src/tcp/path-metrics.js';
import type { FourTuple } from '../src/tcp/segment.js';
import { TcpState } from '../src/tcp/state.js';
import { ConnStream } from '../src/tcp/stream.js';
import { COOKIE_TICK_MS, MAX_COOKIE_AGE } from '../src/tcp/syncookie.js';
import { parseIp } from '../src/wire/addr.js';
import { formatIp, hostPort, matchPrefix, parsePrefix, unmap } from './addr.js';
import type { HagConfig } from './config.js';
import { convertHandshake } from './convert-handler.js';
import { connectEgress, type EgressOptions } from './egress.js';
import { HandshakeGate } from './handshake-gate.js';
import { HandshakeReader } from './handshake-reader.js';
import { InboundService, parseInbound } from './inbound.js';
import { HagMetrics } from './metrics.js';
import type { Outcome } from './outcome.js';
import { DestinationPolicy, JoinPolicy, SubscriberPolicy } from './policy.js';
import { exposedGc, RampGc } from './ramp-gc.js';
import { RateLimiter } from './rate-limit.js';
import { RefusalMemo } from './refusal-memo.js';
import { type Proto, Session } from './session.js';
import { socksHandshake } from './socks-handler.js';
import { type HagStatus, HagStatusBoard, type StatusSource } from './status.js';
import { renderHagPage } from './status-page.js';
import { type DivertConfig, divertSetup, divertTeardown } from './transparent-divert.js';
import { setupTun, type TunPlumbing } from './tun-setup.js';

/** Longest handshake message kept while parsing (Convert: 1020 bytes; SOCKS5 messages: < 600). */
const HANDSHAKE_MAX = 1024;
/** A refused client gets this long to read the reply and close before it is reset. */
const REFUSAL_LINGER_MS = 5000;
/**
 * The smallest first message of each protocol: a SOCKS5 greeting is VER, NMETHODS and at least one
 * method (RFC 1928 3); a Convert message starts with its 4-byte fixed header (RFC 8803 4.1).
 */
const FIRST_MESSAGE_BYTES: Record<Exclude<Proto, 'transparent'>, number> = {
  socks: 3,
  convert: 4,
  inbound: INBOUND_HEADER_BYTES,
};
const ignore = () => {};
/** How long a refused connection can come back: a SYN cookie's lifetime (src/tcp/syncookie.ts). */
const REFUSAL_MEMO_MS = (MAX_COOKIE_AGE + 1) * COOKIE_TICK_MS;
/** Refused connections remembered at most (about 100 bytes each). */
const REFUSAL_MEMO_MAX = 4096;
/** Files a connection holds: its egress socket (the MPTCP side lives in the TUN, no file). */
export const FILES_PER_CONNECTION = 1;

/** The relay's sides in the HAG's words (its logs and metrics: client-reset, server-reset). */
const RELAY_SIDES = { kernel: 'server', core: 'client' };

/** Everything derived from the config that a reload replaces. */
interface Rules {
  subscribers: SubscriberPolicy;
  joins: JoinPolicy;
  uplinkOf: (addr: Uint8Array) => string;
  /** The scheduler of a client that sends no policy of its own (config `scheduling`). */
  schedulerOf: (addr: Uint8Array) => SchedulerName;
  egress: EgressOptions;
}

export class HagDaemon {
  readonly metrics = new HagMetrics();
  readonly sessions = new Map<number, Session>();
  /** The live status behind the page at / and /status.json (status.ts). */
  private readonly board: HagStatusBoard;
  readonly ep: MptcpEndpoint;
  /** Announces the service addresses of the other family (`mptcp.announce`); none with 'none'. */
  readonly spm: ServerPathManager | undefined;
  private plumbing: TunPlumbing | undefined;
  /** Transparent mode's nftables table and policy routing, while set up. */
  private divert: DivertConfig | undefined;
  private driver: TunDriver | undefined;
  private http: http.Server | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  private rules: Rules;
  private readonly rate: RateLimiter;
  /** Connections before their first message (handshake-gate.ts). */
  private readonly gate = new HandshakeGate<Session>({
    go: (session, deadline) => this.begin(session, deadline),
    expire: (session) => this.handshakeTimedOut(session),
  });
  /** Client connections refused lately, counted once however often they come back. */
  private readonly refused = new RefusalMemo(REFUSAL_MEMO_MS, REFUSAL_MEMO_MAX);
  /** A full GC once a ramp of opens ends (ramp-gc.ts). */
  private readonly rampGc = new RampGc(exposedGc(), (opens) =>
    this.log.info({ event: 'gc', opens }, `a ramp of ${opens} opens ended: full garbage collection`),
  );
  /** TCP Fast Open cookies of the Convert port (RFC 7413 4.1.2). */
  private readonly tfoCookies: TfoCookies;
  /** The open-file limit once raised, and the connections it holds (beyond: refused, file-limit). */
  private files = { limit: Number.POSITIVE_INFINITY, capacity: Number.POSITIVE_INFINITY };
  /** Inbound port forwarding (service.inbound), when configured. */
  readonly inbound: InboundService | undefined;
  draining = false;

  constructor(
    private cfg: HagConfig,
    readonly log: Logger,
    /**
     * Routes the service addresses into its own TUN (true: the only worker); false: one of several
     * workers, whose supervisor spreads the service addresses over their TUNs (hag/workers/).
     */
    private readonly routesService = true,
    /** Which worker this is (its page and /status.json say it). */
    worker = 0,
  ) {
    this.board = new HagStatusBoard(worker);
    this.ep = new MptcpEndpoint({
      // No Nagle: handshake replies (SOCKS method, then reply) must not wait for an ACK; bulk data fills segments anyway.
      tcp: {
        mtu: cfg.tun.mtu,
        nagle: false,
        congestionControl: cfg.mptcp.congestionControl,
        finTimeoutMs: cfg.tcp.finTimeout,
      },
      mptcp: {
        checksum: cfg.mptcp.checksum,
        sendBuffer: cfg.mptcp.bufferBytes,
        recvBuffer: cfg.mptcp.bufferBytes,
        // RFC 8684 3.1: with join addresses, no join to the service address (ECMP may send it to
        // another worker or host); the joins go to this worker's announced join addresses.
        denyJoinToSource: cfg.service.joinAddresses.length > 0,
      },
      maxSubflows: cfg.mptcp.maxSubflows,
      admitJoin: (t) => this.admitJoin(t),
      stack: {
        synCookies: cfg.tcp.synCookies,
        maxHalfOpen: cfg.tcp.maxHalfOpen,
        pathMetrics: cfg.tcp.pathSharing ? new PathMetrics() : undefined,
      },
    });
    // RFC 8684 3.4.1: ADD_ADDR of this worker's join addresses (both families), else of the service
    // addresses of the other family; ID = position + 1 (the initial subflow's is 0).
    const joins = cfg.service.joinAddresses;
    if (cfg.mptcp.announce === 'other-family')
      this.spm = new ServerPathManager(
        this.ep,
        joins.length > 0
          ? { addresses: joins.map((a, i) => ({ id: i + 1, addr: parseIp(a)! })) }
          : {
              addresses: cfg.service.addresses.map((a, i) => ({ id: i + 1, addr: parseIp(a)! })),
              announce: 'other-family',
            },
      );
    const key = cfg.service.convert?.fastOpen.key;
    this.tfoCookies = new TfoCookies(key ? Buffer.from(key, 'hex') : undefined);
    this.rules = this.makeRules(cfg);
    if (cfg.service.inbound)
      this.inbound = new InboundService(cfg.service.inbound, {
        log,
        metrics: this.metrics,
        refuse: (client, reason, extra) => this.refuse('inbound', client, reason, extra),
      });
    this.rate = new RateLimiter(cfg.access.rateLimit.perSecond, cfg.access.rateLimit.burst);
  }

  private makeRules(cfg: HagConfig): Rules {
    // The HAG's own addresses: service, egress sources and every address of this host.
    const own = new Set<string>([...cfg.service.addresses, ...cfg.service.joinAddresses]);
    if (cfg.egress.source4) own.add(cfg.egress.source4);
    if (cfg.egress.source6) own.add(cfg.egress.source6);
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) own.add(a.address);
    const uplinks = cfg.uplinks.map((u) => ({
      name: u.name,
      prefixes: u.prefixes.map((p) => parsePrefix(p)!),
    }));
    const subscribers = new SubscriberPolicy(cfg.access.subscribers);
    const scheduling = cfg.scheduling.rules.map((r) => ({
      prefixes: r.subscribers.map((p) => parsePrefix(p)!),
      scheduler: r.scheduler,
    }));
    return {
      subscribers,
      joins: new JoinPolicy(cfg.access.joins, subscribers),
      uplinkOf: (addr) => uplinks.find((u) => matchPrefix(addr, u.prefixes))?.name ?? 'other',
      schedulerOf: (addr) =>
        scheduling.find((r) => matchPrefix(addr, r.prefixes))?.scheduler ?? cfg.scheduling.default,
      egress: {
        policy: new DestinationPolicy(cfg.access.internalNetworks, own, cfg.access.allowDestinations),
        source4: cfg.egress.source4,
        source6: cfg.egress.source6,
        connectTimeoutMs: cfg.egress.connectTimeout,
      },
    };
  }

  get config(): HagConfig {
    return this.cfg;
  }

  async start(): Promise<void> {
    const c = this.cfg;
    const limits = raiseFileLimit();
    this.plumbing = setupTun({
      name: c.tun.name,
      mtu: c.tun.mtu,
      addresses: [...(this.routesService ? c.service.addresses : []), ...c.service.joinAddresses],
      forwarding: c.tun.forwarding,
      offload: c.tun.offload,
      reversePathFilter: c.service.transparent ? false : undefined,
    });
    const tun = this.plumbing.tun;
    this.log.info({ tun: tun.name, offload: c.tun.offload, offloads: tun.offloads }, tun.describeOffloads());
    if (c.service.transparent) this.setupDivert(tun.name, c.service.transparent);
    this.driver = new TunDriver(tun, this.ep, { rxHoldoffMs: c.tun.rxHoldoffMs }).start();
    this.listen();
    this.housekeeping = setInterval(() => this.tick(), 1000);
    this.housekeeping.unref();
    if (c.metrics) {
      this.http = http.createServer((req, res) => this.serveHttp(req, res));
      this.http.listen(c.metrics.port, c.metrics.address);
      await once(this.http, 'listening');
    }
    this.files = sizeConnections(this.log, limits, {
      setting: 'limits.maxConnections',
      maxConnections: c.limits.maxConnections,
      filesPerConnection: FILES_PER_CONNECTION,
    });
    this.log.info(
      {
        event: 'start',
        tun: this.plumbing.tun.name,
        addresses: c.service.addresses,
        joinAddresses: c.service.joinAddresses.length ? c.service.joinAddresses : undefined,
        convertPort: c.service.convert?.port,
        socksPort: c.service.socks?.port,
        inbound: c.service.inbound
          ? { port: c.service.inbound.port, listen: c.service.inbound.listen }
          : undefined,
        transparent: c.service.transparent ? { interfaces: c.service.transparent.interfaces } : undefined,
        metrics: c.metrics ? `${c.metrics.address}:${c.metrics.port}` : undefined,
      },
      'HAG started',
    );
    if (c.access.openProxy)
      this.log.warn(
        { event: 'open-proxy' },
        'access.openProxy: wide subscribers may use it without credentials',
      );
  }

  /**
   * Transparent mode: MPTCP SYNs that pass through this host go into the TUN (a failure undoes
   * what was done and stops the start, naming the command).
   */
  private setupDivert(tun: string, t: NonNullable<HagConfig['service']['transparent']>): void {
    const d: DivertConfig = {
      tun,
      interfaces: t.interfaces,
      mark: t.mark,
      table: t.table,
      rulePriority: t.rulePriority,
      ipv6: true,
    };
    const r = runPlan(divertSetup(d), { logger: this.log, module: 'transparent' });
    if (!r.ok) {
      runPlan(divertTeardown(d), { logger: this.log, module: 'transparent' });
      this.plumbing?.teardown();
      throw new Error(`transparent mode: ${r.failure.command} failed: ${r.failure.error}`);
    }
    this.divert = d;
    const all = readSysctl('/proc/sys/net/ipv4/conf/all/rp_filter');
    if (!this.plumbing?.rpFilterOff || (all !== undefined && all !== '0'))
      this.log.warn(
        { event: 'rp-filter', all, tun: this.plumbing?.rpFilterOff ? '0' : 'not set' },
        `reverse-path filtering drops the core's replies in transparent mode (from the servers' addresses, out of ${tun}): net.ipv4.conf.all.rp_filter and net.ipv4.conf.${tun}.rp_filter must be 0`,
      );
  }

  /** Listens on the service ports (start() calls it; a simulation drives `ep` without a TUN). */
  listen(): void {
    const c = this.cfg;
    // On the path, a service port is the HAG's on its service addresses only: the same port of
    // any other address is a server's, for the transparent listener.
    const own = c.service.transparent ? c.service.addresses.map((a) => parseIp(a)!) : undefined;
    if (c.service.transparent)
      this.ep.listen(
        'any',
        (conn) => this.onConnection('transparent', conn),
        1024,
        (t, isn) => this.admitSyn('transparent', t, isn),
        undefined, // the SYN's data would make the HAG dial before the client proved its address
      );
    if (c.service.convert)
      this.ep.listen(
        c.service.convert.port,
        (conn) => this.onConnection('convert', conn),
        1024,
        (t, isn) => this.admitSyn('convert', t, isn),
        this.fastOpenServer(),
        own,
      );
    if (c.service.inbound)
      this.ep.listen(
        c.service.inbound.port,
        (conn) => this.onConnection('inbound', conn),
        1024,
        (t, isn) => this.admitSyn('inbound', t, isn),
        // The CPE's attach connection may carry its ATTACH in the SYN (0-RTT, the Convert port's cookies).
        this.fastOpenServer(),
        own,
      );
    if (c.service.socks)
      this.ep.listen(
        c.service.socks.port,
        (conn) => this.onConnection('socks', conn),
        1024,
        (t, isn) => this.admitSyn('socks', t, isn),
        undefined, // SOCKS5 waits for the method selection anyway: no Fast Open
        own,
      );
  }

  /**
   * TCP Fast Open on the Convert port: RFC 8803 is 0-RTT when the Connect TLV rides in the SYN
   * (RFC 7413), so that the server connection starts before the MPTCP handshake ends. By default
   * a SYN's data is taken only with a valid cookie, which proves the source address: a SYN with
   * data makes the HAG dial out, and a forged source must not be able to make it do so. The
   * knob acceptWithoutCookie takes it from subscriber prefixes without one (RFC 7413 leaves this
   * to server policy; non-subscribers are reset at the SYN anyway): it saves the round trip a
   * CPE spends on a new cookie after a HAG restart with a random key, at the cost of that proof.
   */
  private fastOpenServer(): TfoServerOptions | undefined {
    if (!this.cfg.service.convert?.fastOpen.enabled) return undefined;
    return {
      cookies: this.tfoCookies,
      acceptWithoutCookie: (remote) =>
        (this.cfg.service.convert?.fastOpen.acceptWithoutCookie ?? false) &&
        this.rules.subscribers.allows(remote),
    };
  }

  private tick(): void {
    this.board.sample(this.statusSource());
    for (const s of this.sessions.values()) {
      s.observe();
      for (const sf of s.conn.subflows)
        if (sf.socket.state === TcpState.Established && sf.socket.rtt.srtt > 0)
          this.metrics.srtt.observe(sf.socket.rtt.srtt / 1000);
    }
    this.rate.sweep(Date.now());
    this.refused.sweep(Date.now());
    this.logSynFlood();
    this.rampGc.tick();
  }

  /** SYN queue counters at the last tick, to log a flood once a second while it lasts. */
  private readonly synQueueSeen = { cookies: 0, drops: 0 };

  /** Like Linux's "SYN flooding on port ...": full SYN queues, answered with cookies or dropped. */
  private logSynFlood(): void {
    const m = this.ep.tcp.mib;
    const seen = this.synQueueSeen;
    const cookies = m.TCPReqQFullDoCookies - seen.cookies;
    const drops = m.TCPReqQFullDrop - seen.drops;
    seen.cookies = m.TCPReqQFullDoCookies;
    seen.drops = m.TCPReqQFullDrop;
    if (cookies === 0 && drops === 0) return;
    this.log.warn(
      {
        event: 'syn-flood',
        cookies,
        drops,
        cookiesBack: m.SyncookiesRecv,
        cookiesFailed: m.SyncookiesFailed,
      },
      `SYN queue full: ${cookies} SYNs answered with cookies, ${drops} dropped in the last second`,
    );
  }

  // ------------------------------------------------------------ admission

  private refuse(proto: Proto, client: string, reason: string, extra: Record<string, unknown> = {}): void {
    this.metrics.refusals.inc({ proto, reason });
    this.log.warn(
      { event: 'refused', proto, client, reason, ...extra },
      `refused ${proto} from ${client}: ${reason}`,
    );
  }

  /**
   * Counts and logs the refusal of client connection `t` (with the client's initial sequence
   * number `isn`) the first time only: the same connection refused again (refusal-memo.ts) is not
   * another refused client.
   */
  private refuseConnection(proto: Proto, client: string, reason: string, t: FourTuple, isn: number): void {
    const key = `${client}|${t.remotePort}|${t.localPort}|${isn}`;
    if (this.refused.first(key, Date.now())) this.refuse(proto, client, reason, { clientPort: t.remotePort });
  }

  /**
   * At the SYN: only subscribers get a connection at all (no open proxy); others get a RST. In
   * transparent mode the SYN names the destination: one the policy refuses is reset at once.
   */
  private admitSyn(proto: Proto, t: FourTuple, isn: number): boolean {
    const refusal = this.rules.subscribers.refusal(t.remote);
    if (refusal === undefined) {
      if (proto !== 'transparent') return true;
      const v = this.rules.egress.policy.check(t.local);
      if (v.ok) return true;
      this.refuseConnection(proto, formatIp(unmap(t.remote)), 'forbidden-destination', t, isn);
      return false;
    }
    // A v4-mapped source is shown as the IPv6 address it came as, not as the IPv4 it names.
    const client = formatIp(refusal === 'v4-mapped-source' ? t.remote : unmap(t.remote));
    this.refuseConnection(proto, client, refusal, t, isn);
    return false;
  }

  /**
   * At a join's SYN (RFC 8684 3.2), for a connection a subscriber opened: from a subscriber
   * prefix unless access.joins opens joins to any address; others get a RST with MP_TCPRST.
   */
  private admitJoin(t: FourTuple): boolean {
    if (this.rules.joins.allows(t.remote)) return true;
    this.refuse(this.protoOf(t), formatIp(unmap(t.remote)), 'join-not-subscriber', {
      clientPort: t.remotePort,
    });
    return false;
  }

  /** The service a subflow's 4-tuple belongs to (its port on a service address, else transparent). */
  private protoOf(t: FourTuple): Proto {
    const s = this.cfg.service;
    const local = formatIp(unmap(t.local));
    if (s.transparent && !s.addresses.some((a) => formatIp(parseIp(a)!) === local)) return 'transparent';
    if (t.localPort === s.inbound?.port) return 'inbound';
    return t.localPort === s.socks?.port ? 'socks' : 'convert';
  }

  private onConnection(proto: Proto, conn: MptcpConnection): void {
    const first = conn.subflows[0]?.socket;
    if (!first) return;
    const client = formatIp(unmap(first.tuple.remote));
    const reset = (reason: string) => {
      this.refuseConnection(proto, client, reason, first.tuple, first.irs);
      this.resetNow(conn);
    };
    // Only subscribers may use the HAG (no open proxy).
    const refusal = this.draining
      ? 'draining'
      : (this.rules.subscribers.refusal(first.tuple.remote) ??
        (this.sessions.size >= this.cfg.limits.maxConnections
          ? 'too-many-connections'
          : this.sessions.size >= this.files.capacity
            ? 'file-limit'
            : undefined));
    if (refusal) {
      reset(refusal);
      return;
    }
    if (!this.rate.take(client, Date.now())) {
      this.refuse(proto, client, 'rate-limited');
      const stream = this.streamOf(conn);
      // RFC 8803 4.2.8: a converter out of resources says so ("Resource Exceeded"); a transparent
      // client sees the reset a server out of resources would give.
      if (proto === 'transparent') this.resetNow(conn);
      else if (proto === 'convert') this.linger(stream, convertErrorMessage(CONVERT_ERROR.resourceExceeded));
      else stream.destroy();
      return;
    }
    // Downloads: the HAG's default for this client until its own policy (Convert) says otherwise.
    conn.scheduler = scheduler(this.rules.schedulerOf(first.tuple.remote));
    const session = new Session(proto, client, conn, this.rules.uplinkOf);
    this.sessions.set(session.id, session);
    this.metrics.connections.inc({ proto });
    this.rampGc.opened();
    // 0-RTT: the SYN's data (Convert header, Connect TLV) was taken; the handshake is still on.
    const fastOpen = first.fastOpen;
    this.metrics.fastOpen.inc({ proto, result: fastOpen });
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'open',
        id: session.id,
        proto,
        client,
        clientPort: first.tuple.remotePort,
        mptcp: !conn.fallback,
        zeroRtt: fastOpen === 'accepted',
        fastOpen,
      },
      `open ${session.id} ${proto} from ${client}`,
    );
    if (proto === 'transparent') {
      this.transparent(session, first.tuple).catch((e) => this.failed(session, e));
      return;
    }
    const deadline = Date.now() + this.cfg.limits.handshakeTimeout;
    this.gate.wait(conn, FIRST_MESSAGE_BYTES[proto], deadline, session);
  }

  /** Resets a connection now (RFC 9293 3.10.4 ABORT). */
  private resetNow(conn: MptcpConnection): void {
    conn.abort();
    this.ep.wake(conn);
  }

  /**
   * Transparent mode: the destination is the address and port the client's SYN went to; no
   * handshake. The server is dialled at once (a server may speak first); if it cannot be
   * reached, the client is reset, as the server's own refusal would have done.
   */
  private async transparent(session: Session, t: FourTuple): Promise<void> {
    const stream = this.streamOf(session.conn);
    session.stream = stream;
    const address = unmap(t.local);
    session.dst = hostPort(formatIp(address), t.localPort); // named as the Convert handler names it
    const e = await connectEgress({ address }, t.localPort, this.rules.egress);
    if (!e.ok) {
      session.state = 'closing';
      this.refuse('transparent', session.client, e.failure, {
        id: session.id,
        dst: session.dst,
        detail: e.detail,
      });
      stream.destroy();
      this.finish(session, `refused: ${e.failure}`);
      return;
    }
    if (this.draining || session.conn.isClosed) {
      e.socket.destroy();
      stream.destroy();
      this.finish(session, this.draining ? 'draining' : 'client-reset');
      return;
    }
    this.relayTo(session, stream, e.socket, Buffer.alloc(0));
  }

  private failed(session: Session, e: unknown): void {
    this.metrics.errors.inc({ kind: 'internal' });
    this.log.error({ event: 'internal-error', id: session.id, err: e }, 'session failed');
    session.stream?.destroy();
    this.finish(session, 'internal-error');
  }

  /** The application's stream of a connection; its errors are reported by the relay or the close. */
  private streamOf(conn: MptcpConnection): ConnStream {
    const stream = new ConnStream(conn, this.ep);
    stream.on('error', ignore);
    return stream;
  }

  /** The client's first message came (or its end): the stream, the handshake and the relay. */
  private begin(session: Session, deadline: number): void {
    const conn = session.conn;
    if (conn.isClosed) {
      // Reset (or aborted by a drain) before its first message: nobody to answer.
      this.refuse(session.proto, session.client, 'truncated-handshake', {
        id: session.id,
        detail: `${conn.readableBytes} bytes then reset`,
      });
      this.finish(session, 'refused: truncated-handshake');
      return;
    }
    const stream = this.streamOf(conn);
    session.stream = stream;
    this.run(session, stream, deadline).catch((e) => this.failed(session, e));
  }

  /**
   * The handshake deadline passed before the first message: the client is reset (RFC 9293 3.10.4
   * ABORT), as in run(), with no TIME-WAIT at the HAG.
   */
  private handshakeTimedOut(session: Session): void {
    session.state = 'closing';
    this.refuse(session.proto, session.client, 'handshake-timeout', {
      id: session.id,
      detail: `${session.conn.readableBytes} bytes`,
    });
    this.resetNow(session.conn);
    this.finish(session, 'refused: handshake-timeout');
  }

  /** Sends `reply` (if any), ends our side, discards what the client still sends, and resets it if it lingers. */
  private linger(stream: ConnStream, reply?: Uint8Array): Promise<void> {
    if (reply) stream.end(reply);
    else stream.end();
    stream.resume();
    const t = setTimeout(() => stream.destroy(), REFUSAL_LINGER_MS);
    return closed(stream).then(() => clearTimeout(t));
  }

  private async run(session: Session, stream: ConnStream, deadline: number): Promise<void> {
    const cfg = this.cfg;
    const reader = new HandshakeReader(stream, deadline, HANDSHAKE_MAX);
    if (session.proto === 'inbound') return this.inboundFirst(session, stream, reader);
    const egress = this.rules.egress;
    let outcome: Outcome;
    if (session.proto === 'convert') {
      outcome = await convertHandshake(reader, {
        cookies: (cfg.service.convert?.cookies ?? []).map((c) => c.cookie),
        egress,
      });
    } else {
      outcome = await socksHandshake(reader, stream, {
        users: cfg.service.socks?.users ?? [],
        egress,
      });
    }
    session.dst = outcome.dst;
    if (outcome.kind === 'refused') {
      reader.detach();
      session.state = 'closing';
      if (outcome.reason !== 'info-only') {
        this.refuse(session.proto, session.client, outcome.reason, {
          id: session.id,
          dst: outcome.dst,
          detail: outcome.detail,
        });
      }
      if (outcome.reason === 'handshake-timeout') {
        // A client that never finished its handshake has nothing to read: it is reset (RFC 9293
        // 3.10.4 ABORT), not closed with a FIN, so that the HAG, which would close first, keeps
        // no TIME-WAIT for it (3.6); slowloris clients timed out by thousands cost nothing after.
        stream.destroy();
        this.finish(session, `refused: ${outcome.reason}`);
        return;
      }
      await this.linger(stream, outcome.reply);
      this.finish(session, `refused: ${outcome.reason}`);
      return;
    }
    if (this.draining) {
      outcome.socket.destroy();
      await this.linger(stream);
      this.finish(session, 'draining');
      return;
    }
    if (outcome.policy) {
      const p = outcome.policy;
      session.conn.peerPolicy(p.scheduler, p.overflow, p.congestion);
      // Our policy TLV names our CPE, which takes the answer before its third ACK (0-RTT both ways).
      session.conn.answersEarly = true;
    }
    if (outcome.policyIgnored)
      this.log.warn(
        { event: 'policy-ignored', id: session.id, client: session.client, reason: outcome.policyIgnored },
        `policy of ${session.client} not used: ${outcome.policyIgnored}`,
      );
    stream.write(outcome.reply);
    this.relayTo(session, stream, outcome.socket, reader.detach());
  }

  /**
   * The inbound port's first message: REGISTER makes it a CPE's control connection (hag/inbound.ts),
   * ATTACH pairs it with the client connection its ticket names, anything else is refused.
   */
  private async inboundFirst(session: Session, stream: ConnStream, reader: HandshakeReader): Promise<void> {
    const r = await reader.read(parseInbound);
    const refused = async (reason: string, detail?: string) => {
      reader.detach();
      session.state = 'closing';
      this.refuse('inbound', session.client, reason, { id: session.id, detail });
      if (reason === 'handshake-timeout') stream.destroy();
      else await this.linger(stream);
      this.finish(session, `refused: ${reason}`);
    };
    if (r.kind === 'timeout') return refused('handshake-timeout', `${r.received} bytes`);
    if (r.kind !== 'ok') return refused('malformed-message', r.kind === 'error' ? r.error.reason : r.kind);
    const m = r.value;
    if (this.draining || !this.inbound) return refused('draining');
    if (m.type === 'register') {
      if (m.version !== INBOUND_VERSION) return refused('unsupported-version', `version ${m.version}`);
      session.state = 'relay';
      session.dst = 'control';
      const end = await this.inbound.control(
        session.id,
        session.client,
        stream,
        m.owner,
        m.ranges,
        reader.detach(),
      );
      this.finish(session, end);
      return;
    }
    if (m.type !== 'attach') return refused('malformed-message', `${m.type} as the first message`);
    const waiting = this.inbound.take(m.ticket);
    if (!waiting) return refused('unknown-ticket');
    session.dst = waiting.peer;
    this.relayTo(session, stream, waiting.socket, reader.detach());
  }

  /**
   * The server is connected: the relay between it and the client, until either ends. Not awaited
   * by the handshake: its frame (the reader, the outcome) is gone while the connection is relayed.
   */
  private relayTo(session: Session, stream: ConnStream, egress: net.Socket, early: Buffer): void {
    session.egress = egress;
    session.state = 'relay';
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'connected',
        id: session.id,
        proto: session.proto,
        client: session.client,
        dst: session.dst,
        scheduler: session.conn.scheduler.name,
      },
      `connected ${session.id} to ${session.dst}`,
    );
    // The client's stream ended during the handshake: the relay sees it ended and ends the server.
    session.relay = relay(egress, stream, { early, idleMs: this.cfg.egress.idleTimeout });
    session.relay.whenDone(this.relayEnded, session);
  }

  /** A session's relay ended (Relay.whenDone: one function for all sessions, no promise each). */
  private readonly relayEnded = (session: Session, e: RelayEnd): void => {
    session.relay = undefined;
    try {
      const end = endName(e, RELAY_SIDES);
      if (end !== 'done') this.metrics.errors.inc({ kind: end });
      this.finish(session, end);
    } catch (err) {
      this.failed(session, err);
    }
  };

  private finish(session: Session, reason: string): void {
    if (!this.sessions.has(session.id)) return;
    this.sessions.delete(session.id);
    session.observe();
    this.metrics.bytes.inc({ direction: 'up' }, session.bytesUp);
    this.metrics.bytes.inc({ direction: 'down' }, session.bytesDown);
    for (const sf of session.subflows()) {
      this.metrics.subflows.inc({ uplink: sf.uplink });
      this.metrics.uplinkBytes.inc({ uplink: sf.uplink, direction: 'down' }, sf.bytesOut);
      this.metrics.uplinkBytes.inc({ uplink: sf.uplink, direction: 'up' }, sf.bytesIn);
    }
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'close',
        id: session.id,
        proto: session.proto,
        client: session.client,
        dst: session.dst,
        reason,
        durationMs: Date.now() - session.startedAt,
        bytesUp: session.bytesUp,
        bytesDown: session.bytesDown,
        mptcp: !session.conn.fallback,
        subflows: session.subflows(),
      },
      `close ${session.id}: ${reason}`,
    );
    if (this.draining && this.sessions.size === 0) this.drained?.();
  }

  // ------------------------------------------------------------ operations

  private drained: (() => void) | undefined;

  /** SIGTERM: refuse new connections, wait for the open ones up to the drain timeout, then stop. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.log.info(
      { event: 'drain', open: this.sessions.size, timeoutMs: this.cfg.limits.drainTimeout },
      'draining',
    );
    // Control connections of inbound forwarding are no work to wait for: closed at once (their
    // public ports with them), so that their CPEs register again elsewhere or after the restart.
    this.inbound?.stop();
    if (this.sessions.size > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        setTimeout(resolve, this.cfg.limits.drainTimeout).unref();
      });
    }
    const left = this.sessions.size;
    for (const s of this.sessions.values()) s.relay?.stop();
    for (const s of this.sessions.values()) {
      if (s.stream) s.stream.destroy();
      else {
        s.conn.abort(); // still before its first message: the gate hands it over closed
        this.ep.wake(s.conn);
      }
    }
    // Let the resets leave before the TUN goes.
    await new Promise((r) => setTimeout(r, left > 0 ? 200 : 0));
    this.stop();
    this.log.info({ event: 'stopped', reset: left }, 'HAG stopped');
  }

  /** Closes everything at once (the routes and the TUN included). */
  stop(): void {
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.http?.close();
    this.http?.closeAllConnections();
    this.inbound?.stop();
    this.driver?.close();
    if (this.divert) runPlan(divertTeardown(this.divert), { logger: this.log, module: 'transparent' });
    this.divert = undefined;
    this.plumbing?.teardown();
  }

  /** SIGHUP: a new config takes over the access rules, credentials, limits and log level. */
  /** After each SIGHUP: counted in the metrics. */
  onReload(ok: boolean): void {
    this.metrics.reloads.inc({ result: ok ? 'ok' : 'error' });
  }

  reload(next: HagConfig): string[] {
    const old = this.cfg;
    const restart: string[] = [];
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (!same(old.tun, next.tun)) restart.push('tun');
    if (!same(old.service.addresses, next.service.addresses)) restart.push('service.addresses');
    if (!same(old.service.joinAddresses, next.service.joinAddresses)) restart.push('service.joinAddresses');
    if (old.workers !== next.workers) restart.push('workers');
    if (old.service.convert?.port !== next.service.convert?.port) restart.push('service.convert.port');
    if (old.service.socks?.port !== next.service.socks?.port) restart.push('service.socks.port');
    if (!same(old.service.transparent, next.service.transparent)) restart.push('service.transparent');
    const inboundFixed = (c: HagConfig) =>
      c.service.inbound && { port: c.service.inbound.port, listen: c.service.inbound.listen };
    if (!same(inboundFixed(old), inboundFixed(next))) restart.push('service.inbound (port, listen)');
    if (!same(old.mptcp, next.mptcp)) restart.push('mptcp');
    // The stack took them at start (SYN cookies, half-open bound, FIN timeout, path sharing).
    if (!same(old.tcp, next.tcp)) restart.push('tcp');
    if (!same(old.metrics, next.metrics)) restart.push('metrics');
    // Settings that need a restart keep their old values; the rest apply to new connections.
    this.cfg = {
      ...next,
      tun: old.tun,
      mptcp: old.mptcp,
      tcp: old.tcp,
      metrics: old.metrics,
      workers: old.workers,
      service: {
        addresses: old.service.addresses,
        joinAddresses: old.service.joinAddresses,
        convert:
          old.service.convert && next.service.convert
            ? { ...next.service.convert, port: old.service.convert.port }
            : old.service.convert,
        socks:
          old.service.socks && next.service.socks
            ? { ...next.service.socks, port: old.service.socks.port }
            : old.service.socks,
        transparent: old.service.transparent,
        inbound:
          old.service.inbound && next.service.inbound
            ? { ...next.service.inbound, port: old.service.inbound.port, listen: old.service.inbound.listen }
            : old.service.inbound,
      },
    };
    if (this.cfg.service.inbound) this.inbound?.reconfigure(this.cfg.service.inbound);
    const key = next.service.convert?.fastOpen.key;
    if (key && key !== old.service.convert?.fastOpen.key) this.tfoCookies.rotate(Buffer.from(key, 'hex'));
    this.rules = this.makeRules(this.cfg);
    this.rate.configure(next.access.rateLimit.perSecond, next.access.rateLimit.burst);
    this.log.level = next.log.level;
    return restart;
  }

  // ------------------------------------------------------------ metrics and sessions

  private serveHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.renderMetrics());
    } else if (path === '/sessions') {
      const list = [...this.sessions.values()].map((s) => {
        s.observe();
        return s.summary();
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(list)}\n`);
    } else if (path === '/' || path === '/status.json') {
      // ?clients: every subscriber with its connections, for a supervisor that counts them once.
      const s = this.status(/[?&]clients\b/.test(req.url ?? ''));
      if (path === '/')
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderHagPage(s));
      else res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(s)}\n`);
    } else if (path === '/healthz') {
      res
        .writeHead(this.draining ? 503 : 200, { 'content-type': 'text/plain' })
        .end(this.draining ? 'draining\n' : 'ok\n');
    } else {
      res.writeHead(404).end();
    }
  }

  private statusSource(): StatusSource {
    return {
      sessions: this.sessions.values(),
      uplinks: this.cfg.uplinks.map((u) => u.name),
      uplinkBytes: this.metrics.uplinkBytes,
      refusals: this.metrics.refusals,
      connections: this.metrics.connections,
    };
  }

  /** The status snapshot of the page and /status.json. */
  status(clients = false): HagStatus {
    return this.board.snapshot(this.statusSource(), {
      clients,
      draining: this.draining,
      capacity: this.files.capacity,
      rssBytes: process.memoryUsage.rss(),
      bufferBytes: this.bufferMemory(),
    });
  }

  /** Traffic buffers the core holds: the TCP sockets' and the MPTCP connections'. */
  private bufferMemory(): number {
    let n = this.ep.tcp.bufferMemory;
    for (const s of this.sessions.values()) n += s.conn.bufferMemory;
    return n;
  }

  renderMetrics(): string {
    const g = this.metrics.scraped;
    for (const f of Object.values(g)) f.clear();
    let up = 0;
    let down = 0;
    for (const s of this.sessions.values()) {
      s.observe();
      g.active.inc({ proto: s.proto, state: s.state });
      for (const sf of s.subflows()) if (sf.active) g.subflows.inc({ uplink: sf.uplink });
      up += s.bytesUp;
      down += s.bytesDown;
    }
    g.bytesActive.set({ direction: 'up' }, up);
    g.bytesActive.set({ direction: 'down' }, down);
    for (const [k, v] of Object.entries(this.ep.mib)) g.mib.set({ counter: k }, v);
    for (const [k, v] of Object.entries(this.ep.tcp.mib)) g.tcpMib.set({ counter: k }, v);
    if (this.driver) {
      g.tunPackets.set({ direction: 'in' }, this.driver.stats.packetsIn);
      g.tunPackets.set({ direction: 'out' }, this.driver.stats.packetsOut);
      g.tunWriteDrops.set({}, this.driver.stats.writeDrops);
      g.tunSuperPackets.set({}, this.driver.stats.superPacketsIn);
    }
    g.memory.set({}, process.memoryUsage.rss());
    g.coreSockets.set({}, this.ep.tcp.connectionCount);
    const tw = this.ep.tcp.timeWaitStats;
    g.coreTimeWait.set({}, tw.records);
    g.coreTimeWaitBytes.set({}, tw.bytes);
    g.files.set({ what: 'limit' }, this.files.limit);
    g.files.set({ what: 'capacity' }, this.files.capacity);
    g.coreBuffers.set({}, this.bufferMemory());
    g.draining.set({}, this.draining ? 1 : 0);
    if (this.inbound) {
      const n = this.inbound.counts;
      g.inboundControls.set({}, n.controls);
      g.inboundPorts.set({}, n.ports);
      g.inboundPending.set({}, n.pending);
    }
    return this.metrics.render();
  }
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function closed(stream: ConnStream): Promise<void> {
  if (stream.closed || stream.destroyed) return Promise.resolve();
  return once(stream, 'close').then(() => undefined);
}
