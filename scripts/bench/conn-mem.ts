// Per-connection memory of the HAG, in the simulator (virtual time, no root): `--conns` plain TCP
// clients (as slowloris clients are) connect to a HAG core in the server role on its SOCKS port,
// each sends the first byte of a SOCKS5 greeting and stalls; the heap after a full GC is compared
// with the heap before, per live connection, and `--half-open` spoofed SYNs that are never
// completed are measured the same way. With --breakdown, two heap snapshots say which object
// types hold the difference. The HAG side is the daemon's own connection path (HagDaemon:
// admission, ConnStream, Session, the SOCKS handshake reader), without its TUN. Needs --expose-gc.
//   node --expose-gc dist/scripts/bench/conn-mem.js [--conns 2000] [--half-open 2000] [--breakdown]
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import pino from 'pino';
import { parseHagConfig } from '../../hag/config.js';
import { HagDaemon } from '../../hag/daemon.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { Network } from '../../src/sim/index.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: {
    conns: { type: 'string', default: '2000' },
    'half-open': { type: 'string', default: '2000' },
    breakdown: { type: 'boolean', default: false },
  },
});
const N = Number(a.conns);
const HALF = Number(a['half-open']);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('conn-mem: run with node --expose-gc');
  process.exit(2);
}

const CONFIG = `
service: { addresses: [198.19.0.1], socks: { port: 1080 } }
access:
  subscribers: [198.18.0.0/16]
  rateLimit: { perSecond: 0, burst: 1 }
uplinks: [{ name: dsl, prefixes: [198.18.0.0/16] }]
tcp: { synCookies: never, maxHalfOpen: 100000 }
limits: { handshakeTimeout: 1h, maxConnections: 100000 }
`;

/** Heap in use after a full GC, with the memory outside it that array buffers hold. */
function heap(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Self sizes by constructor name in a heap snapshot (objects, arrays, closures, buffers). */
function snapshotByType(): Map<string, { n: number; bytes: number }> {
  gc!();
  const file = writeHeapSnapshot(join(tmpdir(), `conn-mem-${process.pid}-${Date.now()}.heapsnapshot`));
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  if (process.env.CONN_MEM_KEEP) console.log(`snapshot kept: ${file}`);
  else rmSync(file);
  const f: string[] = snap.snapshot.meta.node_fields;
  const types: string[] = snap.snapshot.meta.node_types[0];
  const w = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const out = new Map<string, { n: number; bytes: number }>();
  const nodes: number[] = snap.nodes;
  for (let i = 0; i < nodes.length; i += w) {
    const t = types[nodes[i + iType]];
    const name =
      t === 'object' || t === 'closure' || (process.env.CONN_MEM_NAMES ?? '').split(',').includes(t)
        ? `${t}:${snap.strings[nodes[i + iName]].slice(0, 60)}`
        : t;
    const e = out.get(name) ?? { n: 0, bytes: 0 };
    e.n++;
    e.bytes += nodes[i + iSize];
    out.set(name, e);
  }
  return out;
}

type ByType = Map<string, { n: number; bytes: number }>;

/** Per type: what `after` holds more than `before`, less what `minus` (a second such pair) adds. */
function printDiff(
  title: string,
  before: ByType,
  after: ByType,
  per: number,
  minus?: [ByType, ByType],
): void {
  const rows: [string, number, number][] = [];
  const zero = { n: 0, bytes: 0 };
  for (const [k, v] of after) {
    const b = before.get(k) ?? zero;
    const m0 = minus?.[0].get(k) ?? zero;
    const m1 = minus?.[1].get(k) ?? zero;
    const bytes = v.bytes - b.bytes - (m1.bytes - m0.bytes);
    if (bytes > 0) rows.push([k, (v.n - b.n - (m1.n - m0.n)) / per, bytes / per]);
  }
  rows.sort((x, y) => y[2] - x[2]);
  console.log(`${title}: per connection, by type (self size)`);
  for (const [k, n, bytes] of rows.slice(0, Number(process.env.CONN_MEM_ROWS ?? 25)))
    console.log(`  ${bytes.toFixed(0).padStart(7)} B  ${n.toFixed(2).padStart(6)} x  ${k}`);
}

const cfg = parseHagConfig(CONFIG, 'conn-mem.yaml', {
  interfaceExists: () => false,
  addresses: () => ['198.19.0.1'],
});
if (!cfg.ok) throw new Error(JSON.stringify(cfg));
const hag = new HagDaemon(cfg.value, pino({ level: 'silent' }));
hag.listen();

const clients = new TcpStack();
const net = new Network({ seed: 1 });
net.addNode('c', clients);
net.addNode('h', hag.ep);
const l = net.connect('c', 'h', { name: 'l', rate: 1e9, delay: 1 });
net.route('c', { dst: '198.19.0.0/16', via: l });
net.route('h', { dst: '198.18.0.0/16', via: l });
const HAG = Uint8Array.of(198, 19, 0, 1);

// Warm up: one connection through every code path, so that compiled code is not counted.
const socks: TcpSocket[] = [];
function open(i: number): void {
  const s = clients.connect(net.now, {
    local: Uint8Array.of(198, 18, 1 + (i >> 8), i & 0xff),
    remote: HAG,
    remotePort: 1080,
  });
  s.events.onEstablished = () => {
    s.send(Uint8Array.of(5), 0, 1);
    clients.wake(s);
  };
  socks.push(s);
}
open(0);
net.runFor(100);

const base = heap();
const snap0 = a.breakdown ? snapshotByType() : undefined;
for (let i = 1; i <= N; i++) open(i);
net.runFor(2000);
const live = heap();
console.log(
  `${N} live connections (1 byte of a SOCKS5 greeting each, ${hag.sessions.size} sessions): ` +
    `${((live - base) / N).toFixed(0)} B of heap and array buffers each (HAG core and clients; clients alone below)`,
);
const snapLive = snap0 ? snapshotByType() : undefined;
if (snap0 && snapLive) printDiff('live connections', snap0, snapLive, N);

// The clients' own share: the same number of client sockets against a core that never answers.
const lone = new TcpStack();
const net2 = new Network({ seed: 2 });
net2.addNode('c', lone);
const base2 = heap();
const snapLone0 = a.breakdown ? snapshotByType() : undefined;
for (let i = 1; i <= N; i++)
  lone.connect(net2.now, {
    local: Uint8Array.of(198, 18, 1 + (i >> 8), i & 0xff),
    remote: HAG,
    remotePort: 1080,
  });
const clientOnly = heap() - base2;
console.log(`client sockets alone: ${(clientOnly / N).toFixed(0)} B each`);
console.log(`HAG per live connection: ${((live - base - clientOnly) / N).toFixed(0)} B`);
if (snap0 && snapLive && snapLone0)
  printDiff('HAG alone (live less the clients alone)', snap0, snapLive, N, [snapLone0, snapshotByType()]);

// Half-open: MP_CAPABLE SYNs from sources that never answer the SYN/ACK (a flood below the cookie
// threshold). A client endpoint makes them; its packets go to the HAG by hand, the replies nowhere.
if (HALF > 0) {
  const spoofer = new MptcpEndpoint();
  const buf = new Uint8Array(65536);
  const h0 = heap();
  const snap1 = a.breakdown ? snapshotByType() : undefined;
  const now = net.now;
  for (let i = 0; i < HALF; i++) {
    spoofer.connect(now, {
      local: Uint8Array.of(198, 18, 128 + (i >> 8), i & 0xff),
      remote: HAG,
      remotePort: 1080,
    });
    for (let n = spoofer.pollTransmit(now, buf); n > 0; n = spoofer.pollTransmit(now, buf))
      hag.ep.input(now, buf.subarray(0, n));
  }
  while (hag.ep.pollTransmit(now, buf) > 0);
  const spooferOnly = spoofer.tcp.connectionCount;
  const h1 = heap();
  console.log(
    `${HALF} half-open connections (${spooferOnly} spoofer sockets): ${((h1 - h0) / HALF).toFixed(0)} B of heap each, spoofer's included`,
  );
  if (snap1) printDiff('half-open connections (HAG and spoofer)', snap1, snapshotByType(), HALF);
}
process.exit(0);
