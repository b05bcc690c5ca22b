// The MPTCP event stream: what happened to connections and subflows, for path managers, logs and
// metrics (named after Linux's MPTCP netlink events, MPTCP_EVENT_*, as `ip mptcp monitor` prints).
import type { TcpError } from '../tcp/socket.js';
import type { AnnouncedAddr, MptcpConnection } from './connection.js';
import type { Subflow } from './subflow.js';

export type MptcpEvent =
  /** A connection was opened (client) or accepted (server); its handshake may still be running. */
  | { type: 'created'; conn: MptcpConnection }
  /** The first subflow completed its handshake. */
  | { type: 'established'; conn: MptcpConnection }
  /** The last subflow is gone. */
  | { type: 'closed'; conn: MptcpConnection; error?: TcpError }
  /** The connection runs as plain TCP (RFC 8684 3.7). */
  | { type: 'fallback'; conn: MptcpConnection }
  | { type: 'sub-established'; conn: MptcpConnection; subflow: Subflow }
  | { type: 'sub-closed'; conn: MptcpConnection; subflow: Subflow; error?: TcpError }
  /** The peer announced an address (ADD_ADDR, RFC 8684 3.4.1). */
  | { type: 'announced'; conn: MptcpConnection; addr: AnnouncedAddr }
  /** The peer withdrew an address (REMOVE_ADDR, 3.4.2). */
  | { type: 'removed'; conn: MptcpConnection; id: number; addr?: AnnouncedAddr }
  /** A subflow's backup priority changed (MP_PRIO from the peer, RFC 8684 3.3.8). */
  | { type: 'sub-priority'; conn: MptcpConnection; subflow: Subflow }
  /** A subflow's retransmission timer fired: it is stale and its data was reinjected. */
  | { type: 'sub-stale'; conn: MptcpConnection; subflow: Subflow };

export type MptcpEventListener = (e: MptcpEvent) => void;
