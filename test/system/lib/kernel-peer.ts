// Transfers between our endpoint (scripts/tools/tun-tcp.ts on a TUN, TCP or MPTCP) and a Linux
// kernel peer (fixtures/tcp_peer.py, TCP or IPPROTO_MPTCP) in one network namespace: the kernel
// owns 198.18.5.1 on the TUN, our stack 198.18.5.2 behind it. Shared by the interop tests. With
// `routed` the kernel peer sits in a second namespace at 198.18.7.1 and 2001:db8:7::1, one veth hop
// away, and the first forwards: the kernel then cuts our super-segments in software at the veth
// (its TSO and GSO off) as a router does before a NIC without TSO; tcpdump on the far end can
// capture the pieces, and an htb class per peer address on each end of the veth can cap each
// address's traffic both ways (a bottleneck per subflow when each subflow uses its own address).

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type Netns, waitFor } from './netns.js';
import { type Lines, lines, once } from './proc.js';
import { ANY_ERROR, builtTreeInto } from './tree-build.js';

const ROOT = join(import.meta.dirname, '../../..');
const PEER = join(import.meta.dirname, '../fixtures/tcp_peer.py');
const ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};

/** Our endpoint runs as a node process in the namespace: compiles the tree once, to a temp dir. */
export function compileDist(): string {
  const dist = mkdtempSync(join(tmpdir(), 'ha-dist-'));
  builtTreeInto(dist, ANY_ERROR);
  return dist;
}

export function removeDist(dist: string | undefined): void {
  if (dist) rmSync(dist, { recursive: true, force: true });
}

export interface Done {
  event: 'done';
  sent: number;
  received: number;
  txSha256: string;
  rxSha256: string;
  ms: number;
  retransSegs?: number;
  mptcp?: boolean;
  checksum?: boolean;
  mptcpMib?: Record<string, number>;
  /** Ours (MPTCP): each subflow's TCP state when the connection finished. */
  subflows?: { local: string; remote?: string; state: string; bytesOut: number; bytesIn: number }[];
  /** The kernel peer with --end-at-subflow-fin: whether its socket reported the end, and its subflow's. */
  eof?: boolean;
  subflowState?: string;
  subflowBytesReceived?: number;
  /** Our TUN driver's counters (src/io/tun-driver.ts). */
  driver?: { packetsOut: number; superSegmentsOut: number; superPacketsIn: number; writeDrops: number };
}

export interface TransferResult {
  /** The last connection's results (the only one without `conns`). */
  ours: Done;
  kernel: Done;
  /** Every connection's, in the order each side finished them (with `conns`). */
  oursAll: Done[];
  kernelAll: Done[];
  /** The kernel's nstat counters in the namespace after the transfer (non-zero ones). */
  nstat: Record<string, number>;
}

export interface TransferOptions {
  ourRole: 'server' | 'client';
  bytes: number;
  /** What the kernel peer sends, when not `bytes` (0: a download from our side only). */
  peerBytes?: number;
  loss?: number;
  sysctl?: Record<string, string>;
  /** Both sides speak MPTCP (ours with --mptcp, the kernel with IPPROTO_MPTCP). */
  mptcp?: boolean;
  /** Extra arguments for our endpoint. */
  args?: string[];
  /** How long to wait for both sides to finish. */
  timeoutMs?: number;
  /** Shell commands run in the namespace before anything starts. */
  setup?: string;
  /** Shell commands run in the namespace once our endpoint's TUN exists (server role). */
  afterReady?: string;
  /** Connections one after the other (our --conns, the kernel peer's --repeat). */
  conns?: number;
  /** Extra arguments for the kernel peer (fixtures/tcp_peer.py). */
  peerArgs?: string[];
  /** The kernel peer one routed hop away (ROUTED_PEER, ROUTED_PEER6 in namespace k). */
  routed?: {
    /** What the kernel receives is captured (headers) into this file. */
    capture?: string;
    /** Each of the kernel's two addresses capped at this many Mbit/s, to it and from it. */
    mbitPerAddress?: number;
  };
  /** Our client connects here (HOST:PORT, [IPv6]:PORT) instead of the kernel's 198.18.5.1:5002. */
  connectTo?: string;
}

/** The routed peer's namespace and addresses (TransferOptions.routed). */
const ROUTED_NS = 'k';
export const ROUTED_PEER = '198.18.7.1';
export const ROUTED_PEER6 = '2001:db8:7::1';

/** Sets up the routed peer: a veth from our namespace, forwarding, shaping, and tcpdump on its end. */
async function routePeer(
  ns: Netns,
  routed: NonNullable<TransferOptions['routed']>,
): Promise<ChildProcess | undefined> {
  ns.add(ROUTED_NS);
  ns.veth('h', 'hk', ROUTED_NS, 'kh');
  ns.sh(
    'h',
    'ip addr add 198.18.7.254/24 dev hk && ip -6 addr add 2001:db8:7::fe/64 dev hk nodad && ' +
      'sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1',
  );
  // Software segmentation where the packet leaves (GSO in dev_hard_start_xmit), no coalescing
  // where it arrives: the capture and the peer see the pieces.
  ns.sh('h', 'ethtool -K hk tso off gso off >/dev/null');
  ns.sh(
    ROUTED_NS,
    `ip addr add ${ROUTED_PEER}/24 dev kh && ip -6 addr add ${ROUTED_PEER6}/64 dev kh nodad && ` +
      'ip route add default via 198.18.7.254 && ip -6 route add default via 2001:db8:7::fe',
  );
  ns.sh(ROUTED_NS, 'ethtool -K kh gro off >/dev/null');
  if (routed.mbitPerAddress) shapePeer(ns, routed.mbitPerAddress);
  if (!routed.capture) return undefined;
  const dump = ns.spawn(ROUTED_NS, [
    'tcpdump',
    '-n',
    '-i',
    'kh',
    '-s',
    '160',
    '-B',
    '65536',
    '-U',
    '-w',
    routed.capture,
  ]);
  let err = '';
  dump.stderr!.on('data', (d) => {
    err += d;
  });
  await waitFor('tcpdump to listen', () => err.includes('listening on'), 10_000, 50);
  return dump;
}

/**
 * Caps each of the routed peer's addresses at `mbit` Mbit/s each way, by egress qdiscs only: on
 * h's end of the veth (towards the peer) an htb class per destination address, on the peer's end
 * (towards us) one per source address; anything else (ARP, neighbour discovery) passes unshaped.
 * Under each class a byte FIFO of 100 ms of its rate: a sender that overfills it loses segments,
 * as at a real bottleneck, rather than queueing without end.
 */
function shapePeer(ns: Netns, mbit: number): void {
  const limit = Math.round((mbit * 1e6) / 8 / 10);
  const sides = [
    ['h', 'hk', 'dst'],
    [ROUTED_NS, 'kh', 'src'],
  ] as const;
  const addrs = [
    ['ip', 'ip', `${ROUTED_PEER}/32`],
    ['ipv6', 'ip6', `${ROUTED_PEER6}/128`],
  ] as const;
  for (const [side, dev, dir] of sides) {
    const cmds = [`tc qdisc add dev ${dev} root handle 1: htb`];
    for (const [i, [proto, match, addr]] of addrs.entries()) {
      const id = `1:${i + 1}`;
      // A burst and quantum of one 64 KB super-segment (the peer's TSO, our GSO'd writes).
      cmds.push(
        `tc class add dev ${dev} parent 1: classid ${id} htb rate ${mbit}mbit burst 64k cburst 64k quantum 65536`,
        `tc qdisc add dev ${dev} parent ${id} bfifo limit ${limit}`,
        `tc filter add dev ${dev} parent 1: protocol ${proto} prio ${i + 1} u32 match ${match} ${dir} ${addr} flowid ${id}`,
      );
    }
    ns.sh(side, cmds.join(' && '));
  }
}

/** Stops tcpdump and waits until it has written its file. */
async function stopCapture(dump: ChildProcess): Promise<void> {
  if (dump.exitCode !== null) return;
  const exited = new Promise((resolve) => dump.once('exit', resolve));
  dump.kill('SIGINT');
  await exited;
}

export async function transfer(ns: Netns, dist: string, opts: TransferOptions): Promise<TransferResult> {
  ns.add('h');
  const dump = opts.routed ? await routePeer(ns, opts.routed) : undefined;
  const peerNs = opts.routed ? ROUTED_NS : 'h';
  const peerAddr = opts.routed ? ROUTED_PEER : '198.18.5.1';
  for (const [k, v] of Object.entries(opts.sysctl ?? {})) ns.sh(peerNs, `sysctl -qw ${k}=${v}`);
  if (opts.setup) ns.sh(peerNs, opts.setup);
  const agent = [
    'node',
    join(dist, 'scripts/tools/tun-tcp.js'),
    ...['--tun', 'tcp0', '--addr', '198.18.5.2', '--peer', '198.18.5.1/24'],
    ...['--send', String(opts.bytes), '--loss', String(opts.loss ?? 0)],
    ...(opts.mptcp ? ['--mptcp'] : []),
    ...(opts.conns ? ['--conns', String(opts.conns)] : []),
    ...(opts.args ?? []),
  ];
  const peer = [
    'python3',
    PEER,
    '--send',
    String(opts.peerBytes ?? opts.bytes),
    ...(opts.mptcp ? ['--mptcp'] : []),
    ...(opts.conns ? ['--repeat', String(opts.conns)] : []),
    ...(opts.peerArgs ?? []),
  ];
  let oursOut: Lines;
  let kOut: Lines;
  if (opts.ourRole === 'server') {
    oursOut = lines(ns.spawn('h', [...agent, '--listen', '5001'], { cwd: ROOT, env: ENV }));
    await once(oursOut, (l) => l.event === 'ready', 20_000);
    if (opts.afterReady) ns.sh('h', opts.afterReady);
    kOut = lines(ns.spawn(peerNs, [...peer, '--connect', '198.18.5.2:5001']));
  } else {
    // The kernel listens first, on any address: the TUN's appears with our process.
    kOut = lines(ns.spawn(peerNs, [...peer, '--listen', '5002']));
    await once(kOut, (l) => l.event === 'ready', 20_000);
    const to = opts.connectTo ?? `${peerAddr}:5002`;
    oursOut = lines(ns.spawn('h', [...agent, '--connect', to], { cwd: ROOT, env: ENV }));
  }
  let o: Record<string, unknown>;
  let k: Record<string, unknown>;
  // The conns-th done line (or an error) of each side.
  const n = opts.conns ?? 1;
  const dones = (st: Lines) => st.seen.filter((l) => l.event === 'done');
  const last = (st: Lines) => (l: Record<string, unknown>) =>
    l.event === 'error' || (l.event === 'done' && dones(st).length >= n);
  try {
    [o, k] = await Promise.all([
      once(oursOut, last(oursOut), opts.timeoutMs ?? 240_000),
      once(kOut, last(kOut), opts.timeoutMs ?? 240_000),
    ]);
    if (o.event === 'done') o = dones(oursOut)[n - 1];
    if (k.event === 'done') k = dones(kOut)[n - 1];
  } catch (e) {
    // A stalled transfer: what the kernel's MPTCP and TCP counted, and its sockets, to see why:
    // with their memory (skmem r: bytes held, rb: the buffer), since an MPTCP socket whose
    // out-of-order queue holds more than rb moves no data up from its subflows (their Recv-Q).
    const mptcp = Object.entries(nstatOf(ns, peerNs)).filter(([n]) => /^MPTcp|TCPOFO|Prune|Drop/.test(n));
    let ss = '';
    try {
      ss = ns.sh(peerNs, 'ss -tinmM 2>/dev/null | head -40');
    } catch {}
    throw new Error(
      `${(e as Error).message}\nkernel counters: ${JSON.stringify(Object.fromEntries(mptcp))}\n${ss}`,
    );
  }
  if (o.event === 'error') throw new Error(`our endpoint failed: ${o.message}`);
  if (dump) await stopCapture(dump);
  return {
    ours: o as unknown as Done,
    kernel: k as unknown as Done,
    oursAll: dones(oursOut) as unknown as Done[],
    kernelAll: dones(kOut) as unknown as Done[],
    nstat: nstatOf(ns, peerNs),
  };
}

/** The kernel peer's nonzero counters (nstat). */
function nstatOf(ns: Netns, peerNs: string): Record<string, number> {
  const nstat: Record<string, number> = {};
  for (const line of ns.sh(peerNs, 'nstat -az').split('\n')) {
    const m = /^(\S+)\s+(\d+)/.exec(line);
    if (m && m[2] !== '0') nstat[m[1]] = Number(m[2]);
  }
  return nstat;
}

export function expectIntact(r: TransferResult, bytes: number, peerBytes = bytes): void {
  expect(r.ours.sent).toBe(bytes);
  expect(r.kernel.sent).toBe(peerBytes);
  expect(r.ours.received).toBe(peerBytes);
  expect(r.kernel.received).toBe(bytes);
  expect(r.ours.rxSha256).toBe(r.kernel.txSha256);
  expect(r.kernel.rxSha256).toBe(r.ours.txSha256);
}
