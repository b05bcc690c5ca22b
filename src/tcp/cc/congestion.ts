// The congestion-control interface of a TCP sender (RFC 5681 framing). One instance per
// connection (or subflow); the sender reports ACKs, losses and timeouts and reads the window.
// Implementations: cubic.ts (RFC 9438, the default) and newreno.ts (RFC 5681 / RFC 6582).

export interface CongestionController {
  readonly name: string;
  /** Congestion window in bytes. */
  readonly window: number;
  /** Slow-start threshold in bytes (Infinity before the first loss). */
  readonly ssthresh: number;

  /**
   * New data was cumulatively or selectively acknowledged while not in loss recovery.
   * `acked`: bytes newly acknowledged; `inFlight`: bytes outstanding before this ACK;
   * `cwndLimited`: whether the sender was limited by the window (not by the application) since
   * the last ACK (RFC 7661: do not grow the window while application-limited);
   * `rtt`: the connection's RTT estimator, for RTT-aware algorithms.
   */
  onAck(now: number, acked: number, inFlight: number, cwndLimited: boolean, rtt: RttView): void;

  /** Loss detected by duplicate ACKs or SACK: entry into fast recovery, once per episode. */
  onCongestionEvent(now: number, inFlight: number): void;

  /** The retransmission timer expired (RFC 5681 section 3.1, equation 4; cwnd to one segment). */
  onRetransmissionTimeout(now: number, inFlight: number): void;

  /** Fast recovery ended (the recovery point was acknowledged). */
  onRecoveryEnd(now: number): void;

  /** Restart after an idle period longer than the RTO (RFC 5681 section 4.1). */
  onIdleRestart(now: number): void;

  /** The sender's maximum segment size changed. */
  setMss(mss: number): void;
}

/** What congestion control may read of the RTT estimator. Times in milliseconds. */
export interface RttView {
  /** Smoothed RTT, or 0 before the first sample. */
  readonly srtt: number;
  /** Smallest RTT seen in the recent window, or 0 before the first sample. */
  readonly minRtt: number;
  /** Most recent sample, or 0 before the first. */
  readonly latest: number;
}
