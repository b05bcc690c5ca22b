// The HAG's live status: one snapshot (served as /status.json, rendered as the page at /) read
// from what /metrics and /sessions read: the open sessions and their subflows, and the metric
// families (refusals by reason, bytes of finished connections by uplink). Per uplink (the access
// type a subflow's client address belongs to, config `uplinks`) it keeps a minute of once-a-second
// samples (bytes each way, subflow RTTs), for rates and charts. Every snapshot names its worker
// (0 while the HAG is one process); the supervisor of several adds theirs up
// (hag/workers/merge-status.ts).
import type { MetricFamily } from '../src/daemon/exposition.js';
import type { TcpSocket } from '../src/tcp/socket.js';
import { TcpState } from '../src/tcp/state.js';
import type { Proto, Session } from './session.js';

/** Samples kept per uplink: one a second, a minute's worth. */
const HISTORY = 61;
/** Subscribers listed by name on the page (those with the most open connections). */
const BUSIEST = 10;

export interface UplinkSample {
  /** ms since the epoch. */
  t: number;
  /** Bytes from subscribers (up) and to them (down) over this uplink since the start. */
  bytesUp: number;
  bytesDown: number;
  /** Median smoothed RTT of the open subflows, ms (undefined: none open). */
  srttMs: number | undefined;
}

export interface HagUplinkStatus {
  name: string;
  subflows: number;
  bytesUp: number;
  bytesDown: number;
  rateUpBps: number;
  rateDownBps: number;
  /** The open subflows' smoothed RTTs (RFC 6298), ms. */
  srttMs: { median: number; max: number } | undefined;
  history: UplinkSample[];
}

/** A worker as the supervisor's page lists it (hag/workers/merge-status.ts). */
export interface WorkerRow {
  worker: number;
  pid: number | undefined;
  /** Running and answering. */
  live: boolean;
  restarts: number;
  open: number;
  subscribers: number;
  rateDownBps: number;
  rateUpBps: number;
  rssBytes: number;
}

export interface HagStatus {
  /** Which worker this is (0: the only one), or 'all': the supervisor's sum of its workers. */
  worker: number | 'all';
  time: number;
  uptimeS: number;
  draining: boolean;
  connections: {
    open: number;
    accepted: number;
    byProto: Record<string, number>;
    byState: Record<string, number>;
    /** Open files the process may have, and the connections they hold (beyond: refused). */
    capacity: number;
  };
  subscribers: {
    count: number;
    busiest: { client: string; connections: number }[];
    /** Every subscriber with its open connections: only when asked (/status.json?clients). */
    all?: [string, number][];
  };
  uplinks: HagUplinkStatus[];
  refusals: { reason: string; proto: string; count: number }[];
  memory: { rssBytes: number; bufferBytes: number };
  /** The supervisor's: one row per worker. */
  workers?: WorkerRow[];
}

/** What the daemon hands the status at each tick and snapshot. */
export interface StatusSource {
  sessions: Iterable<Session>;
  /** Configured uplink names, in config order. */
  uplinks: readonly string[];
  /** hag_uplink_bytes_total: bytes of finished connections' subflows by uplink and direction. */
  uplinkBytes: MetricFamily;
  refusals: MetricFamily;
  connections: MetricFamily;
}

interface Tally {
  subflows: number;
  bytesUp: number;
  bytesDown: number;
  srtts: number[];
}

/** The BUSIEST subscribers of `clients` (address to open connections), most first, then by address. */
export function busiestOf(clients: Map<string, number>): { client: string; connections: number }[] {
  return [...clients]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], 'en', { numeric: true }))
    .slice(0, BUSIEST)
    .map(([client, connections]) => ({ client, connections }));
}

/** The median of `v` (not empty). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export class HagStatusBoard {
  private readonly startedAt = Date.now();
  private readonly history = new Map<string, UplinkSample[]>();
  private last = new Map<string, Tally>();

  constructor(readonly worker = 0) {}

  /** Per uplink now: open subflows, bytes (finished connections' and open ones'), RTTs. */
  private tally(src: StatusSource): Map<string, Tally> {
    const t = new Map<string, Tally>();
    const of = (name: string) => {
      let e = t.get(name);
      if (!e) {
        e = { subflows: 0, bytesUp: 0, bytesDown: 0, srtts: [] };
        t.set(name, e);
      }
      return e;
    };
    for (const name of src.uplinks) of(name);
    for (const { labels, value } of src.uplinkBytes.series()) {
      const e = of(labels.uplink ?? 'other');
      if (labels.direction === 'up') e.bytesUp += value;
      else e.bytesDown += value;
    }
    // One visitor for every session: the tally runs each second over every open connection.
    const visit = (uplink: string, sock: TcpSocket) => {
      const e = of(uplink);
      e.bytesUp += sock.stats.bytesIn;
      e.bytesDown += sock.stats.bytesOut;
      if (sock.state !== TcpState.Established) return;
      e.subflows++;
      if (sock.rtt.srtt > 0) e.srtts.push(sock.rtt.srtt);
    };
    for (const s of src.sessions) s.eachSubflow(visit);
    return t;
  }

  /** Once a second (the daemon's tick): a sample per uplink. */
  sample(src: StatusSource, now = Date.now()): void {
    this.last = this.tally(src);
    for (const [name, e] of this.last) {
      let h = this.history.get(name);
      if (!h) {
        h = [];
        this.history.set(name, h);
      }
      h.push({
        t: now,
        bytesUp: e.bytesUp,
        bytesDown: e.bytesDown,
        srttMs: e.srtts.length ? median(e.srtts) : undefined,
      });
      if (h.length > HISTORY) h.shift();
    }
  }

  snapshot(
    src: StatusSource,
    extra: { draining: boolean; capacity: number; rssBytes: number; bufferBytes: number; clients?: boolean },
    now = Date.now(),
  ): HagStatus {
    const byProto: Record<string, number> = {};
    const byState: Record<string, number> = {};
    const clients = new Map<string, number>();
    let open = 0;
    for (const s of src.sessions) {
      open++;
      byProto[s.proto] = (byProto[s.proto] ?? 0) + 1;
      byState[s.state] = (byState[s.state] ?? 0) + 1;
      clients.set(s.client, (clients.get(s.client) ?? 0) + 1);
    }
    let accepted = 0;
    for (const { value } of src.connections.series()) accepted += value;
    const busiest = busiestOf(clients);
    const uplinks: HagUplinkStatus[] = [];
    for (const [name, e] of this.last) {
      const h = this.history.get(name) ?? [];
      // Rates over the last few seconds of samples (a counter that went down, a restart of the
      // tally when a session's subflow closed, reads as nothing rather than negative).
      const a = h[Math.max(0, h.length - 4)];
      const b = h[h.length - 1];
      const dt = a && b && b.t > a.t ? (b.t - a.t) / 1000 : 0;
      const rate = (x: number, y: number) => (dt > 0 ? Math.max(0, ((y - x) * 8) / dt) : 0);
      uplinks.push({
        name,
        subflows: e.subflows,
        bytesUp: e.bytesUp,
        bytesDown: e.bytesDown,
        rateUpBps: a && b ? rate(a.bytesUp, b.bytesUp) : 0,
        rateDownBps: a && b ? rate(a.bytesDown, b.bytesDown) : 0,
        srttMs: e.srtts.length ? { median: median(e.srtts), max: Math.max(...e.srtts) } : undefined,
        history: h.slice(),
      });
    }
    const refusals = src.refusals
      .series()
      .map(({ labels, value }) => ({ reason: labels.reason ?? '', proto: labels.proto ?? '', count: value }))
      .sort((x, y) => y.count - x.count || x.reason.localeCompare(y.reason));
    return {
      worker: this.worker,
      time: now,
      uptimeS: (now - this.startedAt) / 1000,
      draining: extra.draining,
      connections: { open, accepted, byProto, byState, capacity: extra.capacity },
      subscribers: { count: clients.size, busiest, ...(extra.clients ? { all: [...clients] } : {}) },
      uplinks,
      refusals,
      memory: { rssBytes: extra.rssBytes, bufferBytes: extra.bufferBytes },
    };
  }
}

/** The protocols a HAG serves, in the order the page lists them. */
export const PROTOS: readonly Proto[] = ['socks', 'convert', 'transparent'];
