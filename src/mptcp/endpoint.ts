// An MPTCP endpoint (RFC 8684): the TCP stack its subflows run on, the token table, and the
// application's connect and listen. It is the sans-IO core a driver runs (src/driver.ts): packets
// and timers go straight to the TCP stack, whose sockets carry the MPTCP option through their
// Subflow extensions. Under SYN cookies (the TCP stack's SYN queue full) an MP_CAPABLE SYN is
// answered without state and the connection is rebuilt from the third ACK, which carries both
// keys (RFC 8684 3.1); a join keeps a bounded request (join-cookies.ts).
import { joinSynAckHmac } from '../crypto/hmac.js';
import { KEY_LEN, keyDerive, randomKey, randomKeyInto } from '../crypto/keys.js';
import type { SansIo } from '../driver.js';
import type { CongestionControlName } from '../tcp/cc/index.js';
import type { TcpConfig } from '../tcp/config.js';
import type { TfoCookieCache, TfoServerOptions } from '../tcp/fastopen.js';
import type { FourTuple, SegmentIn } from '../tcp/segment.js';
import { seqAdd } from '../tcp/seq.js';
import type { TcpSocket } from '../tcp/socket.js';
import { type StackOptions, TcpStack } from '../tcp/stack.js';
import { type RandomFill, randomU32, systemRandom } from '../util/random.js';
import { TimerQueue } from '../util/timer-queue.js';
import { bytesEqual } from '../wire/bytes.js';
import { emitMpCapable, MPC_FLAG, type MpCapable } from '../wire/mptcp/mp-capable.js';
import { emitMpJoin } from '../wire/mptcp/mp-join.js';
import { emitMpTcprst, MP_TCPRST_LEN, TCPRST_REASON } from '../wire/mptcp/mp-tcprst.js';
import { MptcpOptionView } from '../wire/mptcp/option.js';
import { MPTCP_SUBTYPE } from '../wire/mptcp/subtype.js';
import {
  type ConnectionHost,
  DEFAULT_MPTCP_CONFIG,
  type MptcpConfig,
  MptcpConnection,
  MptcpMib,
} from './connection.js';
import type { MptcpEvent, MptcpEventListener } from './events.js';
import { JoinRequestTable } from './join-cookies.js';
import { type JoinState, Subflow } from './subflow.js';
import { type LocalKey, TokenTable } from './token.js';

/** A listener's admission check: the client's 4-tuple and its initial sequence number. */
export type Admit = (tuple: FourTuple, isn: number) => boolean;

/** The cookie SYN/ACK option of a plain TCP SYN: none. */
const NO_OPTION = new Uint8Array(0);

export interface EndpointOptions {
  tcp?: Partial<TcpConfig>;
  /** The TCP stack's SYN-flood settings (half-open bound, SYN cookies). */
  stack?: Pick<StackOptions, 'maxHalfOpen' | 'synCookies' | 'cookies' | 'pathMetrics'>;
  mptcp?: Partial<MptcpConfig>;
  /**
   * Where keys, join nonces and the stack's secrets are drawn from (default the system's CSPRNG;
   * a simulation passes a stream of its seed so that its runs repeat).
   */
  random?: RandomFill;
  /**
   * Subflows a connection may have (RFC 8684 3.2 leaves the limit to the implementation): a join
   * the peer opens counts once its third ACK has proven it.
   */
  maxSubflows?: number;
  /**
   * Joins per connection between their SYN and their third ACK (default maxSubflows): a newer
   * one drops the oldest, so that SYNs never completed cannot lock a connection's joins out.
   */
  maxHalfOpenJoins?: number;
  /**
   * Whether to take a join SYN from `tuple` for `conn` (the operator's access rule); no answers
   * it with a RST carrying MP_TCPRST "administratively prohibited" (RFC 8684 3.6).
   */
  admitJoin?: (tuple: FourTuple, conn: MptcpConnection) => boolean;
  /**
   * TCP Fast Open (RFC 7413, with MPTCP as RFC 8684 appendix B): a client's cookie cache (its
   * connections' initial SYNs carry the cookie and the first bytes, or ask for a cookie); a
   * server's cookies and policy (a SYN with data it takes hands the connection over at once).
   */
  fastOpen?: { cache?: TfoCookieCache; server?: TfoServerOptions };
  /**
   * The congestion control of the subflows this endpoint opens from `local` (a CPE picks it per
   * uplink); undefined: `tcp.congestionControl`. Each subflow runs its own unless coupled.
   */
  congestionControlFor?: (local: Uint8Array) => CongestionControlName | undefined;
}

/** Something with timers of its own that the endpoint drives (a path manager). */
export interface TimerSource {
  pollTimeout(): number;
  handleTimeout(now: number): void;
}

export class MptcpEndpoint implements SansIo, ConnectionHost {
  readonly tcp: TcpStack;
  readonly config: MptcpConfig;
  readonly mib = new MptcpMib();
  readonly tokens: TokenTable<MptcpConnection | undefined>;
  /** Draws join nonces (EndpointOptions.random). */
  private readonly random: RandomFill;
  /** Draws a cookie SYN/ACK's key: the system's from a pool, without allocating, by default. */
  private readonly fillKey: RandomFill;
  private readonly bySocket = new Map<TcpSocket, MptcpConnection>();
  private readonly joins = new Set<TcpSocket>();
  /** Joins answered from a SYN cookie, waiting for their third ACK. */
  readonly joinRequests = new JoinRequestTable();
  private readonly view = new MptcpOptionView();
  /** The MP_CAPABLE of a cookie SYN/ACK (its key drawn per SYN) and its wire form. */
  private readonly cookieOpt: MpCapable & { senderKey: Uint8Array } = {
    type: 'mp_capable',
    version: 1,
    flags: 0,
    senderKey: new Uint8Array(KEY_LEN),
  };
  private readonly cookieOptBuf = new Uint8Array(12);
  readonly maxSubflows: number;
  private readonly maxHalfOpenJoins: number;
  private readonly admitJoin: EndpointOptions['admitJoin'];
  private readonly listeners: MptcpEventListener[] = [];
  private readonly timerSources: TimerSource[] = [];
  /** Connections' timers (data-level retransmission, DATA_FIN: MptcpConnection.pollAt). */
  readonly connTimers = new TimerQueue<MptcpConnection>();
  /** Inside input() or handleTimeout(): connections act once at its end (see defer). */
  private batching = false;
  /** Connections that deferred their pass to the end of this input or poll. */
  private readonly deferred: MptcpConnection[] = [];
  /** The time of the latest call from the driver. */
  now = 0;

  constructor(opts: EndpointOptions = {}) {
    const random = opts.random;
    this.random = random ?? systemRandom;
    this.fillKey = random ?? randomKeyInto;
    this.tokens = new TokenTable(random ? () => random(new Uint8Array(KEY_LEN)) : randomKey);
    this.config = { ...DEFAULT_MPTCP_CONFIG, ...opts.mptcp };
    // A subflow's own buffers are the connection's unless set: its receive buffer bounds the
    // window field it advertises, which carries the connection-level window (RFC 8684 3.3.4), and
    // its send buffer what it holds in flight. Left at TCP's 1 MiB they capped a download at
    // 1 MiB per round trip whatever mptcp.bufferBytes said (231 Mbit/s on the lab's fast profile).
    // Both rings grow on demand, so an idle subflow costs no more.
    this.tcp = new TcpStack({
      random,
      ...opts.stack,
      tcp: { sendBuffer: this.config.sendBuffer, recvBuffer: this.config.recvBuffer, ...opts.tcp },
    });
    this.maxSubflows = opts.maxSubflows ?? 8;
    this.maxHalfOpenJoins = opts.maxHalfOpenJoins ?? this.maxSubflows;
    this.admitJoin = opts.admitJoin;
    this.fastOpen = opts.fastOpen ?? {};
    this.ccFor = opts.congestionControlFor;
  }

  private readonly ccFor: EndpointOptions['congestionControlFor'];

  /** The congestion control of the subflows this endpoint opens from `local`. */
  congestionControlOf(local: Uint8Array): CongestionControlName {
    return this.ccFor?.(local) ?? this.tcp.config.congestionControl;
  }

  /** TCP settings of a subflow opened from `local` that differ from the stack's. */
  private subflowTcp(local: Uint8Array): Partial<TcpConfig> | undefined {
    const cc = this.ccFor?.(local);
    return cc ? { congestionControl: cc } : undefined;
  }

  /** TCP Fast Open settings (the client cache is used by connect, the server side by listen). */
  fastOpen: { cache?: TfoCookieCache; server?: TfoServerOptions };

  addTimerSource(src: TimerSource): void {
    this.timerSources.push(src);
  }

  /** Subscribes to the event stream of every connection of this endpoint. */
  on(listener: MptcpEventListener): void {
    this.listeners.push(listener);
  }

  emit(e: MptcpEvent): void {
    for (const l of this.listeners) l(e);
  }

  subflowGone(conn: MptcpConnection, sf: Subflow): void {
    this.bySocket.delete(sf.socket);
    this.joins.delete(sf.socket);
    if (conn.closed) this.tokens.release(conn.local.token);
  }

  defer(conn: MptcpConnection): boolean {
    if (!this.batching) return false;
    this.deferred.push(conn);
    return true;
  }

  /** The input or poll is done: every connection it touched acts once (one scheduler pass each). */
  private flushDeferred(): void {
    const d = this.deferred;
    for (let i = 0; i < d.length; i++) d[i].afterInput();
    d.length = 0;
  }

  private newConnection(
    role: 'client' | 'server',
    key: LocalKey = this.tokens.allocate(undefined),
  ): MptcpConnection {
    const conn = new MptcpConnection(role, key, this.config, this.mib, this);
    conn.maxSubflows = this.maxSubflows;
    this.tokens.set(key.token, conn);
    return conn;
  }

  /** Opens an MPTCP connection: the initial subflow from `local` to `remote` (RFC 8684 3.1). */
  connect(now: number, t: { local: Uint8Array; remote: Uint8Array; remotePort: number }): MptcpConnection {
    this.now = now;
    const conn = this.newConnection('client');
    const sock = this.tcp.connect(
      now,
      { local: t.local, remote: t.remote, remotePort: t.remotePort },
      this.subflowTcp(t.local),
      { fastOpen: this.fastOpen.cache },
    );
    this.attach(conn, sock);
    this.emit({ type: 'created', conn });
    return conn;
  }

  /**
   * Accepts MPTCP connections (and plain TCP ones, which fall back, RFC 8684 3.7) on a port or on
   * any destination. With Fast Open on the server side, a connection whose SYN data was taken is
   * handed over at the SYN, before the handshake completes (0-RTT), its first bytes readable.
   */
  listen(
    port: number | 'any',
    onConnection: (conn: MptcpConnection) => void,
    backlog?: number,
    /**
     * Whether to take a new connection from this client at all: no answers a SYN with a RST.
     * `isn` is the client's initial sequence number: with the tuple it names the connection, so
     * that a SYN retransmitted, or a cookie's ACK and the segments behind it, are one connection.
     */
    admit?: Admit,
    /** TCP Fast Open on this port (default: the endpoint's server setting). */
    fastOpen: TfoServerOptions | undefined = this.fastOpen.server,
    /** A port listener for these local addresses only (others reach the 'any' listener). */
    addresses?: readonly Uint8Array[],
  ): void {
    this.tcp.listen({
      port,
      backlog,
      addresses,
      fastOpen,
      onSyn: (sock, seg) => {
        // Joins name a connection already admitted and prove it with HMACs (3.2).
        if (this.isJoin(seg)) return this.acceptJoin(sock);
        if (admit && !admit(sock.tuple, seg.seq)) return false;
        const conn = this.newConnection('server');
        this.attach(conn, sock);
        this.emit({ type: 'created', conn });
        return true;
      },
      onCookieSyn: (tuple, seg) => this.cookieSyn(tuple, seg),
      onCookieAck: (sock, seg) => this.cookieAck(sock, seg, admit),
      onAccept: (sock) => {
        const conn = this.bySocket.get(sock);
        if (conn && !this.joins.has(sock)) onConnection(conn);
      },
    });
  }

  /**
   * A SYN answered from a SYN cookie: the MPTCP option of the SYN/ACK, and no connection yet.
   * MP_CAPABLE gets a fresh key, reserved nowhere (the third ACK echoes it, RFC 8684 3.1); a join
   * to a connection that can take it leaves a bounded request; anything else is dropped.
   */
  private cookieSyn(scratch: FourTuple, seg: SegmentIn): Uint8Array | false {
    if (this.isJoin(seg)) {
      // The stack's tuple is scratch; a join's (bounded, checked by admitJoin) is a copy.
      const tuple = { ...scratch, local: scratch.local.slice(), remote: scratch.remote.slice() };
      const v = this.view.mpJoin;
      this.mib.MPJoinSynRx++;
      const target = this.joinTarget(tuple);
      if (typeof target === 'number') return false; // under a flood, dropped without a RST
      const join: JoinState = {
        localId: target.localId,
        remoteId: v.addressId,
        backup: v.backup,
        nonceLocal: randomU32(this.random),
        nonceRemote: v.nonce,
        confirmed: false,
      };
      if (!this.joinRequests.add(tuple, { token: v.token, join, at: this.now })) return false;
      const conn = target.conn;
      const hmac = joinSynAckHmac(conn.local.key, conn.remoteKey!, join.nonceLocal, join.nonceRemote);
      const b = new Uint8Array(16);
      emitMpJoin(
        {
          type: 'mp_join',
          form: 'synack',
          backup: join.backup,
          addressId: join.localId,
          hmac,
          nonce: join.nonceLocal,
        },
        b,
        0,
      );
      return b;
    }
    // The admission check (a rate limit per client) waits for the third ACK, whose source is
    // proven: spoofed SYNs must not use up a real client's allowance.
    const mpc = this.findMpCapable(seg);
    if (mpc < 0) return NO_OPTION; // plain TCP: it falls back when rebuilt (3.7)
    const checksum = this.config.checksum || (mpc & MPC_FLAG.checksum) !== 0;
    // The stack copies the option into the SYN/ACK at once: one buffer serves every cookie SYN.
    const opt = this.cookieOpt;
    opt.flags =
      MPC_FLAG.hmacSha256 |
      (checksum ? MPC_FLAG.checksum : 0) |
      (this.config.denyJoinToSource ? MPC_FLAG.noNewSubflowsToSource : 0);
    this.fillKey(opt.senderKey);
    emitMpCapable(opt, this.cookieOptBuf, 0);
    return this.cookieOptBuf;
  }

  /**
   * The third ACK of a cookie handshake rebuilt a subflow: a connection from the keys its
   * MP_CAPABLE carries (our key's token must still be free), a join from its stored request, or
   * a plain TCP connection that falls back. Refused ones draw a RST.
   */
  private cookieAck(sock: TcpSocket, seg: SegmentIn, admit: Admit | undefined): boolean | Uint8Array {
    for (let i = 0; i < seg.mptcpCount; i++) {
      const v = this.view;
      if (v.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (v.subtype === MPTCP_SUBTYPE.mpJoin && v.mpJoin.form === 'ack') {
        const req = this.joinRequests.take(sock.tuple, this.now);
        if (!req) return this.refusal(TCPRST_REASON.mptcpError);
        const conn = this.tokens.lookup(req.token);
        if (!conn || conn.fallback || conn.closed || !conn.remoteKey) {
          this.mib.MPJoinNoTokenFound++;
          return this.refusal(TCPRST_REASON.mptcpError);
        }
        if (conn.subflows.length >= this.maxSubflows) {
          this.mib.MPJoinRejected++;
          return this.refusal(TCPRST_REASON.administrativelyProhibited);
        }
        this.joins.add(sock);
        this.attach(conn, sock, req.join);
        return true;
      }
      if (v.subtype === MPTCP_SUBTYPE.mpCapable && v.mpCapable.version === 1 && v.mpCapable.hasReceiverKey) {
        if (admit && !admit(sock.tuple, seqAdd(seg.seq, -1))) return false;
        const m = v.mpCapable;
        const key = Uint8Array.from(m.b.subarray(m.receiverKeyOff, m.receiverKeyOff + 8));
        const { token, idsn } = keyDerive(key);
        // The key was not reserved when the SYN/ACK went out: another connection may hold its token.
        if (!this.tokens.register(token, undefined)) {
          this.tokens.collisions++;
          return false;
        }
        const conn = this.newConnection('server', { key, token, idsn });
        this.attach(conn, sock);
        this.emit({ type: 'created', conn });
        return true;
      }
    }
    if (admit && !admit(sock.tuple, seqAdd(seg.seq, -1))) return false;
    const conn = this.newConnection('server');
    this.attach(conn, sock);
    this.emit({ type: 'created', conn });
    return true;
  }

  /** The flags of a SYN's MP_CAPABLE (version 1), or -1 without one. */
  private findMpCapable(seg: SegmentIn): number {
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (this.view.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (this.view.subtype === MPTCP_SUBTYPE.mpCapable && this.view.mpCapable.version === 1)
        return this.view.mpCapable.flags;
    }
    return -1;
  }

  /** Whether a SYN carries MP_JOIN; the option stays in `this.view`. */
  private isJoin(seg: SegmentIn): boolean {
    for (let i = 0; i < seg.mptcpCount; i++) {
      if (this.view.wrap(seg.buf, seg.mptcpOff[i], seg.mptcpLen[i]) !== undefined) continue;
      if (this.view.subtype === MPTCP_SUBTYPE.mpJoin && this.view.mpJoin.form === 'syn') return true;
    }
    return false;
  }

  /**
   * RFC 8684 3.2: a join names its connection by token; unknown tokens, joins the access rule
   * refuses and joins to connections whose subflows are all taken get a RST. The join waits as a
   * half-open join of its connection until its third ACK (Subflow.onJoinAck).
   */
  private acceptJoin(sock: TcpSocket): boolean | Uint8Array {
    const v = this.view.mpJoin;
    this.mib.MPJoinSynRx++;
    if (v.backup) this.mib.MPJoinSynBackupRx++;
    const target = this.joinTarget(sock.tuple);
    if (typeof target === 'number') return this.refusal(target);
    const { conn, localId } = target;
    if (conn.joining.length >= this.maxHalfOpenJoins) {
      // The oldest half-open join goes (its RST says "lack of resources", RFC 8684 3.6): a
      // legitimate join completes within a round trip, one never completed only holds a slot.
      this.mib.MPJoinHalfOpenDrop++;
      conn.joining[0].reset(TCPRST_REASON.lackOfResources);
    }
    const join: JoinState = {
      localId,
      remoteId: v.addressId,
      backup: v.backup,
      nonceLocal: randomU32(this.random),
      nonceRemote: v.nonce,
      confirmed: false,
    };
    this.joins.add(sock);
    this.attach(conn, sock, join);
    return true;
  }

  /**
   * RFC 8684 3.2: the connection the join SYN in `this.view` names, and the address ID of the
   * address it came to; or the MP_TCPRST reason that refuses it (unknown token, connection full,
   * the operator's access rule).
   */
  private joinTarget(tuple: FourTuple): { conn: MptcpConnection; localId: number } | number {
    const conn = this.tokens.lookup(this.view.mpJoin.token);
    if (!conn || conn.fallback || conn.closed || !conn.remoteKey) {
      this.mib.MPJoinNoTokenFound++;
      return TCPRST_REASON.mptcpError;
    }
    if (conn.subflows.length >= this.maxSubflows || (this.admitJoin && !this.admitJoin(tuple, conn))) {
      this.mib.MPJoinRejected++;
      return TCPRST_REASON.administrativelyProhibited;
    }
    // The address ID of the address the join came to: one we announced (3.4.1), else 0.
    let localId = 0;
    for (const a of conn.localAddrs.values()) if (bytesEqual(a.addr, tuple.local)) localId = a.id;
    return { conn, localId };
  }

  /** The MP_TCPRST a refused join's RST carries (RFC 8684 3.6). */
  private refusal(reason: number): Uint8Array {
    const b = new Uint8Array(MP_TCPRST_LEN);
    emitMpTcprst({ type: 'mp_tcprst', flags: 0, reason }, b, 0);
    this.mib.MPRstTx++;
    return b;
  }

  /**
   * Adds a subflow from another local address (RFC 8684 3.2, the client's path manager role):
   * to the same remote address and port as the initial subflow.
   */
  join(
    now: number,
    conn: MptcpConnection,
    local: Uint8Array,
    localId: number,
    backup = false,
    remote?: { addr: Uint8Array; port: number; id: number },
  ): TcpSocket {
    if (!conn.fullyEstablished)
      throw new Error('join needs a fully established connection (whenFullyEstablished)');
    const first = conn.subflows[0]?.socket;
    if (!first || conn.fallback || !conn.remoteKey)
      throw new Error('join needs an established MPTCP connection');
    if (conn.subflows.length >= this.maxSubflows)
      throw new Error(`connection already has ${conn.subflows.length} subflows`);
    const sock = this.tcp.connect(
      now,
      {
        local,
        remote: remote?.addr ?? first.tuple.remote,
        remotePort: remote?.port ?? first.tuple.remotePort,
      },
      this.subflowTcp(local),
    );
    this.joins.add(sock);
    this.attach(conn, sock, {
      localId,
      remoteId: remote?.id ?? 0,
      backup,
      nonceLocal: randomU32(this.random),
      nonceRemote: 0,
      confirmed: false,
    });
    return sock;
  }

  private attach(conn: MptcpConnection, sock: TcpSocket, join?: JoinState): void {
    new Subflow(conn, sock, this.tcp, join);
    this.bySocket.set(sock, conn);
  }

  /** Tells the endpoint that the application acted on `conn` (wrote, read, closed): poll it. */
  wake(conn: MptcpConnection): void {
    conn.push();
    for (const sf of conn.subflows) sf.wake();
  }

  input(now: number, packet: Uint8Array, checksumVerified?: boolean): void {
    this.now = now;
    this.batching = true;
    try {
      this.tcp.input(now, packet, checksumVerified);
    } finally {
      this.batching = false;
    }
    this.flushDeferred();
  }

  pollTransmit(now: number, buf: Uint8Array): number {
    this.now = now;
    return this.tcp.pollTransmit(now, buf);
  }

  setOffload(csum: boolean, maxPacket: number): void {
    this.tcp.setOffload(csum, maxPacket);
  }

  get txGsoSize(): number {
    return this.tcp.txGsoSize;
  }

  pollTimeout(): number {
    let t = Math.min(this.tcp.pollTimeout(), this.connTimers.peek());
    for (const s of this.timerSources) t = Math.min(t, s.pollTimeout());
    return t;
  }

  handleTimeout(now: number): void {
    this.now = now;
    this.batching = true;
    try {
      this.tcp.handleTimeout(now);
      for (let c = this.connTimers.popDue(now); c; c = this.connTimers.popDue(now)) c.handleTimeout(now);
      for (const s of this.timerSources) if (s.pollTimeout() <= now) s.handleTimeout(now);
    } finally {
      this.batching = false;
    }
    this.flushDeferred();
  }

  setWaker(wake: () => void): void {
    this.tcp.setWaker(wake);
  }
}
