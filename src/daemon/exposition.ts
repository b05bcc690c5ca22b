// The Prometheus text exposition (format 0.0.4) both daemons serve at /metrics, written by hand:
// counter, gauge and histogram families with labels, and the rules of the format checked where a
// family is named (a wrong name is a programmer's mistake, so it throws): counters end in `_total`,
// nothing else does, and no two families share a series name (a gauge `x` beside a counter
// `x_total`, a gauge `x_count` beside a histogram `x`), since PromQL and OpenMetrics see those as
// one metric. Values are in base units (seconds, bytes); rates are left to PromQL's rate().

export type Labels = Readonly<Record<string, string>>;

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values escaped as the format says: backslash, double quote and line feed. */
function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escaped as the format says: backslash and line feed. */
function helpLine(name: string, help: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`;
}

/** `k="v",k2="v2"`: the inside of a series' braces, in the labels' order. */
function labelText(labels: Labels): string {
  let s = '';
  for (const k in labels) {
    if (!NAME.test(k) || k.startsWith('__')) throw new TypeError(`invalid label name ${k}`);
    s += `${s ? ',' : ''}${k}="${escapeValue(labels[k])}"`;
  }
  return s;
}

/** A sample value as the format writes it (Go's ParseFloat reads +Inf, -Inf and NaN). */
function valueText(v: number): string {
  if (Number.isFinite(v)) return `${v}`;
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new TypeError(`invalid metric name ${name}`);
}

/** A counter or gauge family: one value per label set. */
export class MetricFamily {
  private readonly values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge',
    readonly help: string,
  ) {
    checkName(name);
    if ((type === 'counter') !== name.endsWith('_total'))
      throw new TypeError(`${name}: a counter's name ends in _total, and only a counter's`);
    if (/_(bucket|count|sum)$/.test(name))
      throw new TypeError(`${name}: _bucket, _count, _sum are a histogram's`);
  }

  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  /** A counter's set() copies a count kept elsewhere (a MIB); it must not go down between scrapes. */
  set(labels: Labels, v: number): this {
    this.values.set(labelText(labels), v);
    return this;
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }

  clear(): void {
    this.values.clear();
  }

  /** Every series with its labels (read back from their text) and value: for a status page. */
  series(): { labels: Record<string, string>; value: number }[] {
    const out: { labels: Record<string, string>; value: number }[] = [];
    for (const [k, value] of this.values) {
      const labels: Record<string, string> = {};
      for (const m of k.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      out.push({ labels, value });
    }
    return out;
  }

  /** The series names the family takes. */
  names(): string[] {
    return this.type === 'counter' ? [this.name, this.name.slice(0, -'_total'.length)] : [this.name];
  }

  render(out: string[]): void {
    out.push(helpLine(this.name, this.help), `# TYPE ${this.name} ${this.type}`);
    for (const [k, v] of this.values) out.push(`${this.name}${k ? `{${k}}` : ''} ${valueText(v)}`);
  }
}

/**
 * One histogram series: observations counted into buckets by their upper bounds (each bucket
 * holds the values above the previous bound, up to and including its own; the last holds the
 * rest, le="+Inf"), their sum and count. Plain numbers, so a snapshot carries it as JSON.
 */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i] > bounds[i - 1])) throw new TypeError('histogram bounds must increase');
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** What a histogram series is made of, as a snapshot carries it. */
export interface HistogramData {
  readonly bounds: readonly number[];
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** A histogram family: a series per label set, written as `_bucket` (cumulative), `_sum`, `_count`. */
export class HistogramFamily {
  private readonly series = new Map<string, HistogramData>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    checkName(name);
    if (name.endsWith('_total')) throw new TypeError(`${name}: only a counter's name ends in _total`);
  }

  /** Puts a series in the family (kept by reference: later observations show at the next render). */
  set(labels: Labels, data: HistogramData): this {
    if ('le' in labels) throw new TypeError(`${this.name}: le is the bucket label`);
    this.series.set(labelText(labels), data);
    return this;
  }

  clear(): void {
    this.series.clear();
  }

  names(): string[] {
    return [this.name, `${this.name}_bucket`, `${this.name}_sum`, `${this.name}_count`];
  }

  render(out: string[]): void {
    const n = this.name;
    out.push(helpLine(n, this.help), `# TYPE ${n} histogram`);
    for (const [k, h] of this.series) {
      const sep = k ? ',' : '';
      let acc = 0;
      for (let i = 0; i <= h.bounds.length; i++) {
        acc += h.counts[i] ?? 0;
        const le = i < h.bounds.length ? valueText(h.bounds[i]) : '+Inf';
        out.push(`${n}_bucket{${k}${sep}le="${le}"} ${acc}`);
      }
      const braces = k ? `{${k}}` : '';
      out.push(`${n}_sum${braces} ${valueText(h.sum)}`, `${n}_count${braces} ${h.count}`);
    }
  }
}

export type Family = MetricFamily | HistogramFamily;

/** The exposition of the families, in order; throws when two of them claim the same series name. */
export function exposition(families: Iterable<Family>): string {
  const taken = new Map<string, string>();
  const out: string[] = [];
  for (const f of families) {
    for (const n of f.names()) {
      const other = taken.get(n);
      if (other !== undefined) throw new TypeError(`${f.name} and ${other} share the name ${n}`);
      taken.set(n, f.name);
    }
    f.render(out);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Bucket bounds for round-trip times, in seconds: a DSL line's few milliseconds to an LTE cell's
 * tens, up to the seconds a full buffer (bufferbloat) or a failing link adds.
 */
export const RTT_BUCKETS_SECONDS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5,
];
