// The receiver-paced download that stalled on the lab (default profile: DSL 20 Mbit/s 10 ms, LTE
// 40 Mbit/s 30 ms, CPE and HAG daemons, min-RTT): a LAN host downloads 16 MB with curl
// --limit-rate 1M, so that the CPE's connection-level receive buffer fills and opens only as curl
// reads. It stalled in about 3 of 8 runs (a subflow's window offered beyond the connection's, RFC
// 8684 3.3.4; test/sim/paced-reader.test.ts). Five runs, at once, must all complete, intact.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labUp, runDir } from '../../scripts/lab-impl/lab.js';
import { type Daemon, type Product, startProduct } from '../../scripts/lab-impl/stack.js';
import { compileTree, endLab, labShell, serveFiles } from './lib/lab-run.js';
import { requireRoot } from './lib/netns.js';

const prefix = `stl${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const RUNS = 5;
let sha = '';
let product: Product | undefined;
let www: Daemon | undefined;
let work: string | undefined;

const inNs = labShell(prefix, 90_000);

beforeAll(async () => {
  requireRoot();
  work = mkdtempSync(join(tmpdir(), 'stall-lab-'));
  const dist = join(work, 'dist');
  compileTree(dist);
  await labUp('default', prefix);
  const served = await serveFiles(prefix, { f16: 16 * MB });
  www = served.www;
  sha = served.sha.f16;
  product = await startProduct(prefix, { distDir: dist });
  // Both uplinks usable before the first download (the stall needs both subflows).
  await product.cpe.waitFor(
    'both uplinks up',
    () => product!.cpe.lines.filter((l) => l.event === 'uplink-up').length >= 2,
    20_000,
  );
}, 120_000);

afterAll(() => endLab(prefix, product, [www], work), 30_000);

describe('a receiver-paced download through CPE and HAG (lab default profile)', () => {
  it(`${RUNS} downloads of 16 MB at curl --limit-rate 1M all complete, intact`, async () => {
    // The five at once: each is its own connection with its own connection-level buffer, paced
    // by its own curl (5 MB/s together, within the lab's 60 Mbit/s), so each can stall as one
    // alone did; one after the other they took 65 s of the suite.
    const runs = Array.from({ length: RUNS }, async (_, i) => {
      const out = join(runDir(prefix), `got-${i}`);
      const t0 = Date.now();
      const code = await inNs(
        'client',
        `curl -sS --max-time 80 --limit-rate 1M -o ${out} -w '%{http_code}' http://${ADDR.server.hag}:8000/f16`,
      );
      process.stdout.write(
        `run ${i + 1}: HTTP ${code.trim()} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
      );
      expect(code.trim(), `run ${i + 1}`).toBe('200');
      expect(createHash('sha256').update(readFileSync(out)).digest('hex'), `run ${i + 1}`).toBe(sha);
      rmSync(out);
    });
    await Promise.all(runs);
    // How often the HAG's subflows sent by the shared connection-level window (RFC 8684 3.3.4)
    // where their own last window held the data back, and probed a closed one.
    const metrics = await inNs('hag', 'curl -s http://127.0.0.1:9108/metrics');
    const counter = (name: string) => metrics.match(new RegExp(`counter="${name}"\\} (\\d+)`))?.[1];
    process.stdout.write(`HAG SndWndShared ${counter('SndWndShared')}, WinProbe ${counter('WinProbe')}\n`);
  }, 120_000);
});
