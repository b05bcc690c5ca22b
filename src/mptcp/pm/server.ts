// The server path manager (RFC 8684 3.4, Linux's "signal" endpoints): a HAG with several service
// addresses announces them with ADD_ADDR on every connection once it is fully established, sends
// an announcement again when its echo does not come back in time, and accepts the joins that
// follow (the endpoint does that). With `announce: 'other-family'` it announces only the addresses
// of the family the connection did not begin with: a client that lacks that family on some path
// joins them (RFC 8684 3.4.1 allows either family), and one that has it opens no second subflow
// on a path it already uses. Sans-IO: the endpoint drives its timers.
import type { AnnouncedAddr, MptcpConnection } from '../connection.js';
import type { MptcpEndpoint } from '../endpoint.js';

export interface ServerPmOptions {
  /** Addresses to announce, each with its address ID (1-255) and optional port. */
  addresses: AnnouncedAddr[];
  /** How long to wait for an echo before announcing again, ms (default 1000). */
  retransmitMs?: number;
  /** Announcements sent again at most this many times (default 3). */
  maxRetransmits?: number;
  /** Which addresses a connection gets: all (default), or those of the family it did not begin with. */
  announce?: 'all' | 'other-family';
}

interface Pending {
  conn: MptcpConnection;
  addr: AnnouncedAddr;
  at: number;
  tries: number;
}

export class ServerPathManager {
  private addrs: AnnouncedAddr[];
  private readonly pending: Pending[] = [];
  private readonly retransmitMs: number;
  private readonly maxRetransmits: number;
  private readonly otherFamily: boolean;

  constructor(
    private readonly ep: MptcpEndpoint,
    opts: ServerPmOptions,
  ) {
    this.addrs = opts.addresses.map((a) => ({ ...a }));
    this.retransmitMs = opts.retransmitMs ?? 1000;
    this.maxRetransmits = opts.maxRetransmits ?? 3;
    this.otherFamily = opts.announce === 'other-family';
    ep.on((e) => {
      if (e.type === 'created' && e.conn.role === 'server') {
        const conn = e.conn;
        conn.whenFullyEstablished(() => this.announceAll(conn));
      } else if (e.type === 'closed') {
        for (let i = this.pending.length - 1; i >= 0; i--)
          if (this.pending[i].conn === e.conn) this.pending.splice(i, 1);
      }
    });
    ep.addTimerSource(this);
  }

  /** Replaces the addresses to announce (for new connections; reload). */
  setAddresses(addresses: AnnouncedAddr[]): void {
    this.addrs = addresses.map((a) => ({ ...a }));
  }

  private announceAll(conn: MptcpConnection): void {
    if (conn.fallback || conn.closed) return;
    const began = conn.subflows[0]?.socket.tuple.local.length;
    for (const a of this.addrs) {
      if (this.otherFamily && a.addr.length === began) continue;
      if (conn.announce(a))
        this.pending.push({ conn, addr: a, at: this.ep.now + this.retransmitMs, tries: 0 });
    }
  }

  pollTimeout(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const p of this.pending) if (p.at < t) t = p.at;
    return t;
  }

  handleTimeout(now: number): void {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i];
      if (p.at > now) continue;
      // Echoed, gone, or tried enough: forget it.
      if (!p.conn.pendingAnnounce.has(p.addr.id) || p.conn.closed || p.tries >= this.maxRetransmits) {
        this.pending.splice(i, 1);
        continue;
      }
      p.tries++;
      p.at = now + this.retransmitMs;
      p.conn.announce(p.addr);
    }
  }
}
