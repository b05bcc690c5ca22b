// The lab's lte-slaac profile (issue 16 item 2, `addressing: slaac`), as root: DSL carries IPv4
// only; LTE IPv6 only, and the CPE's side of it has no static address: the access network's
// router advertises its prefix (dnsmasq), the CPE daemon (config/lab/cpe-lte-slaac.yaml) lets the
// kernel take the RAs and uses the address it configured and the RA's router. A LAN host's 20 MB
// download is bonded over an IPv4 subflow on DSL and an IPv6 one on LTE, sha256 equal.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR } from '../../scripts/lab-impl/lab.js';
import { uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { endLab, type LabTest, labShell, startLab } from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `sl${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);

beforeAll(() => startLab(lab, prefix, 'lte-slaac', { f20: 20 * MB }), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www], lab.work), 30_000);

describe('lab, lte-slaac profile: LTE configured by router advertisements', () => {
  it('LTE takes an address from the RAs; a download is bonded over DSL (IPv4) and LTE (IPv6)', async () => {
    const slaac = () => lab.product?.cpe.lines.find((l) => l.event === 'uplink-slaac' && l.address);
    await waitFor('an address from the RAs', () => !!slaac(), 20_000, 100);
    const s = slaac() as { address: string; router: string };
    expect(s.address).toMatch(/^2001:db8:20:0:/);
    expect(s.router).toMatch(/^fe80::/);
    const up = async () => {
      const text = await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`);
      return (JSON.parse(text) as { uplinks: { state: string }[] }).uplinks.every((u) => u.state === 'up');
    };
    const end = Date.now() + 20_000;
    while (!(await up())) {
      if (Date.now() > end) throw new Error(`uplinks not up:\n${lab.product?.cpe.tail(30)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const b0 = uplinkBytes(prefix);
    await inNs(
      'client',
      `curl -sS --max-time 60 -o ${lab.work}/got http://${ADDR.server.hag}:8000/f20`,
      90_000,
    );
    const b1 = uplinkBytes(prefix);
    expect(
      createHash('sha256')
        .update(readFileSync(`${lab.work}/got`))
        .digest('hex'),
    ).toBe(lab.sha.f20);
    const d = { dsl: b1.dsl.rx - b0.dsl.rx, lte: b1.lte.rx - b0.lte.rx };
    process.stdout.write(`slaac lab: ${s.address} via ${s.router}; bytes in dsl0 ${d.dsl}, lte0 ${d.lte}\n`);
    expect(d.dsl).toBeGreaterThan(2 * MB);
    expect(d.lte).toBeGreaterThan(2 * MB);
    const isDownload = (l: Record<string, unknown>) =>
      l.event === 'close' && (l.bytesDown as number) >= 20 * MB;
    await waitFor(
      "the HAG to log the download's close",
      () => !!lab.product?.hag.lines.some(isDownload),
      15_000,
    );
    const close = lab.product?.hag.lines.find(isDownload) as {
      subflows: { remote: string; uplink: string }[];
    };
    expect(close.subflows.find((sf) => sf.uplink === 'lte')?.remote).toMatch(/^2001:db8:21::1:/);
  }, 120_000);
});
