// The congestion-control interface of a TCP sender (RFC 5681 framing). One instance per
// connection (or subflow); the sender reports ACKs, losses and timeouts and reads the window.
// Implementations: cubic.ts (RFC 9438, the default), newreno.ts (RFC 5681 / RFC 6582) and bbr.ts
// (draft-ietf-ccwg-bbr), which is model-based: it takes the sender's rate samples and sets the
// pacing rate.
import type { RateSampler } from '../rate-sample.js';

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

  /**
   * Before any data: start from what earlier connections on the path learnt (RFC 9040, see
   * src/tcp/path-metrics.ts) instead of RFC 6928's initial window: `window` bytes (at least the
   * initial window) and `ssthresh` (Infinity: none known).
   */
  seed(window: number, ssthresh: number): void;

  /**
   * Rate-based controllers only: the rate sample of an ACK that delivered or marked lost data,
   * in loss recovery too. `inFlightBefore`/`inFlight`: bytes in flight before and after the ACK.
   * Its presence makes the sender keep per-segment delivery records (rate-sample.ts).
   */
  onRateSample?(now: number, rs: RateSampler, inFlightBefore: number, inFlight: number, rtt: RttView): void;

  /** The rate to pace new data at, bytes per ms; absent or 0: the sender's default pacing. */
  readonly pacingRate?: number;

  /** The controller's model of the path, for schedulers (absent: it keeps none). */
  readonly estimate?: PathEstimate;
}

/** A model-based controller's estimates of its path (read-only). */
export interface PathEstimate {
  /** Bottleneck bandwidth in bytes per ms (= kB/s), 0 before the first sample. */
  readonly bandwidth: number;
  /** Round-trip propagation time in ms, Infinity before the first sample. */
  readonly minRtt: number;
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
