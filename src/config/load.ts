// Loads a YAML configuration file and validates it with a schema (src/config/schema.ts). Errors are
// values: a list of issues, each naming the file, the line and what is wrong, ready to print.
import { readFileSync } from 'node:fs';
import { LineCounter, type Node, parseDocument } from 'yaml';
import { type ConfigIssue, Ctx, formatIssue, INVALID, type Schema } from './schema.js';

export type ConfigResult<T> = { ok: true; value: T } | { ok: false; issues: ConfigIssue[] };

/** Parses YAML text (named `file` in messages) and validates it against `schema`. */
export function parseConfig<T>(text: string, file: string, schema: Schema<T>): ConfigResult<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({
        file,
        line: lineCounter.linePos(e.pos[0]).line,
        path: '(yaml)',
        message: `invalid YAML: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  const ctx = new Ctx(file, lineCounter);
  const v = schema.check(doc.contents as Node | null, ctx, '');
  if (v === INVALID || ctx.issues.length > 0) return { ok: false, issues: ctx.issues };
  return { ok: true, value: v };
}

/** Reads and validates a configuration file. */
export function loadConfigFile<T>(path: string, schema: Schema<T>): ConfigResult<T> {
  return readConfigFile(path, (text, file) => parseConfig(text, file, schema));
}

/** Reads a configuration file and hands its text to `parse` (a daemon's parse with its own checks). */
export function readConfigFile<T>(
  path: string,
  parse: (text: string, file: string) => ConfigResult<T>,
): ConfigResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return {
      ok: false,
      issues: [{ file: path, path: '(file)', message: `cannot read: ${(e as Error).message}` }],
    };
  }
  return parse(text, path);
}

/** The issues as lines of text, one per issue. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

/**
 * The line of a dotted path ("uplinks[1].gateway") in the YAML text, or of its nearest parent that
 * is there: for the checks across settings, made on the typed value after the schema's.
 */
export function lineFinder(text: string): (path: string) => number | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return (path) => {
    const keys: (string | number)[] = [];
    for (const part of path.split('.'))
      for (const m of part.matchAll(/([^[\]]+)|\[(\d+)\]/g))
        keys.push(m[2] !== undefined ? Number(m[2]) : m[1]);
    for (let n = keys.length; n > 0; n--) {
      const node = doc.getIn(keys.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
    }
    return undefined;
  };
}
