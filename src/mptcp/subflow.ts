// One MPTCP subflow: a TCP connection (src/tcp) with the MPTCP option riding on its segments
// through the TcpExtension hooks. It carries the MP_CAPABLE handshake (RFC 8684 3.1), maps the
// bytes it sends to data sequence numbers and signals those mappings, the DATA_ACK and the
// DATA_FIN in DSS options (3.3), and turns the peer's mappings back into data-level bytes for the
// connection. When the peer does not speak MPTCP it falls back to plain TCP (3.7). With TCP Fast
// Open the initial SYN carries the connection's first bytes, outside the data sequence space as
// Linux has it (appendix B.1): DSN IDSN + 1 and relative SSN 1 come after them.

import { addAddrHmac, hmacEqual, joinAckHmac, joinSynAckHmac } from '../crypto/hmac.js';
import { keyIdsn, keyToken } from '../crypto/keys.js';
import type { CongestionControlName } from '../tcp/cc/index.js';
import type { TcpExtension } from '../tcp/extension.js';
import type { ByteRing } from '../tcp/ring.js';
import type { SegmentIn } from '../tcp/segment.js';
import { seqDiff } from '../tcp/seq.js';
import type { TcpError, TcpSocket, TcpSocketEvents } from '../tcp/socket.js';
import { TcpState } from '../tcp/state.js';
import type { Waker } from '../tcp/stream.js';
import { setU32 } from '../wire/bytes.js';
import { dssChecksum, sumWords } from '../wire/checksum.js';
import { DSS_FLAG, type Dss } from '../wire/mptcp/dss.js';
import { MPC_FLAG } from '../wire/mptcp/mp-capable.js';
import { emitMpFastclose } from '../wire/mptcp/mp-fastclose.js';
import { emitMpTcprst, TCPRST_REASON } from '../wire/mptcp/mp-tcprst.js';
import { emitMptcpOption, type MptcpOption, MptcpOptionView, mptcpOptionLen } from '../wire/mptcp/option.js';
import { MPTCP_SUBTYPE, TCPOPT_MPTCP } from '../wire/mptcp/subtype.js';
import { Lia } from './cc/lia.js';
import { Olia } from './cc/olia.js';
import type { MptcpConnection } from './connection.js';
import { expand32, fromWire, toWire, type Wire64 } from './dsn.js';
import { InputRecord } from './input-record.js';
import { MAP_FULL, NO_CSUM, RecvMaps } from './recv-maps.js';

const SYN = 0x02;
const RST = 0x04;

/** A run of subflow bytes sent and the data sequence numbers they carry. `off` counts from the first data byte. */
interface Mapping {
  off: number;
  dsn: number;
  len: number;
  /** Announced to the peer, so fixed from then on (no more data joins it). */
  sent?: boolean;
  /**
   * With the DSS checksum: the unfolded sum of the mapping's payload, taken when it was first
   * sent. A part sent again carries the whole mapping with it, as every piece of a super-segment
   * does (Linux copies a segment's mapping onto each part it retransmits).
   */
  sum?: number;
}

/** The MP_JOIN state of an additional subflow (RFC 8684 3.2). */
export interface JoinState {
  /** Our address ID and the peer's for this subflow. */
  localId: number;
  remoteId: number;
  backup: boolean;
  nonceLocal: number;
  nonceRemote: number;
  /**
   * Client: the server acknowledged our third ACK, so the subflow may carry data. Server: the
   * third ACK's HMAC verified.
   */
  confirmed: boolean;
}

/**
 * One receive scratch buffer for all subflows (a mapping is at most 64 KB): the core is
 * single-threaded and pull() copies out of it before it returns, so 1,000 connections do not
 * cost 64 MB of scratch.
 */
const SCRATCH = new Uint8Array(64 * 1024);
/** An un-SACKed range TcpSocket.unsackedIn finds (takeOutstanding): read at once. */
const HOLE = new Float64Array(2);
/**
 * The option parser, shared by every subflow as SCRATCH is: a view is filled and read within the
 * handling of one segment, and a segment's handling never starts another's. One per subflow was
 * ten objects (about 700 bytes) for each connection, idle or half-open.
 */
const VIEW = new MptcpOptionView();

/** DSS with a 4-byte DATA_ACK and an 8-byte DSN: 22 bytes, 24 with the checksum (RFC 8684 fig. 9). */
const DSS_MAP_LEN = 22;
/** DSS_MAP_LEN padded, the largest DSS we send. */
const DSS_MAP_ROOM = 24;
const DSS_ACK_LEN = 8;
/** A mapping's data-level length is 16 bits (RFC 8684 3.3.1). */
const MAX_MAP_LEN = 0xffff;
/**
 * Received mappings kept per subflow: one per 512 bytes of the subflow's receive buffer (the
 * mappings of data not yet read can only cover that much; a sender with the checksum on sends one
 * per segment), as the connection's reassembly keeps ranges.
 */
const RECV_MAP_BYTES = 512;

export class Subflow implements TcpExtension, TcpSocketEvents {
  /** What the segment being processed told this subflow at the data level, for its connection. */
  readonly rx = new InputRecord();
  private readonly view = VIEW;
  private readonly wire: Wire64 = { high: 0, low: 0 };
  private readonly sendMaps: Mapping[] = [];
  /** The peer's mappings for bytes not yet read (recv-maps.ts). */
  private readonly recvMaps: RecvMaps;
  /** How many of the peer's mappings this subflow keeps now. */
  get keptMappings(): number {
    return this.recvMaps.count;
  }
  /** Bytes the table of the peer's mappings takes. */
  get mappingMemory(): number {
    return this.recvMaps.memory;
  }
  /** The connection went idle: the mapping table's arrays go back when it keeps none. */
  trimMemory(): void {
    this.recvMaps.freeArrays();
  }
  /** Subflow data offset just past the last byte scheduled onto this subflow. */
  private scheduledEnd = 0;
  /** Subflow data offset up to which data was handed back for reinjection. */
  private reinjectedEnd = 0;
  /**
   * Timed out with data outstanding and no ACK since: the scheduler avoids it and what it held
   * goes again on the others (Linux's "stale" subflow, net.mptcp.stale_loss_cnt).
   */
  stale = false;
  /**
   * Whether this subflow is a backup (RFC 8684 3.3.8): set by our MP_JOIN's B flag or MP_PRIO, or
   * by the peer's (it asks us not to send on it while others work).
   */
  backup = false;
  /** On an overflow uplink: the primary-first scheduler fills it only after the primaries. */
  overflow = false;
  /** Why we reset this subflow, sent as MP_TCPRST on our RST (RFC 8684 3.6). */
  rstReason: number | undefined;
  /** A join refused while its SYN/ACK is processed: reset with this reason once synchronized. */
  private resetOnEstablished: number | undefined;
  /** The reason the peer gave in the MP_TCPRST of its RST, if any. */
  peerRstReason: number | undefined;
  /** Options waiting to go out on this subflow (ADD_ADDR, REMOVE_ADDR, MP_PRIO, MP_FAIL), encoded. */
  private readonly signals: Uint8Array[] = [];
  /**
   * The layout optionsLen() chose for the segment being written (emit() calls writeOptions right
   * after it): DSS bytes, signal bytes, the send mapping and whether the DATA_FIN rides along.
   */
  private layoutDss = 0;
  private layoutSig = 0;
  private layoutMap: Mapping | undefined;
  private layoutFin = false;
  /** Subflow data offset of the next byte to read out of the socket. */
  private readOff = 0;
  /** Client: the server has shown it holds our key (a DSS arrived); until then MP_CAPABLE repeats. */
  private keysConfirmed = false;
  /**
   * TCP Fast Open data the SYN delivered (RFC 8684 appendix B.1): the bytes our SYN carried that
   * the SYN/ACK acknowledged (client, sending) and the bytes the peer's SYN carried (server,
   * receiving); 0 for joins and without it. They are outside the data sequence space (Linux's
   * ssn_offset moves past them), so the relative subflow sequence number on the wire (DSS mapping,
   * checksum pseudo-header, MP_CAPABLE's implied mapping) is our data offset + 1 - the base.
   */
  sendSsnBase = 0;
  recvSsnBase = 0;
  /** Receive scratch, shared by every subflow: used only within one synchronous pull(). */
  private readonly tmp = SCRATCH;

  constructor(
    readonly conn: MptcpConnection,
    readonly socket: TcpSocket,
    private readonly waker: Waker,
    readonly join?: JoinState,
  ) {
    socket.ext = this;
    this.recvMaps = new RecvMaps(16 + Math.ceil(socket.config.recvBuffer / RECV_MAP_BYTES));
    // The connection decides what to send and when (it keeps whole segments together): Nagle
    // on the subflow would only hold back the tail of a burst.
    socket.noDelay = true;
    // A join the peer opened is a subflow only once its third ACK proves it (RFC 8684 3.2).
    if (join && conn.role === 'server') conn.joining.push(this);
    else conn.subflows.push(this);
    if (join) this.backup = join.backup;
    // The subflow is its socket's events object: its methods, no closures per subflow.
    socket.events = this;
  }

  // ------------------------------------------------------------ the socket's events (TcpSocketEvents)

  onEstablished(): void {
    if (this.resetOnEstablished !== undefined) this.reset(this.resetOnEstablished);
    else if (!this.join || this.isClient) this.joined();
    // else the third ACK's MP_JOIN decides, in onJoinAck.
  }

  onReadable(): void {
    this.pull();
  }

  onEnd(): void {
    this.onSubflowFin();
  }

  onWritable(): void {
    this.onSubflowAck();
  }

  onClose(err?: TcpError): void {
    if (this.socket.cc instanceof Lia) this.socket.cc.leave();
    this.conn.subflowClosed(this, err);
  }

  /** The subflow is established and part of its connection. */
  private joined(): void {
    this.coupleCongestion();
    this.conn.subflowEstablished(this);
  }

  get isClient(): boolean {
    return this.conn.role === 'client';
  }

  get canSend(): boolean {
    const s = this.socket.state;
    if (this.join && !this.join.confirmed) return false;
    return s === TcpState.Established || s === TcpState.CloseWait || this.sendsEarly;
  }

  /**
   * Server, TCP Fast Open: the initial subflow took the SYN's data and may answer before the third
   * ACK (RFC 7413 4.2.2; RFC 8684 appendix B), where the application allows it (answersEarly).
   * Its mappings are ours alone to number (our IDSN); the DATA_ACK waits for the client's key.
   */
  private get sendsEarly(): boolean {
    return (
      this.socket.state === TcpState.SynReceived &&
      this.conn.answersEarly &&
      !this.isClient &&
      !this.join &&
      !this.conn.fallback &&
      this.socket.synDataLen > 0
    );
  }

  /**
   * We sent MP_FAIL and wait for the peer's infinite mapping (RFC 8684 3.7): the peer falls back,
   * and a fallen-back peer sends no DATA_ACK and takes every subflow byte as new data, so data
   * sent again at the data level on this subflow would reach its application twice.
   */
  get awaitingFallback(): boolean {
    return this.failed;
  }

  wake(): void {
    this.waker.wake(this.socket);
  }

  ackNow(): void {
    this.socket.requestAck();
    this.wake();
  }

  /** Elicits an ACK from the peer, which brings its DATA_ACK and window (RFC 8684 3.3.4). */
  probe(): void {
    this.socket.requestProbe();
    this.wake();
  }

  windowOpened(): void {
    this.socket.requestAck();
    this.wake();
  }

  // ------------------------------------------------------------ handshake (RFC 8684 3.1)

  private mpcFlags(): number {
    const c = this.conn;
    return (
      MPC_FLAG.hmacSha256 |
      (c.checksum ? MPC_FLAG.checksum : 0) |
      (c.config.denyJoinToSource ? MPC_FLAG.noNewSubflowsToSource : 0)
    );
  }

  writeSynOptions(buf: Uint8Array, off: number, room: number, synAck: boolean): number {
    if (this.join) return this.writeJoinSyn(buf, off, room, synAck);
    if (this.conn.fallback) return 0;
    const len = synAck ? 12 : 4;
    if (room < len) return 0;
    buf[off] = TCPOPT_MPTCP;
    buf[off + 1] = len;
    buf[off + 2] = (MPTCP_SUBTYPE.mpCapable << 4) | 1; // version 1
    buf[off + 3] = this.mpcFlags();
    if (synAck) buf.set(this.conn.local.key, off + 4);
    else this.conn.mib.MPCapableSYNTX++;
    return len;
  }

  synOptionsLen(synAck: boolean): number {
    if (this.join) return this.conn.remoteKey ? (synAck ? 16 : 12) : 0;
    if (this.conn.fallback) return 0;
    return synAck ? 12 : 4;
  }

  /**
   * Client, TCP Fast Open (RFC 8684 appendix B): the connection's first bytes ride in the initial
   * subflow's SYN. Joins carry no data in their SYN.
   */
  prepareSynData(room: number): void {
    if (this.join || !this.isClient) return;
    this.conn.scheduleSynData(this, room);
  }

  onSyn(seg: SegmentIn, synAck: boolean): void {
    if (this.join) {
      if (synAck) this.onJoinSynAck(seg);
      return;
    }
    if (synAck && this.isClient) this.settleSynData();
    const v = this.findMpc(seg);
    if (!v) {
      // RFC 8684 3.7: no MP_CAPABLE in the SYN or SYN/ACK: plain TCP from here on.
      this.conn.fallback = true;
      if (synAck) this.conn.mib.MPCapableFallbackSYNACK++;
      return;
    }
    if (v.flags & MPC_FLAG.checksum) this.conn.checksum = true; // 3.1: either side's A flag
    // 3.1: C, no new subflows to the source address of this packet (the initial subflow's peer).
    if (v.flags & MPC_FLAG.noNewSubflowsToSource) this.conn.peerDeniesJoinToSource = true;
    if (synAck) {
      this.conn.mib.MPCapableSYNACKRX++;
      if (!v.hasSenderKey) {
        this.conn.fallback = true;
        return;
      }
      this.learnRemoteKey(v.b.subarray(v.senderKeyOff, v.senderKeyOff + 8));
    } else {
      this.conn.mib.MPCapableSYNRX++;
      // RFC 8684 appendix B.1: data in a SYN (TCP Fast Open) is delivered first and lies outside
      // the data sequence space: the byte after it is IDSN + 1 and has relative subflow sequence
      // number 1 (as Linux's mptcp_fastopen_subflow_synack_set_params numbers it). Here it gets
      // the relative DSNs just below 1, without a checksum (the SYN has no room for one).
      const n = this.socket.synDataLen;
      if (n > 0) {
        this.recvSsnBase = n;
        this.fallbackDelta = 1 - n;
        this.conn.receiveSynData(n);
        this.recvMaps.add(0, 1 - n, n, NO_CSUM, n);
        // The answer may go before the handshake ends (sendsEarly): into the SYN's window.
        this.conn.onWindow(this.conn.sndUna + this.socket.sndWnd);
      }
    }
  }

  /**
   * Client, once the SYN/ACK has said how much of our SYN's data it took (TCP Fast Open): that
   * much is outside the data sequence space (appendix B.1), the rest goes again from DSN 1. The
   * SYN's data keeps a mapping of its own that is never announced (no DSS describes it).
   */
  private settleSynData(): void {
    const sent = this.socket.synDataLen;
    if (this.join || sent === 0) return;
    const acked = this.socket.synDataAcked;
    this.conn.synDataSettled(this, sent, acked);
    this.sendSsnBase = acked;
    this.sendDelta = 1 - acked;
    if (acked > 0) this.sealSendMaps(acked);
  }

  /** Client: moves the DSNs of everything scheduled here up by `shift` (see settleSynData). */
  shiftSendMaps(shift: number): void {
    for (const m of this.sendMaps) m.dsn += shift;
  }

  /** The MP_CAPABLE option of a segment, version 1, or undefined. */
  private findMpc(seg: SegmentIn) {
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (this.view.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (this.view.subtype === MPTCP_SUBTYPE.mpCapable && this.view.mpCapable.version === 1)
        return this.view.mpCapable;
    }
    return undefined;
  }

  // ------------------------------------------------------------ MP_JOIN (RFC 8684 3.2)

  /** Client SYN: the server's token and our nonce; server SYN/ACK: our truncated HMAC and nonce. */
  private writeJoinSyn(buf: Uint8Array, off: number, room: number, synAck: boolean): number {
    const j = this.join!;
    const c = this.conn;
    const len = synAck ? 16 : 12;
    if (room < len || !c.remoteKey) return 0;
    buf[off] = TCPOPT_MPTCP;
    buf[off + 1] = len;
    buf[off + 2] = (MPTCP_SUBTYPE.mpJoin << 4) | (j.backup ? 1 : 0);
    buf[off + 3] = j.localId;
    if (synAck) {
      buf.set(joinSynAckHmac(c.local.key, c.remoteKey, j.nonceLocal, j.nonceRemote), off + 4);
      setU32(buf, off + 12, j.nonceLocal);
    } else {
      setU32(buf, off + 4, keyToken(c.remoteKey));
      setU32(buf, off + 8, j.nonceLocal);
      c.mib.MPJoinSynTx++;
    }
    return len;
  }

  /** Client: the SYN/ACK must carry the server's HMAC over both nonces, else the subflow is reset. */
  private onJoinSynAck(seg: SegmentIn): void {
    const c = this.conn;
    const j = this.join!;
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (this.view.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (this.view.subtype !== MPTCP_SUBTYPE.mpJoin || this.view.mpJoin.form !== 'synack') continue;
      const v = this.view.mpJoin;
      c.mib.MPJoinSynAckRx++;
      j.nonceRemote = v.nonce;
      j.remoteId = v.addressId;
      const want = joinSynAckHmac(c.remoteKey!, c.local.key, j.nonceRemote, j.nonceLocal);
      if (hmacEqual(want, v.b.subarray(v.hmacOff, v.hmacOff + 8))) return;
      c.mib.MPJoinSynAckHMacFailure++;
      break;
    }
    // No MP_JOIN, or a bad HMAC: this subflow cannot join (RFC 8684 3.2). The SYN/ACK is still
    // being processed: the RST, with MP_TCPRST, goes out once the socket has its sequence numbers.
    this.resetOnEstablished = TCPRST_REASON.mptcpError;
  }

  /** Client third ACK (24 bytes): our full HMAC, repeated until the server acknowledges it. */
  private writeJoinAck(buf: Uint8Array, off: number): void {
    const c = this.conn;
    const j = this.join!;
    buf[off] = TCPOPT_MPTCP;
    buf[off + 1] = 24;
    buf[off + 2] = MPTCP_SUBTYPE.mpJoin << 4;
    buf[off + 3] = 0;
    buf.set(joinAckHmac(c.local.key, c.remoteKey!, j.nonceLocal, j.nonceRemote), off + 4);
  }

  /**
   * Server, at the third ACK (RFC 8684 3.2): its MP_JOIN's HMAC proves the client holds the keys;
   * without the option or with a wrong HMAC the subflow is reset. A proven join becomes a subflow
   * if the connection has room for it (only established joins count against the limit).
   */
  private onJoinAck(seg: SegmentIn): void {
    const c = this.conn;
    const j = this.join!;
    const v = this.view;
    let i = 0;
    for (; i < seg.mptcpCount; i++) {
      if (v.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (v.subtype === MPTCP_SUBTYPE.mpJoin && v.mpJoin.form === 'ack') break;
    }
    const found = i < seg.mptcpCount;
    if (found) c.mib.MPJoinAckRx++;
    const m = v.mpJoin;
    const want = joinAckHmac(c.remoteKey!, c.local.key, j.nonceRemote, j.nonceLocal);
    if (!found || !hmacEqual(want, m.b.subarray(m.hmacOff, m.hmacOff + 20))) {
      c.mib.MPJoinAckHMacFailure++;
      this.reset(TCPRST_REASON.mptcpError);
      return;
    }
    if (!c.takeJoin(this)) {
      this.reset(TCPRST_REASON.administrativelyProhibited);
      return;
    }
    j.confirmed = true;
    this.joined();
    this.ackNow(); // the fourth ACK, which lets the client send data on this subflow
  }

  private learnRemoteKey(key: Uint8Array): void {
    this.conn.remoteKey = Uint8Array.from(key);
    this.conn.remoteIdsn = keyIdsn(this.conn.remoteKey);
  }

  // ------------------------------------------------------------ sending

  /**
   * Puts up to `len` bytes of the connection's send ring (from `off`) onto this subflow as DSN
   * `dsn`; returns how many it took.
   */
  schedule(dsn: number, ring: ByteRing, off: number, len: number): number {
    let taken = 0;
    ring.forEachRun(off, len, (b, o, n) => {
      taken += this.socket.send(b, o, n);
    });
    // Data contiguous at both levels joins the last mapping while none of it has left, so that
    // one mapping covers many segments (one DSS with a mapping per mapping, not per segment).
    const last = this.openMap(dsn);
    const cap = this.mapCap();
    let at = this.scheduledEnd;
    let left = taken;
    let d = dsn;
    if (last) {
      const n = Math.min(left, cap - last.len);
      last.len += n;
      at += n;
      d += n;
      left -= n;
    }
    while (left > 0) {
      const n = Math.min(left, cap);
      this.sendMaps.push({ off: at, dsn: d, len: n });
      at += n;
      d += n;
      left -= n;
    }
    this.scheduledEnd += taken;
    return taken;
  }

  /** The last send mapping if data at `dsn` may still join it: contiguous and not yet announced. */
  private openMap(dsn: number): Mapping | undefined {
    const last = this.sendMaps[this.sendMaps.length - 1];
    return last && !last.sent && last.off + last.len === this.scheduledEnd && last.dsn + last.len === dsn
      ? last
      : undefined;
  }

  /**
   * Payload of a full segment where a mapping starts (with the checksum every segment has its
   * mapping; in fallback none has).
   */
  private firstSegment(): number {
    return this.conn.fallback ? this.socket.mss : this.socket.mss - DSS_MAP_ROOM;
  }

  /**
   * Payload of a full segment after a mapping's first, which carries only the DATA_ACK; or the
   * mapping too: with the checksum, and in a super-segment (whose pieces all carry its header).
   */
  private nextSegment(): number {
    const mss = this.socket.mss;
    if (this.conn.fallback) return mss;
    return this.conn.checksum || this.socket.superSegments ? mss - DSS_MAP_ROOM : mss - DSS_ACK_LEN;
  }

  /** The longest run of whole segments, from a mapping's start, within `len` bytes (0: none). */
  private segmentEnd(len: number): number {
    const f = this.firstSegment();
    const p = this.nextSegment();
    return len < f ? 0 : f + Math.floor((len - f) / p) * p;
  }

  /** The longest mapping we send: whole segments, within the 16-bit data-level length. */
  private mapCap(): number {
    return this.segmentEnd(MAX_MAP_LEN);
  }

  /**
   * How many of `room` new bytes to take so that what this subflow holds ends where a full
   * segment ends: a congestion window that grew by a few bytes would otherwise go out as a
   * segment of a few bytes (a third of all segments before this). 0 when not one segment fits;
   * the ACKs of what is in flight bring more room.
   */
  segmentRoom(room: number): number {
    const cap = this.mapCap();
    // The mapping new data joins (not yet announced), or a new one.
    let l = this.openMap(this.conn.sndNxt)?.len ?? 0;
    let left = room;
    let n = 0;
    for (;;) {
      const space = cap - l;
      if (left >= space) {
        n += space;
        left -= space;
        l = 0;
        continue;
      }
      const end = this.segmentEnd(l + left);
      if (end > l) n += end - l;
      return n;
    }
  }

  /**
   * Hands the DSN ranges this subflow carries that are not yet acknowledged at the data level
   * (from `dataUna` on) to `out`: for reinjection (3.3.6).
   */
  takeOutstanding(dataUna: number, out: (dsn: number, len: number) => void, lostOnly = false): void {
    // Everything not DATA_ACKed goes, also what the subflow's peer acknowledged: a peer whose
    // subflow stalls may never move that data up to its connection (seen with Linux: its
    // DATA_ACK stayed put while our other subflow sat idle). A closed subflow hands back all of
    // it again; a stalled one each range once.
    // `lostOnly` (a first RTO, the path perhaps only congested): not the ranges above snd.una the
    // peer SACKed. They have arrived, and move up once the subflow's own retransmission fills
    // the hole below them; sending them again on another uplink (a tail loss after a queue
    // overflow: up to a window behind one hole) is the waste of issue 14. They stay for a later
    // call, which takes everything (Linux waits stale_loss_cnt RTOs before it reinjects at all).
    const closed = this.socket.state === TcpState.Closed;
    const from = closed ? 0 : this.reinjectedEnd;
    const una = lostOnly ? this.dataOff(this.socket.sndUna) : Number.POSITIVE_INFINITY;
    for (const m of this.sendMaps) {
      const a = Math.max(m.off, from);
      const b = m.off + m.len;
      if (a >= b) continue;
      // What lies below snd.una, then the holes above it (RFC 6675's scoreboard).
      if (a < una) this.emitOutstanding(m, a, Math.min(b, una), dataUna, out);
      for (
        let x = Math.max(a, una) - una;
        x < b - una && this.socket.unsackedIn(x, b - una, HOLE);
        x = HOLE[1]
      )
        this.emitOutstanding(m, una + HOLE[0], una + HOLE[1], dataUna, out);
    }
    if (!lostOnly) this.reinjectedEnd = Math.max(this.reinjectedEnd, this.scheduledEnd);
  }

  /** Hands subflow offsets [a, b) of mapping `m`, less what is DATA_ACKed, to `out`. */
  private emitOutstanding(
    m: Mapping,
    a: number,
    b: number,
    dataUna: number,
    out: (dsn: number, len: number) => void,
  ): void {
    let dsn = m.dsn + (a - m.off);
    let len = b - a;
    if (dsn < dataUna) {
      const cut = Math.min(len, dataUna - dsn);
      dsn += cut;
      len -= cut;
    }
    if (len > 0) out(dsn, len);
  }

  /** Whether this subflow carries data sequence number `dsn` and its peer has not yet acknowledged it. */
  inFlight(dsn: number): boolean {
    const acked = this.dataOff(this.socket.sndUna);
    for (const m of this.sendMaps)
      if (dsn >= m.dsn && dsn < m.dsn + m.len && m.off + (dsn - m.dsn) >= acked) return true;
    return false;
  }

  /**
   * The peer's policy asks for congestion control `name` on this subflow: taken when the
   * subflows run uncoupled (LIA and OLIA couple them all, and the config chose that).
   */
  useCongestionControl(name: CongestionControlName): void {
    if (this.conn.config.congestion !== 'uncoupled') return;
    this.socket.setCongestionControl(name);
  }

  /** With LIA or OLIA configured, this subflow's window joins the connection's coupled group. */
  private coupleCongestion(): void {
    const kind = this.conn.config.congestion;
    if (kind === 'uncoupled' || this.conn.fallback) return;
    const s = this.socket;
    const start = { window: s.cc.window, ssthresh: s.cc.ssthresh };
    s.cc =
      kind === 'lia' ? new Lia(s.mss, this.conn.ccGroup, start) : new Olia(s.mss, this.conn.ccGroup, start);
  }

  /** The retransmission timer fired with data outstanding: the path may be dead. */
  onTimeout(retries: number): void {
    if (this.conn.fallback) return;
    this.stale = true;
    this.conn.emit({ type: 'sub-stale', conn: this.conn, subflow: this });
    this.conn.reinjectFrom(this, retries === 1);
  }

  /** Subflow data offset of sequence number `seq` (the first data byte is offset 0). */
  private dataOff(seq: number): number {
    return seqDiff(seq, this.socket.iss) - 1;
  }

  private mappingAt(off: number): Mapping | undefined {
    // Forget mappings acknowledged at the subflow and at the data level (kept until then for
    // reinjection should the subflow die).
    const acked = this.dataOff(this.socket.sndUna);
    const dataUna = this.conn.sndUna;
    for (;;) {
      const m = this.sendMaps[0];
      if (this.sendMaps.length <= 1 || m.off + m.len > acked || m.dsn + m.len > dataUna) break;
      this.sendMaps.shift();
    }
    for (const m of this.sendMaps) if (off >= m.off && off < m.off + m.len) return m;
    return undefined;
  }

  limitPayload(seq: number, len: number): number {
    const off = this.dataOff(seq);
    if (this.conn.fallback && !this.beforeInfiniteMap(off)) return len;
    // A segment ends where its mapping ends, and where the infinite mapping starts (the last
    // mapping before it may have grown past it).
    const m = this.mappingAt(off);
    const n = m ? Math.min(len, m.off + m.len - off) : len;
    const at = this.infiniteOff;
    return at > off && off + n > at ? at - off : n;
  }

  /**
   * The DSS room a data segment at `seq` needs: a whole mapping where one starts, else only the
   * DATA_ACK. Linux sends the mapping on every segment of a burst; sending it once per mapping
   * (RFC 8684 3.3.1 allows a mapping to cover many segments) gives 16 more payload bytes to the
   * other segments of a long transfer.
   */
  optionSpace(seq: number): number {
    const off = this.dataOff(seq);
    if (this.conn.fallback && !this.beforeInfiniteMap(off))
      return this.carriesInfiniteMap(off) ? DSS_MAP_ROOM : 0;
    return this.needsMapping(off, this.mappingAt(off)) ? DSS_MAP_ROOM : DSS_ACK_LEN;
  }

  /**
   * Whether a data segment at subflow offset `off` carries its mapping: with the checksum every
   * segment has its own (the checksum covers exactly its payload); otherwise only the first
   * segment of a mapping, with the mapping whole, also when sent again (Linux takes a repeated
   * mapping only if identical). A receiver reads a subflow in order, so it meets that first
   * segment before the others; a segment sent again is cut where it was first cut, so that a
   * loss in recovery costs one segment, not two.
   */
  private needsMapping(off: number, m: Mapping | undefined): boolean {
    if (this.conn.checksum) return true;
    return m === undefined || m.off === off || !m.sent;
  }

  /** Whether this segment ends exactly where the connection's data ends, so it can carry the DATA_FIN. */
  private carriesDataFin(off: number, len: number, m: Mapping | undefined): boolean {
    const c = this.conn;
    if (!c.dataFinQueued || c.unscheduled > 0 || c.dataFinAcked) return false;
    if (len === 0) return true;
    if (m === undefined || m.dsn + (off - m.off) + len !== c.dataFinDsn) return false;
    // A whole mapping with the DATA_FIN must be the one first sent: only a segment that is all of
    // it takes the DATA_FIN along; otherwise it goes on an ACK after the data (3.3.3). With the
    // checksum, a mapping's first segment is all of it.
    return this.conn.checksum ? off === m.off && (len === m.len || !m.sent) : off === m.off && len === m.len;
  }

  optionsLen(seq: number, len: number, flags: number, room: number): number {
    const dss = this.dssLen(seq, len, flags);
    let sig = 0;
    let base = dss;
    if (this.signals.length && len === 0 && !(flags & (SYN | RST))) {
      const want = (this.signals[0].length + 3) & ~3;
      // Beside the DSS if it fits; alone when only a DATA_ACK would be left out (3.4.1: the
      // ADD_ADDR of an IPv6 address with its HMAC leaves no room for anything else). Our MP_FAIL
      // goes alone always: a segment with MP_FAIL and no DATA_ACK says its bytes were discarded
      // (see onMpFail).
      if (this.signals[0][2] >> 4 === MPTCP_SUBTYPE.mpFail && want <= room) {
        sig = want;
        base = 0;
      } else if (dss + want <= room) sig = want;
      else if (want <= room && dss <= DSS_ACK_LEN) {
        sig = want;
        base = 0;
      }
    }
    this.layoutDss = base;
    this.layoutSig = sig;
    return base + sig;
  }

  /** Queues an option for the next segment without data (RFC 8684 3.4, 3.3.8, 3.7). */
  signal(opt: MptcpOption): void {
    const b = new Uint8Array(mptcpOptionLen(opt));
    emitMptcpOption(opt, b, 0);
    this.signals.push(b);
    this.socket.requestPureAck();
    this.wake();
  }

  /** MP_FASTCLOSE and MP_TCPRST on the RSTs we send (RFC 8684 3.5, 3.6). */
  writeRstOptions(buf: Uint8Array, off: number, room: number): number {
    let o = off;
    const c = this.conn;
    if (c.fastclosing && c.remoteKey && room >= 12) {
      o += emitMpFastclose({ type: 'mp_fastclose', receiverKey: c.remoteKey }, buf, o);
      c.mib.MPFastcloseTx++;
    }
    if (this.rstReason !== undefined && !c.fallback && room - (o - off) >= 4) {
      o += emitMpTcprst({ type: 'mp_tcprst', flags: 0, reason: this.rstReason }, buf, o);
      c.mib.MPRstTx++;
    }
    return o - off;
  }

  /** The peer's RST: MP_TCPRST says why; MP_FASTCLOSE closes the whole connection (3.5). */
  onRst(seg: SegmentIn): void {
    const v = this.view;
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (v.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (v.subtype === MPTCP_SUBTYPE.mpTcprst) {
        this.peerRstReason = v.mpTcprst.reason;
        this.conn.mib.MPRstRx++;
      } else if (v.subtype === MPTCP_SUBTYPE.mpFastclose) {
        this.onFastclose();
      }
    }
  }

  /** MP_FASTCLOSE with our key: the peer aborted the connection; every subflow goes (3.5). */
  private onFastclose(): void {
    const c = this.conn;
    const key = this.view.mpFastclose;
    const k = c.local.key;
    for (let i = 0; i < 8; i++) if (key.b[key.keyOff + i] !== k[i]) return;
    c.mib.MPFastcloseRx++;
    c.onFastclose(this);
  }

  /** Resets this subflow saying why (MP_TCPRST). */
  reset(reason: number): void {
    this.rstReason = reason;
    this.socket.abort();
    this.wake();
  }

  private dssLen(seq: number, len: number, flags: number): number {
    if (flags & (SYN | RST)) return 0;
    if (this.conn.fallback && !(len > 0 && this.beforeInfiniteMap(this.dataOff(seq))))
      return len > 0 && this.carriesInfiniteMap(this.dataOff(seq)) ? DSS_MAP_ROOM : 0;
    if (this.join && this.isClient && !this.join.confirmed) return 24;
    if (this.sendsMpcAck(seq)) return len > 0 ? 24 : 20;
    // Before the client's key (data sent early, sendsEarly) a DSS has mappings but no DATA_ACK.
    const early = !this.conn.remoteKey;
    if (early && !this.sendsEarly) return 0;
    const off = this.dataOff(seq);
    const m = len > 0 ? this.mappingAt(off) : undefined;
    this.layoutFin = this.carriesDataFin(off, len, m);
    this.layoutMap = m !== undefined && this.needsMapping(off, m) ? m : undefined;
    if (!(this.layoutMap !== undefined || this.layoutFin)) return early ? 0 : DSS_ACK_LEN;
    return DSS_MAP_ROOM; // 22 bytes, or 24 with the checksum, padded to 24
  }

  /**
   * Client: the third ACK, and the first data until the server has shown it has our key. The first
   * data is at subflow offset 0, or right after what the SYN carried when the SYN/ACK acknowledged
   * it (TCP Fast Open, RFC 8684 appendix B): the third ACK then still carries both keys.
   */
  private sendsMpcAck(seq: number): boolean {
    if (this.join || !this.isClient || this.keysConfirmed || this.conn.fallback || !this.conn.remoteKey)
      return false;
    return this.dataOff(seq) === this.socket.synDataAcked;
  }

  writeOptions(
    buf: Uint8Array,
    off: number,
    seq: number,
    len: number,
    _flags: number,
    payloadOff: number,
  ): void {
    const total = this.layoutDss;
    if (this.layoutSig > 0) {
      const b = this.signals.shift()!;
      const at = off + total;
      buf.set(b, at);
      buf.fill(1, at + b.length, at + this.layoutSig); // NOP padding
      if (this.signals.length) this.socket.requestPureAck();
    }
    if (total === 0) return;
    if (this.conn.fallback && !(len > 0 && this.beforeInfiniteMap(this.dataOff(seq)))) {
      // The infinite mapping, on the data segment it starts at (see onMpFail).
      const n = emitMptcpOption(this.infiniteMap!, buf, off);
      buf.fill(1, off + n, off + total);
      return;
    }
    if (this.join && this.isClient && !this.join.confirmed) {
      this.writeJoinAck(buf, off);
      return;
    }
    if (this.sendsMpcAck(seq)) {
      // The MP_CAPABLE's implied mapping is this segment alone (3.1): the data after it starts a
      // mapping of its own (also when this is a shorter copy sent again: the rest of what the
      // first copy covered then goes with a DSS mapping). With the checksum a shorter copy keeps
      // the first copy's mapping whole (its checksum covers all of it).
      const at = this.dataOff(seq);
      let m = len > 0 ? this.mappingAt(at) : undefined;
      if (len > 0 && !(this.conn.checksum && m?.sum !== undefined && m.off === at)) {
        this.sealSendMaps(at + len);
        m = this.mappingAt(at);
      }
      this.writeMpcAck(buf, off, len, payloadOff, m);
      return;
    }
    const c = this.conn;
    const dOff = this.dataOff(seq);
    const m = this.layoutMap;
    const fin = this.layoutFin;
    const mapped = (len > 0 && m !== undefined) || fin;
    // No DATA_ACK before the client's key: its IDSN is not known yet (sendsEarly).
    const acks = c.remoteKey !== undefined;
    let o = off;
    const optLen =
      (mapped ? (c.checksum ? DSS_MAP_LEN + 2 : DSS_MAP_LEN) : DSS_ACK_LEN) - (acks ? 0 : DSS_ACK_LEN - 4);
    buf[o] = TCPOPT_MPTCP;
    buf[o + 1] = optLen;
    buf[o + 2] = MPTCP_SUBTYPE.dss << 4;
    buf[o + 3] =
      (acks ? DSS_FLAG.dataAck : 0) |
      (mapped ? DSS_FLAG.mapping | DSS_FLAG.dsn8 : 0) |
      (fin ? DSS_FLAG.dataFin : 0);
    o += 4;
    if (acks) {
      // DATA_ACK, 4 bytes: the low 32 bits of the 64-bit value (RFC 8684 3.3.1).
      toWire(c.remoteIdsn, c.dataAck, this.wire);
      c.noteWindowAdvertised();
      setU32(buf, o, this.wire.low);
      o += 4;
    }
    if (mapped) {
      // The whole mapping, now fixed (with the checksum, one per segment first sent: it is the
      // mapping every piece of a super-segment carries, and a part sent again). Plus one for a
      // DATA_FIN (3.3.3: without data, SSN 0).
      let dsn = c.dataFinDsn;
      let ssn = 0;
      let dll = fin ? 1 : 0;
      let sum = 0;
      if (len > 0 && m) {
        if (!m.sent) this.announce(m, dOff, len);
        if (c.checksum) {
          m.sum ??= sumWords(buf, payloadOff, len);
          sum = m.sum;
        }
        dsn = m.dsn;
        ssn = m.off + 1 - this.sendSsnBase; // appendix B.1: after the SYN's data
        dll += m.len;
      }
      toWire(c.local.idsn, dsn, this.wire);
      setU32(buf, o, this.wire.high);
      setU32(buf, o + 4, this.wire.low);
      setU32(buf, o + 8, ssn);
      buf[o + 12] = dll >> 8;
      buf[o + 13] = dll;
      o += 14;
      if (c.checksum) {
        const csum = dssChecksum(this.wire.high, this.wire.low, ssn, dll, 0, sum);
        buf[o] = csum >> 8;
        buf[o + 1] = csum;
        o += 2;
      }
    }
    while (o < off + total) buf[o++] = 1; // NOP padding
  }

  /**
   * Fixes mapping `m` as its first segment [off, off+len) leaves. When that segment is full, the
   * mapping ends where a full segment ends (the others carry 16 bytes more payload, having only
   * the DATA_ACK); the rest starts the next mapping, which later data may still join, so that no
   * segment is cut short at a mapping's end while the window is full.
   */
  private announce(m: Mapping, off: number, len: number): void {
    // With the checksum the mapping is exactly this segment, which is what the checksum covers.
    if (this.conn.checksum) this.cutSendMap(off + len);
    else if (off === m.off && len === this.firstSegment() && m.len > len)
      this.cutSendMap(m.off + this.segmentEnd(m.len));
    m.sent = true;
  }

  /**
   * Fixes the send mappings before subflow offset `at`: the bytes before it went with a mapping of
   * their own (the SYN's data, the MP_CAPABLE's implied mapping), so no mapping announced later
   * may cover them again, and no later data may join them.
   */
  private sealSendMaps(at: number): void {
    this.cutSendMap(at);
    for (const m of this.sendMaps) {
      if (m.off >= at) break;
      m.sent = true;
    }
  }

  /** Splits the send mapping that spans subflow offset `at` there; the part before it is sent. */
  private cutSendMap(at: number): void {
    const maps = this.sendMaps;
    for (let i = 0; i < maps.length; i++) {
      const m = maps[i];
      if (at <= m.off || at >= m.off + m.len) continue;
      const head = at - m.off;
      maps.splice(i + 1, 0, { off: at, dsn: m.dsn + head, len: m.len - head });
      m.len = head;
      m.sent = true;
      return;
    }
  }

  /** MP_CAPABLE with both keys (third ACK, 20 bytes), with the data-level length on data (22/24). */
  private writeMpcAck(
    buf: Uint8Array,
    off: number,
    len: number,
    payloadOff: number,
    m: Mapping | undefined,
  ): void {
    const c = this.conn;
    const optLen = len > 0 ? (c.checksum ? 24 : 22) : 20;
    buf[off] = TCPOPT_MPTCP;
    buf[off + 1] = optLen;
    buf[off + 2] = (MPTCP_SUBTYPE.mpCapable << 4) | 1;
    buf[off + 3] = this.mpcFlags();
    buf.set(c.local.key, off + 4);
    buf.set(c.remoteKey!, off + 12);
    let o = off + 20;
    if (len > 0) {
      // With the checksum, a shorter copy sent again keeps the first copy's length and sum.
      const whole = c.checksum && m !== undefined && m.sum !== undefined;
      const dll = whole ? m.len : len;
      buf[o] = dll >> 8;
      buf[o + 1] = dll;
      o += 2;
      if (c.checksum) {
        // The implied mapping: DSN IDSN + 1, SSN 1, this segment's length (RFC 8684 3.1), also
        // after data the SYN carried (appendix B.1: that data precedes both).
        const payload = whole ? m.sum! : sumWords(buf, payloadOff, len);
        if (m && m.len === len) m.sum = payload;
        toWire(c.local.idsn, 1, this.wire);
        const sum = dssChecksum(this.wire.high, this.wire.low, 1, dll, 0, payload);
        buf[o] = sum >> 8;
        buf[o + 1] = sum;
        o += 2;
      }
    }
    while (o < off + (len > 0 ? 24 : 20)) buf[o++] = 1;
  }

  // ------------------------------------------------------------ receiving

  onSegment(seg: SegmentIn): void {
    if (this.conn.fallback) return;
    if (seg.mptcpCount === 0) this.noOptionSegment();
    else this.bareSegs = 0;
    const j = this.join;
    if (j && !j.confirmed) {
      // Server: the third ACK. Client: any segment after the handshake acknowledges our third
      // ACK, the fourth ACK (3.2).
      if (!this.isClient) {
        this.onJoinAck(seg);
        return;
      }
      j.confirmed = true;
      this.conn.push();
    }
    for (let i = 0; i < seg.mptcpCount; i++) {
      const v = this.view;
      if (v.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (v.subtype === MPTCP_SUBTYPE.mpCapable) this.onMpcAck(seg);
      else if (v.subtype === MPTCP_SUBTYPE.dss) this.onDss(seg);
      else if (v.subtype === MPTCP_SUBTYPE.mpPrio) this.onPrio();
      else if (v.subtype === MPTCP_SUBTYPE.mpFail) this.onMpFail(seg);
      else if (v.subtype === MPTCP_SUBTYPE.addAddr) this.onAddAddr();
      else if (v.subtype === MPTCP_SUBTYPE.removeAddr) this.onRemoveAddr();
      else if (v.subtype === MPTCP_SUBTYPE.mpFastclose) this.onFastclose();
    }
  }

  /** Our address ID for this subflow (0 for the initial one, RFC 8684 3.4.1). */
  get localId(): number {
    return this.join?.localId ?? 0;
  }

  /** The peer's address ID for this subflow. */
  get remoteId(): number {
    return this.join?.remoteId ?? 0;
  }

  /** ADD_ADDR (RFC 8684 3.4.1): an echo of ours, or the peer's announcement with its HMAC. */
  private onAddAddr(): void {
    const c = this.conn;
    const v = this.view.addAddr;
    if (v.echo) {
      c.onAddAddrEcho(v.addressId);
      return;
    }
    if (!c.remoteKey || !v.hasHmac) {
      c.mib.AddAddrDrop++;
      return;
    }
    // A copy: the packet buffer is reused by the driver (Buffer.slice would be a view).
    const addr = Uint8Array.from(v.b.subarray(v.addrOff, v.addrOff + v.addrLen));
    const port = v.hasPort ? v.port : undefined;
    const want = addAddrHmac(c.remoteKey, c.local.key, v.addressId, addr, port ?? 0);
    if (!hmacEqual(want, v.b.subarray(v.hmacOff, v.hmacOff + 8))) {
      c.mib.AddAddrDrop++;
      return;
    }
    c.onAddAddr(this, { id: v.addressId, addr, port });
  }

  /** REMOVE_ADDR (RFC 8684 3.4.2). */
  private onRemoveAddr(): void {
    const v = this.view.removeAddr;
    const ids: number[] = [];
    for (let i = 0; i < v.count; i++) ids.push(v.addressId(i));
    this.conn.onRemoveAddr(ids);
  }

  /** MP_PRIO (RFC 8684 3.3.8): the peer wants this subflow used as a backup, or no longer. */
  private onPrio(): void {
    const c = this.conn;
    c.mib.MPPrioRx++;
    this.backup = this.view.mpPrio.backup;
    c.emit({ type: 'sub-priority', conn: c, subflow: this });
    c.push();
  }

  /** Server: the third ACK or first data with both keys (RFC 8684 3.1). */
  private onMpcAck(seg: SegmentIn): void {
    const v = this.view.mpCapable;
    if (this.isClient || !v.hasReceiverKey) return;
    if (!this.conn.remoteKey) {
      this.learnRemoteKey(v.b.subarray(v.senderKeyOff, v.senderKeyOff + 8));
      this.conn.mib.MPCapableACKRX++;
      const early = this.earlyMaps;
      this.earlyMaps = undefined;
      if (early)
        // Only mappings that came on data were kept: the segment's length no longer matters (1).
        for (const m of early) this.takeMapping(m.high, m.low, m.ssn, m.dll, m.fin, m.csum, m.segOff, 1);
      // A DSS back tells the client we hold its key, so it may open more subflows at once.
      this.ackNow();
    }
    this.conn.markFullyEstablished();
    if (v.hasDataLen && seg.len > 0) {
      // The implied mapping (RFC 8684 3.1): DSN IDSN + 1, relative SSN 1, both counted after data
      // the SYN carried (TCP Fast Open, appendix B.1), on whichever segment it comes. It may cover
      // more than this segment: Linux maps a whole GSO burst and repeats the option, with the
      // burst's length and checksum, on every segment of it until it sees our DSS.
      const csum = this.conn.checksum && v.hasChecksum ? v.checksum : NO_CSUM;
      const off = this.recvSsnBase;
      this.addRecvMap(off, 1, v.dataLen, csum, v.dataLen, this.dataOffIn(seg.seq), seg.len);
    }
  }

  private dataOffIn(seq: number): number {
    return seqDiff(seq, this.socket.irs) - 1;
  }

  private onDss(seg: SegmentIn): void {
    const c = this.conn;
    const d = this.view.dss;
    if (!c.remoteKey) {
      // Server: the client's third ACK was lost and its data (after TCP Fast Open data, whose
      // mapping is implicit) came first. Keep the mapping until the key arrives to read it by.
      if (!this.isClient && !this.join && d.hasMapping && seg.len > 0 && (this.earlyMaps?.length ?? 0) < 64) {
        this.earlyMaps ??= [];
        this.earlyMaps.push({
          high: d.dsn8 ? d.dsnHigh : -1,
          low: d.dsnLow,
          ssn: d.ssn,
          dll: d.dataLen,
          fin: d.dataFin,
          csum: c.checksum && d.hasChecksum ? d.checksum : NO_CSUM,
          segOff: this.dataOffIn(seg.seq),
        });
      }
      return;
    }
    // A DATA_ACK shows that the server holds our key; a DSS sent before it had it has none.
    if (this.isClient && !this.join && d.hasDataAck && !this.keysConfirmed) {
      this.keysConfirmed = true;
      c.markFullyEstablished();
      // Our ACKs until now carried MP_CAPABLE, no DATA_ACK (3.1): data the server sent before it
      // had our key (TCP Fast Open, appendix B) is acknowledged at the data level only now.
      if (c.dataAck > 1) this.ackNow();
    }
    if (this.join && !this.join.confirmed && !this.isClient) return; // no data before the join is proven
    if (d.hasDataAck) {
      const ack = d.dataAck8
        ? fromWire(c.local.idsn, d.dataAckHigh, d.dataAckLow)
        : expand32(c.local.idsn, d.dataAckLow, c.sndNxt);
      if (ack >= 0) this.recordDataAck(ack, ack + this.socket.sndWnd);
    }
    if (!d.hasMapping) return;
    this.takeMapping(
      d.dsn8 ? d.dsnHigh : -1,
      d.dsnLow,
      d.ssn,
      d.dataLen,
      d.dataFin,
      c.checksum && d.hasChecksum ? d.checksum : NO_CSUM,
      this.dataOffIn(seg.seq),
      seg.len,
    );
  }

  /** Server: DSS mappings that arrived before the client's key (see onDss). */
  private earlyMaps:
    | { high: number; low: number; ssn: number; dll: number; fin: boolean; csum: number; segOff: number }[]
    | undefined;

  /**
   * A received DSS mapping (3.3.1); `high` is -1 for a 4-byte DSN. It came on a segment of
   * `segLen` bytes at subflow offset `segOff`.
   */
  private takeMapping(
    high: number,
    low: number,
    ssn: number,
    dll: number,
    fin: boolean,
    csum: number,
    segOff: number,
    segLen: number,
  ): void {
    const c = this.conn;
    const dsn = high >= 0 ? fromWire(c.remoteIdsn, high, low) : expand32(c.remoteIdsn, low, c.rcvNxt);
    if (dsn < 0) return;
    if (dll === 0 && !fin) {
      this.onInfiniteMapping(dsn, ssn);
      return;
    }
    if (fin) {
      this.recordDataFin(dsn + dll - 1);
      if (ssn === 0 && dll === 1) return; // a DATA_FIN with no data (3.3.3)
    }
    if (this.failed) {
      // The sender has not heard our MP_FAIL yet (it would have stopped mapping): say it again,
      // once a round trip.
      this.repeatMpFail();
      return;
    }
    const dataLen = dll - (fin ? 1 : 0);
    // Relative SSNs count from after the SYN's data (appendix B.1).
    if (dataLen > 0) this.addRecvMap(ssn - 1 + this.recvSsnBase, dsn, dataLen, csum, dll, segOff, segLen);
  }

  /**
   * An infinite mapping (3.7): from subflow sequence number `ssn` (0: from what we read next) the
   * subflow's bytes are the data, in order, from `dsn` on. After our MP_FAIL the sender sends the
   * bytes that failed again from there; one that goes on past them (as Linux does, which delivers
   * them) would leave a hole in the data that nothing fills: the connection cannot go on.
   */
  private onInfiniteMapping(dsn: number, ssn: number): void {
    const c = this.conn;
    c.mib.InfiniteMapRx++;
    if (this.failed && dsn > c.rcvNxt) {
      c.mib.InfiniteMapGap++;
      this.reset(TCPRST_REASON.mptcpError);
      return;
    }
    this.failed = false;
    this.enterFallback(dsn - (ssn > 0 ? ssn - 1 + this.recvSsnBase : this.readOff));
    this.pull();
  }

  /**
   * Falls back to plain TCP in mid connection (RFC 8684 3.7): the subflow's bytes continue the data
   * stream, subflow offset o being data sequence number o + `delta`.
   */
  private enterFallback(delta: number): void {
    if (this.conn.fallback) return;
    this.fallbackDelta = delta;
    this.recvMaps.clear();
    this.conn.enterFallback();
  }

  /** In fallback, data sequence number = subflow offset + this (1 when it was so from the start). */
  private fallbackDelta = 1;

  /**
   * Keeps a mapping for subflow bytes [off, off+len) if it can be one (RFC 8684 3.3.1): it must
   * cover the first byte of the data segment it came on (Linux's DSS/TCP mismatch check), start
   * inside what the subflow can still receive (TCP takes none of its segment otherwise), and there
   * must be room for it. A mapping beyond the connection's window is kept all the same: TCP takes
   * its bytes whatever their DSN, and without it they would wait at the subflow's head for good;
   * the connection drops what lies beyond its window (3.3.4) and the data level sends it again
   * (3.3.6), as Linux does (MPTcpExtNoDSSInWindow).
   */
  private addRecvMap(
    off: number,
    dsn: number,
    len: number,
    csum: number,
    dll: number,
    segOff: number,
    segLen: number,
  ): void {
    const c = this.conn;
    if (off + len <= this.readOff) return; // already delivered: a copy sent again
    if (segOff >= 0 && (segLen === 0 || segOff < off || segOff >= off + len)) {
      // Not the mapping of the bytes it came with (Linux drops it as a DSS/TCP mismatch too).
      c.mib.DSSNoMatchTCP++;
      return;
    }
    if (off >= this.readOff + this.socket.config.recvBuffer) {
      c.mib.DSSOutOfWindow++;
      return;
    }
    if (this.recvMaps.add(off, dsn, len, csum, dll) === MAP_FULL) c.mib.DSSMapsDropped++;
  }

  /**
   * With checksums a mapping is verified whole before any of it is delivered (3.3.1). Mapping `i`
   * starts at what we read next; the mappings that overlap its end (a segment sent again cut
   * otherwise) go with it, verified over the same bytes, so that none is left whose first bytes
   * are gone. Returns false while not all of their bytes have arrived.
   */
  private pullVerified(avail: number): boolean {
    const maps = this.recvMaps;
    const i = maps.upTo(this.readOff); // the first of those that start here
    const end = maps.chainEnd(i, this.tmp.length);
    const n = end - this.readOff;
    if (avail < n) return false;
    const got = this.socket.recv(this.tmp, 0, n);
    const base = this.readOff;
    this.readOff += got;
    const last = maps.upTo(end);
    for (let j = i; j < last; j++) {
      if (maps.csum(j) === NO_CSUM || maps.off(j) < base || maps.off(j) + maps.len(j) > end) continue;
      if (!this.checksumOk(j, maps.off(j) - base, maps.len(j))) {
        this.onChecksumFailure(maps.dsn(i));
        return true;
      }
    }
    for (let j = i; j < last; j++) {
      const o = maps.off(j);
      if (o >= base && o + maps.len(j) <= end)
        this.conn.receive(maps.dsn(j), this.tmp, o - base, maps.len(j));
    }
    return true;
  }

  /** The DSS checksum of mapping `i`, whose bytes are now in tmp[at, at + len) (RFC 8684 3.3.1). */
  private checksumOk(i: number, at: number, len: number): boolean {
    const maps = this.recvMaps;
    toWire(this.conn.remoteIdsn, maps.dsn(i), this.wire);
    const sum = dssChecksum(
      this.wire.high,
      this.wire.low,
      maps.off(i) + 1 - this.recvSsnBase, // the wire's SSN, after the SYN's data (appendix B.1)
      maps.dll(i),
      0,
      sumWords(this.tmp, at, len),
    );
    return sum === maps.csum(i);
  }

  /**
   * A mapping failed its checksum and its bytes were dropped: we wait for the sender's infinite
   * mapping (3.7). The DSN it started at; when our last MP_FAIL for it went out.
   */
  private failed = false;
  private failedDsn = 0;
  private failSentAt = 0;

  /**
   * A mapping at `dsn` failed its checksum (RFC 8684 3.7): its bytes are dropped, never delivered.
   * With other subflows, this one is reset and its data comes again on those. On the only one,
   * MP_FAIL asks the sender to fall back to plain TCP: nothing is delivered until its infinite
   * mapping says at which subflow byte the data goes on from `dsn` (see onInfiniteMapping). Our
   * MP_FAIL rides on a segment without DATA_ACK (optionsLen), which tells a sender of ours that
   * the bytes from `dsn` were discarded and must come again (see onMpFail).
   */
  private onChecksumFailure(dsn: number): void {
    const c = this.conn;
    c.mib.DataCsumErr++;
    if (c.subflows.length === 1 && !this.join) {
      this.failed = true;
      this.failedDsn = dsn;
      this.recvMaps.clear();
      this.sendMpFail();
      return;
    }
    c.mib.MPFailTx++;
    this.reset(TCPRST_REASON.mptcpError);
  }

  private sendMpFail(): void {
    const c = this.conn;
    c.mib.MPFailTx++;
    this.failSentAt = c.now();
    toWire(c.remoteIdsn, this.failedDsn, this.wire);
    this.signal({ type: 'mp_fail', dsnHigh: this.wire.high, dsn: this.wire.low });
  }

  private repeatMpFail(): void {
    if (this.conn.now() - this.failSentAt >= Math.max(1, this.socket.rtt.srtt)) this.sendMpFail();
  }

  /**
   * MP_FAIL (RFC 8684 3.7): the peer saw a checksum fail. On the only subflow, go on as plain TCP
   * after the infinite mapping; otherwise reset this subflow (its data is reinjected).
   *
   * RFC 8684 3.7 has the sender go on with an infinite mapping from where its stream is, and
   * Linux does so: its receiver delivers the bytes that failed (the mapping stays valid; the
   * selftests check that the damaged bytes arrive), and it ignores the infinite mapping's DSN:
   * the subflow's bytes continue at what it has received. Sending the failed bytes again would
   * then deliver them twice. Linux sends MP_FAIL only inside its DSS (mptcp_established_options:
   * the MP_FAIL goes with the DSS, whose DATA_ACK is always there once it can acknowledge), on the
   * ACK it sends right away, before the failed data reaches the connection: its DATA_ACK is then
   * the failed DSN itself, as the DATA_ACK of a receiver that dropped the bytes would be, so its
   * value cannot tell the two apart. Our receiver drops the bytes (3.3.1: data is accepted once
   * its mapping is verified) and sends its MP_FAIL alone, without DATA_ACK. So: with no DATA_ACK
   * on the segment, the bytes from the DSN named were discarded and go again from there, as
   * plain TCP after what this subflow already carries; with a DATA_ACK (Linux), or a DSN we no
   * longer hold, the stream goes on from sndNxt. The infinite mapping says which: subflow byte
   * `infiniteOff` is that DSN. It rides on the ACK now and on every copy of the data segment that
   * starts there.
   *
   * After our own MP_FAIL (we wait for the peer's infinite mapping), an MP_FAIL from the peer is
   * Linux's answer to it (mptcp_pm_mp_fail_received echoes MP_FAIL with the infinite mapping),
   * not a failure of what we sent: it is ignored.
   */
  private onMpFail(seg: SegmentIn): void {
    const c = this.conn;
    c.mib.MPFailRx++;
    if (c.fallback || this.failed) return;
    if (c.subflows.length > 1 || this.join) {
      this.reset(TCPRST_REASON.mptcpError);
      return;
    }
    const f = this.view.mpFail;
    const failed = fromWire(c.local.idsn, f.dsnHigh, f.dsnLow);
    const discarded = !this.carriesDataAck(seg) && failed >= c.sndUna && failed < c.sndNxt;
    const from = discarded ? failed : c.sndNxt;
    const at = this.scheduledEnd;
    const ssn = at + 1 - this.sendSsnBase;
    // Linux, once fallen back, does not read the infinite mapping's DSN: it numbers each subflow
    // byte from the first (relative DSN = relative SSN; subflow.c subflow_check_data_avail), and
    // falls back only while that holds (allow_infinite_fallback: no data sent twice at the data
    // level, no other subflow ever). If our stream no longer lines up so (a data-level resend put
    // bytes twice on this subflow), the bytes after the fallback would land elsewhere than sent
    // (seen: the kernel then ended the stream at the failure): reset, as Linux's sender does
    // (protocol.c mptcp_update_infinite_map, MPTcpExtFallbackFailed).
    if (!discarded && from !== ssn) {
      c.mib.FallbackFailed++;
      this.reset(TCPRST_REASON.middleboxInterference);
      return;
    }
    toWire(c.local.idsn, from, this.wire);
    const dss: Dss = {
      type: 'dss',
      dataFin: false,
      dsn: this.wire.low,
      dsnHigh: this.wire.high,
      ssn,
      dataLen: 0,
    };
    if (c.checksum) dss.checksum = 0;
    this.infiniteMap = dss;
    this.infiniteOff = at;
    this.sendDelta = from - at;
    // The answer to the peer's MP_FAIL, with the DSN it named, on the ACK before the infinite
    // mapping: Linux's receiver waits for it and resets the subflow when none has come within
    // TCP_RTO_MAX, 120 s (net/mptcp/pm.c mptcp_pm_mp_fail_received clears subflow->fail_tout,
    // protocol.c mptcp_mp_fail_no_response). It must arrive before the infinite mapping, after
    // which a fallen-back Linux socket reads no MPTCP option (options.c mptcp_incoming_options).
    this.signal({ type: 'mp_fail', dsnHigh: f.dsnHigh, dsn: f.dsnLow });
    c.mib.MPFailTx++;
    this.signal(dss);
    c.mib.InfiniteMapTx++;
    c.resendFrom(from);
    c.enterFallback();
  }

  /** Whether any DSS option of `seg` has a DATA_ACK (rewraps the option view). */
  private carriesDataAck(seg: SegmentIn): boolean {
    const v = this.view;
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (v.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (v.subtype === MPTCP_SUBTYPE.dss && v.dss.hasDataAck) return true;
    }
    return false;
  }

  /** The infinite mapping we sent after MP_FAIL, until the subflow byte it starts at is acknowledged. */
  private infiniteMap: Dss | undefined;
  private infiniteOff = -1;

  /**
   * Whether subflow offset `off` comes before our infinite mapping: those bytes were mapped before
   * the fallback, and a copy of them (sent for the first time or again) still carries its mapping,
   * which a receiver that has not yet met the infinite mapping needs (Linux takes data without a
   * mapping there as a DSS fallback).
   */
  private beforeInfiniteMap(off: number): boolean {
    return this.infiniteOff >= 0 && off < this.infiniteOff;
  }

  /** Whether a segment at subflow offset `off` is the data segment the infinite mapping rides on. */
  private carriesInfiniteMap(off: number): boolean {
    return this.infiniteOff >= 0 && off === this.infiniteOff;
  }

  /** Moves in-order subflow bytes to the connection at their data sequence numbers. */
  private pull(): void {
    const c = this.conn;
    const maps = this.recvMaps;
    for (;;) {
      const avail = this.socket.readableBytes;
      if (avail === 0) break;
      let dsn = 0;
      let n: number;
      const drop = !c.fallback && this.failed;
      if (c.fallback) {
        dsn = this.readOff + this.fallbackDelta;
        n = Math.min(avail, this.tmp.length);
      } else if (drop) {
        // After a failed checksum, what comes before the infinite mapping is dropped (3.7): the
        // sender sends it again after that mapping.
        n = Math.min(avail, this.tmp.length);
      } else {
        const i = maps.find(this.readOff);
        if (i < 0) {
          // Bytes without a mapping (RFC 8684 3.3.1 would fall back or reset): wait for one.
          c.mib.DSSNoMatchTCP++;
          break;
        }
        const off = maps.off(i);
        const len = maps.len(i);
        if (maps.csum(i) !== NO_CSUM) {
          if (off !== this.readOff) {
            // Its first bytes went under another mapping: it cannot be verified.
            c.mib.DSSCsumUnverifiable++;
            break;
          }
          if (!this.pullVerified(avail)) break;
          if (this.socket.state === TcpState.Closed) return;
          continue;
        }
        dsn = maps.dsn(i) + (this.readOff - off);
        n = Math.min(avail, off + len - this.readOff, this.tmp.length);
      }
      const got = this.socket.recv(this.tmp, 0, n);
      this.readOff += got;
      if (!drop) c.receive(dsn, this.tmp, 0, got);
    }
    maps.release(this.readOff); // what has been passed up needs no mapping any more
    this.wake();
  }

  /**
   * Subflow-level ACK progress: room for more data; in fallback it is the only acknowledgement
   * there is (RFC 8684 3.7).
   */
  private onSubflowAck(): void {
    this.stale = false;
    if (this.infiniteOff >= 0 && this.dataOff(this.socket.sndUna) > this.infiniteOff) this.infiniteOff = -1;
    if (this.conn.fallback)
      this.recordDataAck(Math.min(this.dataOff(this.socket.sndUna), this.scheduledEnd) + this.sendDelta, -1);
    else this.conn.push();
  }

  /** Records a DATA_ACK and the window's right edge (-1: none) for the connection (rx). */
  private recordDataAck(ack: number, right: number): void {
    const r = this.rx;
    if (ack > r.dataAck) r.dataAck = ack;
    if (right > r.windowRight) r.windowRight = right;
    this.conn.noteInput(this);
  }

  /** Records the peer's DATA_FIN at `dsn` for the connection (rx). */
  private recordDataFin(dsn: number): void {
    this.rx.dataFin = dsn;
    this.conn.noteInput(this);
  }

  /** In fallback, data sequence number = subflow send offset + this. */
  private sendDelta = 1;
  /** Segments in a row that came without any MPTCP option. */
  private bareSegs = 0;

  /**
   * A segment without any MPTCP option once the connection is fully established: a middlebox
   * strips them (RFC 8684 3.7). On the initial and only subflow, a few in a row mean fallback to
   * plain TCP: the subflow's own bytes and ACKs continue the data stream. Elsewhere such a
   * subflow cannot be used: it is reset.
   */
  private noOptionSegment(): void {
    const c = this.conn;
    if (!c.fullyEstablished || !c.remoteKey || this.socket.state === TcpState.Closed) return;
    // After our MP_FAIL the sender has fallen back and sends no options: its infinite mapping
    // decides where the data goes on.
    if (this.failed) return;
    if (++this.bareSegs < 3) return;
    if (c.subflows.length > 1 || this.join) {
      this.reset(TCPRST_REASON.middleboxInterference);
      return;
    }
    c.mib.DSSFallback++;
    // Where the data stands on both sides of the subflow, so that offsets map to DSNs from here.
    const last = this.sendMaps[this.sendMaps.length - 1];
    this.sendDelta = last ? last.dsn - last.off : 1;
    this.enterFallback(c.rcvNxt - this.readOff);
  }

  /** The subflow's FIN: in fallback it is the connection's end (RFC 8684 3.7). */
  private onSubflowFin(): void {
    this.pull();
    if (this.conn.fallback) this.recordDataFin(this.readOff + this.fallbackDelta);
  }

  receiveWindow(): number {
    return this.conn.fallback ? Number.POSITIVE_INFINITY : this.conn.receiveWindow;
  }

  /**
   * The connection-level window is shared by the subflows (RFC 8684 3.3.4): all this subflow
   * holds went in below the peer's connection-level right edge, which never moves left, so all of
   * it may go whatever window this subflow's own last ACK carried. That one can be older than the
   * edge another subflow brought, or smaller than a segment; TCP's sender-side SWS avoidance then
   * waits for a wider one, with no persist timer (the window is not zero) and nothing in flight
   * to bring it: a download stalled for good in the lab that way. Linux shares it always
   * (MPTcpExtSndWndShared); here only while nothing is in flight on the subflow, the one case no
   * ACK is coming to widen it: sharing it always sent more than the peer then took (policy-lab (d):
   * 1.10-1.14x the payload on the uplinks, against 1.045-1.050x). In fallback the subflow's window
   * is the only one (3.7).
   */
  sendWindow(): number {
    const s = this.socket;
    if (this.conn.fallback || s.sndNxt !== s.sndUna) return 0;
    const held = this.scheduledEnd - Math.max(0, this.dataOff(this.socket.sndUna));
    if (held <= this.socket.sndWnd) return 0;
    return held;
  }

  /** A segment went by the connection-level window (sendWindow): Linux's MPTcpExtSndWndShared. */
  sentPastWindow(): void {
    this.conn.mib.SndWndShared++;
  }
}
