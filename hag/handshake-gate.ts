// Holds a new client connection as a small record until it has sent at least the smallest first
// message of its protocol (or ended, or was reset), and only then lets the daemon build its stream,
// handshake reader and parser (about 5 KB of state). A client that stalls before that, as a
// slowloris client sending one byte of a greeting does, costs its core connection and this record;
// at the handshake deadline it is handed back as timed out. One Node timer serves every record,
// armed for the earliest deadline of a TimerQueue. The record is the connection's events object
// while it waits, and the gate calls the daemon with the item it was given: no closures per
// connection.
import type { MptcpConnection, MptcpEvents } from '../src/mptcp/connection.js';
import { TimerQueue } from '../src/util/timer-queue.js';

/** What the gate tells its owner about an item it holds; each item gets one of the two, once. */
export interface GateOwner<T> {
  /** The first message came (or the peer ended, or the connection closed). */
  go(item: T, deadline: number): void;
  /** The deadline came first. */
  expire(item: T): void;
}

/** A connection waiting for its first bytes: its events object until then. */
class Gated<T> implements MptcpEvents {
  pollAt: number;
  constructor(
    readonly gate: HandshakeGate<T>,
    readonly conn: MptcpConnection,
    readonly item: T,
    readonly min: number,
    readonly deadline: number,
  ) {
    this.pollAt = deadline;
  }

  onReadable(): void {
    this.gate.check(this);
  }

  onEnd(): void {
    this.gate.check(this);
  }

  onClose(): void {
    this.gate.check(this);
  }
}

export class HandshakeGate<T> {
  private readonly queue = new TimerQueue<Gated<T>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Connections held now. */
  size = 0;

  constructor(private readonly owner: GateOwner<T>) {}

  /**
   * Calls owner.go once `conn` has `min` bytes to read, its peer ended or it closed; or
   * owner.expire when `deadline` (Date.now() time) comes first. At most one of them, once.
   */
  wait(conn: MptcpConnection, min: number, deadline: number, item: T): void {
    if (ready(conn, min)) {
      this.owner.go(item, deadline);
      return;
    }
    const g = new Gated(this, conn, item, min, deadline);
    conn.events = g;
    this.size++;
    this.queue.push(deadline, g);
    this.arm();
  }

  /** A held connection's event: let it go if it is ready now. */
  check(g: Gated<T>): void {
    if (g.pollAt === Number.POSITIVE_INFINITY || !ready(g.conn, g.min)) return;
    this.release(g);
    this.owner.go(g.item, g.deadline);
  }

  private release(g: Gated<T>): void {
    g.pollAt = Number.POSITIVE_INFINITY;
    if (g.conn.events === g) g.conn.events = {};
    this.size--;
  }

  private arm(): void {
    const at = this.queue.peek();
    if (at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let g = this.queue.popDue(now); g; g = this.queue.popDue(now)) {
      this.release(g);
      this.owner.expire(g.item);
    }
    if (this.queue.peek() !== Number.POSITIVE_INFINITY) this.arm();
  }
}

/** Enough to parse, or no more coming: the peer's DATA_FIN (or FIN) came, or the connection closed. */
function ready(conn: MptcpConnection, min: number): boolean {
  return conn.readableBytes >= min || conn.remoteFinDone || conn.isClosed;
}
