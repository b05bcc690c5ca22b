// One MPTCP connection (RFC 8684): the data-sequence send buffer and receive reassembly shared by
// its subflows, DATA_ACK and DATA_FIN, the connection-level receive window, and fallback to plain
// TCP. Data sequence numbers are relative numbers here (src/mptcp/dsn.ts): the first data byte in
// each direction is 1, IDSN + 1 on the wire. Sans-IO like the TCP below it.

import { addAddrHmac } from '../crypto/hmac.js';
import type { Idsn } from '../crypto/keys.js';
import { Assembler, MAX_RANGES } from '../tcp/assembler.js';
import type { CongestionControlName } from '../tcp/cc/index.js';
import { ByteRing, IDLE_TRIM_MS } from '../tcp/ring.js';
import { TcpError } from '../tcp/socket.js';
import { TcpState } from '../tcp/state.js';
import { type HasDeadline, TimerQueue } from '../util/timer-queue.js';
import { CouplingGroup } from './cc/coupling.js';
import type { MptcpEvent } from './events.js';
import { RcvSpace } from './rcv-space.js';
import { eligible, type Scheduler, type SchedulerName, scheduler } from './sched/index.js';
import { type OpportunisticHost, OpportunisticRetransmission } from './sched/opportunistic.js';
import type { Subflow } from './subflow.js';
import type { LocalKey } from './token.js';

/** The address tables of a connection that has none. */
const NO_ADDRS: ReadonlyMap<number, AnnouncedAddr> = new Map();
export interface MptcpConfig {
  sendBuffer: number;
  recvBuffer: number;
  /** Ask for the DSS checksum (RFC 8684 3.3.1, flag A); also used when the peer asks. */
  checksum: boolean;
  /**
   * Congestion control across subflows: each subflow's own (CUBIC by default: the bottlenecks of
   * DSL and LTE are disjoint), or coupled with LIA (RFC 6356) or OLIA.
   */
  congestion: 'uncoupled' | 'lia' | 'olia';
  /**
   * When the peer's connection-level window blocks new data, resend the data holding it up on a
   * faster subflow and penalise the slow one (Raiciu et al., NSDI 2012, section 4.2).
   */
  opportunistic: boolean;
  /**
   * Set MP_CAPABLE's C flag (RFC 8684 3.1): the peer must not open subflows to the source address
   * of our initial subflow's packets, only to the addresses we announce (a HAG worker behind a
   * service address that ECMP spreads over workers or hosts: a join to it may reach another one).
   */
  denyJoinToSource: boolean;
}

export const DEFAULT_MPTCP_CONFIG: MptcpConfig = {
  sendBuffer: 4 << 20,
  recvBuffer: 4 << 20,
  checksum: false,
  congestion: 'uncoupled',
  opportunistic: true,
  denyJoinToSource: false,
};

/** An address announced with ADD_ADDR (RFC 8684 3.4.1). */
export interface AnnouncedAddr {
  id: number;
  addr: Uint8Array;
  port?: number;
}

/**
 * What a connection needs of its endpoint: the clock, the table its data-level timer goes in, the
 * event stream, and a say in when it acts on input. The connection reports to it (layers talk one
 * way): the endpoint sets nothing on the connection.
 */
/** The congestion control a peer's policy asks for on the subflows toward its address `id`. */
export interface PeerCc {
  id: number;
  cc: CongestionControlName;
}

export interface ConnectionHost {
  /** The clock, ms. */
  readonly now: number;
  /** The timer table of the connections' timers (their pollAt; the host calls handleTimeout). */
  readonly connTimers: TimerQueue<MptcpConnection>;
  /** An event for the endpoint's listeners (path managers, logs, metrics). */
  emit(e: MptcpEvent): void;
  /** A subflow (or a half-open join) of `conn` closed; `conn.closed` when it was the last. */
  subflowGone(conn: MptcpConnection, sf: Subflow): void;
  /**
   * Whether the host is inside an input or a poll and calls conn.afterInput() at its end: the
   * connection then acts once, after everything the input told it. False: act now.
   */
  defer(conn: MptcpConnection): boolean;
}

/** A host for a connection on its own (tests, benchmarks): its own clock and timer table, no events, no deferral. */
export class StandaloneHost implements ConnectionHost {
  now = 0;
  readonly connTimers = new TimerQueue<MptcpConnection>();
  emit(_e: MptcpEvent): void {}
  subflowGone(_conn: MptcpConnection, _sf: Subflow): void {}
  defer(_conn: MptcpConnection): boolean {
    return false;
  }
}

export interface MptcpEvents {
  onEstablished?(): void;
  onReadable?(): void;
  onEnd?(): void;
  onWritable?(): void;
  onClose?(err?: TcpError): void;
}

/** Counters named after the Linux MPTCP MIB (nstat MPTcpExt*). */
export class MptcpMib {
  MPCapableSYNTX = 0;
  MPCapableSYNRX = 0;
  MPCapableSYNACKRX = 0;
  MPCapableACKRX = 0;
  MPCapableFallbackACK = 0;
  MPCapableFallbackSYNACK = 0;
  /** Data segments sent again on another subflow (reinjection). */
  MPTCPRetrans = 0;
  /** Bytes reinjected (no Linux counterpart; Linux counts segments). */
  MPTCPReinjectBytes = 0;
  /**
   * The window blocked new data and the oldest unacknowledged data went again on a faster subflow
   * (opportunistic retransmission, NSDI 2012 section 4.2; the out-of-tree Linux MPTCP's
   * mptcp_rcv_buf_optimization) / the slow subflow's congestion window was cut because its queue
   * held up the window (penalisation).
   */
  MPTCPOpportunisticRetrans = 0;
  MPTCPPenalisations = 0;
  /** Bytes sent a second time by the redundant scheduler. */
  MPTCPRedundantBytes = 0;
  MPJoinSynTx = 0;
  MPJoinSynRx = 0;
  MPJoinSynAckRx = 0;
  MPJoinAckRx = 0;
  MPJoinNoTokenFound = 0;
  /** Joins refused: the access rule, the subflow limit (at the SYN or at the third ACK). */
  MPJoinRejected = 0;
  MPJoinSynBackupRx = 0;
  /**
   * Half-open joins dropped to make room for a newer one (no Linux counterpart: its join
   * requests wait in the listener's SYN queue).
   */
  MPJoinHalfOpenDrop = 0;
  MPJoinSynAckHMacFailure = 0;
  MPJoinAckHMacFailure = 0;
  MPFastcloseTx = 0;
  MPFastcloseRx = 0;
  MPRstTx = 0;
  MPRstRx = 0;
  MPPrioTx = 0;
  MPPrioRx = 0;
  /** ADD_ADDR received with a valid HMAC / sent / echoes received / echoes sent / dropped. */
  AddAddr = 0;
  AddAddrTx = 0;
  EchoAdd = 0;
  EchoAddTx = 0;
  AddAddrDrop = 0;
  /** REMOVE_ADDR received / sent; subflows closed because their address was removed. */
  RmAddr = 0;
  RmAddrTx = 0;
  RmSubflow = 0;
  /** Mappings dropped because they do not describe the segment they came on (Linux DSSNoMatchTCP). */
  DSSNoMatchTCP = 0;
  /**
   * Mappings dropped because they start beyond what the subflow can still receive / because the
   * subflow already keeps as many as it may (no Linux counterpart: Linux keeps one mapping per
   * queued segment).
   */
  DSSOutOfWindow = 0;
  DSSMapsDropped = 0;
  /** Data a subflow delivered beyond the connection's receive window, dropped (Linux NoDSSInWindow). */
  NoDSSInWindow = 0;
  /**
   * Checksummed mappings whose first bytes had gone under another mapping, so that they could
   * not be verified (no Linux counterpart).
   */
  DSSCsumUnverifiable = 0;
  DataCsumErr = 0;
  DSSNotMatching = 0;
  InfiniteMapRx = 0;
  InfiniteMapTx = 0;
  /** Infinite mappings after our MP_FAIL that went on past the bytes dropped: the connection was reset. */
  InfiniteMapGap = 0;
  /** Fallbacks because a middlebox stripped the options in mid connection (Linux DSSFallback). */
  DSSFallback = 0;
  /** MP_FAIL on a subflow whose data no longer lined up with its bytes: reset, not fallen back. */
  FallbackFailed = 0;
  MPFailTx = 0;
  MPFailRx = 0;
  /** DATA_FINs sent again because no DATA_ACK covered them in time. */
  DataFinRetrans = 0;
  /** The peer's connection-level window held new data back for a timeout: a probe asked for it. */
  WinProbe = 0;
  /**
   * A subflow sent by the connection-level window where its own last window was smaller (Linux's
   * MPTcpExtSndWndShared; RFC 8684 3.3.4: the window is shared by the subflows).
   */
  SndWndShared = 0;
  /**
   * Scheduler passes (MptcpConnection.push): reinjections, then new data to the subflows the
   * scheduler picks (no Linux counterpart; compare with the TCP MIB's InSegs).
   */
  MPTCPSchedPasses = 0;
}

/** A data-level retransmission sends at most this much from the oldest unacknowledged byte. */
const DATA_RTX_CHUNK = 64 * 1024;
/** The data-level retransmission timeout is never shorter (Linux: TCP_RTO_MIN) nor longer than this. */
const DATA_RTX_MIN = 200;
const DATA_RTX_MAX = 60_000;
/**
 * New data leaves this fraction of the peer's connection-level window unused. Linux's MPTCP
 * socket stops moving data up from its subflows while what it holds exceeds its receive buffer
 * (mptcp_data_ready), out-of-order data included, and its window lets a full window of our
 * segments, at their truesize, reach that buffer: with the data at DATA_ACK lost on a dead
 * subflow, the window filled out of order and the reinjected data then sat in the live subflow's
 * receive queue for good (seen: skmem r1778176 over rb1776972, Recv-Q 463296, DATA_ACK stuck).
 */
const WINDOW_RESERVE_SHIFT = 6;
/**
 * A subflow holds at most this many congestion windows of data (sent and not acknowledged,
 * SACKed or not, and unsent): room() below. Linux's send buffer autotuning gives a socket twice
 * its cwnd in buffer memory (tcp_sndbuf_expand), several times the cwnd in payload. 2 cut LIA and
 * OLIA over DSL + LTE to 33 and 21 Mbit/s in simulation (test/sim/coupled-cc.test.ts: new data
 * held back during each recovery, the pipe then small when the next loss halved it), 3 to 30 and
 * 21; 4 keeps them at 57 and still bounds what a stuck subflow holds.
 */
const SUBFLOW_HOLD = 4;

export class MptcpConnection implements OpportunisticHost, HasDeadline {
  readonly subflows: Subflow[] = [];
  /**
   * Server: joins between their SYN and a third ACK with a valid HMAC (RFC 8684 3.2), oldest
   * first. They are not subflows yet: they take no slot and carry nothing.
   */
  readonly joining: Subflow[] = [];
  /** Subflows this connection may have (set by the endpoint). */
  maxSubflows = Number.POSITIVE_INFINITY;
  events: MptcpEvents = {};
  /** Set when the peer did not answer MP_CAPABLE: the connection is plain TCP on its one subflow. */
  fallback = false;
  /** Whether the DSS checksum is in use (either side asked for it). */
  checksum: boolean;
  /**
   * The peer's MP_CAPABLE had the C flag (RFC 8684 3.1): it takes no subflow to the address our
   * initial subflow went to; our path manager joins only the addresses it announces.
   */
  peerDeniesJoinToSource = false;
  remoteKey: Uint8Array | undefined;
  remoteIdsn: Idsn = { high: 0, low: 0 };
  established = false;
  /**
   * Both keys known at both ends (RFC 8684 3.1: the client has seen a DSS from the server, the
   * server the client's third ACK): only then may subflows join.
   */
  fullyEstablished = false;
  /**
   * Server, TCP Fast Open: the answer may go before the client's third ACK, with a DSS that has no
   * DATA_ACK yet (Subflow.sendsEarly). Off by default: a Linux MPTCP client falls back to TCP when
   * the server's first data carries no DATA_ACK (its check of the first established packet); the
   * application turns it on for a client known to take it (the HAG: a CPE that sent our policy).
   */
  answersEarly = false;
  private readonly onFully: (() => void)[] = [];
  closed = false;
  /** Why the connection ended, when it ended abnormally. */
  error: TcpError | undefined;

  // Send side: bytes [sndUna, sndUna + sendLen) in sendRing; sndNxt is the next DSN to schedule.
  sndUna = 1;
  sndNxt = 1;
  /**
   * Right edge of the peer's connection-level receive window: the window field of any subflow is
   * relative to the DATA_ACK it came with (RFC 8684 3.3.4), never shrunk.
   */
  sndWndRight = 1;
  private sendLen = 0;
  private readonly sendRing: ByteRing;
  dataFinQueued = false;
  private dataFinSignalled = false;
  /**
   * Data to send again on another subflow because the one that carried it died or stalled (RFC
   * 8684 3.3.6): DSN ranges, oldest first, each with the subflow it must avoid.
   */
  private readonly reinjectQ: { dsn: number; len: number; from: Subflow | undefined }[] = [];

  // Receive side: rcvNxt is the next DSN expected from the peer.
  rcvNxt = 1;
  private readable = 0;
  private readonly recvRing: ByteRing;
  /**
   * What arrived beyond rcvNxt. Bytes dropped here are lost for good: their subflow acknowledged
   * them and will not send them again (with the 256 ranges TCP keeps, interleaved subflows
   * overflowed it at about 4.7 MB into a bulk transfer and the connection stalled). Room for a
   * range per 512 bytes of the window, far beyond what segments of a full MSS make.
   */
  private readonly ooo: Assembler;
  /** How much of the receive buffer the window offers: what the application reads (rcv-space.ts). */
  private readonly rcvSpace: RcvSpace;
  /** DSN of the peer's DATA_FIN once seen, or -1. */
  private remoteFinDsn = -1;
  remoteFinDone = false;

  constructor(
    readonly role: 'client' | 'server',
    readonly local: LocalKey,
    readonly config: MptcpConfig,
    readonly mib: MptcpMib,
    private readonly host: ConnectionHost = new StandaloneHost(),
  ) {
    this.sendRing = new ByteRing(config.sendBuffer);
    this.recvRing = new ByteRing(config.recvBuffer);
    this.ooo = new Assembler(Math.max(MAX_RANGES, Math.ceil(config.recvBuffer / 512)));
    this.rcvSpace = new RcvSpace(config.recvBuffer);
    this.checksum = config.checksum;
  }

  /** An event for the endpoint's listeners. */
  emit(e: MptcpEvent): void {
    this.host.emit(e);
  }

  /** The endpoint's clock, ms. */
  now(): number {
    return this.host.now;
  }

  // ------------------------------------------------------------ application side

  get sendSpace(): number {
    return this.dataFinQueued ? 0 : this.config.sendBuffer - this.sendLen;
  }

  /** Copies up to `len` bytes into the connection's send buffer and offers them to the subflows. */
  send(data: Uint8Array, off = 0, len = data.length - off): number {
    if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 0 || off + len > data.length)
      throw new RangeError(`send: bad range off=${off} len=${len} of ${data.length} bytes`);
    if (this.dataFinQueued || this.closed) return 0;
    const n = Math.min(len, this.config.sendBuffer - this.sendLen);
    if (n <= 0) return 0;
    this.sendRing.copyIn(this.sendLen, data, off, n);
    this.sendLen += n;
    this.noteData();
    this.push();
    return n;
  }

  get readableBytes(): number {
    return this.readable;
  }

  /**
   * The data level's windows now (status pages, diagnostics; not per packet): bytes sent and not
   * DATA_ACKed, queued and not yet sent, the peer's window beyond DATA_ACK, the window we
   * advertise (receive autotuning's space) and what is received but not read.
   */
  windows(): { inFlight: number; unsent: number; peerWnd: number; rcvSpace: number; readable: number } {
    return {
      inFlight: this.sndNxt - this.sndUna,
      unsent: this.sendLen - (this.sndNxt - this.sndUna),
      peerWnd: this.sndWndRight - this.sndUna,
      rcvSpace: this.rcvSpace.space,
      readable: this.readable,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get readEnded(): boolean {
    return this.remoteFinDone && this.readable === 0;
  }

  recv(dst: Uint8Array, off = 0, max = dst.length - off): number {
    const n = Math.min(max, this.readable);
    if (n <= 0) return 0;
    this.recvRing.copyOut(0, dst, off, n);
    this.recvRing.advance(n);
    this.readable -= n;
    this.noteData();
    this.rcvSpace.onRead(n, this.now(), this.longestSrtt());
    if (this.readable === 0 && this.remoteFinDone) this.trimWhenFinished();
    else this.maybeWindowUpdate();
    return n;
  }

  /** Right edge of the connection-level window last advertised (DATA_ACK + window, 3.3.4). */
  private advRight = 0;

  /** A subflow just advertised DATA_ACK and the window: remember the right edge the peer knows. */
  noteWindowAdvertised(): void {
    const right = this.rcvNxt + this.receiveWindow;
    if (right > this.advRight) this.advRight = right;
  }

  /**
   * Reading opened the window: tell the peer only when the window it knows has fallen below half
   * the buffer and the update opens it by at least a quarter (receiver-side silly window
   * avoidance, RFC 9293 3.8.6.2.2, at the data level), and on one subflow only: an ACK on every
   * subflow per read would reach each sender as a duplicate ACK and trigger false fast
   * retransmits (RFC 5681 section 2).
   */
  private maybeWindowUpdate(): void {
    const known = this.advRight - this.rcvNxt;
    const half = this.rcvSpace.space / 2;
    if (known >= half || this.receiveWindow - known < half / 2) return;
    let best: Subflow | undefined;
    for (const sf of this.subflows) {
      if (!sf.canSend || sf.stale) continue;
      if (!best || sf.socket.rtt.srtt < best.socket.rtt.srtt) best = sf;
    }
    best?.windowOpened();
  }

  /** Ends the sending direction: a DATA_FIN follows the data (RFC 8684 3.3.3). */
  close(): void {
    if (this.dataFinQueued) return;
    this.dataFinQueued = true;
    this.push();
  }

  /** Our DATA_FIN is out and not yet acknowledged. */
  get dataFinPending(): boolean {
    return (
      this.dataFinQueued && !this.finAckedFlag && !this.fallback && !this.closed && this.unscheduled === 0
    );
  }

  /**
   * The DATA_FIN's retransmission timer (RFC 8684 3.3.3 leaves it to the connection level, as
   * Linux's MPTCP-level retransmit timer does: TCP does not retransmit the ACK it rode on): when
   * to signal it again, and the wait, doubled each time (0: not armed).
   */
  private finAt = Number.POSITIVE_INFINITY;
  private finWait = 0;

  /** Our DATA_FIN went out on an ACK: time it, unless a timer runs (its backoff goes on). */
  private armDataFin(): void {
    if (this.finWait > 0) return;
    let srtt = 0;
    for (const sf of this.subflows) srtt = Math.max(srtt, sf.socket.rtt.srtt);
    this.finWait = Math.max(300, 2 * srtt + 200);
    this.finAt = this.now() + this.finWait;
    this.refileTimer();
  }

  /** The DATA_FIN timer fired: signal it again on a subflow, if no DATA_ACK has covered it. */
  private dataFinTimeout(now: number): void {
    if (!this.dataFinPending) {
      this.finAt = Number.POSITIVE_INFINITY;
      this.finWait = 0;
      return;
    }
    this.finWait = Math.min(this.finWait * 2, 60_000);
    this.finAt = now + this.finWait;
    this.mib.DataFinRetrans++;
    this.dataFinSignalled = false;
    this.push();
  }

  /** Set once we abort: our RSTs carry MP_FASTCLOSE (RFC 8684 3.5). */
  fastclosing = false;

  /**
   * Aborts the connection: every subflow is reset, each RST carrying MP_FASTCLOSE with the peer's
   * key (RFC 8684 3.5, the form Linux uses), so that the peer drops the whole connection at once.
   */
  abort(): void {
    if (!this.fallback && this.remoteKey) this.fastclosing = true;
    for (const sf of [...this.subflows]) {
      sf.socket.abort();
      sf.wake();
    }
  }

  /** The peer's MP_FASTCLOSE: the connection is gone; reset whatever subflows are left. */
  onFastclose(from: Subflow): void {
    this.error ??= new TcpError('ECONNRESET', 'connection reset by peer (MP_FASTCLOSE)');
    this.peerFastclosed = true;
    for (const sf of [...this.subflows]) {
      if (sf === from && sf.socket.state === TcpState.Closed) continue;
      sf.socket.abort();
      sf.wake();
    }
  }
  peerFastclosed = false;

  // ------------------------------------------------------------ addresses (RFC 8684 3.4)

  // The three tables are made at their first entry: most connections (fallback ones, half-open
  // ones, clients of a HAG that announces nothing) never have one, and an empty Map is ~200 bytes.
  private remoteAddrMap: Map<number, AnnouncedAddr> | undefined;
  private localAddrMap: Map<number, AnnouncedAddr> | undefined;
  private pendingMap: Map<number, AnnouncedAddr> | undefined;
  /** Addresses the peer announced (ADD_ADDR with a valid HMAC), by address ID. */
  get remoteAddrs(): ReadonlyMap<number, AnnouncedAddr> {
    return this.remoteAddrMap ?? NO_ADDRS;
  }
  /** Addresses we announced, by address ID. */
  get localAddrs(): ReadonlyMap<number, AnnouncedAddr> {
    return this.localAddrMap ?? NO_ADDRS;
  }
  /** Our announcements not yet echoed, by address ID. */
  get pendingAnnounce(): ReadonlyMap<number, AnnouncedAddr> {
    return this.pendingMap ?? NO_ADDRS;
  }

  /**
   * Announces one of our addresses with ADD_ADDR (RFC 8684 3.4.1), with its HMAC; the path manager
   * calls again when no echo came. Returns false when no subflow can carry it.
   */
  announce(a: AnnouncedAddr): boolean {
    if (this.fallback || !this.remoteKey) return false;
    const sf = this.signalSubflow();
    if (!sf) return false;
    const hmac = addAddrHmac(this.local.key, this.remoteKey, a.id, a.addr, a.port ?? 0);
    sf.signal({ type: 'add_addr', echo: false, addressId: a.id, address: a.addr, port: a.port, hmac });
    this.pendingMap ??= new Map();
    this.pendingMap.set(a.id, a);
    this.localAddrMap ??= new Map();
    this.localAddrMap.set(a.id, a);
    this.mib.AddAddrTx++;
    return true;
  }

  /** The peer's ADD_ADDR, HMAC verified by the subflow: remember and echo it (3.4.1). */
  onAddAddr(sf: Subflow, a: AnnouncedAddr): void {
    this.mib.AddAddr++;
    const known = this.remoteAddrs.get(a.id);
    this.remoteAddrMap ??= new Map();
    this.remoteAddrMap.set(a.id, a);
    sf.signal({ type: 'add_addr', echo: true, addressId: a.id, address: a.addr, port: a.port });
    this.mib.EchoAddTx++;
    if (!known) this.emit({ type: 'announced', conn: this, addr: a });
  }

  onAddAddrEcho(id: number): void {
    if (!this.pendingMap?.delete(id)) return;
    this.mib.EchoAdd++;
  }

  /** Withdraws one of our addresses (REMOVE_ADDR, 3.4.2) and closes our subflows on it. */
  removeAddress(id: number): void {
    if (this.fallback) return;
    this.pendingMap?.delete(id);
    const sf = this.subflows.find((f) => f.canSend);
    if (sf) {
      sf.signal({ type: 'remove_addr', addressIds: [id] });
      this.mib.RmAddrTx++;
    }
    for (const f of [...this.subflows]) if (f.localId === id && this.subflows.length > 1) f.socket.close();
  }

  /** The peer withdrew addresses: subflows to them go (3.4.2). */
  onRemoveAddr(ids: readonly number[]): void {
    for (const id of ids) {
      this.mib.RmAddr++;
      const a = this.remoteAddrs.get(id);
      this.remoteAddrMap?.delete(id);
      for (const f of [...this.subflows]) {
        if (f.remoteId !== id || f.socket.state === TcpState.Closed) continue;
        this.mib.RmSubflow++;
        f.socket.abort();
        f.wake();
      }
      this.emit({ type: 'removed', conn: this, id, addr: a });
    }
  }

  /**
   * Falls back to plain TCP in mid connection (RFC 8684 3.7): no more DSS, so the subflow's own
   * window and acknowledgements are the connection's from now on.
   */
  enterFallback(): void {
    if (this.fallback) return;
    this.fallback = true;
    this.sndWndRight = Number.POSITIVE_INFINITY;
    this.emit({ type: 'fallback', conn: this });
    this.push();
  }

  /**
   * The peer dropped what it received from `dsn` on (it failed the DSS checksum, RFC 8684 3.7):
   * that data is scheduled again, as plain TCP after the infinite mapping.
   */
  resendFrom(dsn: number): void {
    if (dsn >= this.sndUna && dsn < this.sndNxt) this.sndNxt = dsn;
  }

  /** Changes our priority for `sf` and tells the peer with MP_PRIO (RFC 8684 3.3.8). */
  setBackup(sf: Subflow, backup: boolean): void {
    if (this.fallback || sf.backup === backup) return;
    sf.backup = backup;
    sf.signal({ type: 'mp_prio', backup });
    this.mib.MPPrioTx++;
    this.push();
  }

  // ------------------------------------------------------------ sending

  /** DSN of our DATA_FIN: the one after the last data byte. */
  get dataFinDsn(): number {
    return this.sndUna + this.sendLen;
  }

  /** Unscheduled bytes, DSN sndNxt on. */
  get unscheduled(): number {
    return this.sndUna + this.sendLen - this.sndNxt;
  }

  /** The subflows' coupled congestion controllers (LIA, OLIA), when configured: made at first use. */
  get ccGroup(): CouplingGroup {
    this.group ??= new CouplingGroup();
    return this.group;
  }
  private group: CouplingGroup | undefined;

  /** Which subflows take new data (src/mptcp/sched); min-RTT unless the application says otherwise. */
  scheduler: Scheduler = scheduler('min-rtt');
  /** The peer's address IDs (RFC 8684 3.2) on overflow uplinks, as its policy said (peerPolicy). */
  private peerOverflow: readonly number[] = [];
  /** The congestion control the peer's policy asks for per address ID of its (peerPolicy). */
  private peerCc: readonly PeerCc[] = [];

  /**
   * The peer's bonding policy for this connection (a HAG learns it from the CPE's Convert policy
   * TLV): its scheduler, which of the peer's addresses are overflow uplinks, and the congestion
   * control of our subflow toward each of its addresses. Applies to the subflows there are and to
   * those that join later.
   */
  peerPolicy(name: SchedulerName, overflowIds: readonly number[], cc: readonly PeerCc[] = []): void {
    this.scheduler = scheduler(name);
    this.peerOverflow = overflowIds;
    this.peerCc = cc;
    for (const sf of this.subflows) {
      sf.overflow = overflowIds.includes(sf.remoteId);
      this.followPeerCc(sf);
    }
  }

  private followPeerCc(sf: Subflow): void {
    for (const c of this.peerCc) if (c.id === sf.remoteId) sf.useCongestionControl(c.cc);
  }
  private readonly picked: Subflow[] = [];
  /**
   * Opportunistic retransmission and penalisation, when configured (sched/opportunistic.ts): made
   * when a pass first has new data for it, so a connection that sends nothing, or falls back, holds none.
   */
  private orp: OpportunisticRetransmission | undefined;
  /** Since when the primaries' windows have been full with data waiting (-1: they are not). */
  private primariesFullSince = -1;

  /** Subflows whose input record (Subflow.rx) holds what an input told them, not yet acted on. */
  private readonly inputs: Subflow[] = [];
  /** The connection acts at the end of the host's input or poll, or is acting now. */
  private due = false;
  /** Something asked for a scheduler pass since the last one. */
  private passWanted = false;

  /** A subflow recorded what a segment told it (sf.rx): the connection acts on it after the input. */
  noteInput(sf: Subflow): void {
    if (sf.rx.pending) return;
    sf.rx.pending = true;
    this.inputs.push(sf);
    this.actSoon();
  }

  /**
   * Asks for a scheduler pass. Inside the host's input or poll it waits for the end of it
   * (afterInput), however often asked, so that an input runs the scheduler once; else it runs now.
   */
  push(): void {
    this.passWanted = true;
    this.actSoon();
  }

  private actSoon(): void {
    if (this.due) return;
    if (this.host.defer(this)) {
      this.due = true;
      return;
    }
    this.act();
  }

  /** The host's input or poll is done: act on what it told the subflows, with one pass. */
  afterInput(): void {
    this.due = false;
    this.act();
  }

  /**
   * Reads the subflows' input records (DATA_ACK, window, DATA_FIN), then runs the scheduler once
   * if anything asked for it. What that wakes (the application writing into the room a DATA_ACK
   * made) runs no pass of its own: this one follows.
   */
  private act(): void {
    this.due = true;
    const inputs = this.inputs;
    for (let i = 0; i < inputs.length; i++) {
      const r = inputs[i].rx;
      if (r.dataAck >= 0) this.onDataAck(r.dataAck);
      if (r.windowRight >= 0) this.onWindow(r.windowRight);
      if (r.dataFin >= 0) this.onDataFin(r.dataFin);
      r.clear();
    }
    inputs.length = 0;
    this.due = false;
    if (!this.passWanted || this.closed) return;
    this.passWanted = false;
    this.pass();
  }

  /**
   * One scheduler pass: first what a dead or stalled subflow held (reinjection), then new data to
   * the subflows the scheduler picks, each up to about one congestion window ahead of what it has
   * in flight.
   */
  private pass(): void {
    this.mib.MPTCPSchedPasses++;
    if (this.reinjectQ.length) this.pushReinjections();
    const picked = this.picked;
    const n = this.fallback
      ? this.fallbackSubflows(picked)
      : this.scheduler.select(this.subflows, this.unscheduled, picked);
    const dup = this.scheduler.duplicate && !this.fallback;
    let first = -1;
    let firstLen = 0;
    // Not for primary-first: penalising a primary so that an overflow subflow takes more, or
    // copying the window's left edge onto an overflow uplink, spends the volume it is there to spare.
    const orp =
      this.fallback || dup || this.scheduler.name === 'primary-first' || !this.config.opportunistic
        ? undefined
        : this.opportunistic();
    const delay = this.fallback ? 0 : this.scheduler.overflowDelayMs;
    const now = orp || delay > 0 ? this.now() : 0;
    let primaries = 0;
    for (let i = 0; i < n; i++) {
      const sf = picked[i];
      const want = Math.min(this.unscheduled, Math.max(0, this.sendRight - this.sndNxt));
      if (delay > 0) {
        if (!sf.overflow) primaries++;
        else if (primaries > 0 && i > 0 && !picked[i - 1].overflow) {
          // The first overflow subflow: are the primaries full with data waiting, and how long?
          if (want === 0) this.primariesFullSince = -1;
          else if (this.primariesFullSince < 0) this.primariesFullSince = now;
        }
        if (
          sf.overflow &&
          primaries > 0 &&
          (this.primariesFullSince < 0 || now - this.primariesFullSince < delay)
        )
          continue;
      }
      if (dup && first >= 0) {
        // Redundant: the same bytes the first subflow took, as far as this one's window allows.
        const m = Math.min(firstLen, this.room(sf));
        if (m > 0) {
          sf.schedule(first, this.sendRing, first - this.sndUna, m);
          this.mib.MPTCPRedundantBytes += m;
        }
      } else if (want > 0) {
        // Limited by the congestion window (not by the data or the peer's window): whole segments.
        const room = this.room(sf);
        const m = want <= room ? want : sf.segmentRoom(room);
        if (m > 0) {
          const dsn = this.sndNxt;
          const took = sf.schedule(dsn, this.sendRing, dsn - this.sndUna, m);
          this.sndNxt += took;
          orp?.noteSent(sf, dsn, took, now);
          if (dup) {
            first = dsn;
            firstLen = took;
          }
        }
      }
      // In fallback the subflow's FIN is the end of the data (RFC 8684 3.7), once all of it is queued.
      if (this.fallback && this.dataFinQueued && this.unscheduled === 0) sf.socket.close();
    }
    // New data waits and the peer's window, not the subflows, holds it back (NSDI 2012, 4.2).
    if (orp && n > 0 && this.unscheduled > 0 && this.sendRight - this.sndNxt < picked[0].socket.mss)
      orp.onWindowBlocked(this, now);
    for (const sf of this.subflows) sf.wake();
    if (
      this.rtxAt === Number.POSITIVE_INFINITY &&
      !this.fallback &&
      (this.sndNxt > this.sndUna || this.windowBlocked)
    )
      this.armRetransmit(this.now() + this.retransmitWait());
    // The DATA_FIN rides on data or on an ACK (3.3.3). With all data out and nothing else to send,
    // ask a subflow for an ACK so that it leaves at all.
    if (this.dataFinQueued && !this.dataFinSignalled && !this.fallback && this.unscheduled === 0) {
      const sf = this.signalSubflow();
      if (sf) {
        this.dataFinSignalled = true;
        sf.ackNow();
        this.armDataFin();
      }
    }
  }

  /** The subflow to carry a signal on an ACK (DATA_FIN, ADD_ADDR): a working one if there is one. */
  private signalSubflow(): Subflow | undefined {
    return this.subflows.find((f) => f.canSend && !f.stale) ?? this.subflows.find((f) => f.canSend);
  }

  /** In fallback the one subflow carries everything (RFC 8684 3.7). */
  private fallbackSubflows(out: Subflow[]): number {
    let k = 0;
    for (const sf of this.subflows) if (sf.canSend) out[k++] = sf;
    out.length = k;
    return k;
  }

  /**
   * How much new data `sf` may take: about one congestion window ahead of its pipe (RFC 6675:
   * SACKed bytes and holes being repaired do not count, so that a subflow in loss recovery keeps
   * getting data rather than bursting a whole window when the hole is filled).
   */
  room(sf: Subflow): number {
    const sock = sf.socket;
    if (this.fallback || this.subflows.length === 1) return sock.sendSpace;
    const cwnd = sock.cc.window;
    const ahead = cwnd + sock.mss - sock.pipe() - sock.unsentBytes;
    // And all it holds (in flight, SACKed above a hole, unsent) within SUBFLOW_HOLD windows, as
    // Linux sizes a socket's send buffer from its cwnd (tcp_sndbuf_expand). The pipe leaves
    // SACKed bytes out, so a subflow whose retransmission was lost kept taking new data above the
    // hole until its RTO, up to the whole connection-level window, which the peer could not
    // deliver past the hole (simulated DSL 20 + LTE 40 Mbit/s, 4 MiB buffers: 2.8 MB held by an
    // LTE subflow whose window was 0.5 MB, the DSL idle for lack of window). TCP's 1 MiB send
    // buffer used to bound it, and with it the fast profile's bond.
    const held = SUBFLOW_HOLD * cwnd - sock.sendQueued;
    return Math.min(sock.sendSpace, Math.max(0, Math.floor(Math.min(ahead, held))));
  }

  /**
   * TCP Fast Open (RFC 8684 appendix B.1): up to `room` of the first bytes go into the initial
   * subflow for its SYN. Data in the SYN is not part of the data sequence space: the first byte
   * after it is IDSN + 1. That is how Linux reads appendix B.1 (net/mptcp/fastopen.c: its server
   * delivers the SYN's data ahead of IDSN + 1 and numbers subflow bytes from the end of it), and
   * what a peer must do to interoperate with it. So the SYN's bytes get the relative DSNs just
   * below 1, 1 - n to 0. Only while nothing else has been scheduled.
   */
  scheduleSynData(sf: Subflow, room: number): void {
    if (this.sndNxt !== 1 || this.sndUna !== 1 || this.subflows[0] !== sf || this.fallback) return;
    const n = Math.min(this.unscheduled, room, sf.socket.sendSpace);
    if (n <= 0) return;
    this.sndUna = 1 - n;
    this.sndNxt = 1 - n;
    this.sndNxt += sf.schedule(this.sndNxt, this.sendRing, 0, n);
  }

  /**
   * Client: the SYN/ACK acknowledged `acked` of the `sent` bytes our SYN carried. What it did not
   * take goes again as ordinary data, which starts at DSN 1 (appendix B.1): every DSN we gave
   * moves up by the difference. What it took is the server's (RFC 7413 4.2.2): outside the data
   * sequence space, no DSS can describe it, so it is done with here rather than at the first
   * DATA_ACK. Kept, it was sent again when that DATA_ACK was late (a server's first segment after
   * the handshake can be an ADD_ADDR with no room for one, 3.4.1): on the initial subflow before
   * the server confirmed our key, with MP_CAPABLE, which says DSN 1, so the server took it twice.
   */
  synDataSettled(sf: Subflow, sent: number, acked: number): void {
    const shift = sent - acked;
    if (shift > 0) {
      this.sndUna += shift;
      this.sndNxt += shift;
      sf.shiftSendMaps(shift);
    }
    if (acked > 0) this.onDataAck(1);
  }

  /**
   * Server: the SYN delivered `n` bytes (TCP Fast Open, appendix B.1). They come before IDSN + 1,
   * so the receive side starts n bytes earlier and the first DATA_ACK after them is IDSN + 1.
   */
  receiveSynData(n: number): void {
    if (this.rcvNxt === 1 && this.readable === 0) this.rcvNxt = 1 - n;
  }

  /** Puts data already sent once on `sf` again (opportunistic retransmission); returns how much. */
  resend(sf: Subflow, dsn: number, len: number): number {
    return sf.schedule(dsn, this.sendRing, dsn - this.sndUna, len);
  }

  /** Sends queued reinjections on the fastest eligible subflow other than the one they left. */
  private pushReinjections(): void {
    const q = this.reinjectQ;
    const ok = this.picked;
    const n = eligible(this.subflows, ok);
    while (q.length) {
      const r = q[0];
      if (r.dsn < this.sndUna) {
        const cut = Math.min(r.len, this.sndUna - r.dsn);
        r.dsn += cut;
        r.len -= cut;
      }
      if (r.len === 0) {
        q.shift();
        continue;
      }
      let best: Subflow | undefined;
      for (let i = 0; i < n; i++) {
        const sf = ok[i];
        if (sf === r.from || sf.socket.sendSpace === 0) continue;
        if (!best || sf.socket.rtt.srtt < best.socket.rtt.srtt) best = sf;
      }
      if (!best) return;
      const took = best.schedule(
        r.dsn,
        this.sendRing,
        r.dsn - this.sndUna,
        Math.min(r.len, best.socket.sendSpace),
      );
      if (took === 0) return;
      this.mib.MPTCPRetrans++;
      this.mib.MPTCPReinjectBytes += took;
      r.dsn += took;
      r.len -= took;
      best.wake();
    }
  }

  /**
   * Queues what `sf` carries that the peer has not acknowledged at the data level, to go again on
   * the other subflows (RFC 8684 3.3.6): the subflow died, stalled, or its link went down. With
   * `lostOnly` (its first retransmission timeout) not what its peer SACKed (Subflow.takeOutstanding).
   */
  reinjectFrom(sf: Subflow, lostOnly = false): void {
    if (this.fallback) return;
    sf.takeOutstanding(this.sndUna, (dsn, len) => this.reinjectQ.push({ dsn, len, from: sf }), lostOnly);
    // The DATA_FIN may have left on that subflow only: signal it again.
    this.dataFinSignalled = false;
    this.push();
  }

  /** A window advertisement: `right` is DATA_ACK plus the window (RFC 8684 3.3.4). */
  onWindow(right: number): void {
    if (right > this.sndWndRight) {
      // A probed window opens: the probe's backoff starts over.
      if (this.sndNxt <= this.sndUna && this.windowBlocked) {
        this.rtxProgressAt = this.now();
        this.rtxWait = 0;
      }
      this.sndWndRight = right;
      this.push();
    }
  }

  /** A DATA_ACK (relative): frees acknowledged bytes (RFC 8684 3.3.2). */
  onDataAck(ack: number): void {
    const limit = this.sndNxt + (this.dataFinQueued && this.unscheduled === 0 ? 1 : 0);
    if (ack <= this.sndUna || ack > limit) return;
    const data = Math.min(ack - this.sndUna, this.sendLen);
    this.sendRing.advance(data);
    this.sendLen -= data;
    this.sndUna += data;
    if (data > 0) {
      this.rtxProgressAt = this.now();
      this.rtxWait = 0;
    }
    this.orp?.acked(this.sndUna);
    if (data > 0) this.events.onWritable?.();
    if (this.dataFinQueued && ack > this.dataFinDsn) this.maybeCloseSubflows();
    this.push();
  }

  /**
   * Both directions finished at the data level: our DATA_FIN acknowledged and the peer's received
   * (RFC 8684 3.3.3). What happens to the subflows after that no longer matters to the data.
   */
  get finished(): boolean {
    return this.remoteFinDone && (this.finAckedFlag || this.fallback);
  }

  /** Whether our DATA_FIN has been acknowledged. */
  get dataFinAcked(): boolean {
    return this.dataFinQueued && this.sendLen === 0 && this.finAckedFlag;
  }
  private finAckedFlag = false;

  /** Both directions done at the data level: the buffers go back (what is unread stays). */
  private trimWhenFinished(): void {
    if (!this.finished) return;
    if (this.sendLen === 0) this.sendRing.release();
    if (this.readable === 0) this.recvRing.release();
  }

  private maybeCloseSubflows(): void {
    this.finAckedFlag = true;
    this.finAt = Number.POSITIVE_INFINITY;
    this.finWait = 0;
    this.refileTimer();
    this.trimWhenFinished();
    // RFC 8684 3.3.3: once the DATA_FIN is acknowledged and the peer's DATA_FIN received, the
    // subflows close with ordinary FINs; nothing reads them any more (orphans: FIN-WAIT-2 is bounded).
    if (this.remoteFinDone) for (const sf of this.subflows) sf.socket.orphan(this.now());
  }

  // ------------------------------------------------------------ data-level retransmission

  /**
   * When the data-level retransmission timer fires (Infinity: not armed), for the endpoint's timer
   * table. Data a subflow's peer acknowledged can still be lost to the connection: Linux drops
   * in-window data after its subflow acknowledged it (seen: what lies beyond the connection-level
   * window it believes it advertised, MPTcpExtNoDSSInWindow), and no subflow sends it again, so
   * its DATA_ACK stays put for good. RFC 8684 3.3.6 leaves recovery to the data level; as Linux's
   * MPTCP retransmit timer does, the oldest data that no DATA_ACK covered for a timeout, and that
   * no working subflow still has in flight, goes again, with exponential backoff. The same timer
   * probes a window that holds new data back while nothing is outstanding: the update that opens
   * it rides on a pure ACK, which a loss takes for good (Linux's MPTcpExtWinProbe; TCP's persist
   * timer, RFC 9293 3.8.6.1, does not see it, the subflow having nothing queued).
   */
  private rtxAt = Number.POSITIVE_INFINITY;
  /** The earlier of the connection's timers (data-level retransmission, DATA_FIN, idle trim), for the host's table. */
  pollAt = Number.POSITIVE_INFINITY;
  /** Current timeout after a retransmission (backed off); 0: the subflows' RTO. */
  private rtxWait = 0;
  /** When the DATA_ACK last moved, or the timer last acted. */
  private rtxProgressAt = 0;

  private armRetransmit(at: number): void {
    this.rtxAt = at;
    this.refileTimer();
  }

  /**
   * When the connection's buffers go back if no data moved since the last look (IDLE_TRIM_MS
   * apart): armed by the first data after an idle period, so an idle connection has no timer.
   */
  private trimAt = Number.POSITIVE_INFINITY;
  /** Data moved (the application sent or read, or the peer's data arrived) since trimAt was set. */
  private dataMoved = false;

  /** Data moved: at most once per idle period this arms the idle trim. */
  private noteData(): void {
    this.dataMoved = true;
    if (this.trimAt !== Number.POSITIVE_INFINITY) return;
    this.trimAt = this.now() + IDLE_TRIM_MS;
    this.refileTimer();
  }

  /**
   * No data moved for IDLE_TRIM_MS: the memory that only traffic needs goes back (the rings,
   * shrunk to what they hold, or released; the opportunistic scheduler's sent ranges and the
   * subflows' mapping tables when empty). It grows again, in one step, with the next data.
   */
  private trimIdle(now: number): void {
    if (this.dataMoved) {
      this.dataMoved = false;
      this.trimAt = now + IDLE_TRIM_MS;
      return;
    }
    this.trimMemory();
    // Still holding some (data not yet acknowledged, or not yet read): look again a period later,
    // as the TCP stack does for its sockets; a DATA_ACK is no data moving and arms nothing.
    this.trimAt = this.bufferMemory > 0 ? now + IDLE_TRIM_MS : Number.POSITIVE_INFINITY;
  }

  /** Gives back buffer memory the connection holds beyond its bytes (see trimIdle). */
  trimMemory(): void {
    this.sendRing.shrink(this.sendLen);
    // Out-of-order bytes sit beyond `readable` at their place: the ring keeps its size then.
    if (this.ooo.isEmpty) this.recvRing.shrink(this.readable);
    this.orp?.trimMemory();
    for (const sf of this.subflows) sf.trimMemory();
    // The scheduler's subflows of one pass are scratch (each pass sets them): at length 0 V8 drops
    // the array's backing store (17 slots, 152 bytes, from its first pass); the next pass grows it.
    this.picked.length = 0;
  }

  /** Memory the connection holds for traffic (its rings, sent ranges, its subflows' mapping tables), in bytes. */
  get bufferMemory(): number {
    let n = this.sendRing.allocated + this.recvRing.allocated + (this.orp?.memory ?? 0);
    for (const sf of this.subflows) n += sf.mappingMemory;
    return n;
  }

  /** Files the earlier of the timers in the host's table when it moved (stale entries are skipped there). */
  private refileTimer(): void {
    const at = Math.min(this.rtxAt, this.finAt, this.trimAt);
    if (at === this.pollAt) return;
    this.pollAt = at;
    this.host.connTimers.push(at, this);
  }

  /** The host's table says a timer of this connection is due: the DATA_FIN's, then the data's. */
  handleTimeout(now: number): void {
    this.pollAt = Number.POSITIVE_INFINITY;
    if (this.finAt <= now) this.dataFinTimeout(now);
    if (this.rtxAt <= now) this.retransmitTimeout(now);
    if (this.trimAt <= now) this.trimIdle(now);
    this.refileTimer();
  }

  /**
   * The timeout: the longest RTO of the working subflows (RFC 6298), or the backed-off one. A
   * stale subflow's RTO, backed off on a dead path, is not counted (Linux's
   * mptcp_timeout_from_subflow skips subflows with stale losses) unless every subflow is stale.
   */
  private retransmitWait(): number {
    if (this.rtxWait > 0) return this.rtxWait;
    let rto = 0;
    let anyRto = DATA_RTX_MIN;
    for (const sf of this.subflows) {
      const r = sf.socket.rtt.rto;
      anyRto = Math.max(anyRto, r);
      if (sf.canSend && !sf.stale) rto = Math.max(rto, r);
    }
    return Math.min(rto > 0 ? Math.max(rto, DATA_RTX_MIN) : anyRto, DATA_RTX_MAX);
  }

  /** The connection's opportunistic retransmission, made once there is new data to send. */
  private opportunistic(): OpportunisticRetransmission | undefined {
    if (!this.orp && this.unscheduled > 0) this.orp = new OpportunisticRetransmission();
    return this.orp;
  }

  /** New data waits and the peer's connection-level window is what holds it back. */
  private get windowBlocked(): boolean {
    return this.unscheduled > 0 && this.sendRight <= this.sndNxt;
  }

  /** How far new data may go: the peer's window less its reserve (see WINDOW_RESERVE_SHIFT). */
  private get sendRight(): number {
    const right = this.sndWndRight;
    if (right === Number.POSITIVE_INFINITY) return right;
    return right - (Math.max(0, right - this.sndUna) >>> WINDOW_RESERVE_SHIFT);
  }

  /** The data-level retransmission timer fired. */
  private retransmitTimeout(now: number): void {
    this.rtxAt = Number.POSITIVE_INFINITY;
    const probe = this.sndNxt <= this.sndUna;
    if (this.fallback || this.closed || (probe && !this.windowBlocked)) return;
    const wait = this.retransmitWait();
    // The DATA_ACK moved since the timer was set: count from then.
    if (now < this.rtxProgressAt + wait) {
      this.armRetransmit(this.rtxProgressAt + wait);
      return;
    }
    // A subflow still has it in flight: its own retransmission (RFC 6298) brings it. None goes
    // again on a subflow whose peer is falling back (see Subflow.awaitingFallback).
    const una = this.sndUna;
    let best: Subflow | undefined;
    for (const sf of this.subflows) {
      if (!sf.canSend || sf.stale || sf.awaitingFallback) continue;
      if (sf.inFlight(una)) {
        this.armRetransmit(now + wait);
        return;
      }
      if (!best || sf.socket.rtt.srtt < best.socket.rtt.srtt) best = sf;
    }
    if (best && probe) {
      this.mib.WinProbe++;
      best.probe();
    } else if (best) {
      const took = this.resend(best, una, Math.min(this.sndNxt - una, DATA_RTX_CHUNK, best.socket.sendSpace));
      if (took > 0) {
        this.mib.MPTCPRetrans++;
        this.mib.MPTCPReinjectBytes += took;
        best.wake();
      }
    }
    this.rtxWait = Math.min(2 * wait, DATA_RTX_MAX);
    this.rtxProgressAt = now;
    this.armRetransmit(now + this.rtxWait);
  }

  // ------------------------------------------------------------ receiving

  /** The DATA_ACK to send: everything before rcvNxt (plus the DATA_FIN once consumed). */
  get dataAck(): number {
    return this.rcvNxt;
  }

  /** Bytes the peer may still send beyond DATA_ACK (the connection-level window, RFC 8684 3.3.4). */
  get receiveWindow(): number {
    return Math.max(0, this.rcvSpace.space - this.readable);
  }

  /** The longest smoothed RTT of the subflows (ms; 100 before any sample). */
  private longestSrtt(): number {
    let r = 0;
    for (const sf of this.subflows) if (sf.socket.rtt.srtt > r) r = sf.socket.rtt.srtt;
    return r > 0 ? r : 100;
  }

  /**
   * Bytes that arrived in order on a subflow, at data sequence number `dsn` (RFC 8684 3.3: data
   * is reassembled in DSN order across subflows; duplicates and what lies beyond the window are
   * dropped). Returns how many of them were new.
   */
  receive(dsn: number, buf: Uint8Array, off: number, len: number): void {
    let start = dsn;
    let o = off;
    let n = len;
    if (start < this.rcvNxt) {
      const skip = this.rcvNxt - start;
      if (skip >= n) return;
      start += skip;
      o += skip;
      n -= skip;
    }
    const rel = start - this.rcvNxt;
    // What the buffer holds, not only what the window offered (rcv-space.ts): lenient in what we
    // accept, as the ring is the buffer's size anyway.
    const room = this.config.recvBuffer - this.readable;
    if (rel + n > room) this.mib.NoDSSInWindow++;
    if (rel >= room) return;
    n = Math.min(n, room - rel);
    this.noteData();
    if (rel === 0) {
      this.recvRing.copyIn(this.readable, buf, o, n);
      const adv = this.ooo.advance(n);
      this.rcvNxt += adv;
      this.readable += adv;
      this.checkRemoteFin();
      this.events.onReadable?.();
    } else if (this.ooo.add(rel, rel + n)) {
      this.recvRing.copyIn(this.readable + rel, buf, o, n);
    }
  }

  /** The peer's DATA_FIN at `dsn` (RFC 8684 3.3.3). */
  onDataFin(dsn: number): void {
    if (this.remoteFinDsn < 0) this.remoteFinDsn = dsn;
    this.checkRemoteFin();
  }

  private checkRemoteFin(): void {
    if (this.remoteFinDone || this.remoteFinDsn < 0 || this.rcvNxt !== this.remoteFinDsn) return;
    this.remoteFinDone = true;
    this.rcvNxt += 1;
    for (const sf of this.subflows) sf.ackNow();
    this.events.onEnd?.();
    if (this.finAckedFlag) for (const sf of this.subflows) sf.socket.orphan(this.now());
    this.trimWhenFinished();
  }

  // ------------------------------------------------------------ subflow notifications

  /** Runs `fn` once the connection is fully established (at once if it is). */
  whenFullyEstablished(fn: () => void): void {
    if (this.fullyEstablished) fn();
    else this.onFully.push(fn);
  }

  markFullyEstablished(): void {
    if (this.fullyEstablished) return;
    this.fullyEstablished = true;
    for (const fn of this.onFully.splice(0)) fn();
  }

  subflowEstablished(sf: Subflow): void {
    // The window of the handshake, until DATA_ACKs bring newer ones; in fallback TCP's own rules.
    this.onWindow(this.fallback ? Number.POSITIVE_INFINITY : this.sndUna + sf.socket.sndWnd);
    if (!this.established) {
      this.established = true;
      this.emit({ type: 'established', conn: this });
      if (this.fallback) this.emit({ type: 'fallback', conn: this });
      this.events.onEstablished?.();
    }
    if (this.peerOverflow.length > 0) sf.overflow = this.peerOverflow.includes(sf.remoteId);
    this.followPeerCc(sf);
    this.emit({ type: 'sub-established', conn: this, subflow: sf });
    this.push();
  }

  /**
   * A join's third ACK carried a valid HMAC (RFC 8684 3.2): it becomes a subflow, unless the
   * connection is gone or already has all the subflows it may have. Returns whether it did.
   */
  takeJoin(sf: Subflow): boolean {
    if (this.closed || this.subflows.length >= this.maxSubflows) {
      this.mib.MPJoinRejected++;
      return false; // it stays a half-open join until its reset closes it
    }
    this.joining.splice(this.joining.indexOf(sf), 1);
    this.subflows.push(sf);
    return true;
  }

  subflowClosed(sf: Subflow, err?: TcpError): void {
    const j = this.joining.indexOf(sf);
    if (j >= 0) {
      this.joining.splice(j, 1); // a half-open join that never was a subflow
      this.host.subflowGone(this, sf);
      return;
    }
    const i = this.subflows.indexOf(sf);
    if (i >= 0) this.subflows.splice(i, 1);
    for (const r of this.reinjectQ) if (r.from === sf) r.from = undefined;
    this.orp?.forget(sf);
    if (this.subflows.length > 0 && !this.finished) this.reinjectFrom(sf);
    this.emit({ type: 'sub-closed', conn: this, subflow: sf, error: err });
    if (this.subflows.length === 0 && !this.closed) {
      this.closed = true;
      this.rtxAt = Number.POSITIVE_INFINITY;
      this.finAt = Number.POSITIVE_INFINITY;
      this.pollAt = Number.POSITIVE_INFINITY;
      this.error = this.finished ? undefined : this.peerFastclosed ? this.error : err;
      this.emit({ type: 'closed', conn: this, error: this.error });
      this.events.onClose?.(this.error);
    }
    this.host.subflowGone(this, sf);
  }
}
