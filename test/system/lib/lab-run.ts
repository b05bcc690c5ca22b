// What the end-to-end tests on the lab (scripts/lab-impl) share: the tree compiled into a folder of
// the test's own (type errors in files others are editing are tolerated, not in what the lab
// runs), a shell command in one of the lab's namespaces, the lab's web server in the server
// namespace with random files of given sizes (and their sha256, for the checks), and the end of a
// lab test (everything stopped and removed, no namespace left); startLab for the usual beforeAll,
// the CPE's uplinks as its status page tells them, and a web server on the LAN host (inbound tests).
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ADDR, labDown, labUp, nsName, REPO_ROOT, runDir } from '../../../scripts/lab-impl/lab.js';
import { type Daemon, type Product, spawnIn, startProduct } from '../../../scripts/lab-impl/stack.js';
import { requireRoot } from './netns.js';
import { builtTreeInto } from './tree-build.js';

const run = promisify(execFile);

/** What the lab runs: a type error there fails the test; elsewhere it is reported and tolerated. */
const LAB_FILES = /^(hag\/|cpe\/|src\/|scripts\/lab-impl)/;

/** Compiles the tree into `dir` and links node_modules beside it. */
export function compileTree(dir: string): void {
  builtTreeInto(dir, LAB_FILES);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
}

/** A function that runs `cmd` with sh in namespace `ns` of the lab `prefix`; resolves to its stdout. */
export function labShell(prefix: string, defaultTimeoutMs = 60_000) {
  return async (ns: string, cmd: string, timeoutMs = defaultTimeoutMs): Promise<string> => {
    const r = await run('ip', ['netns', 'exec', nsName(prefix, ns as 'cpe'), 'sh', '-c', cmd], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
    });
    return r.stdout;
  };
}

/**
 * Writes random files of the given sizes into the lab's www folder and serves them on port 8000
 * of the server namespace (bound to `bind`); resolves once the first one is served.
 */
export async function serveFiles(
  prefix: string,
  files: Record<string, number>,
  bind = '::',
): Promise<{ www: Daemon; sha: Record<string, string> }> {
  const dir = join(runDir(prefix), 'www');
  mkdirSync(dir, { recursive: true });
  const sha: Record<string, string> = {};
  for (const [name, size] of Object.entries(files)) {
    const data = randomBytes(size);
    writeFileSync(join(dir, name), data);
    sha[name] = createHash('sha256').update(data).digest('hex');
  }
  const www = spawnIn(prefix, 'server', 'http server', [
    'python3',
    '-m',
    'http.server',
    '8000',
    '--bind',
    bind,
    '--directory',
    dir,
  ]);
  const first = Object.keys(files)[0];
  await labShell(prefix)(
    'server',
    `for i in $(seq 100); do curl -sf -o /dev/null http://${ADDR.server.hag}:8000/${first} && exit 0; sleep 0.1; done; exit 1`,
  );
  return { www, sha };
}

/**
 * The LAN host's web server (inbound forwarding tests): the files serveFiles wrote, on port 8000 of
 * the client namespace's own address; resolves once it serves `first`.
 */
export async function serveLanFiles(prefix: string, first: string): Promise<Daemon> {
  const www = spawnIn(prefix, 'client', 'LAN web server', [
    'python3',
    '-m',
    'http.server',
    '8000',
    '--bind',
    ADDR.client.lan,
    '--directory',
    join(runDir(prefix), 'www'),
  ]);
  await labShell(prefix)(
    'client',
    `for i in $(seq 100); do curl -sf -o /dev/null http://${ADDR.client.lan}:8000/${first} && exit 0; sleep 0.1; done; exit 1`,
  );
  return www;
}

/**
 * The end of a lab test (its afterAll): stops the product and the other daemons, removes the lab
 * and the test's work folder (also when a stop fails), then fails if a namespace of the lab is left.
 */
export async function endLab(
  prefix: string,
  product: Product | undefined,
  daemons: (Daemon | undefined)[],
  work: string | undefined,
): Promise<void> {
  try {
    await product?.stop();
    for (const d of daemons) await d?.stop('SIGKILL');
  } finally {
    labDown(prefix);
    if (work) rmSync(work, { recursive: true, force: true });
  }
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (left.includes(`${prefix}-`)) throw new Error(`namespaces of lab ${prefix} left behind:\n${left}`);
}

/** A lab test's set-up, filled in step by step by startLab: endLab removes what exists if a step failed. */
export interface LabTest {
  work?: string;
  www?: Daemon;
  sha: Record<string, string>;
  product?: Product;
}

/**
 * A lab test's beforeAll: the tree compiled into a work folder of its own, the lab up with
 * `profile`, `files` served (their sha256 in t.sha; on `bind`, the server's IPv4 address unless
 * told, '::' for both families), the HAG and CPE daemons started.
 */
export async function startLab(
  t: LabTest,
  prefix: string,
  profile: string,
  files: Record<string, number>,
  bind: string = ADDR.server.hag,
) {
  requireRoot();
  t.work = mkdtempSync(join(tmpdir(), `${profile}-lab-`));
  const dist = join(t.work, 'dist');
  compileTree(dist);
  await labUp(profile, prefix);
  const served = await serveFiles(prefix, files, bind);
  t.www = served.www;
  t.sha = served.sha;
  t.product = await startProduct(prefix, { distDir: dist });
}

/** The CPE's uplinks as its status page (status.json) shows them, typed as the test reads them. */
export async function cpeUplinks<U>(prefix: string): Promise<U[]> {
  const text = await labShell(prefix)('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`);
  return (JSON.parse(text) as { uplinks: U[] }).uplinks;
}

/** Polls cpeUplinks every 200 ms until `pred` holds; fails with the last view and the CPE's log. */
export async function waitUplinks<U>(
  t: LabTest,
  prefix: string,
  what: string,
  pred: (u: U[]) => boolean,
  timeoutMs: number,
) {
  const end = Date.now() + timeoutMs;
  let last: U[] = [];
  while (Date.now() < end) {
    last = await cpeUplinks<U>(prefix);
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(last)}\n${t.product?.cpe.tail(30)}`);
}
