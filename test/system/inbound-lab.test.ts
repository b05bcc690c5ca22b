// Inbound port forwarding through the bond on the lab (issue 18, item 2): the `inbound` profile's
// CPE (config/lab/cpe.yaml with the forwards of config/lab/cpe-inbound.yaml) registers them with
// the HAG (service.inbound in config/lab/hag.yaml) over its control connection; LTE is behind the
// lab's carrier NAT, so the HAG sees the CPE's LTE subflows from the NAT's address and could never
// open one toward it. As root, one lab for all cases: (a) from the server namespace, a connection
// to the HAG's public port 8080 reaches the LAN host's web server and downloads 50 MB over both
// uplinks (bytes on each), DSL down and up mid-transfer, sha256 equal; the status page, /metrics
// and the HAG's sessions show it; (b) a forward the HAG does not allow (2222) is refused, logged
// and counted at the HAG, shown refused on the CPE, and its port is closed; (c) a forward whose
// LAN port has no server resets the client, and the CPE's REJECT is counted at the HAG; (d) the
// HAG restarted, the CPE registers its forwards again and they work. afterAll removes the lab.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labFault, runDir } from '../../scripts/lab-impl/lab.js';
import { type Daemon, spawnIn, uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { endLab, type LabTest, labShell, serveLanFiles, startLab } from './lib/lab-run.js';

const prefix = `ib${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const PUBLIC = ADDR.hag.server;
const t: LabTest = { sha: {} };
let lanWww: Daemon | undefined;
let hagAgain: Daemon | undefined;

const inNs = labShell(prefix);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Forward {
  name: string;
  state: string;
  reason?: string;
  connections: number;
  failed: number;
}
interface InboundView {
  control: { state: string };
  forwards: Forward[];
  accepted: number;
}
interface LogLine {
  event?: string;
  proto?: string;
  reason?: string;
  ports?: string;
  forward?: string;
  uplinks?: Record<string, { bytesOut: number }>;
}

const cpeInbound = async () =>
  (
    JSON.parse(await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`)) as {
      inbound: InboundView;
    }
  ).inbound;

/** Polls the CPE's status until `pred` holds of its inbound part. */
async function waitInbound(what: string, pred: (v: InboundView) => boolean, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  let last: InboundView | undefined;
  while (Date.now() < end) {
    last = await cpeInbound();
    if (pred(last)) return last;
    await sleep(200);
  }
  throw new Error(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(last)}\n${t.product?.cpe.tail(30)}`);
}

const forward = (v: InboundView, name: string) => v.forwards.find((f) => f.name === name);

beforeAll(async () => {
  await startLab(t, prefix, 'inbound', { f1: MB, f50: 50 * MB });
  // The LAN host's web server: the same files, on its own address (the forwards' LAN port 8000).
  lanWww = await serveLanFiles(prefix, 'f1');
  // The control connection registers once an uplink is up (probes: about a second).
  await waitInbound('registered forwards', (v) => forward(v, 'web')?.state === 'open', 30_000);
}, 120_000);

afterAll(() => endLab(prefix, t.product, [t.www, lanWww, hagAgain], t.work), 30_000);

describe('inbound port forwarding through the bond, LTE behind carrier NAT', () => {
  it('(a) 50 MB from the LAN host via the HAG public port, both uplinks, DSL down and up, sha256 equal', async () => {
    const before = uplinkBytes(prefix);
    const out = join(runDir(prefix), 'got-f50');
    const dl = inNs(
      'server',
      `curl -sS --max-time 50 -o ${out} -w '%{http_code} %{time_total}' http://${PUBLIC}:8080/f50`,
    );
    await sleep(2000);
    // While it runs: the HAG's session of the attach connection has a subflow per uplink, the LTE
    // one from the carrier NAT's address (the CPE's own LTE address is never seen there).
    const sessions = JSON.parse(await inNs('hag', 'curl -sS http://127.0.0.1:9108/sessions')) as {
      proto: string;
      dst: string;
      subflows: { remote: string; uplink: string }[];
    }[];
    const attach = sessions.find((s) => s.proto === 'inbound' && s.dst !== 'control');
    expect(attach, JSON.stringify(sessions)).toBeDefined();
    expect(attach?.dst.startsWith(`${ADDR.server.hag}:`)).toBe(true);
    expect(attach?.subflows.map((f) => f.uplink).sort()).toEqual(['dsl', 'lte']);
    expect(attach?.subflows.find((f) => f.uplink === 'lte')?.remote.startsWith(`${ADDR.lte.hag}:`)).toBe(
      true,
    );
    expect(sessions.some((s) => s.proto === 'inbound' && s.dst === 'control')).toBe(true);
    labFault(prefix, 'dsl', 'down');
    try {
      await sleep(2000);
    } finally {
      labFault(prefix, 'dsl', 'up');
    }
    const [code, secs] = (await dl).trim().split(' ');
    expect(code).toBe('200');
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(t.sha.f50);
    const after = uplinkBytes(prefix);
    const tx = { dsl: after.dsl.tx - before.dsl.tx, lte: after.lte.tx - before.lte.tx };
    let close: LogLine | undefined;
    for (let i = 0; i < 100 && !close; i++) {
      close = ((t.product?.cpe.lines ?? []) as LogLine[]).find(
        (l) => l.event === 'inbound-close' && l.forward === 'web',
      );
      if (!close) await sleep(50);
    }
    process.stdout.write(
      `f50 inbound, DSL down 2 s: ${secs} s; CPE tx dsl ${tx.dsl} B, lte ${tx.lte} B; ` +
        `subflows sent dsl ${close?.uplinks?.dsl?.bytesOut} B, lte ${close?.uplinks?.lte?.bytesOut} B\n`,
    );
    expect(close?.reason).toBe('done');
    // The attach connection's ATTACH rode in its SYN (TCP Fast Open with the cookie the control
    // connection fetched): the HAG paired it before the handshake ended.
    const opens = ((t.product?.hag.lines ?? []) as (LogLine & { zeroRtt?: boolean; id?: number })[]).filter(
      (l) => l.event === 'open' && l.proto === 'inbound',
    );
    expect(opens.length).toBeGreaterThanOrEqual(2);
    expect(
      opens.slice(1).every((l) => l.zeroRtt),
      JSON.stringify(opens),
    ).toBe(true);
    expect(close?.uplinks?.dsl?.bytesOut).toBeGreaterThan(2 * MB);
    expect(close?.uplinks?.lte?.bytesOut).toBeGreaterThan(10 * MB);
    expect(tx.dsl).toBeGreaterThan(2 * MB);
    expect(tx.lte).toBeGreaterThan(10 * MB);
    // The CPE's status and metrics count it; the HAG counts the pairing.
    const v = await cpeInbound();
    expect(v.control.state).toBe('up');
    expect(forward(v, 'web')?.connections).toBeGreaterThanOrEqual(1);
    const cpeMetrics = await inNs('cpe', `curl -sS http://${ADDR.cpe.lan}:8080/metrics`);
    expect(cpeMetrics).toMatch(/cpe_inbound_connections_total\{forward="web"\} [1-9]/);
    expect(cpeMetrics).toMatch(/cpe_inbound_control_up 1/);
    const page = await inNs('cpe', `curl -sS http://${ADDR.cpe.lan}:8080/`);
    expect(page).toContain('Port forwarding');
    const hagMetrics = await inNs('hag', 'curl -sS http://127.0.0.1:9108/metrics');
    expect(hagMetrics).toMatch(/hag_inbound_connections_total\{result="paired"\} [1-9]/);
    expect(hagMetrics).toMatch(/hag_inbound_ports 3/); // 8080, 9000, 9001
  }, 60_000);

  it('(b) a forward the HAG does not allow is refused: logged, counted, shown, its port closed', async () => {
    const v = await cpeInbound();
    expect(forward(v, 'ssh')).toMatchObject({ state: 'refused', reason: 'not-allowed' });
    const r = ((t.product?.hag.lines ?? []) as LogLine[]).find(
      (l) => l.event === 'refused' && l.proto === 'inbound',
    );
    expect(r).toMatchObject({ reason: 'forward-not-allowed', ports: '2222' });
    const metrics = await inNs('hag', 'curl -sS http://127.0.0.1:9108/metrics');
    expect(metrics).toMatch(/hag_refusals_total\{proto="inbound",reason="forward-not-allowed"\} 1/);
    const cpeMetrics = await inNs('cpe', `curl -sS http://${ADDR.cpe.lan}:8080/metrics`);
    expect(cpeMetrics).toMatch(
      /cpe_inbound_forward_state\{forward="ssh",state="refused",reason="not-allowed"\} 1/,
    );
    const out = await inNs('server', `curl -sS --max-time 5 http://${PUBLIC}:2222/ 2>&1; echo rc=$?`);
    expect(out).toMatch(/rc=7/); // curl: could not connect (refused)
  }, 30_000);

  it("(c) a forward whose LAN port has no server: the client is reset, the CPE's REJECT counted", async () => {
    const out = await inNs('server', `curl -sS --max-time 10 http://${PUBLIC}:9001/ 2>&1; echo rc=$?`);
    expect(out).toMatch(/rc=(52|56)/); // empty reply or reset: the connection was accepted, then reset
    const v = await waitInbound(
      'a failed games connection',
      (x) => (forward(x, 'games')?.failed ?? 0) >= 1,
      5000,
    );
    expect(forward(v, 'games')?.connections).toBe(0);
    const metrics = await inNs('hag', 'curl -sS http://127.0.0.1:9108/metrics');
    expect(metrics).toMatch(/hag_inbound_connections_total\{result="cpe-rejected"\} 1/);
    // The other port of the range goes to the LAN host's port 8000.
    const ok = await inNs(
      'server',
      `curl -sS --max-time 10 -o /dev/null -w '%{http_code}' http://${PUBLIC}:9000/f1`,
    );
    expect(ok).toBe('200');
  }, 30_000);

  it('(d) the HAG restarted: the CPE registers its forwards again, and they work', async () => {
    await t.product?.hag.stop(); // SIGTERM: the HAG drains, its control connections closed at once
    await waitInbound('the control connection down', (v) => v.control.state !== 'up', 10_000);
    hagAgain = spawnIn(prefix, 'hag', 'HAG (again)', [
      'node',
      join(t.work ?? '', 'dist', 'src/cli.js'),
      'hag',
      '--config',
      join(runDir(prefix), 'hag.yaml'),
    ]);
    await hagAgain.waitFor('its start', (l) => l.includes('"event":"start"'), 30_000);
    await waitInbound('forwards registered again', (v) => forward(v, 'web')?.state === 'open', 30_000);
    const out = join(runDir(prefix), 'got-f1');
    const r = await inNs(
      'server',
      `curl -sS --max-time 10 -o ${out} -w '%{http_code}' http://${PUBLIC}:8080/f1`,
    );
    expect(r).toBe('200');
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(t.sha.f1);
  }, 60_000);
});
