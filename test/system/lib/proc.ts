// Reading a child process's JSON-lines output in tests: a line iterator with waiting helpers.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Lines {
  seen: Record<string, unknown>[];
  stderr: string[];
  waiters: ((l: Record<string, unknown>) => void)[];
  exited: number | null;
}

/** Collects every JSON line the process prints on stdout (other lines go to `stderr`). */
export function lines(p: ChildProcess): Lines {
  const st: Lines = { seen: [], stderr: [], waiters: [], exited: null };
  createInterface({ input: p.stdout! }).on('line', (line) => {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line);
    } catch {
      st.stderr.push(line);
      return;
    }
    st.seen.push(obj);
    for (const w of st.waiters.slice()) w(obj);
  });
  createInterface({ input: p.stderr! }).on('line', (line) => st.stderr.push(line));
  p.on('exit', (code) => {
    st.exited = code ?? -1;
  });
  return st;
}

/** Resolves with the first line matching `pred` (already seen or future); rejects on timeout. */
export function once(st: Lines, pred: (l: Record<string, unknown>) => boolean, timeoutMs: number) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const hit = st.seen.find(pred);
    if (hit) return resolve(hit);
    const timer = setTimeout(() => {
      reject(
        new Error(
          `timed out after ${timeoutMs} ms; lines: ${JSON.stringify(st.seen.slice(-5))}; stderr: ${st.stderr.slice(-20).join('\n')}`,
        ),
      );
    }, timeoutMs);
    const w = (l: Record<string, unknown>) => {
      if (!pred(l)) return;
      clearTimeout(timer);
      st.waiters.splice(st.waiters.indexOf(w), 1);
      resolve(l);
    };
    st.waiters.push(w);
  });
}
