// The lab's lte-ipv6only profile (issue 16, must-show "lab: IPv4-only DSL and IPv6-only LTE"), as
// root: DSL carries IPv4 only, LTE IPv6 only (behind the carrier's NAT66); the CPE daemon
// (config/lab/cpe-lte-ipv6only.yaml) and the HAG (config/lab/hag.yaml). A LAN host's 40 MB
// download from the server begins on DSL over IPv4; the HAG announces its IPv6 service address
// and LTE joins it over IPv6: the HAG's close log shows an IPv4 subflow from dsl and an IPv6 one
// from lte, both carrying data; DSL goes down and up mid-transfer and the download goes on,
// sha256 equal. afterAll removes the lab, also on failure.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labFault } from '../../scripts/lab-impl/lab.js';
import { uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { cpeUplinks, endLab, type LabTest, labShell, startLab, waitUplinks } from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `v6${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);

interface UplinkView {
  name: string;
  health: string;
  state: string;
  families?: string[];
  subflows6?: number;
  probeRttMs?: number;
  quota?: { used: number };
}

beforeAll(() => startLab(lab, prefix, 'lte-ipv6only', { f40: 40 * MB }), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www], lab.work), 30_000);

describe('lab, lte-ipv6only profile: an IPv4-only DSL and an IPv6-only LTE', () => {
  it('a download over an IPv4 subflow on DSL and an IPv6 one on LTE; DSL down and up mid-transfer keeps it', async () => {
    // Both lines up, the HAG reachable over each (LTE's check asks the HAG's IPv6 address).
    const up = await waitUplinks<UplinkView>(
      lab,
      prefix,
      'both uplinks up',
      (u) => u.every((x) => x.state === 'up'),
      30_000,
    );
    // The status: LTE has IPv6 only, and its probe (ICMPv6 to its gateway6) answered.
    expect(up.map((u) => u.families)).toEqual([['ipv4'], ['ipv6']]);
    expect(up[1].probeRttMs).toBeGreaterThan(0);
    const rx = () => {
      const b = uplinkBytes(prefix);
      return { dsl: b.dsl.rx, lte: b.lte.rx };
    };
    const b0 = rx();
    const out = `${lab.work}/got`;
    const dl = inNs('client', `curl -sS --max-time 90 -o ${out} http://${ADDR.server.hag}:8000/f40`, 120_000);
    const size = () => {
      try {
        return statSync(out).size;
      } catch {
        return 0;
      }
    };
    await waitFor('a quarter of the file', () => size() > 10 * MB, 60_000, 50);
    const b1 = rx();
    labFault(prefix, 'dsl', 'down');
    let b2 = b1;
    try {
      await waitUplinks<UplinkView>(lab, prefix, 'DSL seen down', (u) => u[0].health === 'down', 10_000);
      await waitFor('5 MB more over LTE alone', () => size() > 15 * MB || size() >= 40 * MB, 30_000, 50);
      b2 = rx();
      // The status page's data and /metrics count LTE's IPv6 subflow.
      expect((await cpeUplinks<UplinkView>(prefix))[1].subflows6).toBeGreaterThanOrEqual(1);
      const metrics = await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/metrics`);
      expect(metrics).toMatch(/^cpe_uplink_family_subflows\{uplink="lte",family="ipv6"\} [1-9]/m);
      expect(metrics).toMatch(/^cpe_uplink_family\{uplink="lte",family="ipv6"\} 1$/m);
    } finally {
      labFault(prefix, 'dsl', 'up');
    }
    await dl;
    const b3 = rx();
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(lab.sha.f40);
    const before = { dsl: b1.dsl - b0.dsl, lte: b1.lte - b0.lte };
    const during = { dsl: b2.dsl - b1.dsl, lte: b2.lte - b1.lte };
    const after = { dsl: b3.dsl - b2.dsl, lte: b3.lte - b2.lte };
    process.stdout.write(
      `ipv6 lab: bytes in before the fault ${JSON.stringify(before)}, DSL down ${JSON.stringify(during)}, after ${JSON.stringify(after)}\n`,
    );
    // Both subflows carried data before the fault; LTE alone while DSL was down.
    expect(before.dsl).toBeGreaterThan(2 * MB);
    expect(before.lte).toBeGreaterThan(2 * MB);
    expect(during.lte).toBeGreaterThan(4 * MB);
    // DSL back: its IPv4 subflow joins again (to the address the connection began with) and carries data.
    expect(after.dsl).toBeGreaterThan(1 * MB);
    // The HAG's log of the connection: the initial subflow over IPv4 from dsl, the join over IPv6 from lte.
    // LTE's quota counted its interface's bytes (IPv6 ones).
    expect((await cpeUplinks<UplinkView>(prefix))[1].quota?.used).toBeGreaterThan(20 * MB);
    const isDownload = (l: Record<string, unknown>) =>
      l.event === 'close' && (l.bytesDown as number) >= 40 * MB;
    await waitFor(
      "the HAG to log the download's close",
      () => !!lab.product?.hag.lines.some(isDownload),
      15_000,
    );
    const close = lab.product?.hag.lines.find(isDownload) as {
      subflows: { remote: string; uplink: string; bytesOut: number }[];
    };
    const dsl = close.subflows.filter((sf) => sf.uplink === 'dsl');
    expect(dsl.length).toBeGreaterThan(0);
    expect(dsl.every((sf) => sf.remote.startsWith(`${ADDR.cpe.dsl}:`))).toBe(true);
    const lte = close.subflows.filter((sf) => sf.uplink === 'lte');
    expect(lte.length).toBeGreaterThan(0);
    expect(lte.every((sf) => sf.remote.startsWith('2001:db8:21::'))).toBe(true);
    expect(Math.max(...lte.map((sf) => sf.bytesOut))).toBeGreaterThan(4 * MB);
    process.stdout.write(`ipv6 lab: the HAG's subflows at the end ${JSON.stringify(close.subflows)}\n`);
  }, 180_000);
});
