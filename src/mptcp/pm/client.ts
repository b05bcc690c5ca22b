// The client path manager (RFC 8684 3.2, Linux's "subflow" endpoints): a CPE has one local
// address per uplink; every connection gets one subflow from each usable uplink to the server.
// The initial subflow leaves from the first usable primary uplink. A subflow that fails while its
// uplink is up is opened again with exponential backoff; an uplink that goes down has its
// subflows reset (their data is reinjected on the others); when it comes back, every connection
// gets its subflow on it again. An uplink may have an address of each family (RFC 8684 3.4.1 allows
// subflows of either family in one connection): a subflow goes to the server address the
// connection started with when the uplink has that family, else to an address of its own family
// the server announced (an IPv6-only LTE joins the HAG's IPv6 address of a connection begun over
// IPv4 on DSL). A server whose MP_CAPABLE has the C flag (RFC 8684 3.1: a HAG worker behind a
// service address that ECMP spreads) takes no subflow to the address the connection began with:
// then every uplink joins the addresses it announces instead, once one comes (as Linux's
// in-kernel path manager does with its subflow endpoints). Sans-IO: the endpoint drives its timers.
import type { TcpSocket } from '../../tcp/socket.js';
import { TcpState } from '../../tcp/state.js';
import type { AnnouncedAddr, MptcpConnection, PeerCc } from '../connection.js';
import type { MptcpEndpoint } from '../endpoint.js';
import type { MptcpEvent } from '../events.js';
import type { Subflow } from '../subflow.js';

export interface PmAddress {
  /** Address ID (RFC 8684 3.4.1), 1-255, unique per endpoint; the initial subflow signals 0. */
  id: number;
  /** The core's source address for this uplink (IPv4 or IPv6). */
  addr: Uint8Array;
  /** Its source address of the other family, when the uplink has both. */
  otherFamily?: Uint8Array;
  /** Subflows from this uplink are backup subflows (RFC 8684 3.3.8). */
  backup: boolean;
  /** An overflow uplink: the primary-first scheduler fills it after the primaries. */
  overflow?: boolean;
  /** Whether the uplink is usable (its health probe says so). */
  up: boolean;
}

export interface ClientPmOptions {
  /** First retry after a subflow failed, in ms (doubles up to `retryMaxMs`). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

interface Retry {
  conn: MptcpConnection;
  id: number;
  at: number;
  delay: number;
}

interface PmSubflow {
  id: number;
}

/** The address of `a` of the family of `remote` (4 or 16 bytes), if it has one. */
export function sourceFor(a: PmAddress, remote: Uint8Array): Uint8Array | undefined {
  if (a.addr.length === remote.length) return a.addr;
  return a.otherFamily?.length === remote.length ? a.otherFamily : undefined;
}

export class ClientPathManager {
  private readonly addrs: PmAddress[] = [];
  private readonly conns = new Set<MptcpConnection>();
  /** The server address and port each connection began with (its first subflow may be gone). */
  private readonly origin = new WeakMap<MptcpConnection, { addr: Uint8Array; port: number }>();
  /** Which address each of our subflows leaves from. */
  private readonly subflowAddr = new WeakMap<Subflow, PmSubflow>();
  private readonly retries: Retry[] = [];
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  /** The backoff of each address whose last subflow attempt failed. */
  private readonly backoff = new Map<number, number>();

  constructor(
    private readonly ep: MptcpEndpoint,
    opts: ClientPmOptions = {},
  ) {
    this.retryMinMs = opts.retryMinMs ?? 500;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
    ep.on((e) => this.onEvent(e));
    ep.addTimerSource(this);
  }

  get addresses(): readonly PmAddress[] {
    return this.addrs;
  }

  /** Adds or updates an uplink address. */
  setAddress(now: number, a: PmAddress): void {
    this.ep.now = Math.max(this.ep.now, now);
    const i = this.addrs.findIndex((x) => x.id === a.id);
    if (i >= 0) this.addrs[i] = { ...a };
    else this.addrs.push({ ...a });
    if (a.up) for (const c of this.conns) this.fill(c);
    else this.dropAddress(a.id);
  }

  /** The uplink's health changed (from its probe). */
  setUp(now: number, id: number, up: boolean): void {
    const a = this.addrs.find((x) => x.id === id);
    if (!a || a.up === up) return;
    a.up = up;
    this.ep.now = Math.max(this.ep.now, now);
    if (up) {
      for (const c of this.conns) this.fill(c);
    } else {
      this.dropAddress(id);
    }
  }

  /**
   * The address a new connection's initial subflow leaves from: the first usable primary (with
   * `remote`, the first that has an address of its family).
   */
  initialAddress(remote?: Uint8Array): PmAddress | undefined {
    const fits = (a: PmAddress) => a.up && (!remote || sourceFor(a, remote) !== undefined);
    return this.addrs.find((a) => fits(a) && !a.backup) ?? this.addrs.find(fits);
  }

  /** Opens a connection to `remote`, or undefined when no uplink of its family is usable. */
  connect(now: number, remote: Uint8Array, remotePort: number): MptcpConnection | undefined {
    const first = this.initialAddress(remote);
    const local = first && sourceFor(first, remote);
    if (!first || !local) return undefined;
    const conn = this.ep.connect(now, { local, remote, remotePort });
    this.conns.add(conn);
    this.origin.set(conn, { addr: remote, port: remotePort });
    const sf = conn.subflows[0];
    this.subflowAddr.set(sf, { id: first.id });
    sf.backup = first.backup;
    sf.overflow = !!first.overflow;
    conn.whenFullyEstablished(() => this.fill(conn));
    return conn;
  }

  /** Which address a subflow of ours leaves from, if it is ours. */
  addressOf(sf: Subflow): number | undefined {
    return this.subflowAddr.get(sf)?.id;
  }

  /**
   * The address IDs the peer sees on `conn`'s subflows from overflow uplinks, as a policy for the
   * peer's sending (src/convert/policy.ts): each overflow address's ID, and 0 when the initial
   * subflow (which signals no ID, RFC 8684 3.2) leaves from one.
   */
  overflowIds(conn: MptcpConnection): number[] {
    const ids: number[] = [];
    const first = conn.subflows[0] ? this.subflowAddr.get(conn.subflows[0])?.id : undefined;
    for (const a of this.addrs) {
      if (!a.overflow) continue;
      ids.push(a.id);
      if (a.id === first) ids.push(0);
    }
    return ids;
  }

  /**
   * The congestion control of each of our addresses by the ID the peer sees on `conn` (0 for the
   * initial subflow's), as a policy for the peer's subflows toward them (src/convert/policy.ts).
   */
  congestionIds(conn: MptcpConnection): PeerCc[] {
    const out: PeerCc[] = [];
    const first = conn.subflows[0] ? this.subflowAddr.get(conn.subflows[0])?.id : undefined;
    for (const a of this.addrs) {
      const cc =
        this.ep.congestionControlOf(a.addr) ?? (a.otherFamily && this.ep.congestionControlOf(a.otherFamily));
      out.push({ id: a.id, cc });
      if (a.id === first) out.push({ id: 0, cc });
    }
    return out;
  }

  /** Opens the subflows `conn` lacks: one per usable address (RFC 8684 3.2). */
  private fill(conn: MptcpConnection): void {
    if (!conn.fullyEstablished || conn.closed || conn.fallback || conn.finished) return;
    for (const a of this.addrs) {
      if (!a.up || this.has(conn, a.id) || this.retries.some((r) => r.conn === conn && r.id === a.id))
        continue;
      this.open(conn, a);
    }
  }

  private has(conn: MptcpConnection, id: number): boolean {
    return conn.subflows.some((sf) => this.subflowAddr.get(sf)?.id === id);
  }

  /**
   * Opens `a`'s subflow on `conn`: to the server address the connection began with when `a` has
   * its family, else to an announced address of a family `a` has (RFC 8684 3.4.1); none: no
   * subflow (the uplink waits for an announcement).
   */
  private open(conn: MptcpConnection, a: PmAddress): void {
    const origin = this.origin.get(conn);
    if (!origin || conn.subflows.length >= this.ep.maxSubflows) return;
    const local = conn.peerDeniesJoinToSource ? undefined : sourceFor(a, origin.addr);
    if (local) {
      this.joinTo(conn, a, local, { id: 0, addr: origin.addr, port: origin.port });
      return;
    }
    // The origin's family first: an announced address of it is the one the C flag points to.
    let other: AnnouncedAddr | undefined;
    for (const r of conn.remoteAddrs.values()) {
      const src = sourceFor(a, r.addr);
      if (!src) continue;
      if (r.addr.length === origin.addr.length) {
        this.joinTo(conn, a, src, r);
        return;
      }
      other ??= r;
    }
    if (other) this.joinTo(conn, a, sourceFor(a, other.addr)!, other);
  }

  private joinTo(conn: MptcpConnection, a: PmAddress, local: Uint8Array, remote: AnnouncedAddr): void {
    const port = remote.port ?? this.origin.get(conn)?.port ?? conn.subflows[0].socket.tuple.remotePort;
    this.attach(conn, a, this.ep.join(this.ep.now, conn, local, a.id, a.backup, { ...remote, port }));
  }

  private attach(conn: MptcpConnection, a: PmAddress, sock: TcpSocket): void {
    const sf = conn.subflows.find((f) => f.socket === sock);
    if (sf) {
      this.subflowAddr.set(sf, { id: a.id });
      sf.overflow = !!a.overflow;
    }
  }

  /**
   * The server announced another address (ADD_ADDR, RFC 8684 3.4.1): of the initial subflow's
   * family, one subflow to it from the initial subflow's uplink, as Linux does with
   * add_addr_accepted; of the other family, the uplinks that could not reach the first address
   * (they lack its family) join it.
   */
  private joinAnnounced(conn: MptcpConnection, remote: AnnouncedAddr): void {
    if (conn.closed || conn.fallback || conn.subflows.length >= this.ep.maxSubflows) return;
    const first = conn.subflows[0];
    const origin = this.origin.get(conn);
    if (!first || !origin) return;
    // C flag (RFC 8684 3.1): no uplink could join the origin, so each joins the announcement.
    if (conn.peerDeniesJoinToSource || origin.addr.length !== remote.addr.length) {
      this.fill(conn);
      return;
    }
    const id = this.subflowAddr.get(first)?.id;
    const a = this.addrs.find((x) => x.id === id && x.up);
    const local = a && sourceFor(a, remote.addr);
    if (a && local) this.joinTo(conn, a, local, remote);
  }

  /** The uplink went down: reset its subflows, so that what they held goes on the others. */
  private dropAddress(id: number): void {
    for (const c of this.conns) {
      for (const sf of [...c.subflows]) {
        if (this.subflowAddr.get(sf)?.id === id && c.subflows.length > 1) sf.socket.abort();
      }
    }
    for (let i = this.retries.length - 1; i >= 0; i--)
      if (this.retries[i].id === id) this.retries.splice(i, 1);
  }

  private onEvent(e: MptcpEvent): void {
    if (!this.conns.has(e.conn)) return;
    if (e.type === 'announced') {
      this.joinAnnounced(e.conn, e.addr);
      return;
    }
    if (e.type === 'closed') {
      this.conns.delete(e.conn);
      for (let i = this.retries.length - 1; i >= 0; i--)
        if (this.retries[i].conn === e.conn) this.retries.splice(i, 1);
      return;
    }
    if (e.type === 'sub-established') {
      // A working subflow resets the backoff for its address.
      const id = this.subflowAddr.get(e.subflow)?.id;
      if (id !== undefined) this.backoff.delete(id);
      return;
    }
    if (e.type !== 'sub-closed') return;
    const id = this.subflowAddr.get(e.subflow)?.id;
    const a = this.addrs.find((x) => x.id === id);
    const conn = e.conn;
    if (!a?.up || conn.closed || conn.finished || conn.fallback) return;
    if (e.subflow.socket.state !== TcpState.Closed) return;
    // A subflow failed while its uplink is up: try again later, backing off (a HAG that refuses
    // joins, a middlebox that drops them).
    const delay = Math.min(this.retryMaxMs, (this.backoff.get(a.id) ?? this.retryMinMs / 2) * 2);
    this.backoff.set(a.id, delay);
    this.retries.push({ conn, id: a.id, at: this.ep.now + delay, delay });
  }

  pollTimeout(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const r of this.retries) if (r.at < t) t = r.at;
    return t;
  }

  handleTimeout(now: number): void {
    for (let i = this.retries.length - 1; i >= 0; i--) {
      const r = this.retries[i];
      if (r.at > now) continue;
      this.retries.splice(i, 1);
      const a = this.addrs.find((x) => x.id === r.id);
      if (a?.up && !this.has(r.conn, a.id)) this.open(r.conn, a);
    }
  }
}
