// Page-load client of the lab benchmark: fetches a page's objects over HTTP/1.1 keep-alive with at
// most `--parallel` connections at once, as a browser does per host, and prints one JSON line with
// the time from the first request until the last object arrived, for each of `--loads` loads (each
// on fresh connections: a new agent). Every object's length is checked against its size. With each
// load it prints a timeline per object: which connection carried it, when the request was written,
// its first and last byte (ms after the load's start). Runs in the lab's client namespace; the
// CPE's transparent proxy (ours or the kernel baseline) carries it.
//   node dist/scripts/bench/lab-page-client.js --base http://198.18.30.2:8001/page/ \
//     --sizes 5120,204800,... --parallel 6 --loads 10
import http from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';
import type { PageObject } from './lab-page.js';

const { values: a } = benchArgs({
  options: {
    base: { type: 'string' },
    sizes: { type: 'string' },
    parallel: { type: 'string', default: '6' },
    loads: { type: 'string', default: '10' },
    pause: { type: 'string', default: '300' },
  },
});
const base = new URL(a.base ?? '');
const sizes = (a.sizes ?? '').split(',').map(Number);

/** Fetches `path`; fills in `o` (times in ms after `t0`, its connection's number in `conns`). */
function get(
  agent: http.Agent,
  path: string,
  t0: number,
  conns: Map<Socket, number>,
  o: PageObject,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => {
        if (n === 0) o.first = performance.now() - t0;
        n += d.length;
      });
      res.on('end', () => {
        o.last = performance.now() - t0;
        res.statusCode === 200 ? resolve(n) : reject(new Error(`${path}: ${res.statusCode}`));
      });
      res.on('error', reject);
    });
    req.on('socket', (s: Socket) => {
      if (!conns.has(s)) conns.set(s, conns.size);
      o.conn = conns.get(s) ?? -1;
    });
    req.on('finish', () => {
      o.sent = performance.now() - t0;
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`${path}: timed out`)));
  });
}

async function load(objects: PageObject[]): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(a.parallel) });
  const conns = new Map<Socket, number>();
  const t0 = performance.now();
  try {
    const got = await Promise.all(
      sizes.map((size, i) => {
        const o: PageObject = { size, conn: -1, sent: 0, first: 0, last: 0 };
        objects.push(o);
        return get(agent, `${base.pathname}${i}`, t0, conns, o);
      }),
    );
    got.forEach((n, i) => {
      if (n !== sizes[i]) throw new Error(`object ${i}: ${n} bytes, expected ${sizes[i]}`);
    });
    return performance.now() - t0;
  } finally {
    agent.destroy();
  }
}

const ms: number[] = [];
const objects: PageObject[][] = [];
try {
  for (let i = 0; i < Number(a.loads); i++) {
    const objs: PageObject[] = [];
    objects.push(objs);
    ms.push(await load(objs));
    await new Promise((r) => setTimeout(r, Number(a.pause)));
  }
  process.stdout.write(`${JSON.stringify({ ms, objects })}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ms, error: (e as Error).message })}\n`);
  process.exitCode = 1;
}
