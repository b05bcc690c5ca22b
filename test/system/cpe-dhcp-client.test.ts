// Our DHCP client (cpe/dhcp/client.ts) on an uplink against dnsmasq in another namespace this test
// creates: it retries with backoff until dnsmasq appears, takes a lease (broadcast flag, options 50
// and 54), puts the address on the interface, renews at T1 by unicast, and when the server changes
// its mind (a NAK while renewing) reports the lease lost and takes a new one.

import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { lines, once } from './lib/proc.js';
import { stageCpe } from './lib/stage.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const stage = () => stageCpe('cpe-dhcpc-stage');

let dist: string;
let ns: Netns;
let work: string;
const net = `198.18.${20 + Math.floor(Math.random() * 200)}`;

beforeAll(() => {
  dist = stage();
  work = mkdtempSync(join(tmpdir(), 'cpe-dhcpc-work-'));
  chmodSync(work, 0o777);
  ns = new Netns('cc');
  ns.add('isp');
  ns.add('cpe');
  ns.veth('isp', 'isp0', 'cpe', 'dsl0');
  ns.sh('isp', `ip addr add ${net}.1/24 dev isp0`);
});
afterAll(() => {
  ns?.cleanup();
  if (dist) rmSync(dist, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

function dnsmasq(first: number, last: number, tag: string): ChildProcess {
  return ns.spawn('isp', [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--interface=isp0',
    '--bind-interfaces',
    '--dhcp-authoritative',
    '--log-dhcp',
    '--user=root',
    `--pid-file=${join(work, `dnsmasq-${tag}.pid`)}`,
    `--dhcp-leasefile=${join(work, `dnsmasq-${tag}.leases`)}`,
    `--dhcp-range=${net}.${first},${net}.${last},255.255.255.0,120`,
    `--dhcp-option=option:router,${net}.1`,
    `--dhcp-option=option:dns-server,${net}.53`,
    '--dhcp-option=option:T1,3',
    '--dhcp-option=option:T2,8',
  ]);
}

describe('CPE DHCP client against dnsmasq', () => {
  it('retries until dnsmasq answers, binds, renews at T1, loses the lease on a NAK and binds again', async () => {
    const opts = {
      interface: 'dsl0',
      apply: true,
      logLevel: 'debug',
      initialBackoffMs: 500,
      maxBackoffMs: 2000,
      minRenewRetryMs: 500,
    };
    const client = lines(
      ns.spawn('cpe', ['node', join(dist, 'cpe/dhcp/cli.js'), 'client', JSON.stringify(opts)], {
        // The staged build has no addon beside it: the client sends from 0.0.0.0 through it.
        env: {
          ...process.env,
          HYBRID_ACCESS_TUN_ADDON: join(repo, 'src/io/tun-tap/build/Release/tun_tap.node'),
        },
      }),
    );
    await once(client, (l) => l.ev === 'started', 10_000);
    // No server yet: DISCOVERs are retransmitted with growing delays.
    await waitFor(
      'three DISCOVERs',
      () => client.seen.filter((l) => l.msg === 'DHCPDISCOVER sent').length >= 3,
      10_000,
    );
    const delays = client.seen.filter((l) => l.msg === 'DHCPDISCOVER sent').map((l) => l.nextInMs as number);
    expect(delays[1]).toBeGreaterThan(delays[0]);
    expect(client.seen.some((l) => l.ev === 'bound')).toBe(false);

    const d1 = dnsmasq(50, 60, 'a');
    const d1log = lines(d1);
    const bound = await once(client, (l) => l.ev === 'bound', 20_000);
    const lease = bound.lease as {
      address: string;
      prefixLength: number;
      routers: string[];
      dns: string[];
      serverId: string;
      t1: number;
    };
    const host = Number(lease.address.split('.')[3]);
    expect(lease.address.startsWith(`${net}.`) && host >= 50 && host <= 60).toBe(true);
    expect(lease).toMatchObject({
      prefixLength: 24,
      routers: [`${net}.1`],
      dns: [`${net}.53`],
      serverId: `${net}.1`,
      t1: 3,
    });
    // dnsmasq saw options 50 and 54 in our REQUEST (its --log-dhcp prints the requested address).
    expect(d1log.stderr.join('\n')).toMatch(
      new RegExp(`DHCPREQUEST\\(isp0\\) ${lease.address.replace(/\./g, '\\.')} `),
    );
    expect(ns.sh('cpe', 'ip -4 addr show dev dsl0')).toContain(`${lease.address}/24`);
    ns.sh('cpe', `ping -c 1 -W 2 ${net}.1`);

    // T1 = 3 s: a unicast renewal, answered, same address.
    const renewed = await once(client, (l) => l.ev === 'renewed', 15_000);
    expect((renewed.lease as { address: string }).address).toBe(lease.address);
    expect(client.seen.some((l) => l.ev === 'state' && l.state === 'renewing')).toBe(true);

    // The server is replaced by one with another range: the next renewal is NAKed, the lease is
    // lost (its address removed) and a new one taken.
    d1.kill('SIGTERM');
    await waitFor('dnsmasq a gone', () => d1log.exited !== null, 5_000);
    const before = client.seen.length;
    await once(
      client,
      (l) => l.ev === 'state' && l.state === 'renewing' && client.seen.indexOf(l) >= before,
      15_000,
    );
    dnsmasq(70, 80, 'b');
    const lost = await once(client, (l) => l.ev === 'lost', 20_000);
    expect(lost.reason).toMatch(/^NAK from/);
    const again = await once(
      client,
      (l) => l.ev === 'bound' && client.seen.indexOf(l) > client.seen.indexOf(lost),
      20_000,
    );
    const addr2 = (again.lease as { address: string }).address;
    expect(Number(addr2.split('.')[3])).toBeGreaterThanOrEqual(70);
    const addrs = ns.sh('cpe', 'ip -4 addr show dev dsl0');
    expect(addrs).toContain(`${addr2}/24`);
    expect(addrs).not.toContain(`${lease.address}/24`);
  }, 120_000);
});
