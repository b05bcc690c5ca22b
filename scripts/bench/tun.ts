// Benchmark of the TUN addon (src/io/tun-tap) with 1400-byte IPv4/UDP packets, in a network
// namespace of its own: packets/s read from a TUN and written to it, and the CPU time the reading or
// writing process spends per packet (process.cpuUsage), next to the same figures for a plain kernel
// UDP socket in Node (the baseline). Read load is written into a second TUN: the kernel forwards it
// into the measured TUN, as a router's LAN traffic would come, or delivers it to the baseline's
// socket. Three measurements: draining a full queue (the most a reader can do), a steady 100k
// packets/s from another process (CPU share at a realistic rate), and writing as fast as possible
// (TUN: towards a blackhole route; baseline: UDP over loopback). Run by scripts/bench-tun; ~30 s.
// Then the offloads (IFF_VNET_HDR, TSO): the same TCP byte stream written as 1400-byte packets into
// a plain TUN and as 64 KB super-segments (gso_size 1360) into a TUN with offloads, both forwarded
// out of a veth without TSO (so the kernel cuts the super-segments into the same 1400-byte packets
// in software) into a sink namespace that drops them; and read: super-segments injected into a
// third TUN are forwarded into the measured TUN, whole into one with offloads (a GRO'd read) and cut
// into 1400-byte packets for a plain one. Figures side by side, as bytes/s and CPU per byte.
// Roles (argv[2]): none = create the namespace and run "inner" in it, remove it on any exit;
// "inner" = the measurements; "inject" = paced load generator; "sink" = receiver for the baseline.
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { configureLink, MAX_BATCH, Tun } from '../../src/io/tun-tap/index.js';
import {
  emitPacket,
  ipReprOf,
  SuperSegmentWriter,
  VNET_GSO_NONE,
  vnetGsoType,
} from '../../src/wire/index.js';

const PACKET = 1400; // IP packet size
const WARMUP_MS = 300;
const WINDOW_MS = 2500;
const PACED_PPS = 100_000;
const TUN_V4 = '198.18.0.1'; // on the measured TUN, 198.18.0.0/24
const ROUTED_V4 = '198.18.1.2'; // 198.18.1.0/24 is routed into the measured TUN
const BLACKHOLE_V4 = '198.18.2.2'; // 198.18.2.0/24 is a blackhole route
const INJECT_V4 = '198.18.3.2'; // the inner injector's TUN has 198.18.3.1/24
const PACED_INJECT_V4 = '198.18.4.2'; // the paced injector's TUN has 198.18.4.1/24
const DRAIN_ROUNDS = 10;
const DRAIN_BURST = 2000; // packets queued per round (fits the TUN queue and the socket buffer)
const UDP_PORT = 9000;
const SINK_V4 = '198.18.5.2'; // 198.18.5.0/24 leaves by the veth towards the sink namespace
const OFFLOAD_TUN_V4 = '198.18.6.1'; // on the offload TUN; 198.18.7.0/24 is routed into it
const OFFLOAD_ROUTED_V4 = '198.18.7.2';
const GSO_INJECT_V4 = '198.18.8.2'; // the super-segment injector's TUN has 198.18.8.1/24
const SEG = PACKET - 40; // TCP payload of a 1400-byte IPv4/TCP packet
const SUPER_SEGS = 47; // 47 x 1360 = 63,920 payload bytes: a 63,960-byte super-segment
const GSO_DRAIN_ROUNDS = 20;
const GSO_DRAIN_BURST = 40; // super-segments per round (1880 packets once cut: fits the plain TUN's queue)
const self = fileURLToPath(import.meta.url);

interface Sample {
  at: bigint;
  count: number;
  cpu: NodeJS.CpuUsage;
}

interface Result {
  pps: number;
  cpuUsPerPacket: number;
  corePercent: number;
  note: string;
}

function sample(count: number): Sample {
  return { at: process.hrtime.bigint(), count, cpu: process.cpuUsage() };
}

function result(a: Sample, b: Sample, note = ''): Result {
  const seconds = Number(b.at - a.at) / 1e9;
  const packets = b.count - a.count;
  const cpuUs = b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
  return {
    pps: packets / seconds,
    cpuUsPerPacket: packets > 0 ? cpuUs / packets : Number.NaN,
    corePercent: cpuUs / 1e4 / seconds,
    note,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/** IPv4/UDP of PACKET bytes with a valid header checksum (the kernel checks it), UDP checksum 0. */
function udpPacket(src: string, dst: string, dport: number): Buffer {
  const p = Buffer.alloc(PACKET, 0x5a);
  p.fill(0, 0, 28);
  p[0] = 0x45;
  p.writeUInt16BE(PACKET, 2);
  p.writeUInt16BE(0x4000, 6); // DF
  p[8] = 64;
  p[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(p, 12);
  Buffer.from(dst.split('.').map(Number)).copy(p, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  p.writeUInt16BE(40000, 20);
  p.writeUInt16BE(dport, 22);
  p.writeUInt16BE(PACKET - 20, 24);
  return p;
}

/**
 * Runs the paced injector towards `dst` at `pps` and samples `count()` over the
 * measuring window once it is sending; resolves with the window and the number of packets injected.
 */
async function underLoad(dst: string, pps: number, count: () => number): Promise<[Sample, Sample, number]> {
  const ms = WARMUP_MS + WINDOW_MS + 200;
  const proc = spawn(process.execPath, [self, 'inject', dst, String(pps), String(ms)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'ready') throw new Error('injector failed to start');
  await sleep(WARMUP_MS);
  const a = sample(count());
  await sleep(WINDOW_MS);
  const b = sample(count());
  const injected = Number((await lines.next()).value);
  await sleep(50); // let the last packets arrive before the totals are compared
  return [a, b, injected];
}

/** Packet counter whose `until(n)` resolves with a sample taken by the handler that counted the n-th packet. */
class Counter {
  count = 0;
  batches = 0;
  #target = Number.POSITIVE_INFINITY;
  #done: ((s: Sample) => void) | undefined;

  add(n: number): void {
    this.count += n;
    this.batches++;
    if (this.count >= this.#target && this.#done) {
      this.#done(sample(this.count));
      this.#done = undefined;
    }
  }

  /** Waits for `target` packets, or 1 s (when some were lost). */
  until(target: number): Promise<Sample> {
    this.#target = target;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(sample(this.count)), 1000);
      this.#done = (s) => {
        clearTimeout(timer);
        resolve(s);
      };
    });
  }
}

/**
 * Queues DRAIN_BURST packets for the reader while its event loop is blocked (the injecting TUN's
 * writes run the kernel's forwarding synchronously), then measures how fast the reader drains them.
 */
async function drain(injector: Tun, dst: string, counter: Counter, note: () => string): Promise<Result> {
  const burst = Array.from({ length: MAX_BATCH }, () => udpPacket(INJECT_V4, dst, UDP_PORT));
  let packets = 0;
  let cpuUs = 0;
  let ns = 0n;
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    const goal = counter.count + DRAIN_BURST;
    for (let left = DRAIN_BURST; left > 0; left -= MAX_BATCH) {
      injector.writeBatch(left >= MAX_BATCH ? burst : burst.slice(0, left));
    }
    const a = sample(counter.count);
    const b = await counter.until(goal);
    packets += b.count - a.count;
    cpuUs += b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
    ns += b.at - a.at;
  }
  const seconds = Number(ns) / 1e9;
  const injected = DRAIN_ROUNDS * DRAIN_BURST;
  return {
    pps: packets / seconds,
    cpuUsPerPacket: cpuUs / packets,
    corePercent: cpuUs / 1e4 / seconds,
    note: `${note()}${lost(injected, packets)} of ${injected} lost`,
  };
}

/** Counts our packets read from the TUN (the kernel's own IPv6 router solicitations and MLD are shorter). */
function readInto(tun: Tun, counter: Counter): void {
  tun.read((_data, lengths, count) => {
    let n = 0;
    for (let i = 0; i < count; i++) if (lengths[i] === PACKET) n++;
    counter.add(n);
  });
}

async function udpSocket(counter: Counter): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => sock.bind(UDP_PORT, TUN_V4, r));
  sock.on('message', () => counter.add(1));
  return sock;
}

/**
 * An IPv4/TCP packet of `segs` x SEG payload bytes with `hdr` bytes in front: a super-segment with
 * its virtio_net_hdr filled (gso_size SEG) when segs > 1, else a complete packet (zero header).
 */
function tcpPacket(hdr: number, src: string, dst: string, segs: number): Buffer {
  const payload = new Uint8Array(segs * SEG).fill(0x5a);
  const buf = Buffer.alloc(hdr + 40 + payload.length);
  const v4 = (a: string) => Uint8Array.from(a.split('.').map(Number));
  const len = emitPacket(
    {
      ip: ipReprOf(v4(src), v4(dst)),
      tcp: {
        srcPort: 40000,
        dstPort: 9,
        seq: 1,
        ack: 1,
        flags: 0x10,
        window: 65535,
        urgent: 0,
        options: [],
        payload,
      },
    },
    buf,
    hdr,
  );
  if (segs > 1) {
    const e = new SuperSegmentWriter().write(buf, 0, hdr, len, SEG);
    if (e) throw new Error(`super-segment: ${e}`);
  }
  return buf;
}

interface ByteResult extends Result {
  /** TCP payload bytes per second, and CPU microseconds per payload megabyte. */
  bytesPerS: number;
  cpuUsPerMB: number;
}

function withBytes(r: Result, bytesPerPacket: number): ByteResult {
  return { ...r, bytesPerS: r.pps * bytesPerPacket, cpuUsPerMB: (r.cpuUsPerPacket / bytesPerPacket) * 1e6 };
}

/** Writes `batch` into `tun` as fast as possible for the window (like benchTunWrite). */
async function writeFlat(tun: Tun, batch: Buffer[], counter: () => number): Promise<Result> {
  const c0 = counter();
  let written = 0;
  let a: Sample | undefined;
  const start = Date.now();
  for (;;) {
    for (let i = 0; i < 20; i++) written += tun.writeBatch(batch);
    const t = Date.now() - start;
    if (a === undefined && t >= WARMUP_MS) a = sample(written);
    if (t >= WARMUP_MS + WINDOW_MS) break;
    await tick();
  }
  const b = sample(written);
  return result(a!, b, `the sink's veth saw ${counter() - c0} packets for ${written} writes`);
}

/** Counts TCP payload bytes read (packets for `dst`), and super-packets among them. */
class ByteCounter extends Counter {
  bytes = 0;
  supers = 0;
}

function readBytes(tun: Tun, counter: ByteCounter): void {
  const h = tun.vnetHdrLen;
  tun.read((data, lengths, count, offsets) => {
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const off = offsets[i];
      if (data[off + 9] !== 6) continue;
      bytes += lengths[i] - 40;
      if (h > 0 && vnetGsoType(data, off - h) !== VNET_GSO_NONE) counter.supers++;
    }
    counter.bytes += bytes;
    counter.add(bytes);
  });
}

/** Injects GSO_DRAIN_BURST super-segments per round and measures how fast `tun` drains them. */
async function drainBytes(tun: Tun, injector: Tun, dst: string): Promise<ByteResult> {
  const counter = new ByteCounter();
  readBytes(tun, counter);
  const burst = Array.from({ length: GSO_DRAIN_BURST }, () =>
    tcpPacket(injector.vnetHdrLen, GSO_INJECT_V4, dst, SUPER_SEGS),
  );
  const perRound = GSO_DRAIN_BURST * SUPER_SEGS * SEG;
  let cpuUs = 0;
  let ns = 0n;
  let bytes = 0;
  for (let round = 0; round < GSO_DRAIN_ROUNDS; round++) {
    const goal = counter.count + perRound;
    injector.writeBatch(burst);
    const a = sample(counter.count);
    const b = await counter.until(goal);
    bytes += b.count - a.count;
    cpuUs += b.cpu.user - a.cpu.user + (b.cpu.system - a.cpu.system);
    ns += b.at - a.at;
  }
  tun.pause();
  const seconds = Number(ns) / 1e9;
  const injected = GSO_DRAIN_ROUNDS * perRound;
  return {
    pps: counter.batches / seconds,
    cpuUsPerPacket: Number.NaN,
    corePercent: cpuUs / 1e4 / seconds,
    bytesPerS: bytes / seconds,
    cpuUsPerMB: (cpuUs / bytes) * 1e6,
    note: `${counter.supers} super-packets, ${lost(injected, bytes)} of the bytes lost`,
  };
}

function byteRow(label: string, r: ByteResult): string {
  const mbs = (r.bytesPerS / 1e6).toFixed(0).padStart(8);
  const cpu = r.cpuUsPerMB.toFixed(0).padStart(10);
  const core = `${r.corePercent.toFixed(0)}%`.padStart(7);
  return `  ${label.padEnd(50)}${mbs}${cpu}${core}   ${r.note}`;
}

function byteRatio(label: string, off: ByteResult, plain: ByteResult): string {
  return `  ${label.padEnd(50)}bytes/s x${(off.bytesPerS / plain.bytesPerS).toFixed(2)}, CPU per byte x${(off.cpuUsPerMB / plain.cpuUsPerMB).toFixed(2)}`;
}

async function offloads(tun: Tun): Promise<void> {
  const otun = Tun.open({ name: 'habench1', mtu: 1500, offload: 'auto' });
  console.log(`TUN offloads: ${otun.describeOffloads()}`);
  if (otun.vnetHdrLen === 0) {
    otun.close();
    return;
  }
  configureLink(otun.name, { mtu: 1500, addresses: [`${OFFLOAD_TUN_V4}/24`], txQueueLen: 4096 });
  execFileSync('ip', ['route', 'add', '198.18.7.0/24', 'dev', otun.name]);
  const sinkRx = () => Number(readFileSync('/sys/class/net/hbw0/statistics/tx_packets', 'utf8'));
  console.log(
    `  ${'TCP payload'.padEnd(50)}${'MB/s'.padStart(8)}${'CPU us/MB'.padStart(10)}${'core'.padStart(7)}`,
  );
  const plainW = withBytes(
    await writeFlat(
      tun,
      Array.from({ length: MAX_BATCH }, () => tcpPacket(0, '198.18.0.2', SINK_V4, 1)),
      sinkRx,
    ),
    SEG,
  );
  console.log(byteRow('write TUN, 1400-byte TCP packets', plainW));
  const gsoW = withBytes(
    await writeFlat(
      otun,
      Array.from({ length: 4 }, () => tcpPacket(otun.vnetHdrLen, '198.18.6.2', SINK_V4, SUPER_SEGS)),
      sinkRx,
    ),
    SUPER_SEGS * SEG,
  );
  console.log(byteRow(`write TUN offload, 64 KB super-segments (GSO)`, gsoW));
  const injector = Tun.open({ name: 'habinj2', mtu: 1500, offload: 'auto' });
  configureLink(injector.name, { mtu: 1500, addresses: ['198.18.8.1/24'] });
  const plainR = await drainBytes(tun, injector, ROUTED_V4);
  console.log(byteRow('read  TUN, the stream cut into 1400-byte packets', plainR));
  const groR = await drainBytes(otun, injector, OFFLOAD_ROUTED_V4);
  console.log(byteRow('read  TUN offload, 64 KB super-packets (GRO)', groR));
  injector.close();
  console.log('TUN offloads / plain TUN:');
  console.log(byteRatio('write, GSO super-segments', gsoW, plainW));
  console.log(byteRatio('read, GRO super-packets', groR, plainR));
  otun.close();
}

const perBatch = (c: Counter) => () => `${(c.count / c.batches).toFixed(1)} packets/batch, `;

async function drainTun(tun: Tun, injector: Tun): Promise<Result> {
  const counter = new Counter();
  readInto(tun, counter);
  const r = await drain(injector, ROUTED_V4, counter, perBatch(counter));
  tun.pause();
  return r;
}

async function drainUdp(injector: Tun): Promise<Result> {
  const counter = new Counter();
  const sock = await udpSocket(counter);
  const r = await drain(injector, TUN_V4, counter, () => '');
  sock.close();
  return r;
}

async function pacedTun(tun: Tun): Promise<Result> {
  const counter = new Counter();
  readInto(tun, counter);
  const [a, b, injected] = await underLoad(ROUTED_V4, PACED_PPS, () => counter.count);
  tun.pause();
  return result(a, b, `${perBatch(counter)()}${lost(injected, counter.count)} of ${injected} lost`);
}

async function pacedUdp(): Promise<Result> {
  const counter = new Counter();
  const sock = await udpSocket(counter);
  const [a, b, injected] = await underLoad(TUN_V4, PACED_PPS, () => counter.count);
  sock.close();
  return result(a, b, `${lost(injected, counter.count)} of ${injected} lost`);
}

async function benchTunWrite(tun: Tun): Promise<Result> {
  const batch = Array.from({ length: MAX_BATCH }, () => udpPacket('198.18.0.2', BLACKHOLE_V4, UDP_PORT));
  const rx = () => Number(readFileSync(`/sys/class/net/${tun.name}/statistics/rx_packets`, 'utf8'));
  const rx0 = rx();
  let written = 0;
  let a: Sample | undefined;
  const start = Date.now();
  for (;;) {
    for (let i = 0; i < 100; i++) written += tun.writeBatch(batch);
    const t = Date.now() - start;
    if (a === undefined && t >= WARMUP_MS) a = sample(written);
    if (t >= WARMUP_MS + WINDOW_MS) break;
    await tick();
  }
  const b = sample(written);
  return result(a!, b, `the kernel received ${rx() - rx0} of ${written}`);
}

async function benchUdpSend(): Promise<Result> {
  const sink = spawn(process.execPath, [self, 'sink'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sink.stdout! })[Symbol.asyncIterator]();
  const port = Number((await lines.next()).value);
  const sock = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => sock.connect(port, '127.0.0.1', r));
  const payload = Buffer.alloc(PACKET - 28, 0x5a);
  let sent = 0;
  const onSent = (err: Error | null) => {
    if (!err) sent++;
  };
  let a: Sample | undefined;
  const start = Date.now();
  for (;;) {
    for (let i = 0; i < 256; i++) sock.send(payload, onSent);
    await tick();
    const t = Date.now() - start;
    if (a === undefined && t >= WARMUP_MS) a = sample(sent);
    if (t >= WARMUP_MS + WINDOW_MS) break;
  }
  const b = sample(sent);
  sock.close();
  sink.kill();
  return result(a!, b);
}

function lost(sent: number, got: number): string {
  return `${((Math.max(0, sent - got) / Math.max(1, sent)) * 100).toFixed(1)}%`;
}

function row(label: string, r: Result): string {
  const pps = Math.round(r.pps).toLocaleString('en-US').padStart(10);
  const cpu = r.cpuUsPerPacket.toFixed(2).padStart(12);
  const core = `${r.corePercent.toFixed(0)}%`.padStart(7);
  return `  ${label.padEnd(34)}${pps}${cpu}${core}   ${r.note}`;
}

function ratio(label: string, tun: Result, base: Result): string {
  const pps = (tun.pps / base.pps).toFixed(2);
  const cpu = (tun.cpuUsPerPacket / base.cpuUsPerPacket).toFixed(2);
  return `  ${label.padEnd(34)}packets/s x${pps}, CPU per packet x${cpu}`;
}

async function inner(): Promise<void> {
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  const tun = Tun.open({ name: 'habench0', mtu: 1500 });
  configureLink(tun.name, { mtu: 1500, addresses: [`${TUN_V4}/24`], txQueueLen: 4096 });
  execFileSync('ip', ['route', 'add', '198.18.1.0/24', 'dev', tun.name]);
  execFileSync('ip', ['route', 'add', 'blackhole', '198.18.2.0/24']);
  // The veth towards the sink namespace (made by main), without TSO: GSO is done in software here.
  execFileSync('ip', ['addr', 'add', '198.18.5.1/24', 'dev', 'hbw0']);
  execFileSync('ip', ['link', 'set', 'hbw0', 'up']);
  execFileSync('ip', ['neigh', 'add', SINK_V4, 'lladdr', '02:00:00:00:00:02', 'dev', 'hbw0']);
  execFileSync('ethtool', ['-K', 'hbw0', 'tso', 'off'], { stdio: 'ignore' });

  console.log(
    `TUN addon benchmark: ${PACKET}-byte IPv4/UDP packets, ${WINDOW_MS} ms per figure, Node ${process.version}, ` +
      `Linux ${release()}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`,
  );
  console.log(
    `  ${''.padEnd(34)}${'packets/s'.padStart(10)}${'CPU us/pkt'.padStart(12)}${'core'.padStart(7)}`,
  );
  const run = async (label: string, bench: () => Promise<Result>) => {
    const r = await bench();
    console.log(row(label, r));
    return r;
  };
  const injector = Tun.open({ name: 'habinj0', mtu: 1500 });
  configureLink(injector.name, { mtu: 1500, addresses: ['198.18.3.1/24'] });
  const tunDrain = await run('read  TUN addon, drain a queue', () => drainTun(tun, injector));
  const udpDrain = await run('recv  UDP socket, drain a queue', () => drainUdp(injector));
  injector.close();
  const k = `${PACED_PPS / 1000}k`;
  const tunPaced = await run(`read  TUN addon, ${k} pps`, () => pacedTun(tun));
  const udpPaced = await run(`recv  UDP socket, ${k} pps`, () => pacedUdp());
  const tunWrite = await run('write TUN addon, to a blackhole', () => benchTunWrite(tun));
  const udpSend = await run('send  UDP socket, over loopback', () => benchUdpSend());
  console.log('TUN addon / UDP socket baseline:');
  console.log(ratio('read, draining a queue', tunDrain, udpDrain));
  console.log(ratio(`read at ${k} pps`, tunPaced, udpPaced));
  console.log(ratio('write at max', tunWrite, udpSend));
  if (tun.oversize > 0) console.log(`(${tun.oversize} packets longer than the slot were dropped)`);
  await offloads(tun);
  tun.close();
}

/** Writes PACKET-byte UDP packets to `dst` into a TUN of its own, at `pps` packets/s, for `ms`. */
async function inject(dst: string, pps: number, ms: number): Promise<void> {
  const tun = Tun.open({ name: 'habinj1', mtu: 1500 });
  configureLink(tun.name, { mtu: 1500, addresses: ['198.18.4.1/24'] });
  const batch = Array.from({ length: MAX_BATCH }, () => udpPacket(PACED_INJECT_V4, dst, UDP_PORT));
  process.stdout.write('ready\n');
  const start = process.hrtime.bigint();
  let written = 0;
  for (;;) {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (elapsed >= ms) break;
    const due = Math.min(MAX_BATCH, Math.floor((elapsed * pps) / 1000) - written);
    if (due > 0) written += tun.writeBatch(due === MAX_BATCH ? batch : batch.slice(0, due));
    await tick();
  }
  tun.close();
  process.stdout.write(`${written}\n`);
}

/** A UDP socket on loopback that reads and drops; prints its port. */
async function sink(): Promise<void> {
  const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  sock.on('message', () => {});
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  process.stdout.write(`${sock.address().port}\n`);
}

/** Creates the namespace, runs "inner" in it, and removes it on every way out (also Ctrl-C). */
async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error('the TUN benchmark needs root (network namespace, TUN device)');
  const ns = `habench-${process.pid}`;
  const sinkNs = `habench-${process.pid}-sink`;
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['netns', 'add', sinkNs]);
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .split(/\s+/)
        .filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* nothing left inside */
    }
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', sinkNs], { stdio: 'ignore' });
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  // A sink for forwarded packets: the far end of a veth in a namespace that drops what is not its own.
  execFileSync('ip', [
    'link',
    'add',
    'hbw0',
    'netns',
    ns,
    'type',
    'veth',
    'peer',
    'name',
    'hbw1',
    'netns',
    sinkNs,
  ]);
  execFileSync('ip', ['netns', 'exec', sinkNs, 'ip', 'link', 'set', 'hbw1', 'up']);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, self, 'inner'], { stdio: 'inherit' });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  cleanup();
  process.exitCode = code ?? 1;
}

const [role, ...args] = process.argv.slice(2);
const roles: Record<string, () => Promise<void>> = {
  inner,
  inject: () => inject(args[0]!, Number(args[1]), Number(args[2])),
  sink,
};
(roles[role ?? ''] ?? main)().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
