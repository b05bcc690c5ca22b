// A small schema helper for YAML configuration: validators walk the parsed YAML nodes (which keep
// their source offsets), so every problem is reported with the file, the line, the dotted path of
// the setting and what was expected, e.g.
//   config/hag.yaml:12: listen.port: expected an integer 1-65535, got "abc"
// Validators collect every problem instead of stopping at the first. Generic: the HAG and the CPE
// each declare their own schema with these pieces.
import { isIP } from 'node:net';
import { isMap, isScalar, isSeq, type LineCounter, type Node, type Pair } from 'yaml';

export interface ConfigIssue {
  file: string;
  /** 1-based line, when the problem has a place in the file. */
  line?: number;
  /** Dotted path of the setting ("listen.port", "users[2].name"); "(top level)" for the root. */
  path: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}${i.line ? `:${i.line}` : ''}: ${i.path}: ${i.message}`;
}

/** Where validators report problems. */
export class Ctx {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    private readonly lines?: LineCounter,
  ) {}

  lineOf(node: Node | null | undefined): number | undefined {
    const off = node?.range?.[0];
    return off === undefined || !this.lines ? undefined : this.lines.linePos(off).line;
  }

  report(node: Node | null | undefined, path: string, message: string): typeof INVALID {
    this.issues.push({ file: this.file, line: this.lineOf(node), path: path || '(top level)', message });
    return INVALID;
  }
}

/** Returned by a validator that reported a problem. */
export const INVALID: unique symbol = Symbol('invalid');

export interface Schema<T> {
  /** What a valid value looks like, for messages ("an integer 1-65535"). */
  readonly expected: string;
  check(node: Node | null | undefined, ctx: Ctx, path: string): T | typeof INVALID;
}

/** The value a schema yields. */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** How a node looks in a message: `"abc"`, `12`, `a mapping`, `a list`, `nothing`. */
export function shown(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'nothing';
    return typeof node.value === 'string' ? JSON.stringify(node.value) : String(node.value);
  }
  return 'an alias';
}

function scalar<T>(expected: string, convert: (v: unknown) => T | undefined): Schema<T> {
  return {
    expected,
    check(node, ctx, path) {
      if (isScalar(node)) {
        const v = convert(node.value);
        if (v !== undefined) return v;
      }
      return ctx.report(node, path, `expected ${expected}, got ${shown(node)}`);
    },
  };
}

export function int(opts: { min?: number; max?: number } = {}): Schema<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` ${min}-${max}`
      : opts.min !== undefined
        ? ` >= ${min}`
        : opts.max !== undefined
          ? ` <= ${max}`
          : '';
  return scalar(`an integer${range}`, (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined,
  );
}

export function num(opts: { min?: number; max?: number } = {}): Schema<number> {
  const { min = -Infinity, max = Infinity } = opts;
  return scalar(
    `a number${opts.min !== undefined ? ` >= ${min}` : ''}${opts.max !== undefined ? ` <= ${max}` : ''}`,
    (v) => (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : undefined),
  );
}

export function bool(): Schema<boolean> {
  return scalar('true or false', (v) => (typeof v === 'boolean' ? v : undefined));
}

export function str(
  opts: { pattern?: RegExp; what?: string; minLength?: number; maxLength?: number } = {},
): Schema<string> {
  const { minLength = 1, maxLength = Number.MAX_SAFE_INTEGER } = opts;
  return scalar(opts.what ?? 'a string', (v) =>
    typeof v === 'string' &&
    v.length >= minLength &&
    v.length <= maxLength &&
    (!opts.pattern || opts.pattern.test(v))
      ? v
      : undefined,
  );
}

export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  return scalar(`one of ${values.map((v) => JSON.stringify(v)).join(', ')}`, (v) =>
    values.includes(v as T) ? (v as T) : undefined,
  );
}

/** An IPv4 or IPv6 address in text form. */
export function ipAddress(): Schema<string> {
  return scalar('an IPv4 or IPv6 address', (v) => (typeof v === 'string' && isIP(v) !== 0 ? v : undefined));
}

/** A prefix "ADDR/LEN" (LEN within the family's bits; a bare address is a host prefix). */
export function cidr(): Schema<string> {
  return scalar('an IPv4 or IPv6 prefix such as 198.18.0.0/15', (v) => {
    if (typeof v !== 'string') return undefined;
    const [a, len, extra] = v.split('/');
    const fam = isIP(a);
    if (fam === 0 || extra !== undefined) return undefined;
    if (len === undefined) return `${a}/${fam === 4 ? 32 : 128}`;
    if (!/^\d{1,3}$/.test(len) || Number(len) > (fam === 4 ? 32 : 128)) return undefined;
    return v;
  });
}

/** A TCP port or a range of them: 8080, or "27015-27030" (first <= last), as { first, last }. */
export function portRange(): Schema<{ first: number; last: number }> {
  return scalar('a port 1-65535 or a range such as "27015-27030"', (v) => {
    const m =
      typeof v === 'number'
        ? [String(v), String(v), String(v)]
        : /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(String(v));
    if (!m || (typeof v !== 'number' && typeof v !== 'string')) return undefined;
    const first = Number(m[1]);
    const last = Number(m[2]);
    if (!Number.isInteger(first) || first < 1 || last > 65535 || first > last) return undefined;
    return { first, last };
  });
}

/** A duration with a unit ("500ms", "30s", "5m", "1h"), in milliseconds. */
export function duration(): Schema<number> {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return scalar('a duration such as "500ms", "30s", "5m" or "1h"', (v) => {
    const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v) : null;
    return m ? Number(m[1]) * unit[m[2]] : undefined;
  });
}

export function list<T>(item: Schema<T>, opts: { min?: number; max?: number } = {}): Schema<T[]> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = opts;
  const expected = `a list of ${item.expected}${min > 0 ? ` (at least ${min})` : ''}`;
  return {
    expected,
    check(node, ctx, path) {
      if (!isSeq(node)) return ctx.report(node, path, `expected ${expected}, got ${shown(node)}`);
      if (node.items.length < min || node.items.length > max) {
        const want = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `${min} to ${max}`;
        return ctx.report(node, path, `expected ${want} item(s), got ${node.items.length}`);
      }
      const out: T[] = [];
      let bad = false;
      node.items.forEach((n, i) => {
        const v = item.check(n as Node, ctx, `${path}[${i}]`);
        if (v === INVALID) bad = true;
        else out.push(v);
      });
      return bad ? INVALID : out;
    },
  };
}

/** A field of an object schema that may be left out; `fallback` is its value then. */
export interface Optional<T> extends Schema<T> {
  readonly optional: true;
  readonly fallback: T;
}

export function optional<T>(schema: Schema<T>, fallback: T): Optional<T> {
  return { ...schema, check: schema.check.bind(schema), optional: true, fallback };
}

type Fields = Record<string, Schema<unknown>>;
type ObjectOf<F extends Fields> = { [K in keyof F]: Infer<F[K]> };

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A mapping with exactly these keys (unknown keys are errors: they are usually typos). */
export function object<F extends Fields>(fields: F): Schema<ObjectOf<F>> {
  const names = Object.keys(fields);
  return {
    expected: 'a mapping',
    check(node, ctx, path) {
      const isNull = node === null || node === undefined || (isScalar(node) && node.value === null);
      if (!isMap(node) && !isNull) return ctx.report(node, path, `expected a mapping, got ${shown(node)}`);
      const seen = new Map<string, Pair>();
      let bad = false;
      for (const pair of isMap(node) ? (node.items as Pair[]) : []) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (!(key in fields)) {
          ctx.report(
            pair.key as Node,
            join(path, key),
            `unknown setting (expected one of: ${names.join(', ')})`,
          );
          bad = true;
          continue;
        }
        if (seen.has(key)) {
          ctx.report(pair.key as Node, join(path, key), 'given twice');
          bad = true;
        }
        seen.set(key, pair);
      }
      const out: Record<string, unknown> = {};
      for (const name of names) {
        const f = fields[name];
        const pair = seen.get(name);
        const valueNode = pair?.value as Node | null | undefined;
        const missing = !pair || valueNode === null || (isScalar(valueNode) && valueNode.value === null);
        if (missing && (f as Optional<unknown>).optional) {
          out[name] = structuredClone((f as Optional<unknown>).fallback);
          continue;
        }
        if (!pair) {
          ctx.report(node, join(path, name), `missing (expected ${f.expected})`);
          bad = true;
          continue;
        }
        const v = f.check(valueNode ?? (pair.key as Node), ctx, join(path, name));
        if (v === INVALID) bad = true;
        else out[name] = v;
      }
      return bad ? INVALID : (out as ObjectOf<F>);
    },
  };
}

/** A further check on a valid value: `test` returns an error message, or undefined when fine. */
export function refine<T>(schema: Schema<T>, test: (v: T) => string | undefined): Schema<T> {
  return {
    expected: schema.expected,
    check(node, ctx, path) {
      const v = schema.check(node, ctx, path);
      if (v === INVALID) return v;
      const msg = test(v);
      return msg === undefined ? v : ctx.report(node, path, msg);
    },
  };
}
