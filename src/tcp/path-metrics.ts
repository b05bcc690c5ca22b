// What connections learnt about a path, for the next ones on it: TCP control block sharing of
// RFC 9040 (temporal sharing: a connection that ends leaves its RTT, ssthresh and window to the
// path's entry; ensemble sharing: connections open at the same time on the path split what the
// entry holds). A path is a local and a remote address (RFC 9040 section 8.1: the same addresses
// on both ends are the stand-in for the same network path), so one MPTCP uplink toward the HAG,
// or the HAG's way to one CPE uplink. Linux keeps RTT and ssthresh the same way (tcp_metrics);
// RFC 9040 also lets a new connection start from the cached window, which the first flight then
// spreads over the cached RTT (the sender paces once it has an RTT: pacing.ts). The window is
// reused within RFC 7661's non-validated period (5 minutes): what a connection that stayed open
// and idle that long could still send; RTT and ssthresh live for an hour, as Linux's.
// One entry per path, per connection work only (not per packet); bounded.
import { initialWindow } from './cc/newreno.js';

/** Where a new connection starts from, as newly made controllers and the RTT estimator take it. */
export interface PathSeed {
  /** Smoothed RTT and its variation, ms (0: nothing known). */
  srtt: number;
  rttvar: number;
  /** Initial window, bytes (at least RFC 6928's). */
  window: number;
  /** Slow-start threshold, bytes (Infinity: no loss seen on the path). */
  ssthresh: number;
}

/** What a connection that ends leaves to its path's entry. */
export interface PathLearnt {
  srtt: number;
  rttvar: number;
  /** Its congestion window, bytes (only when it had data acknowledged), and ssthresh. */
  window: number;
  ssthresh: number;
  mss: number;
}

interface Entry {
  srtt: number;
  rttvar: number;
  rttAt: number;
  /** Window in segments (of the connection that left it), and when it was left. */
  segments: number;
  windowAt: number;
  ssthreshSegments: number;
  /** Connections open on the path that took their start from this entry. */
  open: number;
}

export interface PathMetricsOptions {
  /** Paths kept (the oldest one goes first). Default 4096. */
  maxPaths?: number;
  /** How long RTT and ssthresh stay usable, ms (Linux's TCP_METRICS_TIMEOUT: 1 hour). */
  rttLifetimeMs?: number;
  /** How long a window stays usable, ms (RFC 7661's non-validated period: 5 minutes). */
  windowLifetimeMs?: number;
}

/** The path's key: both addresses (per connection, not per packet). */
function pathKey(local: Uint8Array, remote: Uint8Array): string {
  return `${local.join('.')}>${remote.join('.')}`;
}

export class PathMetrics {
  private readonly paths = new Map<string, Entry>();
  private readonly maxPaths: number;
  private readonly rttLifetime: number;
  private readonly windowLifetime: number;

  constructor(o: PathMetricsOptions = {}) {
    this.maxPaths = o.maxPaths ?? 4096;
    this.rttLifetime = o.rttLifetimeMs ?? 3_600_000;
    this.windowLifetime = o.windowLifetimeMs ?? 300_000;
  }

  get size(): number {
    return this.paths.size;
  }

  /**
   * A connection on the path starts (its MSS is known): what it may start from, or undefined
   * when nothing recent is known. It counts as open on the path until `closed`. Ensemble sharing:
   * the window is the entry's divided among the open connections and this one (each one opened
   * while others run takes its share, never less than RFC 6928's initial window), and never above
   * the path's ssthresh.
   */
  opened(now: number, local: Uint8Array, remote: Uint8Array, mss: number): PathSeed | undefined {
    const k = pathKey(local, remote);
    let e = this.paths.get(k);
    if (!e) {
      e = { srtt: 0, rttvar: 0, rttAt: 0, segments: 0, windowAt: 0, ssthreshSegments: Infinity, open: 0 };
      this.insert(k, e);
    }
    const share = e.open + 1;
    e.open++;
    if (e.srtt === 0 || now - e.rttAt > this.rttLifetime) return undefined;
    const iw = initialWindow(mss);
    const ssthresh = Number.isFinite(e.ssthreshSegments)
      ? Math.max(2 * mss, e.ssthreshSegments * mss)
      : Infinity;
    let window = iw;
    if (e.segments > 0 && now - e.windowAt <= this.windowLifetime)
      window = Math.max(iw, Math.min((e.segments * mss) / share, ssthresh));
    return { srtt: e.srtt, rttvar: e.rttvar, window: Math.floor(window), ssthresh };
  }

  /**
   * A connection that `opened` on the path ends; what it learnt, if anything (it measured an RTT),
   * replaces the entry's: the newest connection knows the path's present best.
   */
  closed(now: number, local: Uint8Array, remote: Uint8Array, learnt: PathLearnt | undefined): void {
    const k = pathKey(local, remote);
    const e = this.paths.get(k);
    if (!e) return;
    if (e.open > 0) e.open--;
    if (!learnt || !(learnt.srtt > 0)) return;
    e.srtt = learnt.srtt;
    e.rttvar = learnt.rttvar;
    e.rttAt = now;
    if (learnt.window > 0) {
      e.segments = learnt.window / learnt.mss;
      e.windowAt = now;
    }
    if (Number.isFinite(learnt.ssthresh)) e.ssthreshSegments = learnt.ssthresh / learnt.mss;
    // Most recently used last: the map's order is the eviction order.
    this.paths.delete(k);
    this.paths.set(k, e);
  }

  private insert(k: string, e: Entry): void {
    if (this.paths.size >= this.maxPaths) {
      for (const [old, x] of this.paths) {
        if (x.open > 0 && this.paths.size < 2 * this.maxPaths) continue;
        this.paths.delete(old);
        break;
      }
    }
    this.paths.set(k, e);
  }
}
