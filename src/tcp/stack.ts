// The TCP stack around the sockets: demultiplexing by 4-tuple, listeners (on a port, or on any
// destination for a gateway), a bounded SYN queue, resets for segments that match nothing
// (RFC 9293 3.10.7.1), and the sans-IO driver interface (src/driver.ts). A listener with TCP Fast
// Open (RFC 7413) checks SYN cookies and hands a connection whose SYN data it took over at once.
// SYN-flood defences (RFC 4987): SYN cookies once a SYN queue or the half-open bound is full
// (src/tcp/syncookie.ts), a bounded share of a queue per source address, and fewer SYN/ACK
// retransmissions for half-open connections while a queue is more than half full.
import type { SansIo } from '../driver.js';
import { type RandomFill, randomU32, systemRandom } from '../util/random.js';
import { TimerQueue } from '../util/timer-queue.js';
import { bytesEqualAt, copyOut, u32 } from '../wire/bytes.js';
import { PacketView } from '../wire/packet.js';
import { TCP_FLAG } from '../wire/tcp.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './config.js';
import type { TfoCookieCache, TfoServerOptions } from './fastopen.js';
import { IsnGenerator } from './isn.js';
import { TxOffload } from './offload.js';
import type { PathMetrics } from './path-metrics.js';
import { PollQueue } from './poll-queue.js';
import { ReplyQueue } from './reply-queue.js';
import { IDLE_TRIM_MS } from './ring.js';
import {
  type FourTuple,
  fillTcpChecksum,
  SegmentIn,
  writeIpHeader,
  writeSynOptionList,
  writeTcpHeader,
} from './segment.js';
import { seqAdd } from './seq.js';
import { rcvShiftFor, TcpSocket, type TfoSynVerdict, tsvalFor } from './socket.js';
import { TcpState } from './state.js';
import {
  COOKIE_TICK_MS,
  type CookieSyn,
  type CookieTsOptions,
  MAX_COOKIE_AGE,
  SynCookies,
} from './syncookie.js';
import { TimeWaitTable } from './time-wait.js';
import { TupleMap } from './tuple-map.js';

const { syn: SYN, rst: RST, ack: ACK } = TCP_FLAG;

/** Local addresses whose bytes the stack's tuples share (a service has a few). */
const LOCAL_ADDRS = 16;

/** SYN/ACK retransmissions a half-open connection gets while its queue is more than half full. */
export const PRESSURE_SYNACK_RETRIES = 2;

/** One source (an IPv4 address, an IPv6 /64) may hold at most this fraction of a SYN queue. */
const SOURCE_SHARE_DIVISOR = 8;

/** Segments without a connection (resets, SYN cookie SYN/ACKs) waiting to go out, at most. */
const REPLY_QUEUE_MAX = 256;

/** When SYN cookies are used: once a queue is full (Linux tcp_syncookies=1), for every SYN, or never. */
export type SynCookieMode = 'auto' | 'always' | 'never';

/** Counters named after the Linux TCP MIB (/proc/net/snmp, netstat). */
export class TcpMib {
  ActiveOpens = 0;
  PassiveOpens = 0;
  AttemptFails = 0;
  EstabResets = 0;
  InSegs = 0;
  OutSegs = 0;
  RetransSegs = 0;
  InErrs = 0;
  InCsumErrors = 0;
  OutRsts = 0;
  ListenOverflows = 0;
  ListenDrops = 0;
  /** TCP Fast Open (RFC 7413): our SYN's data acknowledged / not acknowledged. */
  TCPFastOpenActive = 0;
  TCPFastOpenActiveFail = 0;
  /** SYN data taken at once / a SYN whose cookie did not validate / cookie requests answered. */
  TCPFastOpenPassive = 0;
  TCPFastOpenPassiveFail = 0;
  TCPFastOpenCookieReqd = 0;
  /** SYN cookies (RFC 4987): SYN/ACKs sent with one, valid ones back in an ACK, invalid or stale ones. */
  SyncookiesSent = 0;
  SyncookiesRecv = 0;
  SyncookiesFailed = 0;
  /** A SYN found its queue full (or its source over its share): answered with a cookie / dropped. */
  TCPReqQFullDoCookies = 0;
  TCPReqQFullDrop = 0;
}

export interface ListenOptions {
  /** A port, or 'any' to accept connections to every address and port (the gateway role). */
  port: number | 'any';
  /** Connections in the SYN queue and not yet accepted (default 128). */
  backlog?: number;
  /**
   * A port listener for connections to these local addresses only; to others the 'any' listener
   * answers (a HAG on the path owns its service ports, not the same port of every server).
   */
  addresses?: readonly Uint8Array[];
  onAccept(sock: TcpSocket): void;
  /**
   * Called with a new connection before it answers the SYN (its options are in `seg`): a protocol
   * on top attaches its extension here, or returns false to refuse the connection with a RST.
   */
  onSyn?(sock: TcpSocket, seg: SegmentIn): boolean | Uint8Array;
  /**
   * TCP Fast Open (RFC 7413) on this listener: cookies for clients that ask, and the data of SYNs
   * with a valid cookie taken at once. Such a connection is handed to onAccept right away, still
   * in SYN-RECEIVED (as Linux's accept() returns it), with the data readable.
   */
  fastOpen?: TfoServerOptions;
  /**
   * SYN cookies: a SYN answered without keeping state. Returns the options the protocol on top
   * puts into the SYN/ACK (empty: none), or false to drop the SYN. Without it, a listener with
   * onSyn gets no cookies (its SYNs are dropped when the queue is full). `tuple` is the stack's
   * scratch, valid only during the call: copy it to keep it.
   */
  onCookieSyn?(tuple: FourTuple, seg: SegmentIn): Uint8Array | false;
  /**
   * The third ACK of a cookie handshake rebuilt a connection (in SYN-RECEIVED; the ACK, whose
   * options are in `seg`, is processed right after): attach the extension, or return false (or
   * RST options) to refuse it with a RST.
   */
  onCookieAck?(sock: TcpSocket, seg: SegmentIn): boolean | Uint8Array;
}

interface Listener extends ListenOptions {
  pending: number;
  /** Half-open connections per source prefix (sourceKey). */
  bySource: Map<SourceKey, number>;
  /** When this listener last answered a SYN with a cookie: cookie ACKs are checked until they expire. */
  cookiesAt: number;
}

export interface StackOptions {
  tcp?: Partial<TcpConfig>;
  /** Half-open connections allowed across all listeners (SYN-flood bound, default 4096). */
  maxHalfOpen?: number;
  /** Verify TCP checksums on input (default true); a packet whose driver vouches for it is not checked. */
  verifyChecksums?: boolean;
  isn?: IsnGenerator;
  /**
   * Where the ISN and cookie secrets (unless given) and the first ephemeral port are drawn from
   * (default the system's CSPRNG; a simulation passes a stream of its seed).
   */
  random?: RandomFill;
  /** SYN cookies (default 'auto': only while a SYN queue or the half-open bound is full). */
  synCookies?: SynCookieMode;
  cookies?: SynCookies;
  /**
   * What connections learn of each path (RFC 9040 TCB sharing: RTT, ssthresh, window), for the
   * next ones on it (src/tcp/path-metrics.ts); default none: every connection starts afresh.
   */
  pathMetrics?: PathMetrics;
}

export class TcpStack implements SansIo {
  readonly config: TcpConfig;
  readonly mib = new TcpMib();
  /** What the device does for our segments (setOffload); shared by every socket of the stack. */
  private readonly offload = new TxOffload();
  /** See SansIo.txGsoSize: set by each pollTransmit. */
  txGsoSize = 0;
  private readonly sockets = new TupleMap<TcpSocket>();
  private readonly listeners = new Map<number | 'any', Listener>();
  private readonly listenerOf = new Map<TcpSocket, Listener>();
  /** Connections handed to their listener at the SYN (Fast Open data taken). */
  private readonly acceptedEarly = new WeakSet<TcpSocket>();
  private readonly active = new PollQueue<TcpSocket>();
  private readonly timers = new TimerQueue<TcpSocket>();
  /** Connections in TIME-WAIT, as records without their sockets. */
  private readonly timeWait = new TimeWaitTable();
  private readonly view = new PacketView();
  private readonly seg = new SegmentIn();
  private readonly isn: IsnGenerator;
  /** StackOptions.random: also each connection's congestion-control seed. */
  private readonly random: RandomFill;
  private readonly maxHalfOpen: number;
  private readonly verifyChecksums: boolean;
  private halfOpen = 0;
  private readonly cookieMode: SynCookieMode;
  private readonly cookies: SynCookies;
  private readonly cookieSyn: CookieSyn = { mss: 0 };
  private readonly cookieTs: CookieTsOptions = { wscale: -1, sack: false };
  /** The tuple of the cookie SYN being answered (per address length), reused for every one. */
  private readonly cookieTuple4 = scratchTuple(4);
  private readonly cookieTuple6 = scratchTuple(16);
  /** Next sweep that gives the buffers of idle connections back (Infinity when none holds any). */
  private trimAt = Number.POSITIVE_INFINITY;
  private waker: () => void = () => {};
  private nextPort: number;
  /** Resets and cookie SYN/ACKs for segments without a connection, waiting to go out (bounded). */
  private readonly replyQueue = new ReplyQueue(REPLY_QUEUE_MAX);
  /** StackOptions.pathMetrics. */
  readonly pathMetrics: PathMetrics | undefined;

  constructor(opts: StackOptions = {}) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...opts.tcp };
    const random = opts.random ?? systemRandom;
    this.random = random;
    this.isn = opts.isn ?? new IsnGenerator(random(new Uint8Array(16)));
    this.nextPort = 32768 + (randomU32(random) % 28000);
    this.maxHalfOpen = opts.maxHalfOpen ?? 4096;
    this.verifyChecksums = opts.verifyChecksums ?? true;
    this.cookieMode = opts.synCookies ?? 'auto';
    this.cookies = opts.cookies ?? new SynCookies(undefined, undefined, random);
    this.pathMetrics = opts.pathMetrics;
  }

  setWaker(wake: () => void): void {
    this.waker = wake;
  }

  /** Called after an application action on `sock` (write, read, close): poll it. */
  wake(sock: TcpSocket): void {
    this.active.add(sock);
    this.waker();
  }

  /** Connections in a SYN queue (SYN-RECEIVED, not yet handed to their listener). */
  get halfOpenCount(): number {
    return this.halfOpen;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  // ------------------------------------------------------------ opening

  listen(opts: ListenOptions): void {
    if (this.listeners.has(opts.port)) throw new Error(`already listening on ${opts.port}`);
    this.listeners.set(opts.port, {
      ...opts,
      pending: 0,
      bySource: new Map(),
      cookiesAt: Number.NEGATIVE_INFINITY,
    });
  }

  unlisten(port: number | 'any'): void {
    this.listeners.delete(port);
  }

  /** Active open from `local` (and a free ephemeral port unless given) to `remote`. */
  connect(
    now: number,
    t: { local: Uint8Array; localPort?: number; remote: Uint8Array; remotePort: number },
    config?: Partial<TcpConfig>,
    opts: { fastOpen?: TfoCookieCache } = {},
  ): TcpSocket {
    const tuple: FourTuple = {
      local: t.local,
      localPort: t.localPort ?? this.ephemeralPort(t.local, t.remote, t.remotePort),
      remote: t.remote,
      remotePort: t.remotePort,
    };
    if (this.inUse(tuple.local, tuple.localPort, tuple.remote, tuple.remotePort)) {
      throw new Error(`connection ${tuple.localPort}->${tuple.remotePort} exists`);
    }
    const sock = new TcpSocket(
      config ? { ...this.config, ...config } : this.config,
      tuple,
      this.offload,
      randomU32(this.random),
      this.pathMetrics,
    );
    sock.connect(
      now,
      this.isn.next(now, tuple.local, tuple.localPort, tuple.remote, tuple.remotePort),
      opts.fastOpen,
    );
    this.insert(sock);
    this.mib.ActiveOpens++;
    this.wake(sock);
    return sock;
  }

  private ephemeralPort(local: Uint8Array, remote: Uint8Array, remotePort: number): number {
    for (let i = 0; i < 28232; i++) {
      const p = this.nextPort;
      this.nextPort = this.nextPort >= 60999 ? 32768 : this.nextPort + 1;
      if (!this.inUse(local, p, remote, remotePort)) return p;
    }
    throw new Error('no free ephemeral port');
  }

  // ------------------------------------------------------------ demultiplexing

  /** A connection, or one in TIME-WAIT, holds the 4-tuple. */
  private inUse(local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): boolean {
    return (
      this.sockets.find(local, localPort, remote, remotePort) !== undefined ||
      this.timeWait.find(local, localPort, remote, remotePort) !== undefined
    );
  }

  private insert(sock: TcpSocket): void {
    this.sockets.add(sock);
  }

  private remove(sock: TcpSocket): void {
    // Also one woken after it left: the poll queue must not keep it.
    this.active.delete(sock);
    if (!this.sockets.delete(sock)) return;
    sock.leavePath(sock.lastActivity);
    this.leaveQueue(sock);
  }

  /** A new passive connection joins its listener's SYN queue, counted against its source `src`. */
  private enterQueue(l: Listener, sock: TcpSocket, src: SourceKey): void {
    l.pending++;
    this.halfOpen++;
    l.bySource.set(src, (l.bySource.get(src) ?? 0) + 1);
    this.listenerOf.set(sock, l);
    this.insert(sock);
    this.mib.PassiveOpens++;
  }

  /** A half-open connection leaves its listener's SYN queue (established, or gone). */
  private leaveQueue(sock: TcpSocket): Listener | undefined {
    const l = this.listenerOf.get(sock);
    if (!l) return undefined;
    l.pending--;
    this.halfOpen--;
    this.listenerOf.delete(sock);
    const k = sourceKey(sock.tuple.remote, 0);
    const n = (l.bySource.get(k) ?? 1) - 1;
    if (n > 0) l.bySource.set(k, n);
    else l.bySource.delete(k);
    return l;
  }

  // ------------------------------------------------------------ driver interface

  input(now: number, packet: Uint8Array, checksumVerified = false): void {
    const v = this.view;
    if (v.wrap(packet) !== undefined || !v.isTcp) {
      this.mib.InErrs++;
      return;
    }
    if (this.verifyChecksums && !checksumVerified && !v.tcpChecksumOk()) {
      this.mib.InCsumErrors++;
      this.mib.InErrs++;
      return;
    }
    const seg = this.seg;
    if (seg.read(v) !== undefined) {
      this.mib.InErrs++;
      return;
    }
    this.mib.InSegs++;
    const t = v.tcp;
    const ip = v.version === 4 ? v.v4 : v.v6;
    const alen = v.version === 4 ? 4 : 16;
    const sock = this.sockets.findIn(packet, ip.dstOff, ip.srcOff, alen, t.dstPort, t.srcPort);
    if (sock) {
      const wasSynRcvd = sock.state === TcpState.SynReceived;
      const fo = sock.fastOpen;
      sock.input(now, seg);
      if (fo === 'sent' && sock.fastOpen !== 'sent') {
        if (sock.fastOpen === 'accepted') this.mib.TCPFastOpenActive++;
        else this.mib.TCPFastOpenActiveFail++;
      }
      if (wasSynRcvd && sock.state !== TcpState.SynReceived) this.promote(sock);
      this.afterActivity(sock);
      return;
    }
    const tw = this.timeWait.findIn(packet, ip.dstOff, ip.srcOff, alen, t.dstPort, t.srcPort);
    if (tw && !this.timeWait.input(now, seg, tw)) return;
    const synAckRst = seg.flags & (SYN | ACK | RST);
    if (synAckRst === SYN || synAckRst === ACK) {
      const l = this.listenerFor(packet, ip.dstOff, alen, t.dstPort);
      if (l && synAckRst === SYN) {
        this.passiveOpen(now, l, packet, ip.srcOff, ip.dstOff, alen, t.srcPort, t.dstPort);
        return;
      }
      if (l && this.cookieAck(now, l, packet, ip.srcOff, ip.dstOff, alen, t.srcPort, t.dstPort)) return;
    }
    this.queueReset(packet, ip.srcOff, ip.dstOff, alen, t.srcPort, t.dstPort);
  }

  /** The listener of a SYN (or cookie ACK) to this address and port: its port's, else 'any'. */
  private listenerFor(buf: Uint8Array, dstOff: number, alen: number, port: number): Listener | undefined {
    const l = this.listeners.get(port);
    if (l?.addresses === undefined) return l ?? this.listeners.get('any');
    for (const a of l.addresses) if (a.length === alen && bytesEqualAt(a, buf, dstOff)) return l;
    return this.listeners.get('any');
  }

  private passiveOpen(
    now: number,
    l: Listener,
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    alen: number,
    sport: number,
    dport: number,
  ): void {
    const backlog = l.backlog ?? 128;
    const src = sourceKey(buf, srcOff, alen);
    const full = l.pending >= backlog || this.halfOpen >= this.maxHalfOpen;
    // A source over its share of the queue is treated as if the queue were full, so that one
    // host's flood does not take the queue from the others.
    const overShare = (l.bySource.get(src) ?? 0) >= Math.max(1, Math.floor(backlog / SOURCE_SHARE_DIVISOR));
    const cookies = this.cookiesOn(l);
    if (full || overShare) {
      if (cookies) this.mib.TCPReqQFullDoCookies++;
      else {
        // No cookies: the SYN is dropped; the client retries, and a flood cannot exhaust memory.
        this.mib.TCPReqQFullDrop++;
        if (full) this.mib.ListenOverflows++;
        this.mib.ListenDrops++;
        return;
      }
    }
    if (full || overShare || (cookies && this.cookieMode === 'always')) {
      // Nothing is kept for a cookie SYN: its tuple is filled into a scratch one.
      const scratch = alen === 4 ? this.cookieTuple4 : this.cookieTuple6;
      for (let i = 0; i < alen; i++) {
        scratch.local[i] = buf[dstOff + i];
        scratch.remote[i] = buf[srcOff + i];
      }
      scratch.localPort = dport;
      scratch.remotePort = sport;
      this.cookieSynAck(now, l, scratch);
      return;
    }
    const tuple = this.tupleOf(buf, srcOff, dstOff, alen, sport, dport);
    const sock = new TcpSocket(this.config, tuple, this.offload, randomU32(this.random), this.pathMetrics);
    const verdict = l.onSyn ? l.onSyn(sock, this.seg) : true;
    if (verdict !== true) {
      // Refused: a RST, with the options the listener gave to say why (MP_TCPRST).
      this.queueReset(buf, srcOff, dstOff, alen, sport, dport, verdict === false ? undefined : verdict);
      return;
    }
    const fo = l.fastOpen ? this.fastOpenVerdict(l.fastOpen, tuple.remote) : undefined;
    sock.acceptSyn(now, this.seg, this.isn.next(now, tuple.local, dport, tuple.remote, sport), fo);
    this.enterQueue(l, sock, src);
    if (sock.synDataLen > 0) {
      // RFC 7413 4.2.2: the application gets the connection and its data now, 0-RTT.
      this.mib.TCPFastOpenPassive++;
      this.acceptedEarly.add(sock);
      l.onAccept(sock);
    }
    this.afterActivity(sock);
  }

  /**
   * RFC 7413 4.2.2 for the SYN in this.seg: its data is taken with a valid cookie (or when the
   * listener's policy takes it without); a SYN without a valid cookie gets one in the SYN/ACK.
   * A SYN without the option gets nothing of Fast Open.
   */
  private fastOpenVerdict(fo: TfoServerOptions, remote: Uint8Array): TfoSynVerdict | undefined {
    const seg = this.seg;
    if (seg.tfoLen < 0) return undefined;
    const valid = seg.tfoLen > 0 && fo.cookies.valid(remote, seg.buf, seg.tfoOff, seg.tfoLen);
    if (seg.tfoLen === 0) this.mib.TCPFastOpenCookieReqd++;
    else if (!valid) this.mib.TCPFastOpenPassiveFail++;
    const accept = valid || (fo.acceptWithoutCookie?.(remote) ?? false);
    return { accept, cookie: valid ? undefined : fo.cookies.cookieFor(remote) };
  }

  /** Whether a listener may answer with cookies: a protocol on top (onSyn) must say how (onCookieSyn). */
  private cookiesOn(l: Listener): boolean {
    return this.cookieMode !== 'never' && (l.onCookieSyn !== undefined || l.onSyn === undefined);
  }

  /**
   * RFC 4987 3.6: answers the SYN in this.seg with a SYN/ACK whose ISN is a cookie, and keeps
   * nothing. Window scale and SACK-permitted ride in the TSval (syncookie.ts); data in the SYN
   * (TCP Fast Open) is not taken, as Linux does under cookies: the client sends it again.
   */
  private cookieSynAck(now: number, l: Listener, tuple: FourTuple): void {
    const seg = this.seg;
    const ext = l.onCookieSyn ? l.onCookieSyn(tuple, seg) : undefined;
    if (ext === false) {
      this.mib.TCPReqQFullDrop++;
      return;
    }
    const out = this.replyQueue.reserve();
    if (!out) return;
    const cfg = this.config;
    const alen = tuple.local.length;
    const ipHl = alen === 4 ? 20 : 40;
    const v4 = alen === 4;
    const peerMss = seg.mss >= 0 ? seg.mss : v4 ? 536 : 1220;
    const iss = this.cookies.make(
      now,
      tuple.local,
      tuple.localPort,
      tuple.remote,
      tuple.remotePort,
      seg.seq,
      peerMss,
    );
    const ts = cfg.timestamps && seg.hasTs;
    const ws = cfg.windowScale && seg.wscale >= 0 && ts ? rcvShiftFor(cfg.recvBuffer) : -1;
    const sack = cfg.sack && seg.sackPermitted && ts;
    const tsval = SynCookies.encodeTs(tsvalFor(now, iss), ws >= 0 ? seg.wscale : -1, sack);
    const ourMss = cfg.mtu - ipHl - 20;
    const extLen = ext ? ext.length : 0;
    let o = writeSynOptionList(out, ipHl + 20, ourMss, sack, ts, tsval, seg.tsval, ws);
    if (ext) out.set(ext, o);
    o += extLen;
    while ((o - ipHl) & 3) out[o++] = 1; // NOP padding
    const hl = o - ipHl;
    writeTcpHeader(
      out,
      ipHl,
      tuple.localPort,
      tuple.remotePort,
      iss,
      seqAdd(seg.seq, 1),
      hl,
      SYN | ACK,
      Math.min(cfg.recvBuffer, 0xffff),
    );
    writeIpHeader(out, tuple.local, tuple.remote, hl);
    fillTcpChecksum(out, ipHl, hl, tuple.local, tuple.remote);
    this.replyQueue.commit(ipHl + hl);
    l.cookiesAt = now;
    this.mib.SyncookiesSent++;
  }

  /**
   * An ACK for no connection on a listener that sent cookies lately (or always does): if its
   * ack number less one is a valid cookie, the connection is rebuilt from it and the ACK goes to
   * it. Returns false when the ACK is no cookie ACK (it then draws a RST).
   */
  private cookieAck(
    now: number,
    l: Listener,
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    alen: number,
    sport: number,
    dport: number,
  ): boolean {
    if (!this.cookiesOn(l)) return false;
    if (this.cookieMode === 'auto' && now - l.cookiesAt > (MAX_COOKIE_AGE + 1) * COOKIE_TICK_MS) return false;
    const seg = this.seg;
    const tuple = this.tupleOf(buf, srcOff, dstOff, alen, sport, dport);
    const iss = seqAdd(seg.ack, -1);
    const irs = seqAdd(seg.seq, -1);
    const c = this.cookieSyn;
    const verdict = this.cookies.check(now, tuple.local, dport, tuple.remote, sport, irs, iss, c);
    if (verdict !== 'ok') {
      this.mib.SyncookiesFailed++;
      return false;
    }
    this.mib.SyncookiesRecv++;
    const t = this.cookieTs;
    if (seg.hasTs) SynCookies.decodeTs(seg.tsecr, t);
    else {
      t.wscale = -1;
      t.sack = false;
    }
    const sock = new TcpSocket(this.config, tuple, this.offload, randomU32(this.random), this.pathMetrics);
    const hook = l.onCookieAck ?? l.onSyn;
    const verdictUp = hook ? hook(sock, seg) : true;
    if (verdictUp !== true) {
      this.queueReset(buf, srcOff, dstOff, alen, sport, dport, verdictUp === false ? undefined : verdictUp);
      return true;
    }
    sock.acceptCookie(now, seg, iss, c.mss, t.wscale, t.sack);
    this.enterQueue(l, sock, sourceKey(tuple.remote, 0));
    sock.input(now, seg);
    if (sock.state !== TcpState.SynReceived) this.promote(sock);
    this.afterActivity(sock);
    return true;
  }

  /** A connection left SYN-RECEIVED: hand it to the listener if it is established. */
  private promote(sock: TcpSocket): void {
    const l = this.leaveQueue(sock);
    if (!l) return;
    if (sock.state !== TcpState.Closed && !this.acceptedEarly.has(sock)) l.onAccept(sock);
  }

  /** RFC 9293 3.10.7.1: a segment for no connection draws a RST, unless it is one. */
  private queueReset(
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    alen: number,
    sport: number,
    dport: number,
    options?: Uint8Array,
  ): void {
    const seg = this.seg;
    const out = this.replyQueue.length < 64 ? this.replyQueue.reserve() : undefined;
    if (seg.flags & RST || !out) return;
    const src = copyOut(buf, dstOff, alen);
    const dst = copyOut(buf, srcOff, alen);
    const optLen = options ? (options.length + 3) & ~3 : 0;
    const hl = 20 + optLen;
    const ipHl = writeIpHeader(out, src, dst, hl);
    if (seg.flags & ACK) writeTcpHeader(out, ipHl, dport, sport, seg.ack, 0, hl, RST, 0);
    else writeTcpHeader(out, ipHl, dport, sport, 0, seqAdd(seg.seq, seg.seqLen), hl, RST | ACK, 0);
    if (options) {
      out.set(options, ipHl + 20);
      out.fill(1, ipHl + 20 + options.length, ipHl + hl); // NOP padding
    }
    fillTcpChecksum(out, ipHl, hl, src, dst);
    this.replyQueue.commit(ipHl + hl);
    this.mib.OutRsts++;
  }

  /** After input or a timer: poll the socket if it may have output; keep its timer queued. */
  private afterActivity(sock: TcpSocket): void {
    if (this.reschedule(sock) && sock.wantsToSend) this.active.add(sock);
  }

  /** Re-queues the socket's deadline, or forgets a finished socket. Returns false when it is gone. */
  private reschedule(sock: TcpSocket): boolean {
    if (sock.isDone) {
      if (sock.error?.code === 'ECONNRESET') this.mib.EstabResets++;
      this.remove(sock);
      return false;
    }
    if (sock.state === TcpState.TimeWait) {
      // Polled until its last ACK is out; then a small record takes its place (src/tcp/time-wait.ts).
      // Its timer is never queued, so that no queue entry keeps the socket alive after that.
      if (sock.wantsToSend) return true;
      this.remove(sock);
      this.timeWait.add(sock.handOverTimeWait());
      return false;
    }
    if (this.trimAt === Number.POSITIVE_INFINITY && sock.bufferMemory > 0)
      this.trimAt = sock.lastActivity + IDLE_TRIM_MS;
    const at = sock.pollAt;
    if (at !== sock.queuedAt) {
      this.timers.push(at, sock);
      sock.queuedAt = at;
    }
    return true;
  }

  /**
   * The device completes TCP checksums and cuts super-segments of up to `maxPacket` bytes
   * (src/tcp/offload.ts); every socket, also those open now, sends accordingly.
   */
  setOffload(csum: boolean, maxPacket: number): void {
    this.offload.csum = csum;
    this.offload.maxPacket = csum ? maxPacket : 0;
  }

  pollTransmit(now: number, buf: Uint8Array): number {
    // Resets, cookie SYN/ACKs and TIME-WAIT ACKs are written complete.
    this.txGsoSize = 0;
    const reply = this.replyQueue.shift(buf);
    if (reply > 0) {
      this.mib.OutSegs++;
      return reply;
    }
    const ack = this.timeWait.pollTransmit(now, buf);
    if (ack > 0) {
      this.mib.OutSegs++;
      return ack;
    }
    for (let sock = this.active.take(); sock !== undefined; sock = this.active.take()) {
      const rtx = sock.stats.retransSegs;
      const out = sock.stats.segsOut;
      const n = sock.dispatch(now, buf);
      this.mib.RetransSegs += sock.stats.retransSegs - rtx;
      this.reschedule(sock); // one that is gone leaves the queue (remove)
      if (n > 0) {
        // Round robin: a socket that sent goes to the back and is asked again later.
        this.active.rotate();
        // Linux counts the pieces of a super-segment (tcp_skb_pcount).
        this.mib.OutSegs += sock.stats.segsOut - out;
        this.txGsoSize = sock.txGsoSize;
        return n;
      }
      // Nothing now: it stays out of the active set until input, a timer or the app wakes it.
      this.active.dropFront();
    }
    return 0;
  }

  /**
   * A SYN/ACK timer fired while the listener's queue is more than half full: the half-open
   * connection gets few retransmissions (Linux prunes young requests the same way,
   * inet_csk_reqsk_queue_prune), so spoofed SYNs leave the queue within seconds.
   */
  private underPressure(sock: TcpSocket): void {
    const l = this.listenerOf.get(sock);
    if (l && l.pending * 2 > (l.backlog ?? 128)) sock.capSynAckRetries(PRESSURE_SYNACK_RETRIES);
  }

  pollTimeout(): number {
    return Math.min(this.timers.peek(), this.trimAt, this.timeWait.pollTimeout());
  }

  /**
   * Gives the send and receive buffers of connections idle for IDLE_TRIM_MS back, so that many
   * idle connections cost little memory; re-arms while any connection still holds buffers.
   */
  private trimIdle(now: number): void {
    let holders = 0;
    for (const s of this.sockets) {
      if (now - s.lastActivity >= IDLE_TRIM_MS) s.trimMemory();
      if (s.bufferMemory > 0) holders++;
    }
    this.trimAt = holders > 0 ? now + IDLE_TRIM_MS : Number.POSITIVE_INFINITY;
  }

  /** Connections in TIME-WAIT (records, not sockets) and the memory they hold, in bytes. */
  get timeWaitStats(): { records: number; bytes: number } {
    return { records: this.timeWait.size, bytes: this.timeWait.memory };
  }

  /** Buffer memory held by all connections, in bytes. */
  get bufferMemory(): number {
    let n = 0;
    for (const s of this.sockets) n += s.bufferMemory;
    return n;
  }

  handleTimeout(now: number): void {
    if (now >= this.trimAt) this.trimIdle(now);
    this.timeWait.handleTimeout(now);
    for (;;) {
      const sock = this.timers.popDue(now);
      if (!sock) break;
      sock.queuedAt = Number.POSITIVE_INFINITY;
      const wasSynRcvd = sock.state === TcpState.SynReceived;
      if (wasSynRcvd) this.underPressure(sock);
      sock.handleTimeout(now);
      if (wasSynRcvd && sock.state === TcpState.Closed) this.mib.AttemptFails++;
      if (this.reschedule(sock)) this.active.add(sock);
    }
  }

  /**
   * The 4-tuple of a received packet, seen from this end: the remote address copied, the local
   * one shared with every connection to that address (a server has a few: one copy, not one per
   * connection). Tuple addresses are never written.
   */
  private tupleOf(
    buf: Uint8Array,
    srcOff: number,
    dstOff: number,
    alen: number,
    sport: number,
    dport: number,
  ): FourTuple {
    return {
      local: this.localAddr(buf, dstOff, alen),
      localPort: dport,
      remote: copyOut(buf, srcOff, alen),
      remotePort: sport,
    };
  }

  /** Local addresses seen in accepted SYNs, each kept once (at most LOCAL_ADDRS of them). */
  private readonly localAddrs: Uint8Array[] = [];

  private localAddr(buf: Uint8Array, off: number, alen: number): Uint8Array {
    for (const a of this.localAddrs) {
      if (a.length !== alen) continue;
      let i = 0;
      while (i < alen && a[i] === buf[off + i]) i++;
      if (i === alen) return a;
    }
    const a = copyOut(buf, off, alen);
    if (this.localAddrs.length < LOCAL_ADDRS) this.localAddrs.push(a);
    return a;
  }
}

function scratchTuple(alen: number): FourTuple {
  return { local: new Uint8Array(alen), localPort: 0, remote: new Uint8Array(alen), remotePort: 0 };
}

/**
 * The source prefix a half-open connection counts against: the IPv4 address, or the /64 of an
 * IPv6 one (one host or one customer).
 */
function sourceKey(buf: Uint8Array, off: number, alen = buf.length - off): SourceKey {
  if (alen === 4) return u32(buf, off); // a number: no string per SYN of a flood
  let k = '';
  for (let i = 0; i < 8; i++) k += String.fromCharCode(buf[off + i]);
  return k;
}

/** An IPv4 source as its 32-bit value, an IPv6 /64 as a string of its 8 bytes. */
type SourceKey = number | string;
