// The status page's HTML, rendered on the CPE from one status snapshot (the same one /status.json
// serves), so that everything essential reads without JavaScript: the HAG's state and why, the
// daemon's uptime and connections, and per uplink its state and why it is down, capacity, quota
// bar and reset date, MPTCP health (subflows, their RTT, whether the options get through), and
// throughput and RTT charts as inline SVG with axes, units and a legend; then the port forwards
// (the HAG's verdict on each, their connections) and the LAN's DHCP leases. A few lines of script
// swap in a fresh render every second; without script a meta refresh does it every 10 s. No external resource: the page works offline on a router.
import { escapeHtml as esc } from '../../src/daemon/html.js';
import { type ChartSeries, svgChart } from '../../src/daemon/svg-chart.js';
import { fmtBytes, fmtDuration, fmtRate } from '../../src/daemon/units.js';
import { hostPort } from '../../src/wire/addr.js';
import type { StatusSnapshot, UplinkStatus } from './status.js';

const REASONS: Record<string, string> = {
  'not-probed': 'not probed yet',
  'no-address': 'no address on the interface',
  'echo-lost': 'probe echoes lost',
  'loss-high': 'probe loss too high',
  'rtt-high': 'probe RTT too high',
  'hag-unreachable': 'the HAG does not answer over it',
};

/** The router's local time, to the minute: 2026-12-02 14:05. */
function fmtTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function hagLine(s: StatusSnapshot): string {
  const via = s.uplinks.find((u) => u.active)?.name ?? 'none';
  const h = s.hag;
  const where = `HAG ${esc(h.address)}:${h.port} (${esc(h.method)})`;
  const state =
    h.state === 'up'
      ? '<b class="up">bonding</b>'
      : `<b class="down">${h.state === 'down' ? 'unreachable' : esc(h.state)}</b>${h.reason ? `: ${esc(h.reason)}` : ''}; new connections go direct via ${esc(via)}`;
  const since = h.since > 0 ? ` <small>since ${fmtTime(h.since)}</small>` : '';
  return `<p id="hag">${where}: ${state}${since}; non-TCP and direct traffic via <b>${esc(via)}</b></p>`;
}

function daemonLine(s: StatusSnapshot): string {
  const c = s.connections;
  const m = s.mib;
  const n = (k: string) => m[k] ?? 0;
  // RFC 8684 3.7: a SYN/ACK or ACK without MP_CAPABLE, or DSS lost mid-connection, means plain TCP.
  const fallbacks = n('MPCapableFallbackSYNACK') + n('MPCapableFallbackACK');
  return (
    `<p id="daemon">up <b class="uptime">${fmtDuration(s.uptimeS)}</b>; connections: ${c.active} open (${c.bonded} bonded, ${c.direct} direct), ${c.accepted} since start</p>` +
    `<p id="mptcp">MPTCP: ${n('MPCapableSYNACKRX')} handshakes answered by the HAG with MP_CAPABLE; fallbacks to TCP: <b>${fallbacks}</b> at the handshake, <b>${n('DSSFallback')}</b> mid-connection; joins (MP_JOIN) answered: ${n('MPJoinSynAckRx')}, HMAC failures: ${n('MPJoinSynAckHMacFailure') + n('MPJoinAckHMacFailure')}</p>`
  );
}

function stateText(u: UplinkStatus): string {
  if (u.reason === 'ok') return '';
  const why = REASONS[u.reason] ?? u.reason;
  const detail =
    u.state === 'down' && u.healthReason && u.healthReason !== why ? ` (${esc(u.healthReason)})` : '';
  return `<p class="why">why: <b>${esc(u.reason)}</b>: ${esc(why)}${detail}</p>`;
}

function mptcpHealth(u: UplinkStatus): string {
  const rtt = u.subflowRttMs !== undefined ? `, RTT ${u.subflowRttMs.toFixed(1)} ms` : '';
  const n = u.subflows;
  const fb = u.fallbackSubflows;
  // RFC 8684 3.7: a connection whose options were stripped goes on as plain TCP.
  const fell = fb > 0 ? `; <b class="down">${fb} fell back to plain TCP</b>` : '';
  // A subflow still in MPTCP had its MP_CAPABLE or MP_JOIN answered (RFC 8684 3.1, 3.2).
  if (n > fb) return `${n} subflow${n > 1 ? 's' : ''}${rtt}; options get through${fell}`;
  if (n > 0) return `${n} subflow${n > 1 ? 's' : ''}${rtt}${fell}: options do not get through`;
  if (u.state === 'down') return 'no subflows (line down)';
  if (u.hagReachable === false) return 'no subflows: the HAG does not answer over it';
  return `no subflows open${u.hagReachable ? '; the HAG answers over it' : ''}`;
}

/** The families the uplink has (an IPv6-only LTE), and how many of its subflows are IPv6. */
function ipRow(u: UplinkStatus): string {
  const f = u.families;
  if (!f) return '';
  const names = f.map((x) => (x === 'ipv4' ? 'IPv4' : 'IPv6'));
  const only = names.length === 1 ? ' only' : '';
  const six = u.subflows6 ? `; ${u.subflows6} subflow${u.subflows6 > 1 ? 's' : ''} over IPv6` : '';
  return `<tr><th>IP</th><td class="ip">${names.join(' and ')}${only}${six}</td></tr>`;
}

/** The quota as status.json has it, with the period's bounds where the daemon reports them. */
type Quota = NonNullable<UplinkStatus['quota']> & { periodStart?: number; periodEnd?: number };

function quotaRow(u: UplinkStatus): string {
  const q: Quota | undefined = u.quota;
  if (!q) return '';
  const pct = Math.min(100, q.bytes > 0 ? (q.used / q.bytes) * 100 : 0);
  const cls = q.exceeded ? 'bar full' : pct >= 80 ? 'bar warn' : 'bar';
  const reset =
    q.periodEnd !== undefined ? `; resets <span class="reset">${fmtTime(q.periodEnd)}</span>` : '';
  const from = q.periodStart !== undefined ? ` since ${fmtTime(q.periodStart)}` : '';
  return (
    `<tr><th>quota</th><td><div class="${cls}" role="progressbar" aria-label="${esc(u.name)} quota used" aria-valuemin="0" aria-valuemax="${q.bytes}" aria-valuenow="${Math.min(q.used, q.bytes)}"><span style="width:${pct.toFixed(1)}%"></span></div>` +
    `<span class="quota">${fmtBytes(q.used)} of ${fmtBytes(q.bytes)} (${pct.toFixed(0)}%) this ${esc(q.period)}${from}${q.exceeded ? ', <b class="down">used up: backup only</b>' : ''}${reset}</span></td></tr>`
  );
}

function charts(u: UplinkStatus, now: number): string {
  const h = u.history;
  const rin: ChartSeries = { label: 'in', color: '#1565c0', points: [] };
  const rout: ChartSeries = { label: 'out', color: '#ef6c00', points: [] };
  const probe: ChartSeries = { label: 'probe', color: '#2e7d32', points: [] };
  const sf: ChartSeries = { label: 'subflows', color: '#6a1b9a', points: [] };
  for (let i = 0; i < h.length; i++) {
    const ago = (now - h[i].t) / 1000;
    probe.points.push([ago, h[i].probeRttMs]);
    sf.points.push([ago, h[i].subflowRttMs]);
    if (i === 0) continue;
    const dt = (h[i].t - h[i - 1].t) / 1000 || 1;
    rin.points.push([ago, ((h[i].bytesIn - h[i - 1].bytesIn) * 8) / dt]);
    rout.points.push([ago, ((h[i].bytesOut - h[i - 1].bytesOut) * 8) / dt]);
  }
  return (
    svgChart({ title: `${u.name} throughput`, fmt: fmtRate, spanS: 60, series: [rin, rout] }) +
    svgChart({ title: `${u.name} RTT`, fmt: (v) => `${v.toFixed(0)} ms`, spanS: 60, series: [probe, sf] })
  );
}

function card(u: UplinkStatus, now: number): string {
  const id = esc(u.name);
  const capacity =
    u.capacityBps !== undefined
      ? `${fmtRate(u.capacityBps)} (${Math.round(((u.rateInBps + u.rateOutBps) / u.capacityBps) * 100)}% in use)`
      : 'not configured';
  const probe =
    (u.probeRttMs !== undefined
      ? `${u.state === 'down' ? 'last ' : ''}RTT ${u.probeRttMs.toFixed(1)} ms`
      : 'no RTT') + (u.probeLoss !== undefined ? `, loss ${Math.round(u.probeLoss * 100)}%` : '');
  const traffic = `${u.active ? 'carries non-TCP and direct traffic; ' : ''}${u.backup ? 'backup subflows only' : 'regular subflows'}`;
  return (
    `<section class="card" id="u-${id}" aria-labelledby="h-${id}"><h2 id="h-${id}"><span class="name">${id}</span> <small>(${esc(u.interface)}, ${esc(u.role)})</small> <span class="state ${esc(u.state)}">${esc(u.state)}</span></h2>` +
    stateText(u) +
    '<table>' +
    `<tr><th>throughput</th><td class="tp">${fmtRate(u.rateInBps)} in, ${fmtRate(u.rateOutBps)} out</td></tr>` +
    `<tr><th>capacity</th><td class="capacity">${capacity}</td></tr>` +
    `<tr><th>carried</th><td>${fmtBytes(u.bytesIn)} in, ${fmtBytes(u.bytesOut)} out</td></tr>` +
    `<tr><th>probe</th><td>${probe}</td></tr>` +
    `<tr><th>MPTCP</th><td class="mptcp">${mptcpHealth(u)}</td></tr>` +
    ipRow(u) +
    `<tr><th>traffic</th><td>${traffic}</td></tr>` +
    quotaRow(u) +
    '</table>' +
    charts(u, now) +
    '</section>'
  );
}

function leases(s: StatusSnapshot): string {
  if (!s.dhcp) return '<p id="leases">The CPE\'s DHCP server is off (another serves the LAN).</p>';
  const rows = s.dhcp.list
    .filter((l) => l.state === 'bound' || l.state === 'offered')
    .sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }))
    .map(
      (l) =>
        `<tr><td>${esc(l.hostname ?? '-')}</td><td>${esc(l.mac ?? '-')}</td><td>${esc(l.address)}</td><td>${l.state === 'offered' ? 'offered, ' : ''}${l.expiresAt > s.time ? `in ${fmtDuration((l.expiresAt - s.time) / 1000)} (${fmtTime(l.expiresAt)})` : 'expired'}</td></tr>`,
    );
  return (
    `<h2>DHCP leases (${rows.length})</h2><table id="leases" class="list"><thead><tr><th>host</th><th>MAC</th><th>address</th><th>expires</th></tr></thead><tbody>` +
    (rows.join('') || '<tr><td colspan="4">none</td></tr>') +
    '</tbody></table>'
  );
}

/** Inbound port forwarding: the control connection and each forward (nothing without `inbound`). */
function forwards(s: StatusSnapshot): string {
  const ib = s.inbound;
  if (!ib) return '';
  const c = ib.control;
  const ctl =
    c.state === 'up'
      ? `<b class="up">up</b> to ${esc(hostPort(c.hag ?? '', c.port))}`
      : `<b class="down">${esc(c.state)}</b>${c.reason ? `: ${esc(c.reason)}` : ''}`;
  const rows = ib.forwards.map(
    (f) =>
      `<tr><td>${esc(f.name)}</td><td>${esc(f.public)}</td><td>${esc(hostPort(f.host, f.port))}</td>` +
      `<td class="${f.state === 'open' ? 'up' : f.state === 'refused' ? 'down' : 'unknown'}">${esc(f.state)}${f.reason ? `: ${esc(f.reason)}` : ''}</td>` +
      `<td>${f.active} open, ${f.connections} in all, ${f.failed} failed</td></tr>`,
  );
  return (
    `<h2>Port forwarding</h2><p id="inbound">control connection to the HAG: ${ctl}; ${ib.active} inbound connections open, ${ib.accepted} since start</p>` +
    '<table id="forwards" class="list"><thead><tr><th>forward</th><th>HAG port</th><th>LAN host</th><th>state</th><th>connections</th></tr></thead><tbody>' +
    rows.join('') +
    '</tbody></table>'
  );
}

const HEAD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hybrid Access CPE</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<style>
body{font:14px system-ui,sans-serif;margin:1.2em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .4em}h2{font-size:1.05em;margin:.2em 0}p{margin:.3em 0}
.grid{display:flex;flex-wrap:wrap;gap:1em;margin:.6em 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em .9em;width:340px}
.up{color:#1a7f37}.down{color:#c62828}.unknown{color:#666}.direct-only{color:#9a5b00}
.state{font-weight:bold}.why{color:#c62828}
table{border-collapse:collapse}th{text-align:left;font-weight:normal;color:#555;padding:1px 8px 1px 0;vertical-align:top}td{padding:1px 8px 1px 0}
.list th,.list td{border-bottom:1px solid #eee;padding:2px 12px 2px 0}.list th{font-weight:bold}
.bar{width:200px;height:10px;border:1px solid #999;border-radius:3px;background:#fff;overflow:hidden}
.bar span{display:block;height:100%;background:#1565c0}.bar.warn span{background:#ef6c00}.bar.full span{background:#c62828}
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

export function renderStatusPage(s: StatusSnapshot): string {
  return (
    `${HEAD}<main id="main"><h1>Hybrid Access CPE</h1>${hagLine(s)}${daemonLine(s)}` +
    `<div class="grid" id="uplinks">${s.uplinks.map((u) => card(u, s.time)).join('')}</div>` +
    `${forwards(s)}${leases(s)}<p><small>Updated ${fmtTime(s.time)}. The same data: <a href="/status.json">/status.json</a>, <a href="/metrics">/metrics</a></small></p></main>` +
    `${SCRIPT}</body></html>\n`
  );
}
