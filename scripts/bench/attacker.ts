// The attacker of scripts/bench/attacks.ts, as root inside the benchmark's attacker namespace:
// our own MPTCP core on a TUN (its addresses and the spoofed prefix are routed into the TUN, the
// namespace forwards what it writes toward the HAG) plus packets crafted with the project's wire
// emitters and written straight into the TUN. Replies to spoofed addresses come back into the
// TUN and are dropped unread, as a spoofed host would never answer them. Modes:
//   syn-flood  --count MP_CAPABLE SYNs from random spoofed sources at --rate per second
//   syn-burst  --count such SYNs at once
//   map-fresh  a real MPTCP connection (SOCKS5 CONNECT to --dst), then --count pure ACKs at --rate, each
//              with a DSS mapping of fresh data and subflow sequence numbers (never sent)
//   map-repeat the same ACKs, all with one and the same mapping (the baseline of map-fresh)
//   join       a real MPTCP connection, then half-open MP_JOIN SYNs naming its token from spoofed
//              sources at --rate; after --join-after ms the connection's own next join (from
//              --join-from), whose outcome it prints; --rate 0 is that join alone
// Bounded: addresses must lie in 198.18.0.0/15, at most 20,000 packets/s, and the process exits
// after --max-seconds, on a "stop" line on stdin, or when stdin closes (its parent went away).
// Prints JSON lines: ready, connected, attacking, burst-sent / sent-all, join, done (packets sent,
// refused by the TUN, replies dropped).

import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { inPrefix, type Prefix, parseIp, parsePrefix } from '../../hag/addr.js';
import { keyToken } from '../../src/crypto/keys.js';
import type { SansIo } from '../../src/driver.js';
import { TunDriver } from '../../src/io/tun-driver.js';
import { configureLink, Tun } from '../../src/io/tun-tap/index.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { toWire } from '../../src/mptcp/dsn.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { emitPacket, IPPROTO_TCP } from '../../src/wire/packet.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import type { TcpOption } from '../../src/wire/tcp-options.js';
import { benchArgs } from './args.js';

const { values: a } = benchArgs({
  options: {
    mode: { type: 'string' },
    tun: { type: 'string', default: 'atk0' },
    /** The prefix routed into the TUN: the core's addresses and the spoofed sources. */
    route: { type: 'string', default: '198.19.0.0/16' },
    addr: { type: 'string', default: '198.19.0.1' },
    'join-from': { type: 'string', default: '198.19.0.2' },
    spoof: { type: 'string', default: '198.19.128.0/17' },
    hag: { type: 'string', default: '198.18.100.1:1080' },
    dst: { type: 'string', default: '198.18.3.2:9000' },
    rate: { type: 'string', default: '1000' },
    count: { type: 'string', default: '2100' },
    'join-after': { type: 'string', default: '1000' },
    'max-seconds': { type: 'string', default: '120' },
  },
});

const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const MAX_RATE = 20_000;
/** Data bytes each forged mapping covers: 90,000 of them stay inside the HAG's 4 MB window. */
const MAP_LEN = 32;

// ------------------------------------------------------------------ safety: only 198.18.0.0/15

const SAFE = parsePrefix('198.18.0.0/15')!;
function addrArg(name: string, v: string | undefined): Uint8Array {
  const ip = v ? parseIp(v) : undefined;
  if (!ip || !inPrefix(ip, SAFE)) throw new Error(`--${name} must be an IPv4 address in 198.18.0.0/15`);
  return ip;
}
function prefixArg(name: string, v: string | undefined): Prefix {
  const p = v ? parsePrefix(v) : undefined;
  if (!p || p.len < SAFE.len || !inPrefix(p.bytes, SAFE))
    throw new Error(`--${name} must be an IPv4 prefix inside 198.18.0.0/15`);
  return p;
}
const own = addrArg('addr', a.addr);
const joinFrom = addrArg('join-from', a['join-from']);
const spoof = prefixArg('spoof', a.spoof);
prefixArg('route', a.route);
const [hagHost, hagPortS] = (a.hag ?? '').split(':');
const hag = addrArg('hag', hagHost);
const hagPort = Number(hagPortS);
const rate = Math.min(MAX_RATE, Math.max(0, Number(a.rate)));
const count = Math.min(2_000_000, Math.max(0, Number(a.count)));
const maxSeconds = Math.min(600, Number(a['max-seconds']));
const mode = a.mode ?? '';
if (!['syn-flood', 'syn-burst', 'map-fresh', 'map-repeat', 'join'].includes(mode))
  throw new Error('--mode syn-flood|syn-burst|map-fresh|map-repeat|join');

// ------------------------------------------------------------------ the TUN and our core

/** The core sees only packets to its own addresses; replies to spoofed sources are dropped here. */
class OwnAddressesOnly implements SansIo {
  dropped = 0;
  constructor(
    private readonly core: SansIo,
    private readonly mine: readonly Uint8Array[],
  ) {}
  input(now: number, p: Uint8Array): void {
    // IPv4 destination at bytes 16-19.
    for (const m of this.mine) {
      if (p[16] === m[0] && p[17] === m[1] && p[18] === m[2] && p[19] === m[3]) {
        this.core.input(now, p);
        return;
      }
    }
    this.dropped++;
  }
  pollTransmit(now: number, buf: Uint8Array): number {
    return this.core.pollTransmit(now, buf);
  }
  pollTimeout(): number {
    return this.core.pollTimeout();
  }
  handleTimeout(now: number): void {
    this.core.handleTimeout(now);
  }
  setWaker(wake: () => void): void {
    this.core.setWaker(wake);
  }
}

// No timestamps or window scaling on our connection: a forged segment then needs only the
// sequence numbers to be in the HAG's window (no TS.Recent to keep up with, RFC 7323 PAWS).
const ep = new MptcpEndpoint({ tcp: { timestamps: false, windowScale: false } });
const tun = Tun.open({ name: a.tun, mtu: 1500 });
configureLink(tun.name, { mtu: 1500, up: true, txQueueLen: 1000 });
execFileSync('ip', ['route', 'replace', a.route!, 'dev', tun.name]);
const filter = new OwnAddressesOnly(ep, [own, joinFrom]);
const driver = new TunDriver(tun, filter).start();

const stats = { sent: 0, tunRefused: 0 };
const pkt = new Uint8Array(1500);
function send(n: number): void {
  if (tun.write(pkt.subarray(0, n))) stats.sent++;
  else stats.tunRefused++;
}

let stopping = false;
function finish(extra: Record<string, unknown> = {}): void {
  if (stopping) return;
  stopping = true;
  out({ event: 'done', mode, ...stats, repliesDropped: filter.dropped, ...extra });
  setTimeout(() => {
    driver.close();
    process.exit(0);
  }, 200);
}
createInterface({ input: process.stdin })
  .on('line', (l) => {
    if (l.trim() === 'stop') finish();
  })
  .on('close', () => finish());
setTimeout(() => finish({ capped: true }), maxSeconds * 1000).unref();
out({ event: 'ready', tun: tun.name });

// ------------------------------------------------------------------ crafted packets

function randomSpoofed(): Uint8Array {
  const host = randomInt(1, 2 ** (32 - spoof.len) - 1);
  const b = spoof.bytes;
  const base = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const v = (base + host) >>> 0;
  return Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
}

function ipv4(src: Uint8Array) {
  return {
    version: 4 as const,
    src,
    dst: hag,
    protocol: IPPROTO_TCP,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: randomInt(0, 65536),
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    options: new Uint8Array(0),
    payloadLen: 0,
  };
}

/** A SYN as Linux sends it, from a random spoofed source, with the MPTCP option `mptcp`. */
function spoofedSyn(mptcp: TcpOption): number {
  return emitPacket(
    {
      ip: ipv4(randomSpoofed()),
      tcp: {
        srcPort: randomInt(1024, 65536),
        dstPort: hagPort,
        seq: randomInt(0, 2 ** 32),
        ack: 0,
        flags: TCP_FLAG.syn,
        window: 64240,
        urgent: 0,
        options: [
          { type: 'mss', mss: 1460 },
          { type: 'sack_permitted' },
          { type: 'timestamp', tsval: randomInt(0, 2 ** 32), tsecr: 0 },
          { type: 'nop' },
          { type: 'window_scale', shift: 7 },
          mptcp,
        ],
        payload: new Uint8Array(0),
      },
    },
    pkt,
  );
}

const mpCapableSyn: TcpOption = { type: 'mp_capable', version: 1, flags: 0x01 };

/**
 * A pure ACK on `conn`'s initial subflow at its current sequence numbers, whose DSS carries the
 * DATA_ACK and a mapping of MAP_LEN bytes `k` mappings beyond what it has sent (RFC 8684 3.3.1):
 * data the HAG has to keep a mapping for until it arrives, which it never does.
 */
function forgedMapping(conn: MptcpConnection, k: number): number {
  const sock = conn.subflows[0].socket;
  const ack = toWire(conn.remoteIdsn, conn.rcvNxt);
  const dsn = toWire(conn.local.idsn, conn.sndNxt + k * MAP_LEN);
  return emitPacket(
    {
      ip: ipv4(own),
      tcp: {
        srcPort: sock.tuple.localPort,
        dstPort: sock.tuple.remotePort,
        seq: sock.sndNxt,
        ack: sock.rcvNxt,
        flags: TCP_FLAG.ack,
        window: 65535,
        urgent: 0,
        options: [
          {
            type: 'dss',
            dataFin: false,
            dataAck: ack.low,
            dataAckHigh: ack.high,
            dsn: dsn.low,
            dsnHigh: dsn.high,
            ssn: ((sock.sndNxt - sock.iss) >>> 0) + k * MAP_LEN,
            dataLen: MAP_LEN,
            ...(conn.checksum ? { checksum: 0 } : {}),
          },
        ],
        payload: new Uint8Array(0),
      },
    },
    pkt,
  );
}

/**
 * Calls `one()` `rate` times a second (in 5 ms steps) until stopped, or `limit` times (then
 * prints sent-all: the same number of packets in every run, for comparing the HAG's CPU time).
 */
function paced(one: () => number, limit = Number.POSITIVE_INFINITY): void {
  const t0 = performance.now();
  let done = 0;
  const tick = () => {
    if (stopping) return;
    const due = Math.min(limit, Math.floor(((performance.now() - t0) / 1000) * rate)) - done;
    for (let i = 0; i < Math.min(due, MAX_RATE / 50); i++) {
      send(one());
      done++;
    }
    if (done < limit) setTimeout(tick, 5);
    else out({ event: 'sent-all', ...stats, seconds: round1((performance.now() - t0) / 1000) });
  };
  tick();
}

const round1 = (x: number) => Math.round(x * 10) / 10;

// ------------------------------------------------------------------ a real connection

function openConnection(): Promise<MptcpConnection> {
  const conn = ep.connect(performance.now(), { local: own, remote: hag, remotePort: hagPort });
  const stream = new ConnStream(conn, ep);
  const [dh, dp] = (a.dst ?? '').split(':');
  const d = addrArg('dst', dh);
  stream.write(Uint8Array.of(5, 1, 0, 5, 1, 0, 1, ...d, Number(dp) >> 8, Number(dp) & 255));
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const t = setTimeout(() => reject(new Error('no SOCKS reply within 20 s')), 20_000);
    stream.on('error', (e) => reject(e));
    stream.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
      if (got.length < 12) return;
      clearTimeout(t);
      if (got[1] !== 0) reject(new Error(`SOCKS reply ${got[1]}`));
      else conn.whenFullyEstablished(() => resolve(conn));
    });
  });
}

/** The connection's next join, from --join-from; resolves with whether the HAG took it. */
function realJoin(conn: MptcpConnection): Promise<{ accepted: boolean; ms: number; why?: string }> {
  const t0 = performance.now();
  const sock = ep.join(t0, conn, joinFrom, 2);
  ep.wake(conn);
  return new Promise((resolve) => {
    const t = setTimeout(
      () => resolve({ accepted: false, ms: performance.now() - t0, why: 'timeout' }),
      10_000,
    );
    ep.on((e) => {
      if (e.conn !== conn) return;
      const sf = e.type === 'sub-established' || e.type === 'sub-closed' ? e.subflow : undefined;
      if (!sf || sf.socket !== sock) return;
      clearTimeout(t);
      if (e.type === 'sub-closed')
        resolve({ accepted: false, ms: performance.now() - t0, why: e.error?.code ?? 'closed' });
      else {
        // Established at our end once the HAG's SYN/ACK and HMAC checked out; the HAG takes it
        // for good with our third ACK (its MP_JOIN ACK): wait for that to be acknowledged.
        const wait = () => {
          if (sf.join?.confirmed) resolve({ accepted: true, ms: performance.now() - t0 });
          else if (sock.isDone) resolve({ accepted: false, ms: performance.now() - t0, why: 'reset' });
          else setTimeout(wait, 5);
        };
        wait();
      }
    });
  });
}

// ------------------------------------------------------------------ the modes

if (mode === 'syn-flood') {
  out({ event: 'attacking', rate });
  paced(() => spoofedSyn(mpCapableSyn), count);
} else if (mode === 'syn-burst') {
  out({ event: 'attacking', count });
  for (let i = 0; i < count; i++) send(spoofedSyn(mpCapableSyn));
  out({ event: 'burst-sent', ...stats });
} else {
  const conn = await openConnection();
  out({ event: 'connected', mptcp: !conn.fallback, localPort: conn.subflows[0].socket.tuple.localPort });
  if (mode === 'map-fresh' || mode === 'map-repeat') {
    let k = 0;
    out({ event: 'attacking', rate, fresh: mode === 'map-fresh' });
    paced(() => forgedMapping(conn, mode === 'map-fresh' ? k++ : 0), count);
  } else {
    const token = keyToken(conn.remoteKey!);
    out({ event: 'attacking', rate, token });
    if (rate > 0)
      paced(() =>
        spoofedSyn({
          type: 'mp_join',
          form: 'syn',
          backup: false,
          addressId: randomInt(1, 256),
          token,
          nonce: randomInt(0, 2 ** 32),
        }),
      );
    await new Promise((r) => setTimeout(r, Number(a['join-after'])));
    const r = await realJoin(conn);
    out({ event: 'join', ...r, sentBefore: stats.sent });
  }
}
