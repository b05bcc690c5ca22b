// Holds a new client connection as a small record until it has sent at least the smallest first
// message of its protocol (or ended, or was reset), and only then lets the daemon build its stream,
// handshake reader and parser (about 5 KB of state). A client that stalls before that, as a
// slowloris client sending one byte of a greeting does, costs its core connection and this record;
// at the handshake deadline it is handed back as timed out. One Node timer serves every record,
// armed for the earliest deadline of a TimerQueue.
import type { MptcpConnection } from '../src/mptcp/connection.js';
import { TimerQueue } from '../src/util/timer-queue.js';

/** A connection waiting for its first bytes. */
class Gated {
  pollAt: number;
  constructor(
    readonly conn: MptcpConnection,
    readonly min: number,
    deadline: number,
    readonly go: () => void,
    readonly expire: () => void,
  ) {
    this.pollAt = deadline;
  }
}

export class HandshakeGate {
  private readonly queue = new TimerQueue<Gated>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Connections held now. */
  size = 0;

  /**
   * Calls `go` once `conn` has `min` bytes to read, its peer ended or it closed; or `expire` when
   * `deadline` (Date.now() time) comes first. At most one of them is called, once.
   */
  wait(conn: MptcpConnection, min: number, deadline: number, go: () => void, expire: () => void): void {
    if (ready(conn, min)) {
      go();
      return;
    }
    const g = new Gated(conn, min, deadline, go, expire);
    const check = () => {
      if (g.pollAt === Number.POSITIVE_INFINITY || !ready(conn, min)) return;
      this.release(g);
      g.go();
    };
    conn.events.onReadable = check;
    conn.events.onEnd = check;
    conn.events.onClose = check;
    this.size++;
    this.queue.push(deadline, g);
    this.arm();
  }

  private release(g: Gated): void {
    g.pollAt = Number.POSITIVE_INFINITY;
    const ev = g.conn.events;
    ev.onReadable = undefined;
    ev.onEnd = undefined;
    ev.onClose = undefined;
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
      g.expire();
    }
    if (this.queue.peek() !== Number.POSITIVE_INFINITY) this.arm();
  }
}

/** Enough to parse, or no more coming: the peer's DATA_FIN (or FIN) came, or the connection closed. */
function ready(conn: MptcpConnection, min: number): boolean {
  return conn.readableBytes >= min || conn.remoteFinDone || conn.isClosed;
}
