// The lab's lte-dhcpv6 profile (issue 16: `addressing: dhcpv6` and prefix delegation), as root: DSL
// carries IPv4 only; LTE IPv6 only, with no static address: the access network's ISC dhcpd -6
// leases the CPE an address (IA_NA) and delegates it a /56 (IA_PD); its router advertisements
// (dnsmasq) name the gateway. (a) LTE's address comes from the server's range, its gateway is the
// RA's router, and a LAN host's 20 MB download is bonded over an IPv4 subflow on DSL and an IPv6 one
// on LTE (bytes on both, sha256 equal). (b) The delegated prefix's first /64 is the LAN's: the CPE's
// address ::1 there, its RAs carry it in place of the configured prefix, and the LAN host (kernel
// SLAAC) takes an address in it; status.json and /metrics say so. (c) The lease is renewed at T1
// (10 s here) with the same address and prefix. (d) The CPE's stop releases the lease (the server logs the Release).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, runDir } from '../../scripts/lab-impl/lab.js';
import { uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { endLab, type LabTest, labShell, startLab } from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `d6${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);

beforeAll(() => startLab(lab, prefix, 'lte-dhcpv6', { f20: 20 * MB }), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www], lab.work), 30_000);

type Lease6 = { event: string; address?: string; prefix?: string; gateway6?: string; t1?: number };
const leases = () => (lab.product?.cpe.lines ?? []).filter((l) => l.event === 'uplink-lease6') as Lease6[];
let lease: Lease6 = { event: '' };

async function status(): Promise<{
  uplinks: { name: string; state: string; address?: string }[];
  delegation?: { uplink: string; prefix: string; lanPrefix: string; lanAddress: string; validS: number };
}> {
  return JSON.parse(await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`));
}

/** 2001:db8:20::1000 .. ::1fff, the server's range. */
const inRange = (a: string) => /^2001:db8:20::1[0-9a-f]{3}$/.test(a);

describe('lab, lte-dhcpv6 profile: LTE addressed by DHCPv6, the LAN prefix delegated', () => {
  it('(a) LTE leases an address; a download is bonded over DSL (IPv4) and LTE (IPv6)', async () => {
    await waitFor('a DHCPv6 lease on LTE', () => leases().length > 0, 30_000, 100);
    lease = leases()[0];
    expect(inRange(lease.address ?? '')).toBe(true);
    expect(lease.prefix).toMatch(/^2001:db8:f0:[0-9a-f]{0,2}00::\/56$/);
    const addrs = await inNs('cpe', 'ip -6 -o addr show dev lte0 scope global');
    expect(addrs).toContain(`${lease.address}/128`);
    const end = Date.now() + 20_000;
    for (;;) {
      const s = await status();
      const lte = s.uplinks.find((u) => u.name === 'lte');
      if (s.uplinks.every((u) => u.state === 'up') && lte?.address === lease.address) break;
      if (Date.now() > end) throw new Error(`uplinks not up:\n${lab.product?.cpe.tail(30)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const router = lab.product?.cpe.lines.find((l) => l.event === 'uplink-ra-router' && l.router);
    expect(String(router?.router)).toMatch(/^fe80::/);
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
    process.stdout.write(
      `dhcpv6 lab: ${lease.address} and ${lease.prefix}; bytes in dsl0 ${d.dsl}, lte0 ${d.lte}\n`,
    );
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
    // The LTE subflow came over IPv6 (masqueraded by the carrier to its side of the link).
    expect(close.subflows.find((sf) => sf.uplink === 'lte')?.remote).toMatch(/^2001:db8:21::1:/);
  }, 120_000);

  it('(b) the LAN host takes an address in the delegated /64; status and metrics show it', async () => {
    const net = (lease.prefix ?? '').replace(/::\/56$/, '');
    const lan64 = `${net}::/64`;
    const s = await status();
    expect(s.delegation).toMatchObject({
      uplink: 'lte',
      prefix: lease.prefix,
      lanPrefix: lan64,
      lanAddress: `${net}::1/64`,
    });
    expect(await inNs('cpe', 'ip -6 -o addr show dev lan0')).toContain(`${net}::1/64`);
    await waitFor(
      'a SLAAC address in the delegated prefix on the LAN host',
      async () => (await inNs('client', 'ip -6 -o addr show dev eth0 scope global')).includes(`${net}:`),
      20_000,
      200,
    );
    const host = (await inNs('client', 'ip -6 -o addr show dev eth0 scope global')).match(
      new RegExp(`(${net}:[0-9a-f:]+)/64`),
    )?.[1];
    process.stdout.write(`dhcpv6 lab: LAN host ${host} from ${lan64}\n`);
    // The RAs carry the delegated /64 in place of the configured 2001:db8:1::/64.
    const ra = lab.product?.cpe.lines.filter((l) => l.event === 'ra-prefixes').at(-1);
    expect(ra?.prefixes).toEqual([lan64]);
    const metrics = await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/metrics`);
    expect(metrics).toContain(
      `cpe_lan_prefix_info{uplink="lte",prefix="${lease.prefix}",lan_prefix="${lan64}"} 1`,
    );
  }, 60_000);

  it('(c) the lease is renewed at T1 with the same address and prefix', async () => {
    await waitFor('a renewal', () => leases().length > 1, 30_000, 200);
    const r = leases()[1];
    expect([r.address, r.prefix]).toEqual([lease.address, lease.prefix]);
    expect(lab.product?.cpe.lines.some((l) => l.msg === 'DHCPv6 lease renewed')).toBe(true);
  }, 40_000);

  it('(d) the CPE stops with a Release to the server', async () => {
    await lab.product?.cpe.stop();
    const log = join(runDir(prefix), 'lte-dhcp6.log');
    await waitFor(
      'the server to log the Release',
      () => /Release message from/.test(readFileSync(log, 'utf8')),
      10_000,
      100,
    );
  }, 30_000);
});
