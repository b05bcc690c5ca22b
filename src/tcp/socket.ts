// One TCP connection (RFC 9293): the state machine of section 3.10.7 and the public API, over
// parts with one job each: the send side (./sender.ts), the receive side (./receiver.ts), loss
// recovery (./recovery: SACK RFC 6675, NewReno RFC 6582) and the timer table (./timers.ts). Here:
// the checks of an arriving segment in their order (PAWS RFC 7323, the RST/SYN/ACK checks RFC
// 5961), what to send next and building the segment, the retransmission timer's backoff (RFC
// 6298). Sans-IO: the stack hands it segments and the time, and asks it for segments and its next
// deadline. TCP Fast Open (RFC 7413): data in our SYN with a cached cookie, SYN data taken when
// the stack says.

import { u32 } from '../wire/bytes.js';
import { TCP_FLAG } from '../wire/tcp.js';
import { TCPOPT } from '../wire/tcp-options.js';
import type { CongestionController } from './cc/congestion.js';
import { type CongestionControlName, createCongestionController } from './cc/index.js';
import { initialWindow } from './cc/newreno.js';
import type { TcpConfig } from './config.js';
import type { TcpExtension } from './extension.js';
import type { TfoCookieCache, TfoState } from './fastopen.js';
import { MAX_IP_PACKET, NO_OFFLOAD, type TxOffload } from './offload.js';
import { Pacer, pacingQuantum } from './pacing.js';
import type { PathLearnt, PathMetrics, PathSeed } from './path-metrics.js';
import { RateSampler } from './rate-sample.js';
import { Receiver, RX_ACK, RX_READABLE } from './receiver.js';
import { AckIn, type LossRecovery, Phase } from './recovery/loss-recovery.js';
import { RenoRecovery } from './recovery/reno.js';
import { SackRecovery } from './recovery/sack.js';
import { RttEstimator } from './rtt.js';
import {
  type FourTuple,
  fillTcpChecksum,
  type SegmentIn,
  tsClock,
  writeIpHeader,
  writeSynOptionList,
  writeTcpHeader,
  writeTimestamps,
} from './segment.js';
import { Sender } from './sender.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import { isSynchronized, TcpState } from './state.js';
import { TcpSocketStats } from './stats.js';
import { TimeWaitRecord, TW, timeWaitAction } from './time-wait.js';
import { SocketTimers } from './timers.js';

const { fin: FIN, syn: SYN, rst: RST, psh: PSH, ack: ACK } = TCP_FLAG;

/** Why a connection ended abnormally; mirrors the errno a kernel socket would report. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNABORTED';

export class TcpError extends Error {
  constructor(
    readonly code: TcpErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TcpError';
  }
}

/** What the socket tells its owner (the stream wrapper, the MPTCP subflow). All optional. */
export interface TcpSocketEvents {
  /** The handshake completed. */
  onEstablished?(): void;
  /** New in-order bytes can be read. */
  onReadable?(): void;
  /** The peer sent FIN: no more bytes will arrive (after those readable now). */
  onEnd?(): void;
  /** Send-buffer space became free. */
  onWritable?(): void;
  /** The connection is gone: with an error when it was reset, refused or timed out. */
  onClose?(err?: TcpError): void;
  /** The retransmission timer expired with data outstanding, for the `retries`-th time in a row. */
  onTimeout?(retries: number): void;
}

export { TcpSocketStats } from './stats.js';

/** A connection's timestamp clock offset, derived from its ISS (a SYN cookie rebuilds it). */
export function tsOffsetFor(iss: number): number {
  return Math.imul(iss, 0x9e3779b1) >>> 0;
}

/** TSval at `now` of the connection whose ISS is `iss`. */
export function tsvalFor(now: number, iss: number): number {
  return tsClock(now, tsOffsetFor(iss));
}

/** RFC 7323 2.3: the smallest window shift that lets a receive buffer of `bytes` be advertised. */
export function rcvShiftFor(bytes: number): number {
  let s = 0;
  while (s < 14 && 0xffff << s < bytes) s++;
  return s;
}

const TS_OPT_LEN = 12; // NOP NOP TIMESTAMP
const MAX_OPTIONS = 40; // bytes of options a TCP header can hold (data offset 15 words)
const NO_COOKIE = new Uint8Array(0);
/** The hole Scoreboard.nextHole finds, shared by every socket: read at once where it is filled. */
const HOLE = new Float64Array(2);

/** A listener's verdict on a SYN's Fast Open option (RFC 7413 4.2.2), for acceptSyn. */
export interface TfoSynVerdict {
  /** Take the SYN's data now (valid cookie, or the server's policy). */
  accept: boolean;
  /** The cookie to send in the SYN/ACK (the SYN had none, or not a valid one). */
  cookie?: Uint8Array;
}

export class TcpSocket {
  state: TcpState = TcpState.Closed;
  readonly stats = new TcpSocketStats();
  events: TcpSocketEvents = {};
  /** A protocol riding on this connection's segments (MPTCP), if any. */
  ext: TcpExtension | undefined;
  /** The error the connection ended with, if any. */
  error: TcpError | undefined;
  /** The deadline the owning stack has queued for this socket (the stack's bookkeeping). */
  queuedAt = Number.POSITIVE_INFINITY;
  /** Last time a segment came in or went out (for giving idle buffers back). */
  lastActivity = 0;

  /** Send sequence space, send buffer, the peer's window, our FIN. */
  private readonly snd: Sender;
  /** Receive sequence space, receive buffer, reassembly, advertised window, ACK decision. */
  private readonly rcv: Receiver;

  // Negotiated options.
  /** Payload bytes per segment, options excluded. */
  mss = 536;
  private peerMss = 536;
  private sackOk = false;
  private tsOk = false;
  private wsOk = false;
  private tsRecent = 0;
  private tsOffset = 0;

  // Loss recovery.
  readonly rtt: RttEstimator;
  cc: CongestionController;
  /** This connection counts as open on its path (joinPath until leavePath). */
  private onPath = false;
  /** Where its controllers start from (joinPath), if the path's entry knew anything. */
  private pathSeed: PathSeed | undefined;
  /** SACK (RFC 6675) or NewReno (RFC 6582) recovery, chosen when the options are negotiated. */
  private rec: LossRecovery = new RenoRecovery();
  private retries = 0;
  /** Retransmissions of our SYN/ACK before a SYN-RECEIVED connection gives up. */
  private synAckRetries: number;
  /** Karn's rule without timestamps: one timed segment at a time. */
  private rttSeq = -1;
  private rttSentAt = 0;
  private cwndLimited = false;
  private lastSendAt = 0;

  /** Every timer of the connection, in one table. */
  private readonly timers = new SocketTimers();
  private readonly pacer = new Pacer();
  /** Per-segment delivery records, for a controller that takes rate samples (BBR); see sampler. */
  private rs: RateSampler | undefined;
  /** The application has closed the socket (orphan): it reads nothing more. */
  private orphaned = false;

  // Pending control output.
  private ackNow = false;
  private probeNow = false;
  private rstNow = false;
  private synNow = false;

  // TCP Fast Open (RFC 7413).
  /** What became of Fast Open on this connection. */
  fastOpen: TfoState = 'off';
  /** Client: where the server's cookie comes from and goes to. */
  private tfoCache: TfoCookieCache | undefined;
  /** Client: the MSS the server announced with its cookie (the SYN's data must fit it). */
  private tfoMss = 536;
  /** The Fast Open option of our SYN (an empty cookie is a request) or SYN/ACK, if any. */
  private tfoOptOut: Uint8Array | undefined;
  /** Client: whether the first SYN went out (only it carries data). */
  private synSentOnce = false;
  /** Client: data bytes our first SYN carried. Server: bytes of the SYN's data taken. */
  synDataLen = 0;
  /** Client: bytes of our SYN's data that the SYN/ACK acknowledged (where the data goes on). */
  synDataAcked = 0;
  /**
   * The segment dispatch() wrote last, when its TCP checksum is left to the device: the payload
   * bytes of each piece the device cuts it into (its MSS); 0 when the segment is complete.
   */
  txGsoSize = 0;

  constructor(
    readonly config: TcpConfig,
    readonly tuple: FourTuple,
    /** What the device under the stack does (checksums, super-segments); src/tcp/offload.ts. */
    private readonly offload: Readonly<TxOffload> = NO_OFFLOAD,
    /** Seeds the controller's random stream (BBR's probe timing): the stack draws one per connection. */
    private readonly ccSeed = 1,
    /** What connections on the same path learnt (RFC 9040), shared by the stack's sockets; unset: nothing shared. */
    private readonly pathMetrics?: PathMetrics,
  ) {
    this.snd = new Sender(config.sendBuffer);
    this.rcv = new Receiver(config.recvBuffer, rcvShiftFor(config.recvBuffer), this.stats);
    this.rtt = new RttEstimator({ minRto: config.minRtoMs });
    this.synAckRetries = config.synAckRetries;
    const ipHeader = tuple.local.length === 4 ? 20 : 40;
    this.mss = Math.min(536, config.mtu - ipHeader - 20);
    this.cc = this.newCc(config.congestionControl);
  }

  /** Our initial sequence number. */
  get iss(): number {
    return this.snd.iss;
  }

  /** The oldest unacknowledged sequence number (RFC 9293 SND.UNA). */
  get sndUna(): number {
    return this.snd.una;
  }

  /** The highest sequence number sent so far plus one (snd.max). */
  get sndNxt(): number {
    return this.snd.nxt;
  }

  /** The peer's window, scaled (RFC 9293 SND.WND). */
  get sndWnd(): number {
    return this.snd.wnd;
  }

  /** The peer's initial sequence number. */
  get irs(): number {
    return this.rcv.irs;
  }

  /** The next sequence number we expect (RFC 9293 RCV.NXT). */
  get rcvNxt(): number {
    return this.rcv.nxt;
  }

  /** The MSS we announce: our MTU less the IP and TCP headers (RFC 9293 section 3.7.1). */
  private get ourMss(): number {
    return this.config.mtu - (this.tuple.local.length === 4 ? 20 : 40) - 20;
  }

  // ---------------------------------------------------------------- opening

  /**
   * Active open (RFC 9293 3.10.1): sends a SYN. With a Fast Open cache (RFC 7413 4.2.1), the SYN
   * carries the cached cookie and the first bytes written before it leaves, or asks for a cookie.
   */
  connect(now: number, iss: number, fastOpen?: TfoCookieCache): void {
    if (this.state !== TcpState.Closed) throw new Error(`connect in state ${this.state}`);
    this.initSend(iss);
    if (fastOpen?.usable(this.tuple.remote, now)) {
      this.tfoCache = fastOpen;
      const e = fastOpen.get(this.tuple.remote);
      const cookie = e && e.cookie.length > 0 ? e.cookie : undefined;
      this.tfoOptOut = cookie ?? NO_COOKIE;
      if (cookie) this.tfoMss = e!.mss;
      this.fastOpen = cookie ? 'sent' : 'requested';
    }
    this.state = TcpState.SynSent;
    this.synNow = true;
    this.lastSendAt = now;
  }

  /**
   * Passive open from a SYN that reached a listener (RFC 9293 3.10.7.2): records the peer's
   * options and moves to SYN-RECEIVED; the SYN/ACK goes out on the next dispatch.
   */
  acceptSyn(now: number, seg: SegmentIn, iss: number, fastOpen?: TfoSynVerdict): void {
    this.initSend(iss);
    this.rcv.start(seg.seq);
    this.takeSynOptions(now, seg);
    // RFC 7413 4.2.2: a SYN with a valid cookie has its data taken (the extension sees how much,
    // and the peer's window: it may send before the handshake ends).
    if (fastOpen?.accept && seg.len > 0) this.synDataLen = Math.min(seg.len, this.config.recvBuffer);
    this.snd.startWindow(seg.window, seg.seq, seg.ack); // never scaled in a SYN (RFC 7323 2.2)
    this.ext?.onSyn(seg, false);
    if (fastOpen) this.fastOpenReply(seg, fastOpen);
    this.state = TcpState.SynReceived;
    this.synNow = true;
    this.lastSendAt = now;
    if (this.synDataLen > 0) {
      // RFC 7413 4.2.2: the data goes to the application at once, before the handshake ends; the
      // SYN/ACK acknowledges it.
      this.rcv.takeSynData(seg, this.synDataLen);
      this.events.onReadable?.();
    }
  }

  /**
   * Server: the Fast Open state of a new connection and the cookie for its SYN/ACK. A cookie, the
   * MP_CAPABLE of the SYN/ACK and timestamps do not fit in 40 bytes together: then timestamps are
   * left out of the SYN/ACK, so not used on this connection (as RFC 8684 appendix B.1 suggests).
   */
  private fastOpenReply(seg: SegmentIn, v: TfoSynVerdict): void {
    this.fastOpen = this.synDataLen > 0 ? 'accepted' : seg.len > 0 ? 'refused' : 'requested';
    this.tfoOptOut = v.cookie;
    if (!v.cookie || !this.tsOk) return;
    const base = 4 + 12 + (this.wsOk ? 4 : 0); // MSS, [SACK-permitted +] timestamps, window scale
    const ext = ((this.ext?.synOptionsLen?.(true) ?? 0) + 3) & ~3;
    const fo = (2 + v.cookie.length + 3) & ~3;
    if (base + ext + fo <= MAX_OPTIONS) return;
    this.tsOk = false;
    this.mss = Math.max(64, Math.min(this.peerMss, this.ourMss));
    this.cc = this.newCc(this.config.congestionControl);
  }

  /** The send sequence space starts at the ISS; the timestamp clock gets a per-connection offset. */
  private initSend(iss: number): void {
    this.snd.start(iss);
    this.tsOffset = tsOffsetFor(iss);
  }

  /**
   * Passive open from the third ACK of a SYN cookie handshake (RFC 4987 3.6): the state our
   * SYN/ACK (ISS `iss`) would have left, with the options the cookie kept; the ACK itself goes
   * through input() next and completes the handshake.
   */
  acceptCookie(
    now: number,
    seg: SegmentIn,
    iss: number,
    peerMss: number,
    wscale: number,
    sack: boolean,
  ): void {
    this.initSend(iss);
    this.snd.synAckSent();
    this.rcv.start(seqAdd(seg.seq, -1));
    this.negotiate(now, peerMss, wscale, sack, seg.hasTs, seg.tsval);
    this.ext?.onSyn(seg, false);
    this.state = TcpState.SynReceived;
    // What the SYN/ACK advertised (never scaled, RFC 7323 2.2).
    this.rcv.advertisedTo(Math.min(this.rcvWindow(), 0xffff));
    // When the SYN/ACK left is unknown: only the timestamp echo may give an RTT sample.
    this.retries = 1;
    this.lastSendAt = now;
  }

  /** Caps the SYN/ACK retransmissions of this SYN-RECEIVED connection (a listener under pressure). */
  capSynAckRetries(n: number): void {
    if (n < this.synAckRetries) this.synAckRetries = n;
  }

  /** Options of a SYN or SYN/ACK: what the peer offered, intersected with what we do. */
  private takeSynOptions(now: number, seg: SegmentIn): void {
    // RFC 9293 3.7.1: without an MSS option assume 536 (IPv4) or 1220 (IPv6).
    const mss = seg.mss >= 0 ? seg.mss : this.tuple.local.length === 4 ? 536 : 1220;
    this.negotiate(now, mss, seg.wscale, seg.sackPermitted, seg.hasTs, seg.tsval);
  }

  private negotiate(
    now: number,
    peerMss: number,
    wscale: number,
    sack: boolean,
    ts: boolean,
    tsval: number,
  ): void {
    this.peerMss = peerMss;
    this.wsOk = this.config.windowScale && wscale >= 0;
    if (this.wsOk) {
      // RFC 7323 2.3: a shift above 14 is used as 14.
      this.snd.shift = Math.min(wscale, 14);
    } else {
      this.snd.shift = 0;
      this.rcv.shift = 0;
    }
    this.sackOk = this.config.sack && sack;
    if (this.rec.sack !== this.sackOk) this.rec = this.sackOk ? new SackRecovery() : new RenoRecovery();
    this.tsOk = this.config.timestamps && ts;
    if (this.tsOk) this.tsRecent = tsval;
    this.mss = Math.max(64, Math.min(this.peerMss, this.ourMss) - (this.tsOk ? TS_OPT_LEN : 0));
    this.joinPath(now);
    this.cc = this.newCc(this.config.congestionControl);
  }

  /**
   * Takes what recent connections on this path learnt (RFC 9040; path-metrics.ts), once the MSS
   * is known: the RTT estimator's start, and the seed of every controller made for it from now on.
   */
  private joinPath(now: number): void {
    const m = this.pathMetrics;
    if (!m || this.onPath) return;
    this.onPath = true;
    this.pathSeed = m.opened(now, this.tuple.local, this.tuple.remote, this.mss);
    if (this.pathSeed) this.rtt.seed(this.pathSeed.srtt, this.pathSeed.rttvar);
  }

  /** The connection is gone (its stack forgets it): what it learnt goes to the path's entry. */
  leavePath(now: number): void {
    if (!this.onPath) return;
    this.onPath = false;
    this.pathMetrics?.closed(now, this.tuple.local, this.tuple.remote, this.pathLearnt());
  }

  /**
   * What this connection leaves to its path: its RTT once it measured one (not after its path
   * timed out), and its window and ssthresh once it tested them (the window grew past the initial
   * one, or a loss set ssthresh); a connection that only sent a request knows nothing of them.
   */
  private pathLearnt(): PathLearnt | undefined {
    if (!(this.rtt.latest > 0) || this.error?.code === 'ETIMEDOUT') return undefined;
    const cc = this.cc;
    const tested = cc.window > initialWindow(this.mss) || Number.isFinite(cc.ssthresh);
    return {
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      window: tested ? cc.window : 0,
      ssthresh: cc.ssthresh,
      mss: this.mss,
    };
  }

  /**
   * Runs congestion control `name` from now on, as Linux's TCP_CONGESTION socket option does (for
   * an established connection: the handshake's MSS negotiation makes one from the config): a new
   * controller from the initial window, and new delivery records should it take rate samples.
   */
  setCongestionControl(name: CongestionControlName): void {
    if (this.cc.name === name) return;
    this.cc = this.newCc(name);
    this.rs = undefined;
  }

  /** A controller for this connection (each one made for it starts the same random stream). */
  private newCc(name: CongestionControlName): CongestionController {
    const cc = createCongestionController(name, this.mss, this.ccSeed);
    const p = this.pathSeed;
    if (p && (p.window > cc.window || Number.isFinite(p.ssthresh)))
      cc.seed(Math.max(p.window, cc.window), p.ssthresh);
    return cc;
  }

  // ---------------------------------------------------------------- application side

  /** Free space in the send buffer. */
  get sendSpace(): number {
    return this.snd.space;
  }

  /**
   * The first range at or above offset `from` and below `to` (offsets from snd.una) the peer has
   * not SACKed, into out[0], out[1] (Scoreboard.nextHole); false when there is none.
   */
  unsackedIn(from: number, to: number, out: Float64Array): boolean {
    return this.rec.unsackedIn(from, to, out);
  }

  /** Whether new data may go as super-segments of several MSS (the device cuts them). */
  get superSegments(): boolean {
    return this.offload.maxPacket > 0;
  }

  /** Bytes queued but not yet acknowledged. */
  get sendQueued(): number {
    return this.snd.len;
  }

  /** Bytes queued and not yet sent. */
  get unsentBytes(): number {
    return this.snd.unsent;
  }

  /** TCP_NODELAY: Nagle off for this socket whatever the stack's configuration says. */
  noDelay = false;

  /**
   * Server: whether data goes out in SYN-RECEIVED, right behind the SYN/ACK. RFC 7413 4.2.2 lets a
   * server that took the SYN's data send before the handshake completes (as Linux does): a reply
   * to a 0-RTT request then leaves one round trip sooner, with the initial window as its bound.
   */
  private get sendsEarly(): boolean {
    return this.state === TcpState.SynReceived && this.synDataLen > 0;
  }

  /** Copies up to `len` bytes into the send buffer; returns how many it took. */
  send(data: Uint8Array, off = 0, len = data.length - off): number {
    if (this.snd.finQueued || !this.canSendState()) return 0;
    return this.snd.write(data, off, len);
  }

  private canSendState(): boolean {
    const s = this.state;
    return (
      s === TcpState.SynSent ||
      s === TcpState.SynReceived ||
      s === TcpState.Established ||
      s === TcpState.CloseWait
    );
  }

  /** In-order bytes ready to read. */
  get readableBytes(): number {
    return this.rcv.readable;
  }

  /** True once the peer's FIN has been received and every byte before it read. */
  get readEnded(): boolean {
    return this.rcv.finDone && this.rcv.readable === 0;
  }

  /** Copies up to `max` in-order bytes to dst[off...]; returns how many. */
  recv(dst: Uint8Array, off = 0, max = dst.length - off): number {
    const n = this.rcv.read(dst, off, max);
    if (n <= 0) return 0;
    // Window update (RFC 9293 3.8.6.2.2): tell the peer once the window opened by a useful amount.
    const win = this.rcvWindow();
    if (
      isSynchronized(this.state) &&
      win - this.rcv.windowAtLastAck >= Math.min(this.config.recvBuffer / 2, 2 * this.mss)
    ) {
      this.ackNow = true;
    }
    return n;
  }

  get isClosed(): boolean {
    return this.state === TcpState.Closed;
  }

  /** Asks for an ACK on the next dispatch (a window update, or news the layer above must tell). */
  requestAck(): void {
    if (isSynchronized(this.state)) this.ackNow = true;
  }

  /** Asks for a segment at an old sequence number, which the peer answers with an ACK (RFC 9293 3.8.4). */
  requestProbe(): void {
    if (isSynchronized(this.state)) this.probeNow = true;
  }

  /** Asks for an ACK without data to go out next, ahead of any data. */
  requestPureAck(): void {
    if (isSynchronized(this.state)) this.pureAckNow = true;
  }
  private pureAckNow = false;

  /** Half-close (RFC 9293 3.10.4): a FIN follows the queued data. */
  close(): void {
    switch (this.state) {
      case TcpState.SynSent:
        this.enterClosed(undefined);
        return;
      case TcpState.SynReceived:
        // The FIN goes out once the handshake completes (RFC 9293 3.10.4).
        this.snd.queueFin();
        return;
      case TcpState.Established:
        this.snd.queueFin();
        this.state = TcpState.FinWait1;
        return;
      case TcpState.CloseWait:
        this.snd.queueFin();
        this.state = TcpState.LastAck;
        return;
      default:
        return;
    }
  }

  /**
   * The application is done with the connection (close(2) where close() is shutdown(2)): it
   * half-closes as close() does and will read nothing more. RFC 9293 3.6 lets FIN-WAIT-2 wait for
   * ever; an orphan instead waits at most config.finTimeoutMs for the peer's FIN (Linux
   * tcp_fin_timeout), and gives up a zero window after config.dataRetries probes.
   */
  orphan(now: number): void {
    if (this.orphaned) return; // once: a second call must not push the deadline on
    this.orphaned = true;
    this.close();
    if (this.state === TcpState.FinWait2) this.armFinTimeout(now);
  }

  /**
   * Linux tcp_fin_time(): the FIN-WAIT-2 timeout of an orphan, at least 3.5 RTOs. Linux then keeps
   * the connection as a FIN_WAIT2 time-wait socket (tcp_time_wait(sk, TCP_FIN_WAIT2, tmo)) whose
   * expiry sends nothing; here the TIME-WAIT deadline does the same.
   */
  private armFinTimeout(now: number): void {
    this.timers.timeWait = now + Math.max(this.config.finTimeoutMs, (this.rtt.rto * 7) / 2);
  }

  /** Abort (RFC 9293 3.10.5): a RST to the peer, everything dropped. */
  abort(): void {
    if (isSynchronized(this.state) && this.state !== TcpState.TimeWait) this.rstNow = true;
    this.enterClosed(new TcpError('ECONNABORTED', 'connection aborted locally'));
  }

  // ---------------------------------------------------------------- timers

  /** The earliest deadline, or Infinity. */
  get pollAt(): number {
    return this.timers.next;
  }

  /** True when the socket is finished and the stack may forget it (after its last RST went out). */
  get isDone(): boolean {
    return this.state === TcpState.Closed && !this.rstNow && !this.pendingRst;
  }

  handleTimeout(now: number): void {
    if (now >= this.timers.timeWait) {
      this.timers.timeWait = Number.POSITIVE_INFINITY;
      this.enterClosed(undefined);
      return;
    }
    if (now >= this.timers.rtx) this.onRetransmitTimeout(now);
    if (now >= this.timers.pace) this.timers.pace = Number.POSITIVE_INFINITY;
    if (now >= this.timers.delack) {
      this.timers.delack = Number.POSITIVE_INFINITY;
      this.ackNow = true;
    }
    if (now >= this.timers.persist) {
      // RFC 9293 3.8.6.1: probe the zero window, backing off, as long as the peer answers. As
      // Linux's tcp_probe_timer does, give up after tcp_retries2 (dataRetries) probes in a row
      // unanswered, and an orphan after as many probes whatever the answers.
      const t = this.timers;
      if ((this.orphaned ? t.persistBackoff : t.probesOut) >= this.config.dataRetries) {
        this.rstNow = true;
        this.enterClosed(new TcpError('ETIMEDOUT', 'zero window probes unanswered'));
        return;
      }
      this.probeNow = true;
      t.persistBackoff++;
      t.probesOut++;
      t.persist = now + Math.min(this.rtt.rto * 2 ** Math.min(t.persistBackoff, 10), 60_000);
    }
    if (now >= this.timers.keepalive) {
      if (this.timers.keepaliveSent >= this.config.keepaliveProbes) {
        this.enterClosed(new TcpError('ETIMEDOUT', 'keepalive probes unanswered'));
        return;
      }
      this.timers.keepaliveSent++;
      this.probeNow = true;
      this.timers.keepalive = now + this.config.keepaliveIntervalMs;
    }
  }

  /** RFC 6298 section 5.4-5.6 and RFC 5681 section 3.1: back off, collapse the window, resend. */
  private onRetransmitTimeout(now: number): void {
    this.timers.rtx = Number.POSITIVE_INFINITY;
    this.retries++;
    this.stats.timeouts++;
    const handshake = this.state === TcpState.SynSent || this.state === TcpState.SynReceived;
    const limit = !handshake
      ? this.config.dataRetries
      : this.state === TcpState.SynReceived
        ? this.synAckRetries
        : this.config.synRetries;
    if (this.retries > limit) {
      this.rstNow = !handshake || this.state === TcpState.SynReceived;
      this.enterClosed(new TcpError('ETIMEDOUT', `no answer after ${limit} retransmissions`));
      return;
    }
    this.rtt.backoff();
    this.rttSeq = -1;
    if (handshake) {
      if (this.state === TcpState.SynSent && this.tfoOptOut) {
        // RFC 7413 4.1.3.1: our SYN with Fast Open went unanswered (perhaps a middlebox drops
        // such SYNs): it goes again without the option or data, and the cache remembers.
        this.tfoCache?.markFailed(this.tuple.remote, now);
        this.tfoOptOut = undefined;
      }
      this.synNow = true;
      return;
    }
    if (this.snd.nxt === this.snd.una) return;
    this.events.onTimeout?.(this.retries);
    // RFC 5681 3.1 (4): ssthresh from FlightSize, the bytes outstanding, not the RFC 6675 pipe,
    // which leaves SACKed bytes out. With a lost retransmission and the rest SACKed the pipe is
    // a segment or two by the time the timer fires, and NewReno and LIA halved that: ssthresh 2
    // MSS, then congestion avoidance from there (LIA's LTE subflow at 15-60 KB for 10 s after one
    // RTO, where its window had been 0.5 MB). Not above the window either: SACKed bytes above a
    // hole on top of a full window say nothing more about the path (Linux halves the cwnd).
    this.cc.onRetransmissionTimeout(now, Math.min(seqDiff(this.snd.nxt, this.snd.una), this.cc.window));
    const lost = this.rec.onRto(this.snd.una, this.snd.nxt);
    this.rs?.markLost(lost);
  }

  private armRtx(now: number): void {
    this.timers.rtx = now + this.rtt.rto;
  }

  private armKeepalive(now: number): void {
    if (this.config.keepaliveIdleMs > 0 && this.state === TcpState.Established) {
      this.timers.keepalive = now + this.config.keepaliveIdleMs;
      this.timers.keepaliveSent = 0;
    }
  }

  // ---------------------------------------------------------------- receive path

  /** Bytes the receive buffer can still take beyond rcv.nxt (under MPTCP, the connection's too). */
  private rcvWindow(): number {
    const own = this.rcv.space;
    return this.ext ? Math.min(own, Math.max(0, this.ext.receiveWindow())) : own;
  }

  /** Processes one segment addressed to this connection (RFC 9293 3.10.7). */
  input(now: number, seg: SegmentIn): void {
    this.stats.segsIn++;
    this.lastActivity = now;
    if (this.state === TcpState.Closed) return;
    if (this.state === TcpState.SynSent) {
      this.inputSynSent(now, seg);
      return;
    }
    if (this.state === TcpState.TimeWait) {
      this.inputTimeWait(now, seg);
      return;
    }
    const flags = seg.flags;

    // RFC 7323 section 5.3, R1: PAWS. A segment whose timestamp is older than TS.Recent is a
    // duplicate from an earlier wrap of the sequence space: drop it and acknowledge.
    if (this.tsOk && seg.hasTs && !(flags & RST) && seqLt(seg.tsval, this.tsRecent)) {
      this.stats.pawsDrops++;
      this.ackNow = true;
      return;
    }

    // A retransmitted SYN in SYN-RECEIVED: our SYN/ACK was lost; send it again.
    if (
      this.state === TcpState.SynReceived &&
      flags & SYN &&
      !(flags & (ACK | RST)) &&
      seg.seq === this.rcv.irs
    ) {
      this.synNow = true;
      return;
    }

    // First check: sequence number acceptability (RFC 9293 3.10.7.4, the four cases).
    if (!this.rcv.acceptable(seg)) {
      if (!(flags & RST)) this.ackNow = true;
      this.stats.badSegsDropped++;
      return;
    }

    // Second check: RST (RFC 5961 section 3.2): exactly rcv.nxt resets, elsewhere in the window
    // draws a challenge ACK.
    if (flags & RST) {
      if (seg.seq !== this.rcv.nxt) {
        this.challengeAck();
        return;
      }
      const refused = this.state === TcpState.SynReceived;
      this.ext?.onRst(seg);
      this.enterClosed(new TcpError(refused ? 'ECONNREFUSED' : 'ECONNRESET', 'connection reset by peer'));
      return;
    }

    // Fourth check: a SYN in a synchronized state draws a challenge ACK (RFC 5961 section 4.2).
    if (flags & SYN) {
      this.challengeAck();
      return;
    }

    // RFC 7323 section 4.3: remember the timestamp of the segment that advances the left edge.
    if (this.tsOk && seg.hasTs && seqLe(seg.seq, this.rcv.lastAckSent)) this.tsRecent = seg.tsval;

    // Fifth check: the ACK field.
    if (!(flags & ACK)) return;
    if (!this.processAck(now, seg)) return;
    if ((this.state as TcpState) === TcpState.Closed) return;

    this.ext?.onSegment(seg);
    if ((this.state as TcpState) === TcpState.Closed) return;
    // Seventh: segment text; eighth: FIN.
    if (seg.len > 0 || flags & FIN) this.processData(now, seg);
    if (this.state === TcpState.Established) this.armKeepalive(now);
  }

  /** TIME-WAIT: the judgement of src/tcp/time-wait.ts (a SYN cannot reopen a socket: dropped). */
  private inputTimeWait(now: number, seg: SegmentIn): void {
    const wnd = this.rcv.advertised;
    switch (timeWaitAction(seg, this.rcv.nxt, wnd, this.tsOk, this.tsRecent)) {
      case TW.restart:
        this.timers.timeWait = now + this.config.timeWaitMs;
        this.ackNow = true;
        return;
      case TW.ack:
        this.ackNow = true;
        return;
      case TW.close:
        this.enterClosed(undefined);
        return;
      default:
        return;
    }
  }

  /**
   * In TIME-WAIT with nothing left to send: what TIME-WAIT still needs, as the record the stack
   * keeps instead of this socket. The socket closes (onClose), so that it, its buffers and
   * whatever rides on it (MPTCP subflow, stream) can go; the record answers for the 4-tuple.
   */
  handOverTimeWait(): TimeWaitRecord {
    const wnd = this.rcv.advertised;
    const rec = new TimeWaitRecord(
      this.tuple,
      this.snd.nxt,
      this.rcv.nxt,
      wnd,
      Math.min(wnd >>> this.rcv.shift, 0xffff),
      this.tsOk,
      this.tsRecent,
      this.tsOffset,
      this.config.timeWaitMs,
      this.timers.timeWait,
    );
    this.enterClosed(undefined);
    return rec;
  }

  private challengeAck(): void {
    this.stats.challengeAcks++;
    this.ackNow = true;
  }

  /** SYN-SENT (RFC 9293 3.10.7.3). */
  private inputSynSent(now: number, seg: SegmentIn): void {
    const flags = seg.flags;
    const ackOk = (flags & ACK) !== 0 && seqGt(seg.ack, this.snd.iss) && seqLe(seg.ack, this.snd.nxt);
    if (flags & ACK && !ackOk) {
      if (!(flags & RST)) this.sendResetFor(seg);
      return;
    }
    if (flags & RST) {
      // RFC 5961 3.2 leaves SYN-SENT as is: a RST is accepted when its ACK acknowledges our SYN.
      if (ackOk) {
        this.ext?.onRst(seg);
        this.enterClosed(new TcpError('ECONNREFUSED', 'connection refused'));
      }
      return;
    }
    if (!(flags & SYN)) return;
    this.rcv.start(seg.seq);
    this.takeSynOptions(now, seg);
    // What the SYN/ACK acknowledged of our SYN's data is settled before the extension sees it (an
    // MPTCP subflow numbers its data after what the SYN delivered, RFC 8684 appendix B.1).
    if (ackOk && this.tfoCache) this.fastOpenSynAck(seg);
    this.ext?.onSyn(seg, (flags & ACK) !== 0);
    this.rcv.advertisedTo(this.rcvWindow());
    if (ackOk) {
      this.snd.synAcked(seg.ack);
      this.snd.startWindow(seg.window, seg.seq, seg.ack); // RFC 7323 2.2: a SYN/ACK's is never scaled
      this.sampleRttHandshake(now, seg);
      this.established(now);
      this.ackNow = true;
      if (seg.len > 0 || flags & FIN) this.processData(now, seg);
    } else {
      // Simultaneous open (RFC 9293 figure 7): SYN-RECEIVED, answer with SYN/ACK.
      this.snd.peerWindow(seg.window);
      this.state = TcpState.SynReceived;
      this.synNow = true;
    }
  }

  /**
   * Client, RFC 7413 4.2.2: the SYN/ACK acknowledges our SYN's data or only the SYN. A cookie in it
   * is cached for next time; what the server did not take goes again as ordinary data (so nothing
   * is lost, and nothing reaches the application twice: the server took none of it).
   */
  private fastOpenSynAck(seg: SegmentIn): void {
    const cache = this.tfoCache!;
    const acked = Math.min(Math.max(seqDiff(seg.ack, this.snd.iss) - 1, 0), this.synDataLen);
    if (seg.tfoLen > 0) {
      cache.set(this.tuple.remote, seg.buf.subarray(seg.tfoOff, seg.tfoOff + seg.tfoLen), this.peerMss);
    } else if (this.fastOpen === 'sent' && acked < this.synDataLen) {
      // Refused without a new cookie: ask again next time (a failure on record stays).
      const failedAt = cache.get(this.tuple.remote)?.failedAt;
      if (failedAt === undefined) cache.delete(this.tuple.remote);
      else cache.set(this.tuple.remote, NO_COOKIE, this.peerMss, failedAt);
    }
    if (this.fastOpen === 'sent' && this.synDataLen > 0) this.fastOpen = acked > 0 ? 'accepted' : 'refused';
    if (acked > 0) {
      cache.clearFailure(this.tuple.remote);
      this.stats.bytesOut += acked;
    }
    this.snd.synDataAcked(acked, seg.ack);
    this.synDataAcked = acked;
  }

  private sampleRttHandshake(now: number, seg: SegmentIn): void {
    // Data sent behind the SYN/ACK (sendsEarly) moved lastSendAt: then only a timestamp times it,
    // and that data keeps the retransmission timer running.
    const early = seqGt(this.snd.nxt, seqAdd(this.snd.iss, 1));
    if (this.retries === 0 && !early) this.rtt.sample(now, now - this.lastSendAt);
    else if (this.tsOk && seg.hasTs && seg.tsecr !== 0) {
      this.rtt.sample(now, (tsClock(now, this.tsOffset) - seg.tsecr) >>> 0);
    }
    this.retries = 0;
    this.timers.rtx = Number.POSITIVE_INFINITY;
    if (early) this.armRtx(now);
  }

  private established(now: number): void {
    this.state = TcpState.Established;
    this.retries = 0;
    this.armKeepalive(now);
    this.events.onEstablished?.();
  }

  /**
   * The ACK field in a synchronized state (RFC 9293 3.10.7.4 fifth check, RFC 5961 section 5.2).
   * Returns false when processing of the segment stops here.
   */
  private processAck(now: number, seg: SegmentIn): boolean {
    const ack = seg.ack;
    if (this.state === TcpState.SynReceived) {
      // The ACK of our SYN; data sent before the handshake ended (sendsEarly) is acked below.
      const synAcked = seqAdd(this.snd.iss, 1);
      if (seqGe(ack, synAcked) && seqLe(ack, this.snd.nxt)) {
        this.snd.synAcked(synAcked);
        this.snd.startWindow(this.snd.windowOf(seg), seg.seq, ack);
        this.sampleRttHandshake(now, seg);
        this.established(now);
        if (this.snd.finQueued) this.state = TcpState.FinWait1;
      } else {
        this.sendResetFor(seg);
        return false;
      }
    }
    // RFC 5961 5.2: acceptable ACKs lie in [snd.una - max.snd.wnd, snd.nxt].
    if (seqGt(ack, this.snd.nxt)) {
      this.ackNow = true;
      return false;
    }
    if (seqLt(ack, seqAdd(this.snd.una, -this.snd.maxWnd))) {
      this.challengeAck();
      return false;
    }
    this.timers.probesOut = 0; // the peer is there (Linux tcp_ack clears icsk_probes_out the same way)

    const inFlightBefore = this.pipe();
    const lostUntilBefore = this.rec.lostUntil;
    const rs = this.sampler;
    if (rs) this.beginRateSample(rs, inFlightBefore);
    const acked = seqDiff(ack, this.snd.una);
    if (acked > 0) {
      rs?.ackedTo(now, ack);
      this.onNewAck(now, seg, acked, inFlightBefore);
    } else this.maybeDupAck(now, seg);

    // SACK blocks (RFC 2018), after the cumulative ACK moved the scoreboard's origin.
    if (this.sackOk && seg.sackCount > 0) this.takeSack(now, seg);

    // Window update (RFC 9293 3.10.7.4): only from a newer segment, or a newer ACK of the same one.
    this.snd.updateWindow(seg);
    this.updateLoss(now);
    if (rs) this.endRateSample(now, rs, lostUntilBefore, inFlightBefore);
    this.updatePersist(now);

    // FIN acknowledged: state transitions of RFC 9293 3.10.7.4 (FIN-WAIT-1, CLOSING, LAST-ACK).
    if (this.snd.finQueued && seqGt(this.snd.una, this.snd.finSeq)) {
      switch (this.state) {
        case TcpState.FinWait1:
          this.state = TcpState.FinWait2;
          if (this.orphaned) this.armFinTimeout(now);
          break;
        case TcpState.Closing:
          this.enterTimeWait(now);
          break;
        case TcpState.LastAck:
          this.enterClosed(undefined);
          return false;
      }
    }
    return true;
  }

  private onNewAck(now: number, seg: SegmentIn, ackedSeq: number, inFlightBefore: number): void {
    // Bytes of data acknowledged: the FIN takes sequence space but no buffer.
    const dataAcked = this.snd.acked(ackedSeq, seg.ack);
    this.stats.bytesOut += dataAcked;
    this.retries = 0;

    // RTT (RFC 7323 section 4.1 with timestamps; else Karn's rule on one timed segment, RFC 6298 3).
    if (this.tsOk && seg.hasTs && seg.tsecr !== 0) {
      this.rtt.sample(now, (tsClock(now, this.tsOffset) - seg.tsecr) >>> 0);
    } else if (this.rttSeq >= 0 && seqGt(seg.ack, this.rttSeq)) {
      this.rtt.sample(now, now - this.rttSentAt);
      this.rttSeq = -1;
    }

    const r = this.rec.onNewAck(ackedSeq, seg.ack, this.mss);
    if (r === AckIn.grow) this.cc.onAck(now, dataAcked, inFlightBefore, this.cwndLimited, this.rtt);
    else if (r === AckIn.ended) this.cc.onRecoveryEnd(now);
    // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it.
    if (this.snd.una === this.snd.nxt) this.timers.rtx = Number.POSITIVE_INFINITY;
    else this.armRtx(now);
    if (dataAcked > 0) this.events.onWritable?.();
  }

  private maybeDupAck(now: number, seg: SegmentIn): void {
    // RFC 5681 section 2: a duplicate ACK carries no data, acknowledges snd.una with data
    // outstanding, and does not change the window (RFC 6675 also counts ACKs with new SACK info).
    if (seg.len > 0 || seg.flags & (SYN | FIN) || this.snd.nxt === this.snd.una) return;
    if (this.snd.windowOf(seg) !== this.snd.wnd && seg.sackCount === 0) return;
    this.rec.countDupAck();
    this.stats.dupAcksIn++;
    void now;
  }

  private takeSack(now: number, seg: SegmentIn): void {
    const outstanding = seqDiff(this.snd.nxt, this.snd.una);
    for (let i = 0; i < seg.sackCount; i++) {
      const left = u32(seg.buf, seg.sackOff + i * 8);
      const right = u32(seg.buf, seg.sackOff + i * 8 + 4);
      // RFC 2883 D-SACK blocks lie below snd.una; they are ignored here.
      const from = seqDiff(left, this.snd.una);
      const to = seqDiff(right, this.snd.una);
      if (this.rs) this.sampleSacked(now, this.rs, from, Math.min(to, outstanding));
      this.rec.addSack(from, to, outstanding);
    }
  }

  /**
   * The rate sampler is told the bytes a SACK block newly covers: the scoreboard's holes inside
   * it, before the block is added. A block that merges two older ones (a retransmission filled
   * the hole between them) then counts that retransmission as delivered now, not at the
   * cumulative ACK much later, which would credit its bytes to a later, shorter interval.
   */
  private sampleSacked(now: number, rs: RateSampler, from: number, to: number): void {
    let x = Math.max(from, 0);
    while (x < to && this.rec.unsackedIn(x, to, HOLE)) {
      const end = HOLE[1];
      rs.sacked(now, seqAdd(this.snd.una, HOLE[0]), seqAdd(this.snd.una, end));
      x = end;
    }
  }

  /** The delivery-rate sampler, kept only while the controller takes rate samples (BBR). */
  private get sampler(): RateSampler | undefined {
    if (!this.cc.onRateSample) return undefined;
    this.rs ??= new RateSampler(this.snd.una);
    return this.rs;
  }

  /**
   * Start of an ACK for the rate sampler, with draft-ietf-ccwg-bbr 4.1.2.4
   * CheckIfApplicationLimited: nothing unsent, room in the window, no lost data waiting.
   */
  private beginRateSample(rs: RateSampler, inFlight: number): void {
    rs.begin();
    if (this.unsentBytes === 0 && inFlight < this.cc.window && !this.rec.lostPending) {
      rs.markAppLimited(inFlight);
    }
  }

  /** End of an ACK: the bytes it marked lost, then the rate sample to the controller. */
  private endRateSample(now: number, rs: RateSampler, lostUntilBefore: number, inFlightBefore: number): void {
    const from = Math.max(seqDiff(lostUntilBefore, this.snd.una), 0);
    const to = seqDiff(this.rec.lostUntil, this.snd.una);
    if (to > from) rs.markLost(this.rec.holeBytes(from, to));
    if (rs.generate(now, this.rtt.minRtt) || rs.newlyLost > 0) {
      this.cc.onRateSample?.(now, rs, inFlightBefore, this.pipe(), this.rtt);
    }
  }

  /** Enters or advances loss recovery after an ACK (RFC 6675 section 5, RFC 6582). */
  private updateLoss(now: number): void {
    const rec = this.rec;
    if (rec.phase === Phase.none) {
      const boundary = rec.lossDetected(this.mss);
      if (boundary < 0 || this.snd.nxt === this.snd.una) return;
      // RFC 6675 section 5 step 4: enter fast recovery, retransmit the first unacknowledged segment.
      this.stats.fastRecoveries++;
      this.cc.onCongestionEvent(now, this.pipe());
      rec.enterFast(this.snd.una, this.snd.nxt, boundary, Math.min(this.mss, this.snd.len));
      this.rttSeq = -1;
      return;
    }
    const lost = rec.progress(this.snd.una, this.snd.nxt, this.mss);
    if (lost >= 0) {
      this.stats.lostRetransmits++;
      this.rs?.markLost(lost);
    }
  }

  /** RFC 6675 "pipe": outstanding bytes not SACKed, less the lost ones not yet retransmitted. */
  pipe(): number {
    return this.rec.pipe(this.snd.una, this.snd.nxt);
  }

  private updatePersist(now: number): void {
    if (this.snd.wnd === 0 && this.snd.waiting && this.snd.nxt === this.snd.una) {
      if (this.timers.persist === Number.POSITIVE_INFINITY) {
        this.timers.persistBackoff = 0;
        this.timers.persist = now + this.rtt.rto;
      }
    } else {
      this.timers.persist = Number.POSITIVE_INFINITY;
    }
  }

  /** Segment text and FIN (RFC 9293 3.10.7.4, seventh and eighth steps). */
  private processData(now: number, seg: SegmentIn): void {
    const s = this.state;
    const canReceive = s === TcpState.Established || s === TcpState.FinWait1 || s === TcpState.FinWait2;
    const rcv = this.rcv;
    if (seg.flags & FIN) rcv.noteFin(seg);
    if (canReceive && seg.len > 0) {
      const rx = rcv.take(seg, this.rcvWindow(), this.mss);
      if (rx & RX_ACK) this.ackNow = true;
      else if (this.timers.delack === Number.POSITIVE_INFINITY)
        this.timers.delack = now + this.config.delayedAckMs;
      if (rx & RX_READABLE) this.events.onReadable?.();
    }
    // FIN at rcv.nxt: every byte before it has arrived.
    if (rcv.takeFin()) {
      this.ackNow = true;
      switch (this.state) {
        case TcpState.Established:
          this.state = TcpState.CloseWait;
          this.timers.keepalive = Number.POSITIVE_INFINITY;
          break;
        case TcpState.FinWait1:
          // Our FIN not yet acknowledged (else we would be in FIN-WAIT-2): simultaneous close.
          this.state = TcpState.Closing;
          break;
        case TcpState.FinWait2:
          this.enterTimeWait(now);
          break;
      }
      this.events.onEnd?.();
    }
  }

  private enterTimeWait(now: number): void {
    this.state = TcpState.TimeWait;
    this.timers.stopSending();
    this.timers.timeWait = now + this.config.timeWaitMs;
    // Nothing more will be sent, and nothing more accepted: TIME-WAIT needs no buffers (a server
    // closing thousands of connections a minute would hold them for the whole 2 MSL otherwise).
    this.trimMemory();
    if (this.config.timeWaitMs <= 0) this.enterClosed(undefined);
  }

  private enterClosed(err: TcpError | undefined): void {
    if (this.state === TcpState.Closed) return;
    this.state = TcpState.Closed;
    this.error = err;
    this.timers.stopAll();
    this.ackNow = false;
    this.synNow = false;
    this.probeNow = false;
    this.snd.drop();
    this.trimMemory();
    this.events.onClose?.(err);
  }

  /** A RST answering an unacceptable segment (RFC 9293 3.10.7.3/4, reset generation). */
  private pendingRst: { seq: number; ack: number; flags: number } | undefined;

  private sendResetFor(seg: SegmentIn): void {
    this.pendingRst =
      seg.flags & ACK
        ? { seq: seg.ack, ack: 0, flags: RST }
        : { seq: 0, ack: seqAdd(seg.seq, seg.seqLen), flags: RST | ACK };
  }

  // ---------------------------------------------------------------- transmit path

  /**
   * Writes the next IP packet this connection wants to send into buf and returns its length, or
   * 0 when it has nothing to send now.
   */
  dispatch(now: number, buf: Uint8Array): number {
    if (this.pendingRst) {
      const r = this.pendingRst;
      this.pendingRst = undefined;
      return this.emit(now, buf, r.seq, r.ack, r.flags, 0, 0, false);
    }
    if (this.rstNow) {
      this.rstNow = false;
      return this.emit(now, buf, this.snd.nxt, this.rcv.nxt, RST | ACK, 0, 0, false);
    }
    switch (this.state) {
      case TcpState.Closed:
      case TcpState.Listen:
        return 0;
      case TcpState.SynSent: {
        if (!this.synNow) return 0;
        this.synNow = false;
        // RFC 7413 4.2.1: only the first SYN carries data (a retransmitted one has neither the
        // option nor data); snd.nxt stays past the data sent, so that a late SYN/ACK
        // acknowledging it is acceptable.
        const len = this.synSentOnce ? 0 : this.synData();
        this.synSentOnce = true;
        this.snd.synSent(len);
        this.lastSendAt = now;
        if (this.timers.rtx === Number.POSITIVE_INFINITY) this.armRtx(now);
        return this.emit(now, buf, this.snd.iss, 0, SYN, 0, len, true);
      }
      case TcpState.SynReceived:
        if (!this.synNow) return this.sendsEarly ? this.dispatchData(now, buf) : 0;
        this.synNow = false;
        this.snd.synAckSent();
        // Early data (sendsEarly) counts from past our SYN, whose ACK processAck checks; data sent
        // before a SYN/ACK sent again goes again after it (as after an RTO).
        if (this.sendsEarly) this.snd.synAcked(this.snd.nxt);
        this.lastSendAt = now;
        this.rcv.advertisedTo(this.rcvWindow());
        if (this.timers.rtx === Number.POSITIVE_INFINITY) this.armRtx(now);
        return this.emit(now, buf, this.snd.iss, this.rcv.nxt, SYN | ACK, 0, 0, true);
      default:
        break;
    }

    if (this.pureAckNow) {
      // An ACK without data, before any data: the layer above has an option to send that does
      // not fit beside a data mapping (MPTCP's ADD_ADDR).
      this.pureAckNow = false;
      return this.emit(now, buf, this.snd.nxt, this.rcv.nxt, ACK, 0, 0, false);
    }
    const n = this.dispatchData(now, buf);
    if (n > 0) return n;
    if (this.probeNow) {
      // Zero-window probe or keepalive: an old sequence number elicits an ACK (RFC 9293 3.8.4).
      this.probeNow = false;
      return this.emit(now, buf, seqAdd(this.snd.una, -1), this.rcv.nxt, ACK, 0, 0, false);
    }
    if (this.ackNow) return this.emit(now, buf, this.snd.nxt, this.rcv.nxt, ACK, 0, 0, false);
    return 0;
  }

  /**
   * Bytes of data our first SYN carries: with a cached cookie, what was written before it leaves,
   * up to the server's MSS less the most options a SYN can have (RFC 7413 4.2.1).
   */
  private synData(): number {
    if (!this.tfoCache || !this.tfoOptOut || this.tfoOptOut.length === 0) return 0;
    const room = Math.max(0, Math.min(this.tfoMss, this.ourMss) - MAX_OPTIONS);
    if (this.snd.len < room) this.ext?.prepareSynData?.(room - this.snd.len);
    this.synDataLen = Math.min(this.snd.len, room);
    return this.synDataLen;
  }

  /** Retransmission of lost data first, then new data, as the window allows (RFC 6675 NextSeg). */
  private dispatchData(now: number, buf: Uint8Array): number {
    const s = this.state;
    if (s === TcpState.TimeWait || s === TcpState.FinWait2) return 0;
    const cwnd = this.cc.window;
    const pipe = this.pipe();
    const finSeq = this.snd.finSeq;
    // RFC 9293 3.7.1: options other than timestamps (already in this.mss) take payload room; the
    // extension's depend on where the segment starts.
    const baseMss = this.sackOk ? this.mss - this.rcv.sackOptionLen(this.maxSackBlocks()) : this.mss;
    const ext = this.ext;

    // (1) Lost bytes above HighRxt (RFC 6675 section 6.1, rule 1; after an RTO, go-back-N).
    const rec = this.rec;
    if (rec.mayRetransmit(this.snd.una, pipe, cwnd)) {
      const first = rec.takeFirst();
      if (rec.nextHole(this.snd.una, HOLE)) {
        const start = HOLE[0];
        const holeEnd = HOLE[1];
        const dataLeft = this.snd.len - start;
        const seq = seqAdd(this.snd.una, start);
        const mss = ext ? baseMss - ext.optionSpace(seq) : baseMss;
        let len = Math.min(holeEnd - start, mss, Math.max(dataLeft, 0));
        if (ext && len > 0) len = ext.limitPayload(seq, len);
        const fin = this.snd.finQueued && seqAdd(seq, len) === finSeq && this.snd.finOut;
        if (len > 0 || fin) {
          // With a controller that sets the rate (BBR) retransmissions are paced too: a burst of
          // them into the queue that just overflowed is lost again, and with no new data behind
          // it the loss shows only at the RTO.
          if (this.cc.pacingRate && len > 0 && this.paceHeld(now, len, cwnd, mss)) {
            rec.keepFirst(first);
            return 0;
          }
          rec.retransmitted(seqAdd(seq, len + (fin ? 1 : 0)), this.snd.nxt);
          this.stats.retransSegs++;
          this.stats.retransBytes += len;
          if (this.timers.rtx === Number.POSITIVE_INFINITY) this.armRtx(now);
          this.sampler?.sent(now, seq, len, pipe, true);
          const push = len > 0 && start + len === this.snd.len ? PSH : 0;
          return this.emit(now, buf, seq, this.rcv.nxt, ACK | push | (fin ? FIN : 0), start, len, false, mss);
        }
      }
    }

    // (2) New data within both windows (RFC 5681 / RFC 9293 3.8.6.2.1 sender-side SWS avoidance).
    const snd = this.snd;
    const sentData = seqDiff(snd.nxt, snd.una);
    const unsent = snd.len - Math.min(sentData, snd.len);
    // The FIN waits for the end of the handshake (RFC 9293 3.10.4), also after early data.
    const needFin = snd.finQueued && !snd.finOut && s !== TcpState.SynReceived;
    if (unsent > 0 || needFin) {
      const mss = ext ? baseMss - ext.optionSpace(this.snd.nxt) : baseMss;
      // Under MPTCP the connection-level window may reach further than this subflow's last one.
      const shared = ext?.sendWindow ? ext.sendWindow() : 0;
      const sndWndLeft = seqDiff(seqAdd(snd.una, Math.max(shared, snd.wnd)), snd.nxt);
      const cwndLeft = cwnd - pipe;
      const usable = Math.min(sndWndLeft, cwndLeft);
      const nagle = this.config.nagle && !this.noDelay;
      let len = snd.nextLength(unsent, usable, mss, this.superSegment(mss, cwnd), nagle, needFin);
      this.cwndLimited = cwndLeft < Math.min(unsent, mss);
      // The layer above may end a segment early (at an MPTCP mapping boundary); that is not a
      // small segment in the sense of the two checks above.
      if (ext && len > 0) len = ext.limitPayload(this.snd.nxt, len);
      if (len > 0 && this.rtt.srtt > 0 && this.paceHeld(now, len, cwnd, mss)) {
        // Held by the pacer, not by the application: the window is in use (RFC 7661).
        this.cwndLimited = true;
        return 0;
      }
      const fin = needFin && len === unsent && usable >= len;
      if (len > 0 || (fin && unsent === 0)) {
        const off = sentData;
        const seq = snd.nxt;
        snd.sent(len, fin);
        // Past the peer's window on this connection: only the layer above's window let it go.
        if (shared > snd.wnd && seqGt(seqAdd(seq, len), seqAdd(snd.una, snd.wnd))) ext!.sentPastWindow?.();
        if (this.rttSeq < 0 && !this.tsOk && rec.phase === Phase.none) {
          this.rttSeq = seq;
          this.rttSentAt = now;
        }
        if (this.timers.rtx === Number.POSITIVE_INFINITY) this.armRtx(now);
        if (now - this.lastSendAt > this.rtt.rto && sentData === 0) this.cc.onIdleRestart(now);
        this.lastSendAt = now;
        const rs = this.sampler;
        if (rs) {
          // One delivery record per piece: the peer acknowledges a super-segment piece by piece.
          for (let k = 0; k < len; k += mss)
            rs.sent(now, seqAdd(seq, k), Math.min(mss, len - k), pipe + k, false);
        }
        const push = len > 0 && len === unsent ? PSH : 0;
        return this.emit(now, buf, seq, this.rcv.nxt, ACK | push | (fin ? FIN : 0), off, len, false, mss);
      }
      this.updatePersist(now);
    } else {
      // Nothing new to send, but lost bytes wait for room in the pipe (go-back-N after an RTO):
      // the window is in use (RFC 7661), so that slow start grows it; left false, a subflow that
      // held megabytes when its timer fired crept on at one segment per round trip for seconds.
      this.cwndLimited = rec.lostPending && pipe >= cwnd;
    }
    return 0;
  }

  /**
   * The most new bytes one segment may carry: one MSS, or with a device that cuts super-segments
   * as many whole MSS as fit its largest packet and the pacer's quantum (the congestion and peer
   * windows and the send buffer bound it after).
   */
  private superSegment(mss: number, cwnd: number): number {
    const max = this.offload.maxPacket;
    if (max === 0) return mss;
    const room = Math.min(max, MAX_IP_PACKET) - (this.tuple.local.length === 4 ? 20 : 40) - 20 - MAX_OPTIONS;
    const quantum = pacingQuantum(cwnd, this.rtt.srtt, mss, this.cc.pacingRate);
    const n = Math.floor(Math.min(room, quantum) / mss);
    return n > 1 ? n * mss : mss;
  }

  /** Whether the pacer holds `len` bytes at `now`; if so its wake-up is armed. */
  private paceHeld(now: number, len: number, cwnd: number, mss: number): boolean {
    const at = this.pacer.wait(now, len, cwnd, this.rtt.srtt, mss, this.cc.pacingRate);
    this.timers.pace = at > 0 ? at : Number.POSITIVE_INFINITY;
    return at > 0;
  }

  /**
   * Writes one segment: IP header, TCP header and options, payload from the send ring. `mss`: the
   * payload of each piece when `len` is more (a super-segment, for a device that cuts it).
   */
  private emit(
    now: number,
    buf: Uint8Array,
    seq: number,
    ack: number,
    flags: number,
    dataOff: number,
    len: number,
    syn: boolean,
    mss = this.mss,
  ): number {
    const t = this.tuple;
    // Options first, into their place after the headers (sizes known up front).
    const ipHl = t.local.length === 4 ? 20 : 40;
    let o = ipHl + 20;
    let extLen = 0;
    if (syn) {
      o = this.writeSynOptions(now, buf, o, (flags & ACK) !== 0);
      if (this.ext) o += this.ext.writeSynOptions(buf, o, ipHl + 60 - o, (flags & ACK) !== 0);
    } else if (flags & RST) {
      // The extension may say why (MPTCP's MP_TCPRST, MP_FASTCLOSE: RFC 8684 3.5, 3.6).
      if (this.ext) o += this.ext.writeRstOptions(buf, o, MAX_OPTIONS);
    } else {
      // The extension's option (MPTCP's DSS) is sized first; SACK blocks take what is left of the
      // 40 option bytes (RFC 9293 3.1: data offset at most 15 words), as Linux does.
      if (this.ext) extLen = this.ext.optionsLen(seq, len, flags, MAX_OPTIONS - (this.tsOk ? TS_OPT_LEN : 0));
      if (this.tsOk) o = this.writeTs(now, buf, o);
      if (this.sackOk && this.rcv.hasOoo) {
        const room = MAX_OPTIONS - (o - ipHl - 20) - extLen;
        const blocks = Math.min(this.maxSackBlocks(), (room - 4) >> 3);
        if (blocks > 0) o = this.rcv.writeSack(buf, o, blocks);
      }
    }
    const hl = o + extLen - ipHl;
    const win = flags & RST ? 0 : this.advertiseWindow(syn);
    writeTcpHeader(buf, ipHl, t.localPort, t.remotePort, seq, ack, hl, flags, win);
    if (len > 0) this.snd.copyOut(dataOff, buf, o + extLen, len);
    if (extLen > 0) this.ext!.writeOptions(buf, o, seq, len, flags, o + extLen);
    const tcpLen = hl + len;
    writeIpHeader(buf, t.local, t.remote, tcpLen);
    if (this.offload.csum) {
      // The driver puts the pseudo-header sum, the device the rest (SuperSegmentWriter).
      this.txGsoSize = mss;
      this.stats.segsOut += len > mss ? Math.ceil(len / mss) : 1;
    } else {
      fillTcpChecksum(buf, ipHl, tcpLen, t.local, t.remote);
      this.txGsoSize = 0;
      this.stats.segsOut++;
    }
    this.lastActivity = now;
    if (flags & ACK) {
      this.ackNow = false;
      this.timers.delack = Number.POSITIVE_INFINITY;
      this.rcv.acked(ack);
    }
    return ipHl + tcpLen;
  }

  /**
   * The window field: scaled, never shrinking the right edge (RFC 9293 3.8.6.2.2, RFC 7323 2.4).
   * Under a connection-level window (MPTCP) the field is that window, relative to the DATA_ACK
   * beside it, and the right edge that must not shrink is the connection's (RFC 8684 3.3.4), which
   * `ext` keeps: holding this subflow's own edge would offer the peer, after data came on another
   * subflow, what the connection cannot take. rcv.advRight still bounds what this subflow accepts.
   */
  private advertiseWindow(syn: boolean): number {
    return this.rcv.advertise(this.rcvWindow(), syn, !this.ext);
  }

  /** SYN options (writeSynOptionList), then the Fast Open option. */
  private writeSynOptions(now: number, buf: Uint8Array, off: number, synAck: boolean): number {
    const sack = synAck ? this.sackOk : this.config.sack;
    const ts = synAck ? this.tsOk : this.config.timestamps;
    const ws = synAck ? this.wsOk : this.config.windowScale;
    const tsval = tsClock(now, this.tsOffset);
    let o = writeSynOptionList(
      buf,
      off,
      this.ourMss,
      sack,
      ts,
      tsval,
      this.tsRecent,
      ws ? this.rcv.shift : -1,
    );
    const fo = this.tfoOptOut;
    if (fo) {
      // RFC 7413 4.1.1: the cookie (none: a request), then NOPs to the next word.
      buf[o] = TCPOPT.fastOpen;
      buf[o + 1] = 2 + fo.length;
      buf.set(fo, o + 2);
      o += 2 + fo.length;
      while ((o - off) & 3) buf[o++] = 1;
    }
    return o;
  }

  private writeTs(now: number, buf: Uint8Array, off: number): number {
    buf[off] = 1;
    buf[off + 1] = 1;
    return this.writeTsBody(now, buf, off + 2);
  }

  private writeTsBody(now: number, buf: Uint8Array, off: number): number {
    return writeTimestamps(buf, off, tsClock(now, this.tsOffset), this.tsRecent);
  }

  /** RFC 2018 section 3: as many blocks as fit beside the timestamps (3), else 4. */
  private maxSackBlocks(): number {
    return this.tsOk ? 3 : 4;
  }

  /** Gives buffer memory back when both directions hold no bytes (idle connections cost little). */
  trimMemory(): void {
    this.snd.trim();
    this.rcv.trim();
  }

  /** Buffer memory currently held. */
  get bufferMemory(): number {
    return this.snd.allocated + this.rcv.allocated;
  }

  /** Whether dispatch may have something to send now (for the stack's poll loop). */
  get wantsToSend(): boolean {
    if (this.pendingRst || this.rstNow || this.synNow || this.ackNow || this.pureAckNow || this.probeNow)
      return true;
    // TIME-WAIT sends nothing but ACKs (above).
    if (!isSynchronized(this.state) || this.state === TcpState.TimeWait) return false;
    return this.snd.waiting || this.rec.hasLost(this.snd.una);
  }
}
