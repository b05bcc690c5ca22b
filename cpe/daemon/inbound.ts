// Inbound port forwarding at the CPE (config `inbound`; the design is in hag/inbound.ts and
// src/inbound/wire.ts). The control connection (inbound-control.ts) registers the forwards'
// public ports with the HAG and reports each client connection to one of them; for each, this
// connects to the forward's LAN host (kernel TCP; refused or silent: the HAG is told to reset the
// client, REJECT), then opens a new MPTCP connection to the HAG's inbound port whose first message
// is ATTACH(ticket), its subflows on every usable uplink like outbound traffic, and relays the two.
// Each forward's state (pending, open, refused by the HAG with why) and its connections are
// counted for the status page and /metrics; every open, close and failure is logged.
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { connectionLevel } from '../../src/daemon/logger.js';
import {
  encodeInbound,
  FORWARD_STATUS,
  forwardStatusName,
  portRangeText,
  REJECT_REASON,
  rejectReasonName,
} from '../../src/inbound/index.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { scheduler } from '../../src/mptcp/sched/index.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import { endName, type Relay, relay, resetSocket } from '../../src/relay/relay.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { formatIp, hostPort } from '../../src/wire/addr.js';
import type { CpeConfig } from './config.js';
import type { HagLink } from './hag-link.js';
import { InboundControl, type Incoming } from './inbound-control.js';
import { loadInboundId } from './inbound-id.js';
import { parseAddress } from './ip.js';
import { subflowBytes } from './uplink-bytes.js';
import type { Uplinks } from './uplinks.js';

/** The relay's sides in these words (the close log: lan-reset, hag-reset). */
const RELAY_SIDES = { kernel: 'lan', core: 'hag' };

export interface ForwardStatus {
  name: string;
  /** The public port or range at the HAG ("8080", "27015-27030"). */
  public: string;
  host: string;
  /** The LAN port (the first, for a range). */
  port: number;
  /** pending: not registered yet (or the control connection is down); open; refused by the HAG. */
  state: 'pending' | 'open' | 'refused';
  /** Why the HAG refused it (not-allowed, in-use, too-many-ports, listen-failed, invalid-range). */
  reason?: string;
  /** Inbound connections open now, relayed in all, and failed (LAN host refused or silent, ...). */
  active: number;
  connections: number;
  failed: number;
}

export interface InboundStatus {
  control: { state: string; reason: string; since: number; hag: string | undefined; port: number };
  forwards: ForwardStatus[];
  active: number;
  accepted: number;
  closed: number;
  failed: Record<string, number>;
}

interface InboundSession {
  id: number;
  forward: ForwardStatus;
  peer: string;
  lan: string;
  startedAt: number;
  socket: Socket;
  conn?: MptcpConnection;
  subflows: Set<Subflow>;
  relay?: Relay;
}

let nextId = 1;

export class InboundForwarder {
  readonly forwards: ForwardStatus[];
  readonly sessions = new Map<number, InboundSession>();
  private readonly byConn = new Map<MptcpConnection, InboundSession>();
  private readonly control: InboundControl;
  private readonly stats = { accepted: 0, closed: 0, failed: {} as Record<string, number> };
  /** Inbound connections whose LAN host is being connected to: they count toward maxConnections. */
  private connecting = 0;
  draining = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly cfg: CpeConfig,
    private readonly inbound: NonNullable<CpeConfig['inbound']>,
    private readonly ep: MptcpEndpoint,
    private readonly pm: ClientPathManager,
    private readonly uplinks: Uplinks,
    hag: HagLink,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.forwards = inbound.forwards.map((f) => ({
      name: f.name,
      public: portRangeText(f.public),
      host: f.host,
      port: f.port ?? f.public.first,
      state: 'pending',
      active: 0,
      connections: 0,
      failed: 0,
    }));
    this.control = new InboundControl(
      {
        port: inbound.port,
        keepaliveMs: inbound.keepalive,
        retryMs: inbound.retry,
        timeoutMs: cfg.hag.connectTimeout,
        ranges: inbound.forwards.map((f) => f.public),
        owner: loadInboundId(cfg.state.directory, log),
        now,
      },
      ep,
      pm,
      hag,
      {
        registered: (status) => this.registered(status),
        incoming: (m, addr) => {
          this.incoming(m, addr).catch((e: Error) =>
            this.log.error({ event: 'internal-error', err: e }, 'inbound connection failed'),
          );
        },
        down: () => {
          for (const f of this.forwards) if (f.state === 'open') f.state = 'pending';
        },
      },
      log,
    );
    ep.on((e) => {
      if (e.type === 'sub-established' || e.type === 'sub-closed')
        this.byConn.get(e.conn)?.subflows.add(e.subflow);
    });
  }

  start(): void {
    this.control.start();
  }

  private registered(status: number[]): void {
    this.forwards.forEach((f, i) => {
      const s = status[i] ?? FORWARD_STATUS.invalid;
      f.state = s === FORWARD_STATUS.ok ? 'open' : 'refused';
      f.reason = s === FORWARD_STATUS.ok ? undefined : forwardStatusName(s);
      if (f.reason)
        this.log.warn(
          { event: 'forward-refused', forward: f.name, public: f.public, reason: f.reason },
          `the HAG refused forward ${f.name} (public ${f.public}): ${f.reason}`,
        );
      else
        this.log.info(
          { event: 'forward-open', forward: f.name, public: f.public, host: f.host, port: f.port },
          `forward ${f.name}: HAG port ${f.public} -> ${hostPort(f.host, f.port)}`,
        );
    });
  }

  private fail(
    f: ForwardStatus | undefined,
    m: Incoming,
    peer: string,
    reason: number,
    detail: string,
  ): void {
    const name = rejectReasonName(reason);
    this.stats.failed[name] = (this.stats.failed[name] ?? 0) + 1;
    if (f) f.failed++;
    this.control.reject(m.ticket, reason);
    this.log.warn(
      { event: 'inbound-refused', forward: f?.name, peer, port: m.port, reason: name, detail },
      `inbound ${peer} to port ${m.port} refused: ${name} (${detail})`,
    );
  }

  /** A client connected to a public port: the LAN host, then the attach connection, then the relay. */
  private async incoming(m: Incoming, hag: string): Promise<void> {
    const peer = hostPort(formatIp(m.address), m.peerPort);
    const cfg = this.inbound.forwards[m.index];
    const f = this.forwards[m.index];
    if (!cfg || m.port < cfg.public.first || m.port > cfg.public.last)
      return this.fail(f, m, peer, REJECT_REASON.noForward, `no forward ${m.index} with port ${m.port}`);
    if (this.draining) return this.fail(f, m, peer, REJECT_REASON.busy, 'draining');
    // The LAN connects under way count too: a burst of INCOMINGs opens at most maxConnections sockets.
    if (this.sessions.size + this.connecting >= this.cfg.intercept.maxConnections)
      return this.fail(
        f,
        m,
        peer,
        REJECT_REASON.busy,
        `${this.sessions.size} open, ${this.connecting} connecting`,
      );
    const lanPort = f.port + (m.port - cfg.public.first);
    const socket = net.connect({ host: f.host, port: lanPort, noDelay: true, allowHalfOpen: true });
    socket.on('error', () => {});
    this.connecting++;
    const ok = await new Promise<true | string>((resolve) => {
      const t = setTimeout(() => resolve('timeout'), this.cfg.hag.connectTimeout);
      socket.once('connect', () => {
        clearTimeout(t);
        resolve(true);
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(t);
        resolve(e.code ?? e.message);
      });
    });
    this.connecting--;
    if (ok !== true) {
      socket.destroy();
      const reason = ok === 'timeout' ? REJECT_REASON.lanTimeout : REJECT_REASON.lanRefused;
      return this.fail(f, m, peer, reason, `${hostPort(f.host, lanPort)}: ${ok}`);
    }
    // Stopped or draining while it connected: no attach connection opens after that.
    if (this.draining) {
      resetSocket(socket);
      return this.fail(f, m, peer, REJECT_REASON.busy, 'draining');
    }
    const conn = this.pm.connect(this.now(), parseAddress(hag) as Uint8Array, this.inbound.port);
    if (!conn) {
      resetSocket(socket);
      return this.fail(f, m, peer, REJECT_REASON.busy, 'no usable uplink');
    }
    // What goes up to the HAG is this connection's bulk: scheduled as the LAN's defaults say.
    conn.scheduler = scheduler(this.cfg.scheduling.default);
    const s: InboundSession = {
      id: nextId++,
      forward: f,
      peer,
      lan: hostPort(f.host, lanPort),
      startedAt: Date.now(),
      socket,
      conn,
      subflows: new Set(),
    };
    this.sessions.set(s.id, s);
    this.byConn.set(conn, s);
    this.stats.accepted++;
    f.active++;
    f.connections++;
    const stream = new ConnStream(conn, this.ep);
    stream.on('error', () => {});
    // The ticket rides in the SYN when the HAG gave us a Fast Open cookie (0-RTT), else right after.
    stream.write(encodeInbound({ type: 'attach', ticket: m.ticket }));
    this.ep.wake(conn);
    this.log[connectionLevel(this.cfg.log)](
      { event: 'inbound-open', id: s.id, forward: f.name, peer, lan: s.lan, hag },
      `inbound ${s.id} ${peer} -> ${s.lan} (forward ${f.name})`,
    );
    s.relay = relay(socket, stream, { idleMs: this.cfg.intercept.idleTimeout });
    // The attach connection not established within connectTimeout (its SYNs unanswered): the LAN
    // connection is not held through the core's SYN retries (minutes), and the HAG is told to
    // reset its client now rather than at its attachTimeout.
    let unattached = false;
    const timer = setTimeout(() => {
      unattached = true;
      this.stats.failed['attach-timeout'] = (this.stats.failed['attach-timeout'] ?? 0) + 1;
      f.failed++;
      s.relay?.stop();
      this.control.reject(m.ticket, REJECT_REASON.busy);
    }, this.cfg.hag.connectTimeout);
    stream.once('connect', () => clearTimeout(timer));
    const end = endName(await s.relay.done, RELAY_SIDES);
    clearTimeout(timer);
    this.finish(s, unattached ? `attach-timeout (${this.cfg.hag.connectTimeout} ms)` : end);
  }

  private finish(s: InboundSession, reason: string): void {
    if (!this.sessions.delete(s.id)) return;
    if (s.conn) {
      for (const sf of s.conn.subflows) s.subflows.add(sf);
      this.byConn.delete(s.conn);
    }
    s.forward.active--;
    this.stats.closed++;
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'inbound-close',
        id: s.id,
        forward: s.forward.name,
        peer: s.peer,
        lan: s.lan,
        reason,
        durationMs: Date.now() - s.startedAt,
        bytesFromLan: s.socket.bytesRead,
        bytesToLan: s.socket.bytesWritten,
        uplinks: subflowBytes(s.subflows, this.pm, this.uplinks),
      },
      `inbound close ${s.id} ${s.peer}: ${reason}`,
    );
    if (this.draining && this.sessions.size === 0) this.drained?.();
  }

  status(): InboundStatus {
    const c = this.control;
    return {
      control: { state: c.state, reason: c.reason, since: c.since, hag: c.hag, port: this.inbound.port },
      forwards: this.forwards.map((f) => ({ ...f })),
      active: this.sessions.size,
      accepted: this.stats.accepted,
      closed: this.stats.closed,
      failed: { ...this.stats.failed },
    };
  }

  /**
   * SIGTERM: the control connection closes (the HAG closes the public ports), the open inbound
   * connections get up to `timeoutMs` to finish; returns how many were left (then reset by stop()).
   */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    this.control.stop();
    if (this.sessions.size > 0)
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        setTimeout(resolve, timeoutMs).unref();
      });
    return this.sessions.size;
  }

  /** Stops taking inbound connections and resets the open ones. */
  stop(): void {
    this.draining = true;
    this.control.stop();
    for (const s of this.sessions.values()) s.relay?.stop();
  }
}
