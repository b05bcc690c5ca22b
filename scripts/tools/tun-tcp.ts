// A TCP endpoint of our userspace stack on a TUN device, for interop tests and benchmarks against
// the Linux kernel: it listens or connects, sends N bytes of a seeded pseudo-random stream, reads
// everything the peer sends, and prints JSON lines (ready, connected, done with byte counts,
// sha256 of what was received and sent, and timings). Run as root inside a network namespace:
//   node dist/scripts/tools/tun-tcp.js --tun tcp0 --addr 198.18.5.2 --peer 198.18.5.1/24 \
//     --listen 5001 --send 1000000 [--loss 0.01] [--seed 1] [--cc cubic] [--no-sack] ...
//     [--mptcp [--checksum] [--join-from ADDR] [--announce ADDR]] [--blackhole ADDR@MS|ADDR#N] [--pcap FILE]
//     [--fast-open] [--conns N] [--uplinks ADDR,ADDR...]
// Addresses may be IPv4 or IPv6 (--connect [2001:db8::1]:5002). --uplinks: a client whose
// subflows the CPE's path manager opens (src/mptcp/pm/client.ts), one uplink per address: the
// connection leaves from the first of the server's family, the others join the server's address
// or one it announces of their own family (RFC 8684 3.4.1); instead of --addr and --join-from.
// --fast-open: TCP Fast Open (RFC 7413): a listener hands out and takes cookies, a client caches
// them and puts its first bytes in the SYN once it has one. --conns N: N connections one after
// the other (a client opens the next when the last is done; a server exits after N), each with
// its own done line: with --fast-open the first fetches the cookie and the later ones use it.
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { commandLine } from '../../src/command-line.js';
import type { SansIo } from '../../src/driver.js';
import { PcapWriter } from '../../src/io/pcap.js';
import { TunDriver } from '../../src/io/tun-driver.js';
import { configureLink, Tun } from '../../src/io/tun-tap/index.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { ServerPathManager } from '../../src/mptcp/pm/server.js';
import { TfoCookieCache, TfoCookies } from '../../src/tcp/fastopen.js';
import type { TcpSocket } from '../../src/tcp/socket.js';
import { TcpStack } from '../../src/tcp/stack.js';
import { TcpState } from '../../src/tcp/state.js';
import { ConnStream, TcpStream } from '../../src/tcp/stream.js';
import { formatIp, parseIp } from '../../src/wire/addr.js';

const { values: a } = commandLine(process.argv.slice(2), {
  command: 'tun-tcp',
  usage: `usage: tun-tcp --addr ADDRESS --peer ADDRESS/LEN (--listen PORT | --connect HOST:PORT) [--send BYTES]
         [--mptcp [--checksum] [--join-from ADDR] [--announce ADDR]] [--fast-open] [--conns N] ...
  A TCP endpoint of the project's stack on a TUN (see the top of scripts/tools/tun-tcp.ts).
`,
  options: {
    tun: { type: 'string', default: 'tcp0' },
    addr: { type: 'string' },
    peer: { type: 'string' },
    listen: { type: 'string' },
    connect: { type: 'string' },
    send: { type: 'string', default: '0' },
    loss: { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
    cc: { type: 'string', default: 'cubic' },
    'no-sack': { type: 'boolean', default: false },
    'no-ts': { type: 'boolean', default: false },
    'no-ws': { type: 'boolean', default: false },
    mtu: { type: 'string', default: '1500' },
    mptcp: { type: 'boolean', default: false },
    'join-from': { type: 'string' },
    uplinks: { type: 'string' },
    checksum: { type: 'boolean', default: false },
    announce: { type: 'string' },
    blackhole: { type: 'string' },
    pcap: { type: 'string' },
    'fast-open': { type: 'boolean', default: false },
    conns: { type: 'string', default: '1' },
    /**
     * TUN offloads: 'auto' (the default, as the daemons: GRO'd super-packets in, super-segments
     * and partial checksums out) or 'off' (the plain TUN).
     */
    offload: { type: 'string', default: 'auto' },
  },
});

/** An IPv4 or IPv6 address's bytes. */
const ip4 = parseIp;

function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Seeded pseudo-random bytes (xorshift32), the same on both sides of a test. */
function fill(buf: Uint8Array, state: { x: number }): void {
  let x = state.x;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x;
  }
  state.x = x >>> 0;
}

/**
 * Wraps the core so that every packet in and out passes `keep` first: false
 * drops it. For lossy links, dead paths and captures on top of the real TUN.
 */
function filtered(core: SansIo, keep: (now: number, pkt: Uint8Array) => boolean): SansIo {
  return {
    input: (now, pkt, checksumVerified) => {
      if (keep(now, pkt)) core.input(now, pkt, checksumVerified);
    },
    pollTransmit: (now, buf) => {
      for (;;) {
        const n = core.pollTransmit(now, buf);
        if (n === 0 || keep(now, buf.subarray(0, n))) return n;
      }
    },
    pollTimeout: () => core.pollTimeout(),
    handleTimeout: (now) => core.handleTimeout(now),
    setWaker: (w) => core.setWaker(w),
    // Offloads pass through: a super-segment dropped here is all its pieces lost at once.
    setOffload: core.setOffload && ((csum, maxPacket) => core.setOffload!(csum, maxPacket)),
    get txGsoSize() {
      return core.txGsoSize;
    },
  };
}

/** Drops a fraction of packets both ways (deterministic per seed). */
function lossy(core: SansIo, p: number, seed: number): SansIo {
  if (p <= 0) return core;
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  return filtered(core, () => rnd() >= p);
}

/**
 * --blackhole ADDR@MS: from MS ms after the first packet from or to ADDR on, every packet from or
 * to ADDR is dropped both ways, as if that address's link died (failover tests).
 * --blackhole ADDR#N: the same from the Nth packet carrying TCP payload from ADDR on (that packet
 * is the first one lost): when ADDR is ours, data we sent there is surely lost in flight, however
 * fast the transfer or slow the host.
 */
function blackhole(core: SansIo, spec: string | undefined): SansIo {
  if (!spec) return core;
  const byCount = spec.includes('#');
  const [addr, n] = spec.split(byCount ? '#' : '@');
  const b = ip4(addr);
  const after = Number(n);
  let start = -1;
  let sent = 0;
  let dead = false;
  return filtered(core, (now, p) => {
    if (p[0] >> 4 !== 4) return true;
    const is = (o: number) => p[o] === b[0] && p[o + 1] === b[1] && p[o + 2] === b[2] && p[o + 3] === b[3];
    if (!is(12) && !is(16)) return true;
    if (dead) return false;
    if (byCount) {
      const ihl = (p[0] & 15) * 4;
      const payload = ((p[2] << 8) | p[3]) - ihl - (p[ihl + 12] >> 4) * 4;
      if (p[9] === 6 && is(12) && payload > 0 && ++sent >= after) dead = true;
      return !dead;
    }
    if (start < 0) start = now; // the clock starts with the address's first packet
    dead = now - start >= after;
    return !dead;
  });
}

/** The --pcap writer, flushed before each done line: the test reads the file when it sees one. */
let capture: PcapWriter | undefined;

/** --pcap FILE: every packet in and out, headers only (160 bytes), for tshark. */
function captured(core: SansIo, path: string | undefined): SansIo {
  if (!path) return core;
  const pcap = new PcapWriter(path);
  capture = pcap;
  process.on('exit', () => pcap.close());
  const t0 = Date.now() - performance.now();
  return filtered(core, (now, pkt) => {
    pcap.write(pkt, t0 + now, 160);
    return true;
  });
}

const mtu = Number(a.mtu);
const tcpConfig = {
  congestionControl: a.cc as 'cubic' | 'newreno',
  sack: !a['no-sack'],
  timestamps: !a['no-ts'],
  windowScale: !a['no-ws'],
  mtu,
  sendBuffer: 4 << 20,
  recvBuffer: 4 << 20,
};
const fastOpen = a['fast-open']
  ? { cache: a.connect ? new TfoCookieCache() : undefined, server: { cookies: new TfoCookies() } }
  : undefined;
// With --mptcp the endpoint is our MPTCP (RFC 8684) over the same TCP stack.
const ep = a.mptcp
  ? new MptcpEndpoint({ tcp: tcpConfig, mptcp: { checksum: a.checksum }, fastOpen })
  : undefined;
// Server: announce another of our addresses with ADD_ADDR (RFC 8684 3.4.1), address ID 1.
if (ep && a.announce) new ServerPathManager(ep, { addresses: [{ id: 1, addr: ip4(a.announce) }] });
// --uplinks: the CPE's path manager, one uplink (address ID 1, 2, ...) per address.
const pm = ep && a.uplinks ? new ClientPathManager(ep) : undefined;
for (const [i, u] of (a.uplinks?.split(',') ?? []).entries())
  pm?.setAddress(0, { id: i + 1, addr: ip4(u), backup: false, up: true });
const stack = ep ? ep.tcp : new TcpStack({ tcp: tcpConfig });
const core: SansIo = ep ?? stack;
const tun = Tun.open({
  name: a.tun,
  mtu: Math.max(mtu, 1500),
  offload: a.offload === 'auto' ? 'auto' : 'off',
});
configureLink(tun.name, { mtu, addresses: a.peer ? a.peer.split(',') : [], up: true });
const driver = new TunDriver(
  tun,
  captured(blackhole(lossy(core, Number(a.loss), Number(a.seed)), a.blackhole), a.pcap),
).start();
const local = ip4(a.addr ?? '198.18.5.2');
const toSend = Number(a.send);
const conns = Math.max(1, Number(a.conns));
let connsDone = 0;

/**
 * Runs the transfer on a stream; `finished` tells when our side may go on, `extra` adds counters.
 * After the last of --conns connections the process exits; `next` opens the next one (client).
 */
function run(
  s: ConnStream,
  finished: () => boolean,
  extra: () => Record<string, unknown>,
  next?: () => void,
): void {
  const t0 = performance.now();
  const rx = createHash('sha256');
  const tx = createHash('sha256');
  let received = 0;
  let sent = 0;
  const state = { x: Number(a.seed) >>> 0 || 1 };
  s.on('data', (d: Buffer) => {
    received += d.length;
    rx.update(d);
  });
  let rxDone = false;
  let txDone = toSend === 0;
  const finish = () => {
    if (!rxDone || !txDone) return;
    // Our FIN must be acknowledged before we may go: until then the peer may still need
    // retransmissions of the last bytes.
    if (!finished()) {
      setTimeout(finish, 20);
      return;
    }
    // With super-segments a 2 MB transfer is a few dozen packets, under the writer's 64 KB buffer:
    // without this the file was still empty when the test read it.
    capture?.flush();
    out({
      event: 'done',
      received,
      sent,
      rxSha256: rx.digest('hex'),
      txSha256: tx.digest('hex'),
      ms: performance.now() - t0,
      ...extra(),
      mib: stack.mib,
      driver: driver.stats,
    });
    if (++connsDone < conns) {
      next?.();
      return;
    }
    setTimeout(() => {
      driver.close();
      process.exit(0);
    }, 200);
  };
  s.on('end', () => {
    rxDone = true;
    finish();
  });
  s.on('error', (e) => {
    out({ event: 'error', message: String(e) });
    process.exit(1);
  });
  const pump = () => {
    while (sent < toSend) {
      const chunk = Buffer.allocUnsafe(Math.min(65536, toSend - sent));
      fill(chunk, state);
      tx.update(chunk);
      sent += chunk.length;
      if (!s.write(chunk)) {
        s.once('drain', pump);
        return;
      }
    }
    s.end(() => {
      txDone = true;
      finish();
    });
  };
  pump();
}

const tcpDone = (sock: TcpSocket) => () => sock.state === TcpState.TimeWait || sock.state === TcpState.Closed;
const tcpExtra = (sock: TcpSocket) => () => ({
  retransSegs: sock.stats.retransSegs,
  timeouts: sock.stats.timeouts,
});
const mptcpExtra = (c: MptcpConnection) => () => {
  const sf = c.subflows[0]?.socket;
  return {
    mptcp: !c.fallback,
    subflows: c.subflows.map((sf) => ({
      local: formatIp(sf.socket.tuple.local),
      remote: formatIp(sf.socket.tuple.remote),
      state: sf.socket.state,
      bytesOut: sf.socket.stats.bytesOut,
      bytesIn: sf.socket.stats.bytesIn,
    })),
    checksum: c.checksum,
    mptcpMib: ep?.mib,
    retransSegs: sf?.stats.retransSegs ?? 0,
    timeouts: sf?.stats.timeouts ?? 0,
  };
};
// In fallback our data ends with the subflow's FIN (RFC 8684 3.7): wait until it is acknowledged too.
const finAcked = (s: TcpState) => s === TcpState.FinWait2 || s === TcpState.TimeWait || s === TcpState.Closed;
const mptcpDone = (c: MptcpConnection) => () =>
  c.closed || (c.finished && (!c.fallback || c.subflows.every((sf) => finAcked(sf.socket.state))));
const mptcpStream = (c: MptcpConnection) => {
  // A status line on stderr every 5 s, so that a stalled run can be diagnosed from its output.
  setInterval(() => {
    const st = {
      una: c.sndUna,
      nxt: c.sndNxt,
      unscheduled: c.unscheduled,
      wndRight: c.sndWndRight,
      rcvNxt: c.rcvNxt,
      readable: c.readableBytes,
      remoteFin: c.remoteFinDone,
      finQueued: c.dataFinQueued,
      finAcked: c.dataFinAcked,
      subflows: c.subflows.map((sf) => ({
        state: sf.socket.state,
        queued: sf.socket.sendQueued,
        readable: sf.socket.readableBytes,
        sndWnd: sf.socket.sndWnd,
        pipe: sf.socket.pipe(),
        cwnd: Math.round(sf.socket.cc.window),
        rto: Math.round(sf.socket.rtt.rto),
        retransSegs: sf.socket.stats.retransSegs,
        timeouts: sf.socket.stats.timeouts,
      })),
      mib: ep?.mib,
    };
    process.stderr.write(`status ${JSON.stringify(st)}\n`);
  }, 5000).unref();
  return new ConnStream(c, () => ep!.wake(c));
};

if (a.listen) {
  out({ event: 'ready', tun: tun.name });
  if (ep) {
    ep.listen(Number(a.listen), (c) => {
      out({ event: 'connected', fastOpen: c.subflows[0]?.socket.fastOpen });
      run(mptcpStream(c), mptcpDone(c), mptcpExtra(c));
    });
  } else {
    stack.listen({
      port: Number(a.listen),
      fastOpen: fastOpen?.server,
      onAccept: (sock) => {
        out({ event: 'connected', remotePort: sock.tuple.remotePort });
        run(new TcpStream(stack, sock), tcpDone(sock), tcpExtra(sock));
      },
    });
  }
} else if (a.connect) {
  const colon = a.connect.lastIndexOf(':');
  const host = a.connect.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = a.connect.slice(colon + 1);
  out({ event: 'ready', tun: tun.name });
  const t = { local, remote: ip4(host), remotePort: Number(port) };
  const open = (): void => {
    if (ep && pm) {
      const c = pm.connect(performance.now(), t.remote, t.remotePort);
      if (!c) throw new Error(`no --uplinks address of ${host}'s family`);
      const s = mptcpStream(c);
      s.on('connect', () => out({ event: 'connected', mptcp: !c.fallback }));
      run(s, mptcpDone(c), mptcpExtra(c), open);
    } else if (ep) {
      const c = ep.connect(performance.now(), t);
      const s = mptcpStream(c);
      s.on('connect', () => {
        out({ event: 'connected', mptcp: !c.fallback, fastOpen: c.subflows[0]?.socket.fastOpen });
        // A second subflow from another local address (RFC 8684 3.2).
        const from = a['join-from'];
        if (from && !c.fallback) c.whenFullyEstablished(() => ep.join(performance.now(), c, ip4(from), 1));
        // An address the server announces (ADD_ADDR, RFC 8684 3.4.1): a subflow to it from ours.
        ep.on((e) => {
          if (e.type === 'announced' && e.conn === c && e.addr.addr.length === 4 && !c.closed)
            ep.join(performance.now(), c, local, 2, false, {
              addr: e.addr.addr,
              port: e.addr.port ?? Number(port),
              id: e.addr.id,
            });
        });
      });
      run(s, mptcpDone(c), mptcpExtra(c), open);
    } else {
      const sock = stack.connect(performance.now(), t, undefined, { fastOpen: fastOpen?.cache });
      const s = new TcpStream(stack, sock);
      s.on('connect', () => out({ event: 'connected', fastOpen: sock.fastOpen }));
      run(s, tcpDone(sock), tcpExtra(sock), open);
    }
    driver.flush();
  };
  open();
} else {
  throw new Error('give --listen PORT or --connect HOST:PORT');
}
