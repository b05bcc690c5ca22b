// The TCP stack around the sockets: demultiplexing by 4-tuple, listeners (on a port, or on any
// destination for a gateway), a bounded SYN queue, resets for segments that match nothing
// (RFC 9293 3.10.7.1), and the sans-IO driver interface (src/driver.ts). A listener with TCP Fast
// Open (RFC 7413) checks SYN cookies and hands a connection whose SYN data it took over at once.
import type { SansIo } from '../driver.js';
import { TimerQueue } from '../util/timer-queue.js';
import { bytesEqual, copyOut } from '../wire/bytes.js';
import { PacketView } from '../wire/packet.js';
import { TCP_FLAG } from '../wire/tcp.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from './config.js';
import type { TfoCookieCache, TfoServerOptions } from './fastopen.js';
import { IsnGenerator } from './isn.js';
import { type FourTuple, fillTcpChecksum, SegmentIn, writeIpHeader, writeTcpHeader } from './segment.js';
import { seqAdd } from './seq.js';
import { TcpSocket, type TfoSynVerdict } from './socket.js';
import { TcpState } from './state.js';

const { syn: SYN, rst: RST, ack: ACK } = TCP_FLAG;

/** A connection without traffic for this long gives its buffer memory back. */
const IDLE_TRIM_MS = 1000;

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
}

export interface ListenOptions {
  /** A port, or 'any' to accept connections to every address and port (the gateway role). */
  port: number | 'any';
  /** Connections in the SYN queue and not yet accepted (default 128). */
  backlog?: number;
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
}

interface Listener extends ListenOptions {
  pending: number;
}

export interface StackOptions {
  tcp?: Partial<TcpConfig>;
  /** Half-open connections allowed across all listeners (SYN-flood bound, default 4096). */
  maxHalfOpen?: number;
  /** Verify TCP checksums on input (default true); a packet whose driver vouches for it is not checked. */
  verifyChecksums?: boolean;
  isn?: IsnGenerator;
}

export class TcpStack implements SansIo {
  readonly config: TcpConfig;
  readonly mib = new TcpMib();
  private readonly sockets = new Map<number, TcpSocket[]>();
  private readonly listeners = new Map<number | 'any', Listener>();
  private readonly listenerOf = new Map<TcpSocket, Listener>();
  /** Connections handed to their listener at the SYN (Fast Open data taken). */
  private readonly acceptedEarly = new WeakSet<TcpSocket>();
  private readonly active = new Set<TcpSocket>();
  private readonly timers = new TimerQueue<TcpSocket>();
  private readonly view = new PacketView();
  private readonly seg = new SegmentIn();
  private readonly isn: IsnGenerator;
  private readonly maxHalfOpen: number;
  private readonly verifyChecksums: boolean;
  private halfOpen = 0;
  /** Next sweep that gives the buffers of idle connections back (Infinity when none holds any). */
  private trimAt = Number.POSITIVE_INFINITY;
  private waker: () => void = () => {};
  private nextPort = 32768 + Math.floor(Math.random() * 28000);
  /** Resets for segments without a connection, waiting to go out (bounded). */
  private readonly rstQueue: Uint8Array[] = [];

  constructor(opts: StackOptions = {}) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...opts.tcp };
    this.isn = opts.isn ?? new IsnGenerator();
    this.maxHalfOpen = opts.maxHalfOpen ?? 4096;
    this.verifyChecksums = opts.verifyChecksums ?? true;
  }

  setWaker(wake: () => void): void {
    this.waker = wake;
  }

  /** Called after an application action on `sock` (write, read, close): poll it. */
  wake(sock: TcpSocket): void {
    this.active.add(sock);
    this.waker();
  }

  get connectionCount(): number {
    let n = 0;
    for (const l of this.sockets.values()) n += l.length;
    return n;
  }

  // ------------------------------------------------------------ opening

  listen(opts: ListenOptions): void {
    if (this.listeners.has(opts.port)) throw new Error(`already listening on ${opts.port}`);
    this.listeners.set(opts.port, { ...opts, pending: 0 });
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
    if (this.find(tuple.local, tuple.localPort, tuple.remote, tuple.remotePort)) {
      throw new Error(`connection ${tuple.localPort}->${tuple.remotePort} exists`);
    }
    const sock = new TcpSocket(config ? { ...this.config, ...config } : this.config, tuple);
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
      if (!this.find(local, p, remote, remotePort)) return p;
    }
    throw new Error('no free ephemeral port');
  }

  // ------------------------------------------------------------ demultiplexing

  private static key(localPort: number, remotePort: number): number {
    return localPort * 65536 + remotePort;
  }

  private find(
    local: Uint8Array,
    localPort: number,
    remote: Uint8Array,
    remotePort: number,
  ): TcpSocket | undefined {
    const list = this.sockets.get(TcpStack.key(localPort, remotePort));
    if (!list) return undefined;
    for (const s of list) {
      if (bytesEqual(s.tuple.local, local) && bytesEqual(s.tuple.remote, remote)) return s;
    }
    return undefined;
  }

  /** The same lookup on the packet's addresses without copying them out. */
  private findIn(
    buf: Uint8Array,
    dstOff: number,
    srcOff: number,
    alen: number,
    dport: number,
    sport: number,
  ) {
    const list = this.sockets.get(TcpStack.key(dport, sport));
    if (!list) return undefined;
    for (const s of list) {
      if (
        s.tuple.local.length === alen &&
        bytesEqualAt(s.tuple.local, buf, dstOff) &&
        bytesEqualAt(s.tuple.remote, buf, srcOff)
      ) {
        return s;
      }
    }
    return undefined;
  }

  private insert(sock: TcpSocket): void {
    const k = TcpStack.key(sock.tuple.localPort, sock.tuple.remotePort);
    const list = this.sockets.get(k);
    if (list) list.push(sock);
    else this.sockets.set(k, [sock]);
  }

  private remove(sock: TcpSocket): void {
    const k = TcpStack.key(sock.tuple.localPort, sock.tuple.remotePort);
    const list = this.sockets.get(k);
    if (!list) return;
    const i = list.indexOf(sock);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.sockets.delete(k);
    this.active.delete(sock);
    const l = this.listenerOf.get(sock);
    if (l) {
      l.pending--;
      this.halfOpen--;
      this.listenerOf.delete(sock);
    }
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
    const sock = this.findIn(packet, ip.dstOff, ip.srcOff, alen, t.dstPort, t.srcPort);
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
    if ((seg.flags & (SYN | ACK | RST)) === SYN) {
      const l = this.listeners.get(t.dstPort) ?? this.listeners.get('any');
      if (l) {
        this.passiveOpen(now, l, packet, ip.srcOff, ip.dstOff, alen, t.srcPort, t.dstPort);
        return;
      }
    }
    this.queueReset(packet, ip.srcOff, ip.dstOff, alen, t.srcPort, t.dstPort);
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
    if (l.pending >= (l.backlog ?? 128) || this.halfOpen >= this.maxHalfOpen) {
      // A full SYN queue drops the SYN: the client retries, and a flood cannot exhaust memory.
      this.mib.ListenOverflows++;
      this.mib.ListenDrops++;
      return;
    }
    const tuple: FourTuple = {
      local: copyOut(buf, dstOff, alen),
      localPort: dport,
      remote: copyOut(buf, srcOff, alen),
      remotePort: sport,
    };
    const sock = new TcpSocket(this.config, tuple);
    const verdict = l.onSyn ? l.onSyn(sock, this.seg) : true;
    if (verdict !== true) {
      // Refused: a RST, with the options the listener gave to say why (MP_TCPRST).
      this.queueReset(buf, srcOff, dstOff, alen, sport, dport, verdict === false ? undefined : verdict);
      return;
    }
    const fo = l.fastOpen ? this.fastOpenVerdict(l.fastOpen, tuple.remote) : undefined;
    sock.acceptSyn(now, this.seg, this.isn.next(now, tuple.local, dport, tuple.remote, sport), fo);
    l.pending++;
    this.halfOpen++;
    this.listenerOf.set(sock, l);
    this.insert(sock);
    this.mib.PassiveOpens++;
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

  /** A connection left SYN-RECEIVED: hand it to the listener if it is established. */
  private promote(sock: TcpSocket): void {
    const l = this.listenerOf.get(sock);
    if (!l) return;
    l.pending--;
    this.halfOpen--;
    this.listenerOf.delete(sock);
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
    if (seg.flags & RST || this.rstQueue.length >= 64) return;
    const src = copyOut(buf, dstOff, alen);
    const dst = copyOut(buf, srcOff, alen);
    const optLen = options ? (options.length + 3) & ~3 : 0;
    const hl = 20 + optLen;
    const out = new Uint8Array((alen === 4 ? 20 : 40) + hl);
    const ipHl = writeIpHeader(out, src, dst, hl);
    if (seg.flags & ACK) writeTcpHeader(out, ipHl, dport, sport, seg.ack, 0, hl, RST, 0);
    else writeTcpHeader(out, ipHl, dport, sport, 0, seqAdd(seg.seq, seg.seqLen), hl, RST | ACK, 0);
    if (options) {
      out.set(options, ipHl + 20);
      out.fill(1, ipHl + 20 + options.length, ipHl + hl); // NOP padding
    }
    fillTcpChecksum(out, ipHl, hl, src, dst);
    this.rstQueue.push(out);
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
    if (this.trimAt === Number.POSITIVE_INFINITY && sock.bufferMemory > 0)
      this.trimAt = sock.lastActivity + IDLE_TRIM_MS;
    const at = sock.pollAt;
    if (at !== sock.queuedAt) {
      this.timers.push(at, sock);
      sock.queuedAt = at;
    }
    return true;
  }

  pollTransmit(now: number, buf: Uint8Array): number {
    const rst = this.rstQueue.shift();
    if (rst) {
      buf.set(rst);
      this.mib.OutSegs++;
      return rst.length;
    }
    for (const sock of this.active) {
      this.active.delete(sock);
      const rtx = sock.stats.retransSegs;
      const n = sock.dispatch(now, buf);
      this.mib.RetransSegs += sock.stats.retransSegs - rtx;
      const alive = this.reschedule(sock);
      if (n > 0) {
        // Round robin: a socket that sent goes to the back and is asked again later.
        if (alive) this.active.add(sock);
        this.mib.OutSegs++;
        return n;
      }
      // Nothing now: it stays out of the active set until input, a timer or the app wakes it.
    }
    return 0;
  }

  pollTimeout(): number {
    return Math.min(this.timers.peek(), this.trimAt);
  }

  /**
   * Gives the send and receive buffers of connections idle for IDLE_TRIM_MS back, so that many
   * idle connections cost little memory; re-arms while any connection still holds buffers.
   */
  private trimIdle(now: number): void {
    let holders = 0;
    for (const list of this.sockets.values()) {
      for (const s of list) {
        if (now - s.lastActivity >= IDLE_TRIM_MS) s.trimMemory();
        if (s.bufferMemory > 0) holders++;
      }
    }
    this.trimAt = holders > 0 ? now + IDLE_TRIM_MS : Number.POSITIVE_INFINITY;
  }

  /** Buffer memory held by all connections, in bytes. */
  get bufferMemory(): number {
    let n = 0;
    for (const list of this.sockets.values()) for (const s of list) n += s.bufferMemory;
    return n;
  }

  handleTimeout(now: number): void {
    if (now >= this.trimAt) this.trimIdle(now);
    for (;;) {
      const sock = this.timers.popDue(now);
      if (!sock) break;
      sock.queuedAt = Number.POSITIVE_INFINITY;
      const wasSynRcvd = sock.state === TcpState.SynReceived;
      sock.handleTimeout(now);
      if (wasSynRcvd && sock.state === TcpState.Closed) this.mib.AttemptFails++;
      if (this.reschedule(sock)) this.active.add(sock);
    }
  }
}

function bytesEqualAt(a: Uint8Array, buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}
