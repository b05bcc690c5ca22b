// A hybrid-access scenario in the simulator: a CPE endpoint with one address per uplink (each its
// own simulated link with rate, delay, loss and a drop-tail queue) and a HAG endpoint, running our
// MPTCP with the client path manager; and the same links used one at a time by a plain TCP
// connection, the baseline that bonding is measured against. Used by tests and scripts/bench.
import type { MptcpConnection } from '../mptcp/connection.js';
import { MptcpEndpoint } from '../mptcp/endpoint.js';
import { ClientPathManager } from '../mptcp/pm/client.js';
import type { TcpSocket } from '../tcp/socket.js';
import { TcpStack } from '../tcp/stack.js';
import { BulkApp, tcpConn } from './bulk.js';
import { Network } from './network.js';

export interface UplinkSpec {
  name: string;
  /** Bits per second, each direction. */
  rate: number;
  /** One-way delay in ms. */
  delay: number;
  loss?: number;
  /** Drop-tail queue in ms at the rate (default 50). */
  queueMs?: number;
  /** Subflows on this uplink are backups (RFC 8684 3.3.8). */
  backup?: boolean;
  /** Intervals of virtual time during which the link is down. */
  outages?: { from: number; to: number }[];
}

export type Direction = 'down' | 'up';

export interface MeasureOptions {
  seed?: number;
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

/** The network of `links` between a CPE and a HAG, with the path manager told of every uplink. */
export function hybridNet(links: UplinkSpec[], seed = 1): HybridNet {
  const net = new Network({ seed });
  const cpe = new MptcpEndpoint();
  const hag = new MptcpEndpoint();
  net.addNode('cpe', cpe);
  net.addNode('hag', hag);
  const pm = new ClientPathManager(cpe);
  links.forEach((l, i) => {
    const link = net.connect('cpe', 'hag', {
      name: l.name,
      rate: l.rate,
      delay: l.delay,
      loss: l.loss ?? 0,
      queueBytes: Math.max(3000, Math.floor(((l.queueMs ?? 50) / 1000) * (l.rate / 8))),
      outages: l.outages ?? [],
    });
    net.route('cpe', { src: `198.18.${i + 1}.0/24`, via: link });
    net.route('hag', { dst: `198.18.${i + 1}.0/24`, via: link });
    pm.setAddress(0, { id: i + 1, addr: uplinkAddr(i), backup: !!l.backup, up: true });
  });
  return { net, cpe, hag, pm };
}

export interface BulkRun {
  /** Goodput over the measurement window, bit/s. */
  goodput: number;
  /** Bytes each uplink's subflow sent, in the measured direction (MPTCP runs only). */
  perUplink: number[];
  /** The receiving application. */
  rx: BulkApp;
}

function measure(net: Network, rx: BulkApp, o: MeasureOptions): number {
  const warm = o.warmupMs ?? 5000;
  const end = o.endMs ?? 25_000;
  net.run(warm);
  const at = rx.received;
  net.run(end);
  return ((rx.received - at) * 8) / ((end - warm) / 1000);
}

function mptcpConn(ep: MptcpEndpoint, c: MptcpConnection) {
  return { conn: c, wake: () => ep.wake(c), canClose: () => c.established };
}

/** One long MPTCP connection over all `links`, sending in direction `dir`. */
export function mptcpBulk(links: UplinkSpec[], dir: Direction, o: MeasureOptions = {}): BulkRun {
  const { net, cpe, hag, pm } = hybridNet(links, o.seed);
  let server: MptcpConnection | undefined;
  let hagApp: BulkApp | undefined;
  hag.listen(443, (c) => {
    server = c;
    hagApp = new BulkApp(mptcpConn(hag, c), dir === 'down' ? BIG : 0, 2, () => net.now);
  });
  const conn = pm.connect(0, HAG, 443);
  if (!conn) throw new Error('no usable uplink');
  const cpeApp = new BulkApp(mptcpConn(cpe, conn), dir === 'up' ? BIG : 0, 1, () => net.now);
  net.runUntil(() => !!hagApp, 5000);
  if (!hagApp) throw new Error('the connection did not establish');
  const rx = dir === 'down' ? cpeApp : hagApp;
  const goodput = measure(net, rx, o);
  const sender = dir === 'down' ? server! : conn;
  const perUplink = links.map((_, i) => {
    const addr = uplinkAddr(i);
    let bytes = 0;
    for (const sf of sender.subflows) {
      const t = sf.socket.tuple;
      const a = dir === 'down' ? t.remote : t.local;
      if (a[2] === addr[2]) bytes += sf.socket.stats.bytesOut;
    }
    return bytes;
  });
  return { goodput, perUplink, rx };
}

/** One long plain TCP connection over the single link `link`, sending in direction `dir`. */
export function tcpBulk(link: UplinkSpec, dir: Direction, o: MeasureOptions = {}): BulkRun {
  const net = new Network({ seed: o.seed ?? 1 });
  const cpe = new TcpStack();
  const hag = new TcpStack();
  net.addNode('cpe', cpe);
  net.addNode('hag', hag);
  const l = net.connect('cpe', 'hag', {
    name: link.name,
    rate: link.rate,
    delay: link.delay,
    loss: link.loss ?? 0,
    queueBytes: Math.max(3000, Math.floor(((link.queueMs ?? 50) / 1000) * (link.rate / 8))),
  });
  net.route('cpe', { dst: '198.19.0.0/16', via: l });
  net.route('hag', { dst: '198.18.0.0/16', via: l });
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
  return { goodput: measure(net, rx, o), perUplink: [], rx };
}
