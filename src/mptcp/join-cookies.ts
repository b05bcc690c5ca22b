// MP_JOIN under SYN cookies. A cookie rebuilds the TCP side of a join from its third ACK, but not
// the MPTCP side: that ACK carries neither the token nor the nonces its HMAC is computed over
// (RFC 8684 3.2). So the server keeps a small, bounded table of join requests, keyed by 4-tuple,
// that the third ACK takes its entry from (as Linux's net/mptcp/syncookies.c does). An entry is
// kept only for a join whose token names a connection that can take it; when the table is full
// (and nothing in it has outlived a cookie), the join's SYN is dropped and the client retries.
import type { FourTuple } from '../tcp/segment.js';
import { COOKIE_TICK_MS, MAX_COOKIE_AGE } from '../tcp/syncookie.js';
import type { JoinState } from './subflow.js';

export interface JoinRequest {
  /** The token the SYN named (our key's). */
  token: number;
  /** Address IDs, backup flag and both nonces, as the SYN/ACK used them. */
  join: JoinState;
  at: number;
}

/** An entry lives as long as the cookie of its SYN/ACK could be accepted. */
const JOIN_REQUEST_TTL_MS = (MAX_COOKIE_AGE + 1) * COOKIE_TICK_MS;

export class JoinRequestTable {
  private readonly byTuple = new Map<string, JoinRequest>();

  constructor(readonly max = 1024) {}

  get size(): number {
    return this.byTuple.size;
  }

  /** Stores a join request; false when the table is full. A retransmitted SYN replaces its entry. */
  add(tuple: FourTuple, req: JoinRequest): boolean {
    const k = tupleKey(tuple);
    if (!this.byTuple.has(k) && this.byTuple.size >= this.max) {
      // The oldest entries come first in the map: drop those a cookie can no longer complete.
      for (const [key, e] of this.byTuple) {
        if (req.at - e.at <= JOIN_REQUEST_TTL_MS) break;
        this.byTuple.delete(key);
      }
      if (this.byTuple.size >= this.max) return false;
    }
    this.byTuple.delete(k);
    this.byTuple.set(k, req);
    return true;
  }

  /** The request of this 4-tuple, removed from the table (one third ACK completes it). */
  take(tuple: FourTuple, now: number): JoinRequest | undefined {
    const k = tupleKey(tuple);
    const e = this.byTuple.get(k);
    if (!e) return undefined;
    this.byTuple.delete(k);
    return now - e.at <= JOIN_REQUEST_TTL_MS ? e : undefined;
  }
}

function tupleKey(t: FourTuple): string {
  return `${Buffer.from(t.local).toString('hex')}:${t.localPort}:${Buffer.from(t.remote).toString('hex')}:${t.remotePort}`;
}
