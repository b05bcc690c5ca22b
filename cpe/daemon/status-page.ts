// The status page's HTML: one self-contained document (no external scripts) that polls
// /status.json every second and draws, per uplink, its state and why (down, direct-only when the
// HAG does not answer over it), whether it carries the non-TCP and direct traffic, throughput and
// RTT as small canvas charts, plus the HAG's state and the connection counts.
export const STATUS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hybrid Access CPE</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
h1{font-size:1.3em;margin:0 0 .5em}
.grid{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;min-width:330px}
.up{color:#1a7f37}.down{color:#c62828}.unknown{color:#888}.direct-only{color:#b26a00}
table{border-collapse:collapse}td{padding:1px 8px 1px 0}
canvas{display:block;margin-top:.4em;border:1px solid #eee}
small{color:#666}
</style></head><body>
<h1>Hybrid Access CPE</h1>
<div id="hag"></div>
<div id="conns"></div>
<div class="grid" id="uplinks"></div>
<script>
const hist = {};
const fmtRate = (b) => b >= 1e6 ? (b / 1e6).toFixed(1) + ' Mbit/s' : (b / 1e3).toFixed(0) + ' kbit/s';
const fmtBytes = (b) => b >= 1e9 ? (b / 1e9).toFixed(2) + ' GB' : b >= 1e6 ? (b / 1e6).toFixed(1) + ' MB' : (b / 1e3).toFixed(0) + ' kB';
function chart(canvas, series, colors, unit) {
  const c = canvas.getContext('2d'), w = canvas.width, h = canvas.height;
  c.clearRect(0, 0, w, h);
  let max = 1;
  for (const s of series) for (const v of s) if (v > max) max = v;
  series.forEach((s, i) => {
    c.strokeStyle = colors[i]; c.lineWidth = 1.5; c.beginPath();
    s.forEach((v, x) => { const px = w - (s.length - 1 - x) * (w / 120), py = h - 2 - (v / max) * (h - 14); x ? c.lineTo(px, py) : c.moveTo(px, py); });
    c.stroke();
  });
  c.fillStyle = '#666'; c.font = '10px sans-serif'; c.fillText(unit(max), 3, 10);
}
function card(u) {
  let el = document.getElementById('u-' + u.name);
  if (!el) {
    el = document.createElement('div'); el.className = 'card'; el.id = 'u-' + u.name;
    el.innerHTML = '<b class="name"></b> <span class="state"></span><table class="t"></table>' +
      '<small>throughput (in, out)</small><canvas class="rate" width="320" height="80"></canvas>' +
      '<small>RTT (probe, subflows)</small><canvas class="rtt" width="320" height="60"></canvas>';
    document.getElementById('uplinks').appendChild(el);
  }
  return el;
}
async function poll() {
  let s;
  try { s = await (await fetch('/status.json', { cache: 'no-store' })).json(); } catch { return; }
  const act = (s.uplinks.find((x) => x.active) || {}).name;
  document.getElementById('hag').innerHTML = 'HAG ' + s.hag.address + ':' + s.hag.port + ' (' + s.hag.method + '): <b class="' +
    (s.hag.state === 'up' ? 'up' : 'down') + '">' + (s.hag.state === 'up' ? 'bonding' : 'unreachable, direct via ' + act) + '</b>' +
    '; non-TCP and direct traffic via <b>' + act + '</b>';
  document.getElementById('conns').textContent = 'connections: ' + s.connections.active + ' open (' + s.connections.bonded +
    ' bonded, ' + s.connections.direct + ' direct); ' + s.connections.accepted + ' since start';
  for (const u of s.uplinks) {
    const el = card(u);
    if (!hist[u.name]) {
      // A fresh page starts its throughput charts from the daemon's per-second history.
      const h0 = { in: [], out: [], probe: [], sf: [] }, p = u.history;
      for (let i = 1; i < p.length; i++) {
        const dt = (p[i].t - p[i - 1].t) / 1000 || 1;
        h0.in.push(((p[i].bytesIn - p[i - 1].bytesIn) * 8) / dt);
        h0.out.push(((p[i].bytesOut - p[i - 1].bytesOut) * 8) / dt);
        h0.probe.push(0); h0.sf.push(0);
      }
      hist[u.name] = h0;
    }
    const h = hist[u.name];
    h.in.push(u.rateInBps); h.out.push(u.rateOutBps); h.probe.push(u.probeRttMs ?? 0); h.sf.push(u.subflowRttMs ?? 0);
    for (const k in h) if (h[k].length > 120) h[k].shift();
    el.querySelector('.name').textContent = u.name + ' (' + u.interface + ', ' + u.role + (u.backup && u.role !== 'backup' ? ', backup now' : '') + ')';
    const st = el.querySelector('.state'); st.className = 'state ' + u.state;
    st.textContent = u.state + (u.reason !== 'ok' ? ' (' + u.reason + (u.state === 'down' ? ': ' + u.healthReason : '') + ')' : '') + (u.active ? ', carries non-TCP' : '');
    el.querySelector('.t').innerHTML =
      '<tr><td>throughput</td><td class="tp">' + fmtRate(u.rateInBps) + ' in, ' + fmtRate(u.rateOutBps) + ' out</td></tr>' +
      '<tr><td>carried</td><td>' + fmtBytes(u.bytesIn) + ' in, ' + fmtBytes(u.bytesOut) + ' out</td></tr>' +
      '<tr><td>RTT</td><td>' + (u.probeRttMs !== undefined ? u.probeRttMs.toFixed(1) + ' ms probe' : '-') +
      (u.subflowRttMs !== undefined ? ', ' + u.subflowRttMs.toFixed(1) + ' ms subflows' : '') + '</td></tr>' +
      '<tr><td>subflows</td><td>' + u.subflows + '</td></tr>' +
      '<tr><td>probe loss</td><td>' + (u.probeLoss !== undefined ? Math.round(u.probeLoss * 100) + '%' : '-') +
      (u.hagReachable !== undefined ? ', HAG ' + (u.hagReachable ? 'answers' : 'does not answer') + ' over it' : '') + '</td></tr>' +
      (u.quota ? '<tr><td>quota</td><td>' + fmtBytes(u.quota.used) + ' of ' + fmtBytes(u.quota.bytes) + ' this ' + u.quota.period + (u.quota.exceeded ? ' (used up)' : '') + '</td></tr>' : '');
    chart(el.querySelector('.rate'), [h.in, h.out], ['#1565c0', '#ef6c00'], fmtRate);
    chart(el.querySelector('.rtt'), [h.probe, h.sf], ['#2e7d32', '#6a1b9a'], (v) => v.toFixed(0) + ' ms');
  }
}
poll(); setInterval(poll, 1000);
</script></body></html>
`;
