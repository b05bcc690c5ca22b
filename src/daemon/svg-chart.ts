// A line chart as plain inline SVG for the daemons' status pages (no script, no dependency): a y axis from 0
// to a rounded maximum with labelled ticks, a visible title in the series' unit, an x axis in seconds before now,
// one polyline per series and a legend naming each. Points are [seconds before now, value]; a
// missing value (undefined) breaks the line. Labels are escaped here.

export interface ChartSeries {
  label: string;
  color: string;
  points: [number, number | undefined][];
}

export interface ChartSpec {
  title: string;
  /** Formats an axis value with its unit ("12 Mbit/s", "40 ms"). */
  fmt: (v: number) => string;
  /** How far back the x axis reaches, seconds. */
  spanS: number;
  series: ChartSeries[];
}

import { escapeHtml } from './html.js';

const W = 340;
const H = 142;
const LEFT = 62;
const RIGHT = 16;
const TOP = 18;
const BOTTOM = 36;

/** 1, 2 or 5 times a power of ten, at least v: the y axis' top. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function svgChart(c: ChartSpec): string {
  let max = 0;
  for (const s of c.series) for (const [, v] of s.points) if (v !== undefined && v > max) max = v;
  const top = niceMax(max);
  const pw = W - LEFT - RIGHT;
  const ph = H - TOP - BOTTOM;
  const x = (ago: number) => (LEFT + pw * (1 - ago / c.spanS)).toFixed(1);
  const y = (v: number) => (TOP + ph * (1 - v / top)).toFixed(1);
  const title = escapeHtml(c.title);
  let out = `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${title}"><title>${title}</title>`;
  out += `<text x="2" y="11" class="t">${title}</text>`;
  // Axes, y ticks at 0, half and top, x ticks every quarter of the span.
  out += `<path d="M${LEFT} ${TOP}V${TOP + ph}H${LEFT + pw}" fill="none" stroke="#888"/>`;
  for (const v of [0, top / 2, top]) {
    out += `<line x1="${LEFT}" x2="${LEFT + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`;
    out += `<text x="${LEFT - 4}" y="${y(v)}" dy="3" text-anchor="end">${escapeHtml(c.fmt(v))}</text>`;
  }
  for (let i = 0; i <= 4; i++) {
    const ago = (c.spanS * (4 - i)) / 4;
    out += `<text x="${x(ago)}" y="${TOP + ph + 12}" text-anchor="middle">${ago === 0 ? 'now' : `-${Math.round(ago)} s`}</text>`;
  }
  for (const s of c.series) {
    let d = '';
    let pen = 'M';
    for (const [ago, v] of s.points) {
      if (v === undefined || ago > c.spanS) {
        pen = 'M';
        continue;
      }
      d += `${pen}${x(ago)} ${y(v)}`;
      pen = 'L';
    }
    if (d) out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
  }
  // Legend under the x axis.
  let lx = LEFT;
  for (const s of c.series) {
    out += `<rect x="${lx}" y="${H - 11}" width="10" height="3" fill="${s.color}"/><text x="${lx + 14}" y="${H - 7}">${escapeHtml(s.label)}</text>`;
    lx += 24 + s.label.length * 6;
  }
  return `${out}</svg>`;
}
