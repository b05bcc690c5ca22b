// The lab's natboxes profile (issue 15 item 4, must-show "lab with two NAT boxes"), as root: the
// dsl and lte namespaces are two consumer routers handing out 192.168.1.0/24 via 192.168.1.1 by
// DHCP (dnsmasq) behind their own NAT, the CPE daemon (config/lab/cpe-natboxes.yaml) takes a lease
// from each, the HAG from config/lab/hag.yaml. Both leases come with the same subnet and gateway;
// a 20 MB download from the server is bonded over both (bytes on each uplink interface); the DSL
// box unplugged mid-transfer (scripts/lab fault dsl down) keeps it, sha256 equal. afterAll removes
// the lab, also on failure.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labFault } from '../../scripts/lab-impl/lab.js';
import { NATBOX } from '../../scripts/lab-impl/natbox.js';
import { uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { cpeUplinks, endLab, type LabTest, labShell, startLab, waitUplinks } from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `nb${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);

interface UplinkView {
  name: string;
  address?: string;
  health: string;
  subflows: number;
}

const rx = (b: ReturnType<typeof uplinkBytes>) => ({ dsl: b.dsl.rx, lte: b.lte.rx });

beforeAll(() => startLab(lab, prefix, 'natboxes', { f20: 20 * MB }), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www], lab.work), 30_000);

describe('lab, natboxes profile: two NAT boxes with the same subnet and gateway', () => {
  it('both uplinks take a lease from their box: same subnet, same gateway', async () => {
    const leases = new Map<string, string>();
    await waitFor(
      'both leases',
      () => {
        for (const l of lab.product?.cpe.lines ?? [])
          if (l.event === 'uplink-lease') leases.set(String(l.uplink), JSON.stringify(l));
        return leases.size === 2;
      },
      30_000,
      100,
    );
    for (const name of ['dsl', 'lte']) {
      const l = JSON.parse(leases.get(name) as string) as { address: string; gateway: string };
      expect(l.gateway).toBe(NATBOX.gateway);
      expect(l.address).toMatch(/^192\.168\.1\.1\d\d$/);
    }
    // Each box's own DHCP server gave it (its lease file in the lab's run directory).
    const run = `/run/hybrid-access-lab/${prefix}`;
    const dslLease = JSON.parse(leases.get('dsl') as string).address;
    const lteLease = JSON.parse(leases.get('lte') as string).address;
    expect(readFileSync(join(run, 'dsl-box.leases'), 'utf8')).toContain(dslLease);
    expect(readFileSync(join(run, 'lte-box.leases'), 'utf8')).toContain(lteLease);
    await waitUplinks<UplinkView>(
      lab,
      prefix,
      'both uplinks up',
      (u) => u.every((x) => x.health === 'up'),
      20_000,
    );
  }, 60_000);

  it('a download is bonded over both boxes; the DSL box unplugged mid-transfer keeps it', async () => {
    // First a whole download over both: bytes on each uplink.
    let before = rx(uplinkBytes(prefix));
    await inNs(
      'client',
      `curl -sS --max-time 60 -o ${lab.work}/got1 http://${ADDR.server.hag}:8000/f20`,
      90_000,
    );
    let after = rx(uplinkBytes(prefix));
    const both = { dsl: after.dsl - before.dsl, lte: after.lte - before.lte };
    process.stdout.write(`natboxes lab: bytes in dsl0 ${both.dsl}, lte0 ${both.lte}\n`);
    expect(
      createHash('sha256')
        .update(readFileSync(`${lab.work}/got1`))
        .digest('hex'),
    ).toBe(lab.sha.f20);
    expect(both.dsl).toBeGreaterThan(2 * MB);
    expect(both.lte).toBeGreaterThan(2 * MB);

    // Then the DSL box unplugged a third of the way in.
    before = rx(uplinkBytes(prefix));
    const out = `${lab.work}/got2`;
    const dl = inNs('client', `curl -sS --max-time 90 -o ${out} http://${ADDR.server.hag}:8000/f20`, 120_000);
    await waitFor(
      'a third of the file',
      () => {
        try {
          return statSync(out).size > 7 * MB;
        } catch {
          return false;
        }
      },
      60_000,
      50,
    );
    labFault(prefix, 'dsl', 'down');
    try {
      await dl;
      after = rx(uplinkBytes(prefix));
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(lab.sha.f20);
      const d = { dsl: after.dsl - before.dsl, lte: after.lte - before.lte };
      process.stdout.write(`DSL box unplugged: bytes in dsl0 ${d.dsl}, lte0 ${d.lte}\n`);
      expect(d.lte).toBeGreaterThan(10 * MB);
      expect((await cpeUplinks<UplinkView>(prefix)).find((u) => u.name === 'dsl')?.health).toBe('down');
    } finally {
      labFault(prefix, 'dsl', 'up');
    }
  }, 180_000);
});
