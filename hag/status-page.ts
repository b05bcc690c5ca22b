// The HAG's live page, rendered from one status snapshot (the same one /status.json serves), in the
// style of the CPE's status page (cpe/daemon/status-page.ts): the worker (or, from the supervisor,
// all of them with a row each), its uptime, connections
// open by protocol and state, subscribers (how many, the busiest), per uplink its open subflows,
// rates each way and subflow RTTs with a minute of charts, and refusals by reason. Readable without
// JavaScript (a meta refresh every 10 s); a few lines of script swap in a fresh render every
// second. No external resource.
import { escapeHtml as esc } from '../src/daemon/html.js';
import { type ChartSeries, svgChart } from '../src/daemon/svg-chart.js';
import { fmtBytes, fmtDuration, fmtRate } from '../src/daemon/units.js';
import { type HagStatus, type HagUplinkStatus, PROTOS } from './status.js';

function summary(s: HagStatus): string {
  const c = s.connections;
  const protos = PROTOS.filter((p) => c.byProto[p]).map((p) => `${c.byProto[p]} ${p}`);
  const states = ['handshake', 'relay', 'closing']
    .filter((k) => c.byState[k])
    .map((k) => `${c.byState[k]} in ${k}`);
  const capacity = Number.isFinite(c.capacity) ? ` of ${c.capacity} the open-file limit holds` : '';
  const who =
    s.worker === 'all' ? `all <b>${s.workers?.length ?? 0}</b> workers` : `worker <b>${s.worker}</b>`;
  return (
    `<p id="worker">${who}, up <b class="uptime">${fmtDuration(s.uptimeS)}</b>${s.draining ? '; <b class="down">draining</b>: no new connections' : ''}; resident memory ${fmtBytes(s.memory.rssBytes)}, traffic buffers ${fmtBytes(s.memory.bufferBytes)}</p>` +
    `<p id="connections">connections: <b class="open">${c.open}</b> open${capacity}${protos.length ? ` (${protos.join(', ')}; ${states.join(', ')})` : ''}, ${c.accepted} accepted since start</p>` +
    `<p id="subscribers">subscribers: <b class="subs">${s.subscribers.count}</b> with open connections</p>`
  );
}

function charts(u: HagUplinkStatus, now: number): string {
  const up: ChartSeries = { label: 'up', color: '#ef6c00', points: [] };
  const down: ChartSeries = { label: 'down', color: '#1565c0', points: [] };
  const rtt: ChartSeries = { label: 'median subflow', color: '#6a1b9a', points: [] };
  const h = u.history;
  for (let i = 0; i < h.length; i++) {
    const ago = (now - h[i].t) / 1000;
    rtt.points.push([ago, h[i].srttMs]);
    if (i === 0) continue;
    const dt = (h[i].t - h[i - 1].t) / 1000 || 1;
    down.points.push([ago, Math.max(0, ((h[i].bytesDown - h[i - 1].bytesDown) * 8) / dt)]);
    up.points.push([ago, Math.max(0, ((h[i].bytesUp - h[i - 1].bytesUp) * 8) / dt)]);
  }
  return (
    svgChart({ title: `${u.name} throughput`, fmt: fmtRate, spanS: 60, series: [down, up] }) +
    svgChart({ title: `${u.name} subflow RTT`, fmt: (v) => `${v.toFixed(0)} ms`, spanS: 60, series: [rtt] })
  );
}

function card(u: HagUplinkStatus, now: number): string {
  const id = esc(u.name);
  const rtt = u.srttMs
    ? `median ${u.srttMs.median.toFixed(1)} ms, max ${u.srttMs.max.toFixed(1)} ms`
    : 'no open subflow';
  return (
    `<section class="card" id="u-${id}" aria-labelledby="h-${id}" data-samples="${u.history.length}"><h2 id="h-${id}"><span class="name">${id}</span> <small>uplink</small></h2>` +
    '<table>' +
    `<tr><th>subflows</th><td class="subflows">${u.subflows} open</td></tr>` +
    `<tr><th>throughput</th><td class="tp">${fmtRate(u.rateDownBps)} down, ${fmtRate(u.rateUpBps)} up</td></tr>` +
    `<tr><th>carried</th><td>${fmtBytes(u.bytesDown)} down, ${fmtBytes(u.bytesUp)} up</td></tr>` +
    `<tr><th>RTT</th><td class="rtt">${rtt}</td></tr>` +
    '</table>' +
    charts(u, now) +
    '</section>'
  );
}

/** The supervisor's page: a row per worker (pid, restarts, connections, subscribers, rates, memory). */
function workers(s: HagStatus): string {
  if (!s.workers) return '';
  const rows = s.workers.map(
    (w) =>
      `<tr id="w-${w.worker}"><td>${w.worker}</td><td class="n">${w.pid ?? ''}</td><td>${w.live ? 'live' : '<b class="down">down</b>'}</td><td class="n">${w.restarts}</td>` +
      `<td class="n open">${w.open}</td><td class="n">${w.subscribers}</td><td class="tp">${fmtRate(w.rateDownBps)} down, ${fmtRate(w.rateUpBps)} up</td><td class="n">${fmtBytes(w.rssBytes)}</td></tr>`,
  );
  return (
    '<h2>Workers</h2><table id="workers" class="list"><thead><tr><th>worker</th><th>pid</th><th>state</th><th>restarts</th><th>open connections</th><th>subscribers</th><th>throughput</th><th>resident memory</th></tr></thead><tbody>' +
    `${rows.join('')}</tbody></table>`
  );
}

function busiest(s: HagStatus): string {
  const rows = s.subscribers.busiest.map(
    (b) => `<tr><td>${esc(b.client)}</td><td class="n">${b.connections}</td></tr>`,
  );
  return (
    `<div><h2>Busiest subscribers</h2><table id="busiest" class="list"><thead><tr><th>address</th><th>open connections</th></tr></thead><tbody>` +
    (rows.join('') || '<tr><td colspan="2">none</td></tr>') +
    '</tbody></table></div>'
  );
}

function refusals(s: HagStatus): string {
  const total = s.refusals.reduce((n, r) => n + r.count, 0);
  const rows = s.refusals.map(
    (r) =>
      `<tr><td class="reason">${esc(r.reason)}</td><td>${esc(r.proto)}</td><td class="n">${r.count}</td></tr>`,
  );
  return (
    `<div><h2>Refusals since start (${total})</h2><table id="refusals" class="list"><thead><tr><th>reason</th><th>protocol</th><th>count</th></tr></thead><tbody>` +
    (rows.join('') || '<tr><td colspan="3">none</td></tr>') +
    '</tbody></table></div>'
  );
}

/** Local time to the second: 2026-12-03 14:05:09. */
function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const HEAD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hybrid Access HAG</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<style>
body{font:14px system-ui,sans-serif;margin:1.2em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .4em}h2{font-size:1.05em;margin:.6em 0 .2em}p{margin:.3em 0}
.grid{display:flex;flex-wrap:wrap;gap:1em;margin:.6em 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em .9em;width:340px}
.card h2{margin:.2em 0}.down{color:#c62828}
table{border-collapse:collapse}th{text-align:left;font-weight:normal;color:#555;padding:1px 8px 1px 0;vertical-align:top}td{padding:1px 8px 1px 0}
.list th,.list td{border-bottom:1px solid #eee;padding:2px 12px 2px 0}.list th{font-weight:bold}.n{text-align:right}
.cols{display:flex;flex-wrap:wrap;gap:2.5em}
.chart{display:block;margin-top:.4em}.chart text{font:10px sans-serif;fill:#555}.chart .t{font:bold 11px sans-serif;fill:#333}
small{color:#666}
</style></head><body>
`;

// Swaps in a fresh server render; the page's own HTML is the only renderer.
const SCRIPT = `<script>
async function poll() {
  try {
    const r = await fetch('/', { cache: 'no-store' });
    const d = new DOMParser().parseFromString(await r.text(), 'text/html');
    document.getElementById('main').replaceWith(d.getElementById('main'));
  } catch {}
}
setInterval(poll, 1000);
</script>`;

export function renderHagPage(s: HagStatus): string {
  return (
    `${HEAD}<main id="main"><h1>Hybrid Access HAG</h1>${summary(s)}` +
    workers(s) +
    `<div class="grid" id="uplinks">${s.uplinks.map((u) => card(u, s.time)).join('')}</div>` +
    `<div class="cols">${refusals(s)}${busiest(s)}</div>` +
    `<p><small>Updated ${fmtTime(s.time)}. The same data: <a href="/status.json">/status.json</a>, <a href="/sessions">/sessions</a>, <a href="/metrics">/metrics</a></small></p></main>` +
    `${SCRIPT}</body></html>\n`
  );
}
