// The one-command demo (scripts/demo): brings a lab up (its own prefix), starts the HAG and CPE
// daemons with config/lab/, downloads a random file from the server to the LAN host while printing
// the goodput beside the sum of the links and the bytes each uplink carried, takes DSL down half way
// (the transfer goes on over LTE) and up again (DSL rejoins), checks the sha256, and tears
// everything down, also on failure or Ctrl-C.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ADDR, labDown, labFault, labUp, nsName, runDir } from './lab.js';
import type { LabProfile } from './profiles.js';
import { ifaceRx, type Product, startProduct, uplinkBytes } from './stack.js';

const SECONDS = 24;
const DOWN_AT = 8;
const UP_AT = 16;

function say(s: string): void {
  process.stdout.write(`${s}\n`);
}

const mb = (b: number) => (b / 1e6).toFixed(1).padStart(6);

async function main(): Promise<number> {
  const prefix = `demo${randomBytes(2).toString('hex')}`;
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s`;
  let product: Product | undefined;
  let server: ReturnType<typeof spawn> | undefined;
  let cleaning = false;
  const cleanup = async () => {
    if (cleaning) return;
    cleaning = true;
    say(`[${elapsed()}] tearing down`);
    server?.kill('SIGKILL');
    await product?.stop().catch(() => undefined);
    labDown(prefix);
    say(`[${elapsed()}] lab "${prefix}" removed`);
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    say(`[${elapsed()}] 1. lab up: namespaces ${prefix}-client, -cpe, -dsl, -lte, -hag, -server`);
    const state = await labUp('default', prefix);
    const p: LabProfile = state.profile;
    const dslMbps = p.links.dsl.down.rateBps / 1e6;
    const lteMbps = p.links.lte.down.rateBps / 1e6;
    const sum = dslMbps + lteMbps;
    say(
      `        dsl ${dslMbps} Mbit/s ${p.links.dsl.down.delayMs} ms, lte ${lteMbps} Mbit/s ${p.links.lte.down.delayMs} ms behind NAT; sum ${sum} Mbit/s`,
    );

    // A random file sized for the whole run at the links' sum; the server serves it over HTTP.
    const size = Math.round(((sum * 1e6) / 8) * SECONDS * 0.95);
    const www = join(runDir(prefix), 'www');
    mkdirSync(www, { recursive: true });
    const data = randomBytes(size);
    writeFileSync(join(www, 'file'), data);
    const sha = createHash('sha256').update(data).digest('hex');
    server = spawn(
      'ip',
      ['netns', 'exec', nsName(prefix, 'server'), 'python3', '-m', 'http.server', '8000', '--directory', www],
      { stdio: 'ignore' },
    );

    say(
      `[${elapsed()}] 2. starting the HAG (hybrid-access hag --config config/lab/hag.yaml) in ${prefix}-hag`,
    );
    say(`        and the CPE (hybrid-access cpe --config config/lab/cpe.yaml) in ${prefix}-cpe`);
    product = await startProduct(prefix);
    await new Promise((r) => setTimeout(r, 1500)); // the CPE's probes see both uplinks up

    say(
      `[${elapsed()}] 3. the LAN host ${ADDR.client.lan} downloads ${(size / 1e6).toFixed(0)} MB from ${ADDR.server.hag}:8000 (curl)`,
    );
    say(`        DSL goes down at ${DOWN_AT} s and comes back at ${UP_AT} s`);
    const got = join(runDir(prefix), 'got');
    const curl = spawn(
      'ip',
      [
        'netns',
        'exec',
        nsName(prefix, 'client'),
        'curl',
        '-sS',
        '--retry',
        '20',
        '--retry-connrefused',
        '--retry-delay',
        '0',
        '--max-time',
        String(SECONDS * 4),
        '-o',
        got,
        `http://${ADDR.server.hag}:8000/file`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let curlErr = '';
    curl.stderr?.on('data', (d) => {
      curlErr += String(d);
    });
    const done = new Promise<number>((r) => curl.on('exit', (c) => r(c ?? 1)));
    let exited: number | undefined;
    void done.then((c) => {
      exited = c;
    });
    const start = uplinkBytes(prefix);
    const rx0 = ifaceRx(prefix, 'client', 'eth0');
    const d0 = performance.now();
    say('            t  goodput Mbit/s  (links sum)   dsl MB   lte MB   dsl      lte');
    let prevRx = rx0;
    let prevT = d0;
    let faulted = false;
    let restored = false;
    while (exited === undefined) {
      await Promise.race([done, new Promise((r) => setTimeout(r, 1000))]);
      const now = performance.now();
      const t = (now - d0) / 1000;
      if (exited !== undefined) break;
      const rx = ifaceRx(prefix, 'client', 'eth0');
      const b = uplinkBytes(prefix);
      const rate = ((rx - prevRx) * 8) / ((now - prevT) / 1000) / 1e6;
      const linkSum = (faulted && !restored ? 0 : dslMbps) + lteMbps;
      say(
        `        ${t.toFixed(1).padStart(4)}  ${rate.toFixed(1).padStart(14)}  (${String(linkSum).padStart(9)})  ${mb(b.dsl.rx - start.dsl.rx)}   ${mb(b.lte.rx - start.lte.rx)}   ${faulted && !restored ? 'DOWN' : 'up  '}     up`,
      );
      prevRx = rx;
      prevT = now;
      // After the row: a row shows the second before it, under the state the links had.
      if (!faulted && t >= DOWN_AT) {
        labFault(prefix, 'dsl', 'down');
        faulted = true;
        say(`        --- ${t.toFixed(1)} s: DSL down (scripts/lab fault dsl down) ---`);
      }
      if (faulted && !restored && t >= UP_AT) {
        labFault(prefix, 'dsl', 'up');
        restored = true;
        say(`        --- ${t.toFixed(1)} s: DSL up again ---`);
      }
    }
    const secs = (performance.now() - d0) / 1000;
    const end = uplinkBytes(prefix);
    if (exited !== 0) throw new Error(`the download failed (curl exit ${exited}): ${curlErr.trim()}`);
    const gotSha = createHash('sha256').update(readFileSync(got)).digest('hex');
    const ok = gotSha === sha;
    say(
      `[${elapsed()}] 4. done: ${(size / 1e6).toFixed(1)} MB in ${secs.toFixed(1)} s = ${((size * 8) / secs / 1e6).toFixed(1)} Mbit/s on average ` +
        `(links: ${sum} Mbit/s, DSL down for ${UP_AT - DOWN_AT} s); sha256 ${ok ? 'equal' : 'DIFFERENT'}`,
    );
    say(
      `        bytes received per uplink (CPE interfaces): dsl ${mb(end.dsl.rx - start.dsl.rx).trim()} MB, lte ${mb(end.lte.rx - start.lte.rx).trim()} MB`,
    );
    const status = uplinkStatus(prefix);
    if (status) say(`        the CPE's own counters (status page): ${status}`);
    await cleanup();
    say(`[${elapsed()}] demo ${ok ? 'finished' : 'FAILED: the file differs'}`);
    return ok ? 0 : 1;
  } catch (e) {
    say(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    if (product) say(`CPE log (last lines):\n${product.cpe.tail(10)}\nHAG log:\n${product.hag.tail(5)}`);
    await cleanup();
    return 1;
  }
}

/** Per-uplink bytes from the CPE daemon's status page (http://198.18.1.1:8080/status.json). */
function uplinkStatus(prefix: string): string | undefined {
  try {
    const r = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        nsName(prefix, 'client'),
        'curl',
        '-sS',
        '--max-time',
        '3',
        `http://${ADDR.cpe.lan}:8080/status.json`,
      ],
      { encoding: 'utf8' },
    );
    const s = JSON.parse(r) as { uplinks?: { name: string; bytesIn: number; bytesOut: number }[] };
    return s.uplinks
      ?.map((u) => `${u.name} ${(u.bytesIn / 1e6).toFixed(1)} MB in, ${(u.bytesOut / 1e6).toFixed(1)} MB out`)
      .join('; ');
  } catch {
    return undefined;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo: ${String(e)}\n`);
    process.exit(1);
  },
);
