// The supervisor's page: the live workers' status snapshots (hag/status.ts, each worker's
// /status.json?clients) made into one for the whole host, with a row per worker. Counts, bytes,
// rates and memory add up; subscribers are counted once however many workers hold their
// connections (each snapshot lists its clients when asked); a subflow RTT median is the median of
// the workers' medians (each worker's subflows are a sample of the host's), its max the max.
import {
  busiestOf,
  type HagStatus,
  type HagUplinkStatus,
  median,
  type UplinkSample,
  type WorkerRow,
} from '../status.js';

/** What the supervisor knows of a worker besides its snapshot (a dead one has none). */
export interface WorkerInfo {
  worker: number;
  pid: number | undefined;
  live: boolean;
  restarts: number;
}

function addTo(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** The workers' minute of samples added up, newest aligned with newest (each samples once a second). */
function mergeHistory(hs: UplinkSample[][]): UplinkSample[] {
  const len = Math.max(0, ...hs.map((h) => h.length));
  const out: UplinkSample[] = [];
  for (let back = len; back >= 1; back--) {
    let t = 0;
    let up = 0;
    let down = 0;
    const rtts: number[] = [];
    for (const h of hs) {
      const s = h[h.length - back];
      if (!s) continue;
      t = Math.max(t, s.t);
      up += s.bytesUp;
      down += s.bytesDown;
      if (s.srttMs !== undefined) rtts.push(s.srttMs);
    }
    out.push({ t, bytesUp: up, bytesDown: down, srttMs: rtts.length ? median(rtts) : undefined });
  }
  return out;
}

function mergeUplinks(list: HagStatus[]): HagUplinkStatus[] {
  const names: string[] = [];
  for (const s of list) for (const u of s.uplinks) if (!names.includes(u.name)) names.push(u.name);
  return names.map((name) => {
    const us = list.flatMap((s) => s.uplinks.filter((u) => u.name === name));
    const rtts = us.flatMap((u) => (u.srttMs ? [u.srttMs] : []));
    return {
      name,
      subflows: us.reduce((n, u) => n + u.subflows, 0),
      bytesUp: us.reduce((n, u) => n + u.bytesUp, 0),
      bytesDown: us.reduce((n, u) => n + u.bytesDown, 0),
      rateUpBps: us.reduce((n, u) => n + u.rateUpBps, 0),
      rateDownBps: us.reduce((n, u) => n + u.rateDownBps, 0),
      srttMs: rtts.length
        ? { median: median(rtts.map((r) => r.median)), max: Math.max(...rtts.map((r) => r.max)) }
        : undefined,
      history: mergeHistory(us.map((u) => u.history)),
    };
  });
}

/** One snapshot for the host from its live workers' (`list`) and the supervisor's view of all. */
export function mergeStatus(
  list: HagStatus[],
  workers: WorkerInfo[],
  own: { uptimeS: number; draining: boolean; time: number },
): HagStatus {
  const byProto: Record<string, number> = {};
  const byState: Record<string, number> = {};
  const clients = new Map<string, number>();
  const refusals = new Map<string, { reason: string; proto: string; count: number }>();
  let open = 0;
  let accepted = 0;
  let capacity = 0;
  let rss = 0;
  let buffers = 0;
  for (const s of list) {
    open += s.connections.open;
    accepted += s.connections.accepted;
    capacity += s.connections.capacity;
    addTo(byProto, s.connections.byProto);
    addTo(byState, s.connections.byState);
    for (const [c, n] of s.subscribers.all ??
      s.subscribers.busiest.map((b) => [b.client, b.connections] as const))
      clients.set(c, (clients.get(c) ?? 0) + n);
    for (const r of s.refusals) {
      const k = `${r.reason}\0${r.proto}`;
      const e = refusals.get(k);
      if (e) e.count += r.count;
      else refusals.set(k, { ...r });
    }
    rss += s.memory.rssBytes;
    buffers += s.memory.bufferBytes;
  }
  const byWorker = new Map(list.map((s) => [s.worker, s]));
  const rows: WorkerRow[] = workers.map((w) => {
    const s = byWorker.get(w.worker);
    return {
      worker: w.worker,
      pid: w.pid,
      live: w.live && s !== undefined,
      restarts: w.restarts,
      open: s?.connections.open ?? 0,
      subscribers: s?.subscribers.count ?? 0,
      rateDownBps: s ? s.uplinks.reduce((n, u) => n + u.rateDownBps, 0) : 0,
      rateUpBps: s ? s.uplinks.reduce((n, u) => n + u.rateUpBps, 0) : 0,
      rssBytes: s?.memory.rssBytes ?? 0,
    };
  });
  const busiest = busiestOf(clients);
  return {
    worker: 'all',
    time: own.time,
    uptimeS: own.uptimeS,
    draining: own.draining,
    connections: { open, accepted, byProto, byState, capacity },
    subscribers: { count: clients.size, busiest },
    uplinks: mergeUplinks(list),
    refusals: [...refusals.values()].sort((x, y) => y.count - x.count || x.reason.localeCompare(y.reason)),
    memory: { rssBytes: rss, bufferBytes: buffers },
    workers: rows,
  };
}
