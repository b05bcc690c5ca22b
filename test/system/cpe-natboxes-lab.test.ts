// The lab's natboxes profile (issue 15 item 4, must-show "lab with two NAT boxes"), as root: the
// dsl and lte namespaces are two consumer routers handing out 192.168.1.0/24 via 192.168.1.1 by
// DHCP (dnsmasq) behind their own NAT, the CPE daemon (config/lab/cpe-natboxes.yaml) takes a lease
// from each, the HAG from config/lab/hag.yaml. Both leases come with the same subnet and gateway;
// a 20 MB download from the server is bonded over both (bytes on each uplink interface); the DSL
// box unplugged mid-transfer (scripts/lab fault dsl down) keeps it, sha256 equal. afterAll removes
// the lab, also on failure.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, labFault, labUp } from '../../scripts/lab-impl/lab.js';
import { NATBOX } from '../../scripts/lab-impl/natbox.js';
import { type Daemon, type Product, startProduct, uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { compileTree, endLab, labShell, serveFiles } from './lib/lab-run.js';
import { requireRoot, waitFor } from './lib/netns.js';

const prefix = `nb${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
let product: Product | undefined;
let www: Daemon | undefined;
let work: string | undefined;
let sha: Record<string, string> = {};
const inNs = labShell(prefix);

interface UplinkView {
  name: string;
  address?: string;
  health: string;
  subflows: number;
}

async function uplinks(): Promise<UplinkView[]> {
  const text = await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`);
  return (JSON.parse(text) as { uplinks: UplinkView[] }).uplinks;
}

async function waitUplinks(what: string, pred: (u: UplinkView[]) => boolean, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  let last: UplinkView[] = [];
  while (Date.now() < end) {
    last = await uplinks();
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(last)}\n${product?.cpe.tail(30)}`);
}

const rx = (b: ReturnType<typeof uplinkBytes>) => ({ dsl: b.dsl.rx, lte: b.lte.rx });

beforeAll(async () => {
  requireRoot();
  work = mkdtempSync(join(tmpdir(), 'natboxes-lab-'));
  const dist = join(work, 'dist');
  compileTree(dist);
  await labUp('natboxes', prefix);
  const served = await serveFiles(prefix, { f20: 20 * MB }, ADDR.server.hag);
  www = served.www;
  sha = served.sha;
  product = await startProduct(prefix, { distDir: dist });
}, 180_000);

afterAll(() => endLab(prefix, product, [www], work), 30_000);

describe('lab, natboxes profile: two NAT boxes with the same subnet and gateway', () => {
  it('both uplinks take a lease from their box: same subnet, same gateway', async () => {
    const leases = new Map<string, string>();
    await waitFor(
      'both leases',
      () => {
        for (const l of product?.cpe.lines ?? [])
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
    await waitUplinks('both uplinks up', (u) => u.every((x) => x.health === 'up'), 20_000);
  }, 60_000);

  it('a download is bonded over both boxes; the DSL box unplugged mid-transfer keeps it', async () => {
    // First a whole download over both: bytes on each uplink.
    let before = rx(uplinkBytes(prefix));
    await inNs('client', `curl -sS --max-time 60 -o ${work}/got1 http://${ADDR.server.hag}:8000/f20`, 90_000);
    let after = rx(uplinkBytes(prefix));
    const both = { dsl: after.dsl - before.dsl, lte: after.lte - before.lte };
    process.stdout.write(`natboxes lab: bytes in dsl0 ${both.dsl}, lte0 ${both.lte}\n`);
    expect(
      createHash('sha256')
        .update(readFileSync(`${work}/got1`))
        .digest('hex'),
    ).toBe(sha.f20);
    expect(both.dsl).toBeGreaterThan(2 * MB);
    expect(both.lte).toBeGreaterThan(2 * MB);

    // Then the DSL box unplugged a third of the way in.
    before = rx(uplinkBytes(prefix));
    const out = `${work}/got2`;
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
      expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(sha.f20);
      const d = { dsl: after.dsl - before.dsl, lte: after.lte - before.lte };
      process.stdout.write(`DSL box unplugged: bytes in dsl0 ${d.dsl}, lte0 ${d.lte}\n`);
      expect(d.lte).toBeGreaterThan(10 * MB);
      expect((await uplinks()).find((u) => u.name === 'dsl')?.health).toBe('down');
    } finally {
      labFault(prefix, 'dsl', 'up');
    }
  }, 180_000);
});
