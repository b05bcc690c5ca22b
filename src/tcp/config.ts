// Per-connection TCP settings with the defaults a router or gateway wants. Times in milliseconds.
import type { CongestionControlName } from './cc/index.js';

export interface TcpConfig {
  /** Interface MTU; the MSS we announce is MTU minus IP and TCP headers (RFC 9293 3.7.1). */
  mtu: number;
  /** Send buffer capacity in bytes (bounds memory; the application sees backpressure). */
  sendBuffer: number;
  /** Receive buffer capacity in bytes; the advertised window never exceeds it. */
  recvBuffer: number;
  /** Nagle's algorithm (RFC 9293 3.7.4); on by default. */
  nagle: boolean;
  /** Delayed ACK timeout (RFC 9293 3.8.6.3: at most 500 ms). */
  delayedAckMs: number;
  /** Offer and accept SACK (RFC 2018). */
  sack: boolean;
  /** Offer and accept timestamps (RFC 7323). */
  timestamps: boolean;
  /** Offer and accept window scaling (RFC 7323). */
  windowScale: boolean;
  /** TIME-WAIT duration (2 * MSL, RFC 9293 3.4.2); configurable, Linux uses 60 s. */
  timeWaitMs: number;
  /**
   * How long an orphaned connection (the application closed it: TcpSocket.orphan) waits in
   * FIN-WAIT-2 for the peer's FIN before it ends silently (Linux tcp_fin_timeout, 60 s).
   */
  finTimeoutMs: number;
  /** Minimum RTO (RFC 6298 says 1 s; Linux and this default use 200 ms). */
  minRtoMs: number;
  /** Retransmissions of a SYN before giving up. */
  synRetries: number;
  /** Retransmissions of a SYN/ACK before a half-open connection is dropped (Linux tcp_synack_retries). */
  synAckRetries: number;
  /** Retransmissions of data before the connection is aborted (RFC 9293 3.8.3, R2). */
  dataRetries: number;
  /** Keepalive (RFC 9293 3.8.4): idle time before the first probe; 0 disables. */
  keepaliveIdleMs: number;
  keepaliveIntervalMs: number;
  keepaliveProbes: number;
  congestionControl: CongestionControlName;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  mtu: 1500,
  sendBuffer: 1 << 20,
  recvBuffer: 1 << 20,
  nagle: true,
  delayedAckMs: 40,
  sack: true,
  timestamps: true,
  windowScale: true,
  timeWaitMs: 60_000,
  finTimeoutMs: 60_000,
  minRtoMs: 200,
  synRetries: 6,
  synAckRetries: 5,
  dataRetries: 15,
  keepaliveIdleMs: 0,
  keepaliveIntervalMs: 75_000,
  keepaliveProbes: 9,
  congestionControl: 'cubic',
};
