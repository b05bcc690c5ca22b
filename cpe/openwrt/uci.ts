// Reads OpenWrt's UCI file format (/etc/config/NAME, as `uci commit` writes it): `package`, then
// `config TYPE ['NAME']` sections of `option KEY 'VALUE'` and `list KEY 'VALUE'` lines. Words are
// bare, 'single-quoted' (no escapes) or "double-quoted" (backslash escapes), and adjacent quoted
// parts join into one word ('it'\''s'); `#` starts a comment outside quotes. Errors are values,
// with their line, like the YAML loader's.

export interface UciOption {
  /** A single `option` value, or the values of the `list` lines in order. */
  value: string | string[];
  line: number;
}

export interface UciSection {
  type: string;
  /** The section's name; undefined for an anonymous section (`config rule`). */
  name: string | undefined;
  line: number;
  options: Map<string, UciOption>;
}

export type UciResult = { ok: true; sections: UciSection[] } | { ok: false; line: number; message: string };

const NAME = /^[A-Za-z0-9_-]+$/;

/** The words of one line, or an error message (unterminated quote, stray backslash). */
function words(line: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === ';') {
      i++;
      continue;
    }
    if (c === '#') break;
    let w = '';
    while (i < line.length && !' \t;#'.includes(line[i])) {
      const q = line[i];
      if (q === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) return 'unterminated quote';
        w += line.slice(i + 1, end);
        i = end + 1;
      } else if (q === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\') i++;
          if (i >= line.length) return 'unterminated quote';
          w += line[i++];
        }
        if (i >= line.length) return 'unterminated quote';
        i++;
      } else if (q === '\\') {
        if (i + 1 >= line.length) return 'backslash at the end of the line';
        w += line[i + 1];
        i += 2;
      } else {
        w += q;
        i++;
      }
    }
    out.push(w);
  }
  return out;
}

/** Parses the text of a UCI file into its sections. */
export function parseUci(text: string): UciResult {
  const sections: UciSection[] = [];
  let current: UciSection | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = n + 1;
    const w = words(lines[n]);
    if (typeof w === 'string') return { ok: false, line, message: w };
    if (w.length === 0) continue;
    const [kw, a, b, ...rest] = w;
    const bad = (message: string): UciResult => ({ ok: false, line, message });
    if (kw === 'package') {
      if (a === undefined || b !== undefined) return bad('expected package NAME');
    } else if (kw === 'config') {
      if (a === undefined || rest.length || !NAME.test(a)) return bad("expected config TYPE ['NAME']");
      if (b !== undefined && !NAME.test(b))
        return bad(`"${b}" is not a section name (letters, digits, _ and -)`);
      current = { type: a, name: b, line, options: new Map() };
      sections.push(current);
    } else if (kw === 'option' || kw === 'list') {
      if (!current) return bad(`${kw} before the first config line`);
      if (a === undefined || b === undefined || rest.length || !NAME.test(a))
        return bad(`expected ${kw} KEY 'VALUE'`);
      const had = current.options.get(a);
      if (kw === 'option') {
        // As uci does: a repeated option replaces the earlier one.
        current.options.set(a, { value: b, line });
      } else if (had && Array.isArray(had.value)) {
        had.value.push(b);
      } else {
        if (had) return bad(`${a} is an option above and a list here`);
        current.options.set(a, { value: [b], line });
      }
    } else {
      return bad(`expected package, config, option or list, got "${kw}"`);
    }
  }
  return { ok: true, sections };
}

/** Whether a configuration file's text is UCI rather than YAML: its first statement is `package` or `config`. */
export function looksLikeUci(text: string): boolean {
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (t === '' || t.startsWith('#')) continue;
    return /^(package|config)\s/.test(t);
  }
  return false;
}
