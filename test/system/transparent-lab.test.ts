// Transparent mode on the lab (issue 18): the `transparent` profile, where both access links reach
// the server only through the HAG namespace; the HAG diverts MPTCP SYNs to any destination into its
// core (service.transparent) and the CPE sends its MPTCP connections to the LAN hosts' destinations
// (hag.method transparent). As root: (a) the LAN host downloads 50 MB from the server's own
// address, two subflows carry data, DSL goes down and up mid-transfer, sha256 equal; (b) plain TCP
// from the CPE passes the HAG untouched (the server sees the CPE's DSL address); (c) an MPTCP SYN
// from a non-subscriber on the path (the DSL access router) is reset, logged and counted; (d) a
// kernel-MPTCP client (mptcpize curl, an `ip mptcp` subflow endpoint on LTE) in the CPE namespace
// downloads through the HAG over two subflows; (e) the HAG stopped removes its nftables table,
// rules and routes; (f) IPv6 from the LAN host goes direct; (g) a kernel-MPTCP client over IPv6
// (two IPv6 subflows) through the HAG on the path. afterAll removes the lab, also on failure.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, ADDR6, labFault, labUp, runDir } from '../../scripts/lab-impl/lab.js';
import { type Daemon, type Product, startProduct, uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { compileTree, endLab, labShell, serveFiles } from './lib/lab-run.js';
import { requireRoot } from './lib/netns.js';

const prefix = `tp${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const SERVER = `${ADDR.server.hag}:8000`;
const sha: Record<string, string> = {};
let product: Product | undefined;
let www: Daemon | undefined;
let work: string | undefined;

const inNs = labShell(prefix);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SubflowView {
  local: string;
  remote: string;
  uplink: string;
  bytesOut: number;
}
interface LogLine {
  event?: string;
  proto?: string;
  client?: string;
  dst?: string;
  reason?: string;
  subflows?: SubflowView[];
}

/** The HAG's log lines of one event (proto transparent). */
const hagEvents = (event: string) =>
  (product?.hag.lines ?? []).filter(
    (l: LogLine) => l.event === event && l.proto === 'transparent',
  ) as LogLine[];

/** Downloads /name in namespace `ns` with `curl` (a command prefix such as mptcpize); checks sha256. */
async function download(ns: string, name: string, curl = 'curl'): Promise<number> {
  const out = join(runDir(prefix), `got-${ns}-${name}`);
  const r = await inNs(
    ns,
    `${curl} -sS --max-time 50 -o ${out} -w '%{http_code} %{time_total}' http://${SERVER}/${name}`,
  );
  const [code, secs] = r.trim().split(' ');
  expect(code, r).toBe('200');
  expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha[name]);
  return Number(secs);
}

/** Bytes each uplink's subflows sent to the CPE in the HAG's close line of the session to the server. */
function perUplink(close: LogLine): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sf of close.subflows ?? []) out[sf.uplink] = (out[sf.uplink] ?? 0) + sf.bytesOut;
  return out;
}

async function waitClose(n: number): Promise<LogLine> {
  for (let i = 0; i < 100 && hagEvents('close').length < n; i++) await sleep(50);
  const c = hagEvents('close');
  expect(c.length, product?.hag.tail(20)).toBeGreaterThanOrEqual(n);
  return c[n - 1];
}

beforeAll(async () => {
  requireRoot();
  work = mkdtempSync(join(tmpdir(), 'transparent-lab-'));
  const dist = join(work, 'dist');
  compileTree(dist);
  await labUp('transparent', prefix);
  const served = await serveFiles(prefix, { f1: MB, f5: 5 * MB, f50: 50 * MB });
  www = served.www;
  Object.assign(sha, served.sha);
  product = await startProduct(prefix, { distDir: dist });
  // The CPE's probes (300 ms apart, 2 successes) call both uplinks up.
  await sleep(1500);
}, 90_000);

afterAll(() => endLab(prefix, product, [www], work), 30_000);

describe('transparent mode on the lab: the HAG on the path', () => {
  it('(a) 50 MB from the server address, two subflows, DSL down and up mid-transfer, sha256 equal', async () => {
    const before = uplinkBytes(prefix);
    const dl = download('client', 'f50');
    await sleep(2000);
    // While it runs: one transparent session at the HAG, to the server's own address, two subflows.
    const sessions = JSON.parse(await inNs('hag', 'curl -sS http://127.0.0.1:9108/sessions')) as (LogLine & {
      subflows: SubflowView[];
    })[];
    const s = sessions.find((x) => x.proto === 'transparent');
    expect(s?.dst).toBe(SERVER);
    expect(s?.subflows.map((f) => f.uplink).sort()).toEqual(['dsl', 'lte']);
    labFault(prefix, 'dsl', 'down');
    try {
      await sleep(2000);
    } finally {
      labFault(prefix, 'dsl', 'up');
    }
    const secs = await dl;
    const after = uplinkBytes(prefix);
    const close = await waitClose(1);
    const bytes = perUplink(close);
    process.stdout.write(
      `f50 transparent, DSL down 2 s: ${secs} s; HAG sent dsl ${bytes.dsl} B, lte ${bytes.lte} B; ` +
        `CPE rx dsl ${after.dsl.rx - before.dsl.rx} B, lte ${after.lte.rx - before.lte.rx} B\n`,
    );
    expect(close.reason).toBe('done');
    expect(bytes.dsl).toBeGreaterThan(2 * MB);
    expect(bytes.lte).toBeGreaterThan(10 * MB);
    // The CPE's own connection open line names its method.
    expect(product?.cpe.lines.some((l) => l.event === 'open' && l.method === 'transparent')).toBe(true);
  }, 60_000);

  it('(b) plain TCP from the CPE passes the HAG untouched: the server sees the CPE address', async () => {
    const opened = hagEvents('open').length;
    const marker = `plain-${randomBytes(3).toString('hex')}`;
    const out = await inNs(
      'cpe',
      `curl -sS --interface ${ADDR.cpe.dsl} -o /dev/null -w '%{http_code}' 'http://${SERVER}/f1?${marker}'`,
    );
    expect(out).toBe('200');
    for (let i = 0; i < 40 && !www?.text.some((l) => l.includes(marker)); i++) await sleep(50);
    const line = www?.text.find((l) => l.includes(marker));
    // http.server on :: shows IPv4 clients v4-mapped.
    expect(line?.replace(/^::ffff:/, '').startsWith(`${ADDR.cpe.dsl} `), line).toBe(true);
    expect(hagEvents('open').length).toBe(opened);
  }, 30_000);

  it("(c) a non-subscriber's MPTCP SYN on the path is reset, logged and counted", async () => {
    const py =
      'import socket\n' +
      's = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)\n' +
      's.settimeout(5)\n' +
      'try:\n' +
      `    s.connect(("${ADDR.server.hag}", 8000)); print("connected")\n` +
      'except ConnectionRefusedError: print("refused")\n';
    const out = await inNs('dsl', `python3 -c '${py}'`);
    expect(out.trim(), product?.hag.tail(10)).toBe('refused');
    const r = hagEvents('refused').find((l) => l.client === ADDR.dsl.hag);
    expect(r?.reason).toBe('not-subscriber');
    const metrics = await inNs('hag', 'curl -sS http://127.0.0.1:9108/metrics');
    expect(metrics).toMatch(/hag_refusals_total\{proto="transparent",reason="not-subscriber"\} [1-9]/);
  }, 30_000);

  it('(d) a kernel-MPTCP client in the CPE namespace: two subflows through the HAG on the path', async () => {
    const closes = hagEvents('close').length;
    await inNs(
      'cpe',
      `ip mptcp limits set subflows 2 add_addr_accepted 0 && ip mptcp endpoint add ${ADDR.cpe.lte} dev lte0 subflow`,
    );
    try {
      await download('cpe', 'f5', 'mptcpize run curl');
    } finally {
      await inNs('cpe', 'ip mptcp endpoint flush');
    }
    const close = await waitClose(closes + 1);
    expect(close.client).toBe(ADDR.cpe.dsl);
    const bytes = perUplink(close);
    process.stdout.write(`f5 kernel MPTCP: HAG sent dsl ${bytes.dsl} B, lte ${bytes.lte} B\n`);
    expect(close.reason).toBe('done');
    expect(bytes.dsl).toBeGreaterThan(MB / 10);
    expect(bytes.lte).toBeGreaterThan(MB / 10);
  }, 30_000);

  it('(g) IPv6: a kernel-MPTCP client over IPv6 through the HAG on the path, two IPv6 subflows', async () => {
    const closes = hagEvents('close').length;
    await inNs(
      'cpe',
      `ip mptcp limits set subflows 2 add_addr_accepted 0 && ip mptcp endpoint add ${ADDR6.cpe.lte} dev lte0 subflow`,
    );
    try {
      const out = join(runDir(prefix), 'got-v6-mptcp');
      const r = await inNs(
        'cpe',
        `mptcpize run curl -sS --max-time 30 -o ${out} -w '%{http_code}' http://[${ADDR6.server.hag}]:8000/f5`,
      );
      expect(r).toBe('200');
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha.f5);
    } finally {
      await inNs('cpe', 'ip mptcp endpoint flush');
    }
    const close = await waitClose(closes + 1);
    expect(close.client).toBe(ADDR6.cpe.dsl);
    expect(close.dst).toBe(`[${ADDR6.server.hag}]:8000`); // an IPv6 endpoint in brackets (RFC 5952 6)
    const bytes = perUplink(close);
    process.stdout.write(`f5 kernel MPTCP over IPv6: HAG sent dsl ${bytes.dsl} B, lte ${bytes.lte} B\n`);
    expect(close.reason).toBe('done');
    expect(bytes.dsl).toBeGreaterThan(MB / 10);
    expect(bytes.lte).toBeGreaterThan(MB / 10);
  }, 30_000);

  it("(f) IPv6 from the LAN host goes direct (the core's uplink addresses are IPv4) and arrives", async () => {
    const out = join(runDir(prefix), 'got-v6');
    const r = await inNs(
      'client',
      `curl -sS --max-time 20 -o ${out} -w '%{http_code}' http://[${ADDR6.server.hag}]:8000/f1`,
    );
    expect(r).toBe('200');
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha.f1);
    const open = product?.cpe.lines.find(
      (l) => l.event === 'open' && String(l.dst).includes(ADDR6.server.hag),
    );
    expect(open?.path).toBe('direct');
    expect(open?.why).toBe('IPv6 destination in method transparent');
  }, 30_000);

  it('(e) the HAG stopped leaves no nftables table, rule or route of transparent mode', async () => {
    expect(await inNs('hag', 'nft list tables')).toContain('hybrid_access_hag');
    // The lab's HAG namespace filters no reverse path: no warning about it.
    expect(product?.hag.lines.filter((l) => l.event === 'rp-filter')).toEqual([]);
    await product?.hag.stop();
    expect(await inNs('hag', 'nft list tables')).not.toContain('hybrid_access_hag');
    expect(await inNs('hag', 'ip rule; ip -6 rule')).not.toContain('fwmark');
    expect(await inNs('hag', 'ip route show table 4841; ip -6 route show table 4841')).toBe('');
  }, 30_000);
});
