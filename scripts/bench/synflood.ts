// SYN-flood benchmark, in virtual time (the lab's attack, issue 13): spoofed SYNs at --rate a
// second for --seconds against an MPTCP endpoint shaped like the HAG (backlog 1024 per port, 4096
// half-open), while a legitimate host opens --clients plain TCP connections spread over the flood
// and 30 s after it. A connect counts as failed when it is not established within --timeout ms
// (the lab's client gave up after 3 s). Prints, per SYN-cookie mode, the failed connects, the
// slowest connect, the half-open connections at the end of the flood and 10 s after it, the
// cookie counters and the wall-clock cost per flood SYN.
//   node dist/scripts/bench/synflood.js [--rate 10000] [--seconds 30] [--clients 75] [--timeout 3000]
import { performance } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import type { SansIo } from '../../src/driver.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import { Rng } from '../../src/sim/rng.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { type SynCookieMode, TcpStack } from '../../src/tcp/stack.js';
import { emitPacket, ipReprOf } from '../../src/wire/packet.js';
import type { TcpOption } from '../../src/wire/tcp-options.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '30' },
    clients: { type: 'string', default: '75' },
    timeout: { type: 'string', default: '3000' },
    'mp-capable': { type: 'boolean', default: false },
    modes: { type: 'string', default: 'auto,never' },
    'heap-snapshot': { type: 'boolean', default: false },
  },
});
const RATE = Number(a.rate);
const FLOOD_MS = Number(a.seconds) * 1000;
const CLIENTS = Number(a.clients);
const TIMEOUT = Number(a.timeout);
/** The flood's SYNs carry MP_CAPABLE (RFC 8684 3.1, version 1, HMAC-SHA256), as the lab's attacker sends. */
const MP_CAPABLE = a['mp-capable'] === true;
const B = Uint8Array.of(198, 19, 0, 1);
const C = Uint8Array.of(198, 18, 3, 2);

/** Spoofed SYNs from random sources in 198.18.128.0/17 to port 443. */
class Flood implements SansIo {
  sent = 0;
  private readonly count = Math.round((RATE * FLOOD_MS) / 1000);
  private readonly rng = new Rng(13);
  private readonly src = new Uint8Array(4);
  private readonly options: TcpOption[] = [{ type: 'mss', mss: 1460 }, { type: 'sack_permitted' }];
  private readonly mpcOptions: TcpOption[] = [
    ...this.options,
    { type: 'unknown', kind: 30, data: Uint8Array.of(0x01, 0x01) },
  ];

  private get next(): number {
    return this.sent < this.count ? (this.sent * 1000) / RATE : Number.POSITIVE_INFINITY;
  }

  input(): void {}

  pollTransmit(now: number, buf: Uint8Array): number {
    if (now < this.next) return 0;
    const r = this.rng;
    this.src.set([198, 18, 128 + r.int(128), 1 + r.int(254)]);
    this.sent++;
    return emitPacket(
      {
        ip: ipReprOf(this.src, B),
        tcp: {
          srcPort: 1024 + r.int(60000),
          dstPort: 443,
          seq: r.int(0x1_0000_0000),
          ack: 0,
          flags: 0x02,
          window: 65535,
          urgent: 0,
          options: MP_CAPABLE ? this.mpcOptions : this.options,
          payload: new Uint8Array(0),
        },
      },
      buf,
    );
  }

  pollTimeout(): number {
    return this.next;
  }

  handleTimeout(): void {}
  setWaker(): void {}
}

function run(mode: SynCookieMode) {
  const net = new Network({ seed: 13 });
  const hag = new MptcpEndpoint({ stack: { synCookies: mode, maxHalfOpen: 4096 } });
  const client = new TcpStack();
  const flood = new Flood();
  net.addNode('hag', hag);
  net.addNode('client', client);
  net.addNode('attacker', flood);
  const lc = net.connect('client', 'hag', { name: 'access', rate: 100e6, delay: 10 });
  const lx = net.connect('attacker', 'hag', { name: 'attack', rate: 1e9, delay: 5 });
  net.route('hag', { dst: '198.18.3.0/24', via: lc });
  net.route('hag', { dst: '198.18.128.0/17', via: lx });
  hag.listen(443, () => {}, 1024);
  const tries: { at: number; sock: TcpSocket; doneAt: number }[] = [];
  const span = FLOOD_MS + 30_000;
  for (let i = 0; i < CLIENTS; i++) {
    net.at(((i + 0.5) * span) / CLIENTS, (now) => {
      const sock = client.connect(now, { local: C, remote: B, remotePort: 443 });
      const t = { at: now, sock, doneAt: -1 };
      sock.events.onEstablished = () => {
        t.doneAt = net.now;
        sock.close();
        client.wake(sock);
      };
      tries.push(t);
    });
  }
  // Memory, sampled every 500 ms of virtual time: the peak over the flood less the level before it.
  global.gc?.();
  const before = process.memoryUsage();
  const peak = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  };
  for (let t = 0; t <= FLOOD_MS + 10_000; t += 500) net.at(t, sample);
  const t0 = performance.now();
  net.runUntil(() => net.now >= FLOOD_MS, FLOOD_MS + 1);
  if (a['heap-snapshot']) console.error('heap snapshot:', writeHeapSnapshot());
  const floodWall = performance.now() - t0;
  const halfOpenAtEnd = hag.tcp.halfOpenCount;
  net.runUntil(() => net.now >= FLOOD_MS + 10_000, 10_001);
  const halfOpenAfter10s = hag.tcp.halfOpenCount;
  net.runUntil(() => false, span - FLOOD_MS - 10_000 + TIMEOUT + 1000);
  const times = tries.map((t) => (t.doneAt < 0 ? Number.POSITIVE_INFINITY : t.doneAt - t.at));
  const failed = times.filter((t) => t > TIMEOUT).length;
  const m = hag.tcp.mib;
  return {
    mode,
    floodSyns: flood.sent,
    failed: `${failed} of ${tries.length}`,
    slowestOkMs: Math.max(...times.filter((t) => t <= TIMEOUT)),
    establishedAtOnce: times.filter((t) => t < 100).length,
    halfOpenAtEnd,
    halfOpenAfter10s,
    SyncookiesSent: m.SyncookiesSent,
    SyncookiesRecv: m.SyncookiesRecv,
    SyncookiesFailed: m.SyncookiesFailed,
    TCPReqQFullDoCookies: m.TCPReqQFullDoCookies,
    TCPReqQFullDrop: m.TCPReqQFullDrop,
    usPerFloodSyn: Number(((floodWall * 1000) / flood.sent).toFixed(2)),
    peakOverBeforeMiB: {
      rss: mib(peak.rss - before.rss),
      heapUsed: mib(peak.heapUsed - before.heapUsed),
      external: mib(peak.external - before.external),
      arrayBuffers: mib(peak.arrayBuffers - before.arrayBuffers),
    },
  };
}

function mib(bytes: number): number {
  return Number((bytes / 2 ** 20).toFixed(1));
}

for (const mode of String(a.modes).split(',') as SynCookieMode[]) console.log(JSON.stringify(run(mode)));
