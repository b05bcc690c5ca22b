// Pieces the HAG benchmarks share (scripts/bench/hag.ts, scripts/bench/attacks.ts): a SOCKS5
// CONNECT through the HAG, the server that holds the HAG's egress connections, a process's CPU
// time and resident memory from /proc, a command in a namespace, and the JSON lines of the
// benchmark's child processes.
import { execFileSync, type spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';

export const out = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

/**
 * One SOCKS5 CONNECT through the HAG at `hag` (host:port) to `dst` (IPv4 host:port), no
 * authentication, greeting and request in one write; resolves with the socket once the HAG
 * answered success, rejects on a refusal, an error or after `timeoutMs`.
 */
export function socksConnect(hag: string, dst: string, timeoutMs = 20_000): Promise<net.Socket> {
  const [hh, hp] = hag.split(':');
  const [dh, dp] = dst.split(':');
  const req = Buffer.from([
    5,
    1,
    0,
    5,
    1,
    0,
    1,
    ...dh.split('.').map(Number),
    Number(dp) >> 8,
    Number(dp) & 0xff,
  ]);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: hh, port: Number(hp) });
    let got = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('connect', () => s.write(req));
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 12) return;
      s.off('data', onData);
      clearTimeout(t);
      if (got[1] !== 0 || got[3] !== 0) reject(new Error(`SOCKS reply ${got[3]}`));
      else resolve(s);
    };
    s.on('data', onData);
  });
}

/**
 * A TCP server on `dst` (host:port) that holds every connection until its peer ends it and echoes
 * what it is sent (so that a held connection can prove it still works); prints ready.
 */
export function holdServer(dst: string): void {
  const socks: net.Socket[] = [];
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    socks.push(s);
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
    s.on('close', () => socks.splice(socks.indexOf(s), 1));
  });
  srv.maxConnections = 1_000_000;
  const [h, p] = dst.split(':');
  srv.listen({ host: h, port: Number(p), backlog: 4096 }, () => out({ event: 'ready' }));
}

/**
 * Runs `one` `n` times, `conc` at a time; returns how many failed, counted by why (the error's
 * code or message).
 */
export async function pool(
  n: number,
  conc: number,
  one: () => Promise<void>,
): Promise<{ failed: number; failures: Record<string, number> }> {
  let next = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const worker = async () => {
    while (next < n) {
      next++;
      try {
        await one();
      } catch (e) {
        failed++;
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        failures[why] = (failures[why] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  return { failed, failures };
}

/** Runs a shell command in network namespace `ns` and returns its output. */
export function sh(ns: string, cmd: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', cmd], { encoding: 'utf8' });
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Every JSON line a process prints, kept, so that a wait also sees lines printed before it began. */
export function jsonLines(p: ReturnType<typeof spawn>): Record<string, unknown>[] {
  const seen: Record<string, unknown>[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    try {
      seen.push(JSON.parse(l));
    } catch {
      /* not JSON */
    }
  });
  return seen;
}

export async function waitLine(
  seen: Record<string, unknown>[],
  pred: (o: Record<string, unknown>) => boolean,
  ms: number,
  what = 'the benchmark process',
): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  for (;;) {
    const hit = seen.find(pred);
    if (hit) return hit;
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
