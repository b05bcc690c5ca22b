// The page-load workload of the lab benchmark: a page of 30 objects of 5-200 KB (a fixed list from
// a seeded generator, the same in every run) served over HTTP/1.1 keep-alive from the server
// namespace, fetched from the client namespace over at most 6 connections at once
// (lab-page-client.ts); the figure is the time until all objects arrived, one per load, with a
// timeline per object summed up over the loads (pageTimeline).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PageObjectTimes } from '../../src/sim/page.js';
import { ADDR, LabError, nsName, REPO_ROOT } from '../lab-impl/lab.js';
import { inNs } from './lab-workloads.js';

export const PAGE_OBJECTS = 30;
export const PAGE_PARALLEL = 6;
const PAGE_PORT = 8001;
const SEED = 14;

/**
 * One object of a page load, times in ms after the load's start (lab-page-client.ts): the same
 * record as the simulation's (src/sim/page.ts), so that pageTimeline reads both.
 */
export type PageObject = PageObjectTimes;

/** Where a page load's time went: medians over the loads, ms. */
export interface PageTimeline {
  /** A connection's first request written (its setup), after the load's start. */
  connReady: number;
  /** An object's request written to its first byte (the request's way and the server's answer). */
  wait: number;
  /** First to last byte of an object of 150 KB or more. */
  bigTransfer: number;
  /** The connection that finished last: its objects, and its time spent in waits and in transfers. */
  lastConnObjects: number;
  lastConnWait: number;
  lastConnTransfer: number;
}

/** The objects' sizes in bytes: uniform in 5-200 KB from a small seeded generator (mulberry32). */
export function pageSizes(n = PAGE_OBJECTS, seed = SEED): number[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.round((5 + next() * 195) * 1024));
}

/**
 * Writes the page's objects into `www`/page/ and starts an HTTP/1.1 server for them in the server
 * namespace (python's http.server with keep-alive, as a web server answers a browser).
 */
export async function startPageServer(prefix: string, www: string): Promise<{ stop(): void }> {
  const dir = join(www, 'page');
  mkdirSync(dir, { recursive: true });
  for (const [i, n] of pageSizes().entries()) writeFileSync(join(dir, String(i)), randomBytes(n));
  const py = [
    'import functools, http.server as h',
    'h.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"',
    'h.SimpleHTTPRequestHandler.log_message = lambda *a: None',
    `handler = functools.partial(h.SimpleHTTPRequestHandler, directory=${JSON.stringify(www)})`,
    `h.ThreadingHTTPServer(("${ADDR.server.hag}", ${PAGE_PORT}), handler).serve_forever()`,
  ].join('\n');
  const child = spawn('ip', ['netns', 'exec', nsName(prefix, 'server'), 'python3', '-c', py], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    try {
      await inNs(prefix, 'server', [
        'curl',
        '-sf',
        '-o',
        '/dev/null',
        `http://${ADDR.server.hag}:${PAGE_PORT}/page/0`,
      ]);
      return { stop: () => child.kill('SIGKILL') };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new LabError('the page server in the server namespace did not start');
}

/** `loads` page loads from the client namespace over at most `parallel` connections: each one's time until all objects arrived (ms) and its objects. */
export async function pageLoads(
  prefix: string,
  loads: number,
  parallel = PAGE_PARALLEL,
): Promise<{ ms: number[]; objects: PageObject[][] }> {
  const client = join(REPO_ROOT, 'dist/scripts/bench/lab-page-client.js');
  const r = await inNs(
    prefix,
    'client',
    [
      process.execPath,
      client,
      '--base',
      `http://${ADDR.server.hag}:${PAGE_PORT}/page/`,
      '--sizes',
      pageSizes().join(','),
      '--parallel',
      String(parallel),
      '--loads',
      String(loads),
    ],
    60_000 + loads * 20_000,
  );
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as {
    ms?: number[];
    objects?: PageObject[][];
    error?: string;
  };
  if (out.error || !out.ms) throw new LabError(`page load failed: ${out.error ?? r.stdout}`);
  return { ms: out.ms, objects: out.objects ?? [] };
}

/** The medians of where each load's time went (`pct(xs, 50)` is the median). */
export function pageTimeline(
  loads: readonly PageObject[][],
  pct: (xs: number[], p: number) => number,
): PageTimeline {
  const ready: number[] = [];
  const wait: number[] = [];
  const big: number[] = [];
  const lastN: number[] = [];
  const lastWait: number[] = [];
  const lastXfer: number[] = [];
  for (const objs of loads) {
    const firstSent = new Map<number, number>();
    let end = -1;
    let endConn = -1;
    for (const o of objs) {
      firstSent.set(o.conn, Math.min(firstSent.get(o.conn) ?? Number.POSITIVE_INFINITY, o.sent));
      wait.push(o.first - o.sent);
      if (o.size >= 150 * 1024) big.push(o.last - o.first);
      if (o.last > end) {
        end = o.last;
        endConn = o.conn;
      }
    }
    ready.push(...firstSent.values());
    const mine = objs.filter((o) => o.conn === endConn);
    lastN.push(mine.length);
    lastWait.push(mine.reduce((t, o) => t + o.first - o.sent, 0));
    lastXfer.push(mine.reduce((t, o) => t + o.last - o.first, 0));
  }
  const m = (xs: number[]) => pct(xs, 50);
  return {
    connReady: m(ready),
    wait: m(wait),
    bigTransfer: m(big),
    lastConnObjects: m(lastN),
    lastConnWait: m(lastWait),
    lastConnTransfer: m(lastXfer),
  };
}
