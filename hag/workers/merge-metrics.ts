// The supervisor's /metrics: the Prometheus text expositions (format 0.0.4) of several workers as
// one, each sample with its worker's labels added, each family's HELP and TYPE once and its
// samples together (the format wants a family's lines in one group).
import type { Labels } from '../../src/daemon/exposition.js';

interface Family {
  meta: string[];
  samples: string[];
}

const labelText = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');

/** `line` (a sample) with `extra` (k="v",...) first among its labels. */
function withLabels(line: string, extra: string): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace >= 0 && (space < 0 || brace < space)) {
    const inner = line[brace + 1] === '}' ? '' : ',';
    return `${line.slice(0, brace + 1)}${extra}${inner}${line.slice(brace + 1)}`;
  }
  return `${line.slice(0, space)}{${extra}}${line.slice(space)}`;
}

export function mergeExpositions(parts: readonly { labels: Labels; text: string }[]): string {
  const families = new Map<string, Family>();
  for (const { labels, text } of parts) {
    const extra = labelText(labels);
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        const name = meta[2];
        current = families.get(name);
        if (!current) {
          current = { meta: [], samples: [] };
          families.set(name, current);
        }
        if (current.meta.length < 2 && !current.meta.includes(line)) current.meta.push(line);
        continue;
      }
      if (line.startsWith('#')) continue;
      if (!current) {
        current = { meta: [], samples: [] };
        families.set(`#${families.size}`, current);
      }
      current.samples.push(withLabels(line, extra));
    }
  }
  let out = '';
  for (const f of families.values()) {
    for (const m of f.meta) out += `${m}\n`;
    for (const s of f.samples) out += `${s}\n`;
  }
  return out;
}
