// Page-load client of the lab benchmark: fetches a page's objects over HTTP/1.1 keep-alive with at
// most `--parallel` connections at once, as a browser does per host, and prints one JSON line with
// the time from the first request until the last object arrived, for each of `--loads` loads (each
// on fresh connections: a new agent). Every object's length is checked against its size. Runs in
// the lab's client namespace; the CPE's transparent proxy (ours or the kernel baseline) carries it.
//   node dist/scripts/bench/lab-page-client.js --base http://198.18.30.2:8001/page/ \
//     --sizes 5120,204800,... --parallel 6 --loads 10
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { benchArgs } from './args.js';

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

function get(agent: http.Agent, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => {
        n += d.length;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(n) : reject(new Error(`${path}: ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(20_000, () => req.destroy(new Error(`${path}: timed out`)));
  });
}

async function load(): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(a.parallel) });
  const t0 = performance.now();
  try {
    const got = await Promise.all(sizes.map((_, i) => get(agent, `${base.pathname}${i}`)));
    got.forEach((n, i) => {
      if (n !== sizes[i]) throw new Error(`object ${i}: ${n} bytes, expected ${sizes[i]}`);
    });
    return performance.now() - t0;
  } finally {
    agent.destroy();
  }
}

const ms: number[] = [];
try {
  for (let i = 0; i < Number(a.loads); i++) {
    ms.push(await load());
    await new Promise((r) => setTimeout(r, Number(a.pause)));
  }
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ms, error: (e as Error).message })}\n`);
  process.exitCode = 1;
}
