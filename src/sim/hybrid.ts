// A hybrid-access scenario in the simulator: a CPE endpoint with one address per uplink (each its
// own simulated link with rate, delay, loss and a drop-tail queue) and a HAG endpoint, running our
// MPTCP with the client path manager; and the same links used one at a time by a plain TCP
// connection, the baseline that bonding is measured against. Used by tests and scripts/bench.
import type { MptcpConfig, MptcpConnection, MptcpMib } from '../mptcp/connection.js';
import { type EndpointOptions, MptcpEndpoint } from '../mptcp/endpoint.js';
import { ClientPathManager } from '../mptcp/pm/client.js';
import { type SchedulerName, scheduler } from '../mptcp/sched/index.js';
import type { CongestionControlName } from '../tcp/cc/index.js';
import type { TcpConfig } from '../tcp/config.js';
import { PathMetrics } from '../tcp/path-metrics.js';
import type { TcpSocket } from '../tcp/socket.js';
import { TcpStack } from '../tcp/stack.js';
import { BulkApp, mptcpConn, tcpConn } from './bulk.js';
import { Network } from './network.js';

export interface UplinkSpec {
  name: string;
  /** Bits per second, each direction. */
  rate: number;
  /** One-way delay in ms. */
  delay: number;
  loss?: number;
  /** Extra delay per packet, uniform in [0, jitter) ms (default 0). */
  jitter?: number;
  /** Drop-tail queue in ms at the rate (default 50). */
  queueMs?: number;
  /** Subflows on this uplink are backups (RFC 8684 3.3.8). */
  backup?: boolean;
  /** An overflow uplink (for the primary-first scheduler). */
  overflow?: boolean;
  /** Intervals of virtual time during which the link is down. */
  outages?: { from: number; to: number }[];
  /** The CPE's congestion control on this uplink (as the CPE config's per uplink; default the TCP config's). */
  congestionControl?: CongestionControlName;
}

export type Direction = 'down' | 'up';

export interface MeasureOptions {
  seed?: number;
  /** The connection's scheduler (default min-RTT). */
  scheduler?: SchedulerName;
  /**
   * How the HAG's side learns the scheduler: 'local' (set on it, as by the HAG's own default),
   * or the CPE's policy (MptcpConnection.peerPolicy, as from the Convert policy TLV: the scheduler,
   * the overflow uplinks, each uplink's congestion control) applied when
   * the connection is accepted ('policy-at-accept') or once every subflow has joined
   * ('policy-after-join'). Default 'local'.
   */
  serverScheduling?: 'local' | 'policy-at-accept' | 'policy-after-join';
  /** Offered load in bit/s (default: as fast as the connection goes). */
  load?: number;
  /** The load comes in bursts this far apart (ms; default 5: smooth). */
  burstMs?: number;
  /** Coupled congestion control (default: each subflow's own CUBIC). */
  congestion?: 'uncoupled' | 'lia' | 'olia';
  /** The connection-level receive buffer of both endpoints, bytes (default the core's, 4 MB). */
  recvBuffer?: number;
  /** More MPTCP settings for both endpoints. */
  mptcp?: Partial<MptcpConfig>;
  /** TCP settings of both endpoints (the congestion control of every subflow, say). */
  tcp?: Partial<TcpConfig>;
  /** Both endpoints on a device with checksum offload and TSO: super-segments, cut by their node. */
  tso?: boolean;
  /** Measurement starts after this much virtual time (slow start left behind). */
  warmupMs?: number;
  /** and ends here. */
  endMs?: number;
}

const HAG = Uint8Array.of(198, 19, 0, 1);
const BIG = 2 ** 40;

/** The CPE's address on uplink i: 198.18.(i+1).2. */
export function uplinkAddr(i: number): Uint8Array {
  return Uint8Array.of(198, 18, i + 1, 2);
}

export interface HybridNet {
  net: Network;
  cpe: MptcpEndpoint;
  hag: MptcpEndpoint;
  pm: ClientPathManager;
}

/** A simulated access link as the lab shapes one: a drop-tail queue of `queueMs` at the rate. */
function linkConfig(l: UplinkSpec) {
  return {
    name: l.name,
    rate: l.rate,
    delay: l.delay,
    loss: l.loss ?? 0,
    jitter: l.jitter ?? 0,
    queueBytes: Math.max(3000, Math.floor(((l.queueMs ?? 50) / 1000) * (l.rate / 8))),
    outages: l.outages ?? [],
  };
}

/** The single-link baseline: two plain TCP stacks over `link` alone. */
function singleLinkNet(link: UplinkSpec, seed = 1, tcp?: Partial<TcpConfig>, tso?: boolean) {
  const net = new Network({ seed });
  const cpe = new TcpStack({ tcp, random: net.random('cpe') });
  const hag = new TcpStack({ tcp, random: net.random('hag') });
  net.addNode('cpe', cpe, { tso });
  net.addNode('hag', hag, { tso });
  const l = net.connect('cpe', 'hag', linkConfig(link));
  net.route('cpe', { dst: '198.19.0.0/16', via: l });
  net.route('hag', { dst: '198.18.0.0/16', via: l });
  return { net, cpe, hag };
}

export interface HybridOptions {
  seed?: number;
  /** Coupled congestion control on both endpoints (default uncoupled). */
  congestion?: 'uncoupled' | 'lia' | 'olia';
  /** Connection-level receive (and send) buffer of both endpoints, bytes. */
  recvBuffer?: number;
  /** More MPTCP settings for both endpoints. */
  mptcp?: Partial<MptcpConfig>;
  /** TCP settings of both endpoints. */
  tcp?: Partial<TcpConfig>;
  /** More options for either endpoint (merged over the above). */
  cpe?: EndpointOptions;
  hag?: EndpointOptions;
  /** Both endpoints on a device with checksum offload and TSO (src/sim/node.ts). */
  tso?: boolean;
  /** The client path manager's retry backoff. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Each endpoint's stack shares what its connections learn of each path (RFC 9040; src/tcp/path-metrics.ts). */
  pathMetrics?: boolean;
}

/** The network of `links` between a CPE and a HAG, with the path manager told of every uplink. */
export function hybridNet(links: UplinkSpec[], o: HybridOptions = {}): HybridNet {
  const net = new Network({ seed: o.seed ?? 1 });
  const mptcp = {
    congestion: o.congestion ?? 'uncoupled',
    ...(o.recvBuffer ? { recvBuffer: o.recvBuffer } : {}),
    ...o.mptcp,
  };
  const ccFor = (local: Uint8Array) => links[local[2] - 1]?.congestionControl;
  const cpe = new MptcpEndpoint({
    tcp: o.tcp,
    random: net.random('cpe'),
    congestionControlFor: ccFor,
    ...(o.pathMetrics ? { stack: { pathMetrics: new PathMetrics() } } : {}),
    ...o.cpe,
    mptcp: { ...mptcp, ...o.cpe?.mptcp },
  });
  const hag = new MptcpEndpoint({
    tcp: o.tcp,
    random: net.random('hag'),
    ...(o.pathMetrics ? { stack: { pathMetrics: new PathMetrics() } } : {}),
    ...o.hag,
    mptcp: { ...mptcp, ...o.hag?.mptcp },
  });
  net.addNode('cpe', cpe, { tso: o.tso });
  net.addNode('hag', hag, { tso: o.tso });
  const pm = new ClientPathManager(cpe, { retryMinMs: o.retryMinMs, retryMaxMs: o.retryMaxMs });
  links.forEach((l, i) => {
    const link = net.connect('cpe', 'hag', linkConfig(l));
    net.route('cpe', { src: `198.18.${i + 1}.0/24`, via: link });
    net.route('hag', { dst: `198.18.${i + 1}.0/24`, via: link });
    pm.setAddress(0, {
      id: i + 1,
      addr: uplinkAddr(i),
      backup: !!l.backup,
      overflow: !!l.overflow,
      up: true,
    });
  });
  return { net, cpe, hag, pm };
}

export interface BulkRun {
  /** Goodput over the measurement window, bit/s. */
  goodput: number;
  /** Bytes each uplink's subflows sent in the measured direction during the window (MPTCP runs). */
  perUplink: number[];
  /** The receiving application. */
  rx: BulkApp;
  /** The sending endpoint's MPTCP counters (MPTCP runs). */
  mib?: MptcpMib;
  /** Super-segments the sending node cut (with `tso`). */
  superSegments?: number;
  /** The HAG's side of the connection (MPTCP runs). */
  hagConn?: MptcpConnection;
}

/** Goodput at `rx` over [warmupMs, endMs], and `probe()` sampled at both ends (its difference). */
function measure(net: Network, rx: BulkApp, o: MeasureOptions, probe: () => number[] = () => []) {
  const warm = o.warmupMs ?? 5000;
  const end = o.endMs ?? 25_000;
  net.run(warm);
  const at = rx.received;
  const p0 = probe();
  net.run(end);
  const p1 = probe();
  return { goodput: ((rx.received - at) * 8) / ((end - warm) / 1000), delta: p1.map((v, i) => v - p0[i]) };
}

/** Limits what `app` sends to `rate` bit/s, released every 5 ms. */
export function pace(net: Network, app: BulkApp, rate: number, everyMs = 5): void {
  const start = net.now;
  app.cap = 0;
  const tick = (now: number) => {
    app.cap = Math.floor(((now - start) / 1000) * (rate / 8));
    app.kick();
    net.at(now + everyMs, tick);
  };
  tick(net.now);
}

/**
 * Lets `app` read at most `rate` bit/s from now on (a receiving application slower than the path),
 * and `ahead` bytes at once first (buffers beyond the receiver that fill before it reads: a relay's
 * socket, the LAN host's kernel).
 */
export function paceReads(net: Network, app: BulkApp, rate: number, everyMs = 5, ahead = 0): void {
  const start = net.now;
  const base = app.received + ahead;
  const tick = (now: number) => {
    app.readCap = base + Math.floor(((now - start) / 1000) * (rate / 8));
    app.read();
    net.at(now + everyMs, tick);
  };
  tick(net.now);
}

/** One long MPTCP connection over all `links`, sending in direction `dir`. */
export function mptcpBulk(links: UplinkSpec[], dir: Direction, o: MeasureOptions = {}): BulkRun {
  const { net, cpe, hag, pm } = hybridNet(links, o);
  let server: MptcpConnection | undefined;
  let hagApp: BulkApp | undefined;
  const how = o.serverScheduling ?? 'local';
  const policy = () =>
    server!.peerPolicy(o.scheduler ?? 'min-rtt', pm.overflowIds(conn!), pm.congestionIds(conn!));
  // With an offered load the sender writes nothing until pace() starts: a BulkApp writes as soon
  // as it is made, and the 4 MB it put into the send buffer at once was the first 2.8 s of a
  // 12 Mbit/s load, sent in 0.85 s, after which the connection stood idle for 2 s.
  const held = o.load ? 0 : Number.POSITIVE_INFINITY;
  hag.listen(443, (c) => {
    server = c;
    if (how === 'policy-at-accept') policy();
    hagApp = new BulkApp(mptcpConn(hag, c), dir === 'down' ? BIG : 0, 2, () => net.now, held);
  });
  const conn = pm.connect(0, HAG, 443);
  if (!conn) throw new Error('no usable uplink');
  if (o.scheduler) conn.scheduler = scheduler(o.scheduler);
  const cpeApp = new BulkApp(mptcpConn(cpe, conn), dir === 'up' ? BIG : 0, 1, () => net.now, held);
  net.runUntil(() => !!hagApp, 5000);
  if (!hagApp || !server) throw new Error('the connection did not establish');
  if (o.scheduler && how === 'local') server.scheduler = scheduler(o.scheduler);
  if (how === 'policy-after-join') {
    net.runUntil(() => server!.subflows.length === links.length, 5000);
    policy();
  }
  if (o.load) pace(net, dir === 'down' ? hagApp : cpeApp, o.load, o.burstMs);
  const rx = dir === 'down' ? cpeApp : hagApp;
  const sender = () => (dir === 'down' ? server! : conn);
  // Payload bytes each uplink's subflows sent in the measured direction.
  const perUplinkNow = () =>
    links.map((_, i) => {
      let bytes = 0;
      for (const sf of sender().subflows) {
        const t = sf.socket.tuple;
        if ((dir === 'down' ? t.remote : t.local)[2] === i + 1) bytes += sf.socket.stats.bytesOut;
      }
      return bytes;
    });
  const m = measure(net, rx, o, perUplinkNow);
  const superSegments = net.node(dir === 'down' ? 'hag' : 'cpe').stats.superSegments;
  const mib = (dir === 'down' ? hag : cpe).mib;
  return { goodput: m.goodput, perUplink: m.delta, rx, mib, superSegments, hagConn: server };
}

/** One long plain TCP connection over the single link `link`, sending in direction `dir`. */
export function tcpBulk(link: UplinkSpec, dir: Direction, o: MeasureOptions = {}): BulkRun {
  const { net, cpe, hag } = singleLinkNet(link, o.seed, o.tcp, o.tso);
  let hagApp: BulkApp | undefined;
  hag.listen({
    port: 443,
    onAccept: (s: TcpSocket) => {
      hagApp = new BulkApp(tcpConn(hag, s), dir === 'down' ? BIG : 0, 2, () => net.now);
    },
  });
  const sock = cpe.connect(0, { local: uplinkAddr(0), remote: HAG, remotePort: 443 });
  const cpeApp = new BulkApp(tcpConn(cpe, sock), dir === 'up' ? BIG : 0, 1, () => net.now);
  net.runUntil(() => !!hagApp, 5000);
  if (!hagApp) throw new Error('the connection did not establish');
  const rx = dir === 'down' ? cpeApp : hagApp;
  return { goodput: measure(net, rx, o).goodput, perUplink: [], rx };
}

/**
 * A short download: the HAG sends `bytes` as soon as the connection is accepted; returns the time
 * from the CPE's SYN to the last byte received, in ms. Over MPTCP on all `links`, or over plain
 * TCP on the first link alone.
 */
export function shortDownload(
  links: UplinkSpec[],
  bytes: number,
  mptcp: boolean,
  o: MeasureOptions = {},
): number {
  if (!mptcp) {
    const { net, cpe, hag } = singleLinkNet(links[0], o.seed);
    hag.listen({
      port: 443,
      onAccept: (s: TcpSocket) => new BulkApp(tcpConn(hag, s), bytes, 2, () => net.now),
    });
    const sock = cpe.connect(0, { local: uplinkAddr(0), remote: HAG, remotePort: 443 });
    const app = new BulkApp(tcpConn(cpe, sock), 0, 1, () => net.now);
    net.runUntil(() => app.received >= bytes, 30_000);
    return app.lastRxAt;
  }
  const { net, cpe, hag, pm } = hybridNet(links, o);
  hag.listen(443, (c) => {
    if (o.scheduler) c.scheduler = scheduler(o.scheduler);
    new BulkApp(mptcpConn(hag, c), bytes, 2, () => net.now);
  });
  const conn = pm.connect(0, HAG, 443);
  if (!conn) throw new Error('no usable uplink');
  const app = new BulkApp(mptcpConn(cpe, conn), 0, 1, () => net.now);
  net.runUntil(() => app.received >= bytes, 30_000);
  return app.lastRxAt;
}
