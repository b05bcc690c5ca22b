// The LAN's router advertisements on the lab (issue 16 item 3), as root. Profile lan-slaac: the
// LAN host has no static IPv6 address and its kernel does SLAAC (accept_ra, autoconf); the CPE
// daemon (config/lab/cpe.yaml with lan.ra on) advertises 2001:db8:1::/64 and itself as the DNS
// server. (a) The host forms an address in the prefix and takes the CPE's link-local address as
// its default router; a router solicitation from the host is answered with an RA that tshark (an
// independent decoder) reads as hop limit 255, the prefix with L and A, RDNSS 2001:db8:1::1 and
// the CPE's MAC, checksum good; one with IP hop limit 64 is refused (RFC 4861 6.1.1). (b) The host's IPv6 download from the server's IPv6 address is
// intercepted and bonded: both uplinks carry data, sha256 equal, the CPE's open line names the
// SLAAC address. (c) The CPE's stop sends router lifetime 0: the host drops its default route.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, ADDR6 } from '../../scripts/lab-impl/lab.js';
import { uplinkBytes } from '../../scripts/lab-impl/stack.js';
import { endLab, type LabTest, labShell, startLab } from './lib/lab-run.js';
import { waitFor } from './lib/netns.js';

const prefix = `ls${randomBytes(3).toString('hex')}`;
const MB = 1_000_000;
const lab: LabTest = { sha: {} };
const inNs = labShell(prefix);

beforeAll(() => startLab(lab, prefix, 'lan-slaac', { f20: 20 * MB }, '::'), 180_000);

afterAll(() => endLab(prefix, lab.product, [lab.www], lab.work), 30_000);

/** The IPv6 addresses of `scope` on interface `dev` of namespace `ns` (ip -j). */
async function addresses(ns: string, dev: string, scope: 'global' | 'link'): Promise<string[]> {
  const a = JSON.parse(await inNs(ns, `ip -6 -j addr show dev ${dev} scope ${scope}`)) as {
    addr_info: { local?: string }[];
  }[];
  return a.flatMap((x) => x.addr_info.flatMap((i) => (i.local ? [i.local] : [])));
}

/** The host's global IPv6 addresses on eth0 and its IPv6 default route. */
async function hostIpv6(): Promise<{ addresses: string[]; router: string | undefined }> {
  const r = JSON.parse(await inNs('client', 'ip -6 -j route show default')) as { gateway?: string }[];
  return { addresses: await addresses('client', 'eth0', 'global'), router: r[0]?.gateway };
}

let slaacAddress = '';

describe('lab, lan-slaac profile: the LAN host configures itself from the CPE', () => {
  it('(a) SLAAC address and default router from the RAs; a solicitation is answered with prefix and RDNSS', async () => {
    await waitFor(
      'a SLAAC address and a default route on the LAN host',
      async () => {
        const h = await hostIpv6();
        return h.addresses.some((a) => a.startsWith('2001:db8:1:0:')) && h.router !== undefined;
      },
      20_000,
      100,
    );
    const h = await hostIpv6();
    slaacAddress = h.addresses.find((a) => a.startsWith('2001:db8:1:0:')) as string;
    const cpeLl = (await addresses('cpe', 'lan0', 'link'))[0];
    expect(h.router).toBe(cpeLl);
    const mac = (await inNs('cpe', 'cat /sys/class/net/lan0/address')).trim();

    // tshark captures the next RA on the host's side while the host solicits one (RFC 4861 6.3.7).
    const fields = [
      'ipv6.hlim',
      'ipv6.src',
      'icmpv6.checksum.status',
      'icmpv6.nd.ra.router_lifetime',
      'icmpv6.opt.prefix',
      'icmpv6.opt.prefix.length',
      'icmpv6.opt.prefix.flag.l',
      'icmpv6.opt.prefix.flag.a',
      'icmpv6.opt.rdnss',
      'icmpv6.opt.linkaddr',
    ];
    // Two solicitations: one with hop limit 64 (RFC 4861 6.1.1: not from the link, ignored), one with 255.
    const rs =
      'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6); ' +
      "to = ('ff02::2', 0, 0, socket.if_nametoindex('eth0')); rs = bytes([133, 0, 0, 0, 0, 0, 0, 0]); " +
      's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 64); s.sendto(rs, to); ' +
      's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255); s.sendto(rs, to)';
    const before = await raStats();
    const [err, txt] = [`${lab.work}/tshark.err`, `${lab.work}/ra.txt`];
    const out = await inNs(
      'client',
      `tshark -l -n -i eth0 -f 'icmp6 and ip6[40] == 134' -c 1 -a duration:15 -T fields ` +
        `${fields.map((f) => `-e ${f}`).join(' ')} -E separator='|' 2>${err} >${txt} & ` +
        `for i in $(seq 150); do grep -qs Capturing ${err} && break; sleep 0.1; done; ` +
        `python3 -c "${rs}"; wait; cat ${txt}`,
      30_000,
    );
    const [hlim, src, csum, lifetime, pfx, plen, l, a, rdnss, lladdr] = out.trim().split('|');
    process.stdout.write(`lan-slaac: host ${slaacAddress} via ${h.router}; RA: ${out.trim()}\n`);
    expect({ hlim, src, csum, lifetime, pfx, plen, rdnss, lladdr }).toEqual({
      hlim: '255',
      src: cpeLl,
      csum: '1', // tshark: good
      lifetime: '90',
      pfx: '2001:db8:1::',
      plen: '64',
      rdnss: ADDR6.cpe.lan,
      lladdr: mac,
    });
    expect([l, a].map((f) => f === 'True' || f === '1')).toEqual([true, true]);
    const after = await raStats();
    expect(after.solicitations - before.solicitations).toBeGreaterThanOrEqual(1);
    expect(after.refused - before.refused).toBe(1);
    const refusal = lab.product?.cpe.lines.find((x) => x.event === 'ra-refused');
    expect(refusal?.reason).toBe('IP hop limit 64, not 255');
  }, 60_000);

  it('(b) the host IPv6 download from an IPv6 server is bonded over both uplinks', async () => {
    expect(slaacAddress).not.toBe('');
    const b0 = uplinkBytes(prefix);
    await inNs(
      'client',
      `curl -sS --max-time 60 -o ${lab.work}/got http://[${ADDR6.server.hag}]:8000/f20`,
      90_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n${lab.product?.cpe.tail(30)}\n${lab.product?.hag.tail(20)}`);
    });
    const b1 = uplinkBytes(prefix);
    const sha = createHash('sha256')
      .update(readFileSync(`${lab.work}/got`))
      .digest('hex');
    expect(sha).toBe(lab.sha.f20);
    const d = { dsl: b1.dsl.rx - b0.dsl.rx, lte: b1.lte.rx - b0.lte.rx };
    process.stdout.write(`lan-slaac: 20 MB over IPv6, bytes in dsl0 ${d.dsl}, lte0 ${d.lte}\n`);
    expect(d.dsl).toBeGreaterThan(2 * MB);
    expect(d.lte).toBeGreaterThan(2 * MB);
    const open = lab.product?.cpe.lines.find(
      (x) => x.event === 'open' && String(x.dst).includes(ADDR6.server.hag),
    ) as { src: string; path?: string } | undefined;
    expect(open?.src).toContain(slaacAddress);
  }, 120_000);

  it('(c) the CPE stops with router lifetime 0: the host drops its default route', async () => {
    await lab.product?.cpe.stop();
    await waitFor(
      'the host to drop its IPv6 default route',
      async () => !(await hostIpv6()).router,
      10_000,
      100,
    );
  }, 30_000);
});

/** The CPE's RA counters from its status page. */
async function raStats(): Promise<{ sent: number; solicitations: number; refused: number }> {
  const text = await inNs('cpe', `curl -sS --max-time 5 http://${ADDR.cpe.lan}:8080/status.json`);
  return (JSON.parse(text) as { ra: { sent: number; solicitations: number; refused: number } }).ra;
}
