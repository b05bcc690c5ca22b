// The lab's natboxes profile (issue 15 item 4, must-show "lab with two NAT boxes"), as root: the
// dsl and lte namespaces are two consumer routers handing out 192.168.1.0/24 via 192.168.1.1 by
// DHCP (dnsmasq) behind their own NAT, the CPE daemon (config/lab/cpe-natboxes.yaml) takes a lease
// from each, the HAG from config/lab/hag.yaml. Both leases come with the same subnet and gateway;
// a 20 MB download from the server is bonded over both (bytes on each uplink interface); the DSL
// box unplugged mid-transfer (scripts/lab fault dsl down) keeps it, sha256 equal; inbound port
// forwarding (issue 18) works behind NAT on both lines: from the server namespace, the HAG's public
// port reaches the LAN host's web server over both uplinks. afterAll removes the lab, also on
// failure.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labFault } from '../../scripts/lab-impl/lab.js';
import { NATBOX } from '../../scripts/lab-impl/natbox.js';
import { type Daemon, uplinkBytes } from '../../scripts/lab-impl/stack.js';
import {
  cpeUplinks,
  endLab,
  type LabTest,
  labShell,
  serveLanFiles,
  startLab,
  waitUplinks,
} from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `nb${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);
let lanWww: Daemon | undefined;

interface UplinkView {
  name: string;
  address?: string;
  health: string;
  subflows: number;
}

const rx = (b: ReturnType<typeof uplinkBytes>) => ({ dsl: b.dsl.rx, lte: b.lte.rx });

beforeAll(() => startLab(lab, prefix, 'natboxes', { f20: 20 * MB, f5: 5 * MB }), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www, lanWww], lab.work), 30_000);

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

  it('inbound port forwarding behind NAT on both lines: the HAG public port reaches the LAN host, over both', async () => {
    lanWww = await serveLanFiles(prefix, 'f5');
    const status = async () =>
      JSON.parse(await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`)) as {
        inbound: { forwards: { name: string; state: string }[] };
      };
    for (let i = 0; i < 150 && (await status()).inbound.forwards[0]?.state !== 'open'; i++)
      await new Promise((r) => setTimeout(r, 200));
    expect((await status()).inbound.forwards[0]?.state, lab.product?.cpe.tail(20)).toBe('open');
    const before = uplinkBytes(prefix);
    const out = `${lab.work}/got-inbound`;
    await inNs('server', `curl -sS --max-time 60 -o ${out} http://${ADDR.hag.server}:8080/f5`, 90_000);
    const after = uplinkBytes(prefix);
    const tx = { dsl: after.dsl.tx - before.dsl.tx, lte: after.lte.tx - before.lte.tx };
    process.stdout.write(`natboxes inbound: bytes out dsl0 ${tx.dsl}, lte0 ${tx.lte}\n`);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(lab.sha.f5);
    expect(tx.dsl).toBeGreaterThan(MB / 2);
    expect(tx.lte).toBeGreaterThan(MB / 2);
  }, 90_000);

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
