// Summary of a V8 CPU profile (a .cpuprofile file, as `node --cpu-prof` writes one): each
// function's self time (the sampled time during which it was on top of the stack), the top ones
// with their file:line (mapped back to the TypeScript source where a .js.map lies beside the
// script), the idle time, and the share of the busy time in (program), (garbage collector), native
// code, Node's own JavaScript, dependencies and the rest. Used by scripts/cpuprofile-summary and bench-lab.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based, -1 when unknown. */
  lineNumber: number;
  columnNumber: number;
}

/** The parts of the .cpuprofile format (Chrome DevTools protocol, Profiler.Profile) used here. */
export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; hitCount?: number }[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  /** The node on top of the stack at each sample, and the time since the sample before (µs). */
  samples?: number[];
  timeDeltas?: number[];
}

export const CATEGORIES = [
  '(program)',
  '(garbage collector)',
  '(idle)',
  'native',
  'node internals',
  'dependencies',
  'the rest',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface FunctionTime {
  name: string;
  /** file:line, or what the profile says instead ("native" for code without a script). */
  where: string;
  selfMs: number;
}

export interface ProfileSummary {
  /** Sampled time, ms. */
  totalMs: number;
  samples: number;
  byCategory: Record<Category, number>;
  /** Every function, most self time first. */
  functions: FunctionTime[];
}

const SPECIAL = new Set(['(program)', '(garbage collector)', '(idle)']);

/** Self time per node id, µs: each sample owns the time until the next one (as DevTools counts). */
function selfTimes(p: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  if (samples.length === 0) {
    // No sample list: spread the profile's duration over the hit counts.
    const hits = p.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0);
    const per = hits > 0 ? (p.endTime - p.startTime) / hits : 0;
    for (const x of p.nodes) if (x.hitCount) self.set(x.id, x.hitCount * per);
    return self;
  }
  let t = p.startTime;
  const at: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    at.push(t);
  }
  for (let i = 0; i < samples.length; i++) {
    const next = i + 1 < samples.length ? at[i + 1] : Math.max(p.endTime, at[i]);
    self.set(samples[i], (self.get(samples[i]) ?? 0) + (next - at[i]));
  }
  return self;
}

/** Maps a script position to its source through the .js.map beside the script, if there is one. */
class Locator {
  private readonly maps = new Map<string, SourceMap | null>();

  constructor(private readonly root: string | undefined) {}

  where(f: CallFrame): string {
    if (f.url === '') return 'native';
    const line = f.lineNumber + 1;
    if (!f.url.startsWith('file://')) return line > 0 ? `${f.url}:${line}` : f.url;
    const file = fileURLToPath(f.url);
    const map = this.map(file);
    if (map && f.lineNumber >= 0) {
      const e = map.findEntry(f.lineNumber, Math.max(0, f.columnNumber)) as {
        originalSource?: string;
        originalLine?: number;
      };
      if (e.originalSource !== undefined && e.originalLine !== undefined) {
        const src = e.originalSource.startsWith('file://')
          ? fileURLToPath(e.originalSource)
          : e.originalSource;
        return `${this.short(src)}:${e.originalLine + 1}`;
      }
    }
    return line > 0 ? `${this.short(file)}:${line}` : this.short(file);
  }

  private short(file: string): string {
    return this.root && file.startsWith(this.root) ? relative(this.root, file) : file;
  }

  private map(file: string): SourceMap | null {
    let m = this.maps.get(file);
    if (m === undefined) {
      m = null;
      try {
        if (existsSync(`${file}.map`)) {
          const payload = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as {
            sources: string[];
            sourceRoot?: string;
          };
          // Sources are relative to the map's folder: make them absolute for findEntry's answer.
          const base = new URL('.', `file://${file}`);
          payload.sources = payload.sources.map((s) => new URL(s, base).href);
          m = new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0]);
        }
      } catch {
        m = null;
      }
      this.maps.set(file, m);
    }
    return m;
  }
}

function category(f: CallFrame): Category {
  if (SPECIAL.has(f.functionName)) return f.functionName as Category;
  if (f.url === '') return 'native';
  if (f.url.startsWith('node:')) return 'node internals';
  if (f.url.includes('/node_modules/')) return 'dependencies';
  return 'the rest';
}

/** Self time per function (same name and place counted once) and per category. `root`: paths shown relative to it. */
export function summariseProfile(p: CpuProfile, root?: string): ProfileSummary {
  const self = selfTimes(p);
  const locate = new Locator(root);
  const byCategory = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  const byFunction = new Map<string, FunctionTime>();
  let total = 0;
  for (const node of p.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0 || node.callFrame.functionName === '(root)') continue;
    const ms = us / 1000;
    total += ms;
    byCategory[category(node.callFrame)] += ms;
    const name = node.callFrame.functionName || '(anonymous)';
    const where = SPECIAL.has(name) ? '' : locate.where(node.callFrame);
    const key = `${name}\0${where}`;
    const f = byFunction.get(key);
    if (f) f.selfMs += ms;
    else byFunction.set(key, { name, where, selfMs: ms });
  }
  const functions = [...byFunction.values()].sort((x, y) => y.selfMs - x.selfMs);
  return { totalMs: total, samples: p.samples?.length ?? 0, byCategory, functions };
}

/**
 * The summary as text: the idle time, the shares of the busy (not idle) time per category, then the
 * top `top` functions by self time with their share of the busy time.
 */
export function formatSummary(s: ProfileSummary, top = 25): string {
  const idle = s.byCategory['(idle)'];
  const busy = s.totalMs - idle;
  const pct = (ms: number) => (busy > 0 ? `${((100 * ms) / busy).toFixed(1)}%` : '-');
  const lines = [
    `${(s.totalMs / 1000).toFixed(2)} s sampled (${s.samples} samples), ${(idle / 1000).toFixed(2)} s of it idle; ` +
      `of the ${(busy / 1000).toFixed(2)} s busy: ` +
      CATEGORIES.filter((c) => c !== '(idle)')
        .map((c) => `${c} ${pct(s.byCategory[c])}`)
        .join(', '),
    `${'self ms'.padStart(9)} ${'busy'.padStart(6)}  function  (file:line)`,
  ];
  for (const f of s.functions.filter((x) => x.name !== '(idle)').slice(0, top)) {
    lines.push(
      `${f.selfMs.toFixed(1).padStart(9)} ${pct(f.selfMs).padStart(6)}  ${f.name}${f.where ? `  (${f.where})` : ''}`,
    );
  }
  return lines.join('\n');
}

/** Reads a .cpuprofile file and summarises it. */
export function summariseProfileFile(file: string, root?: string): ProfileSummary {
  return summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, root);
}
