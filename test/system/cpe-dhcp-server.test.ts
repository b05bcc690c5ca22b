// The CPE's LAN DHCP server against a real client, in network namespaces this test creates: busybox
// udhcpc in a "lan" namespace takes a lease (asking for an address with option 50), renews it
// (unicast), keeps it across a server restart (lease file), releases it; malformed packets are
// logged and dropped while the server keeps serving. The server runs as a child process in the
// "cpe" namespace from the TypeScript sources transpiled into a temporary folder.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Netns, waitFor } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { stageCpe } from './lib/stage.js';

const stage = () => stageCpe('cpe-dhcp-stage');

let dist: string;
let ns: Netns;
let work: string;
const subnet = `198.18.${20 + Math.floor(Math.random() * 200)}`;
const serverId = `${subnet}.1`;

beforeAll(() => {
  dist = stage();
  ns = new Netns('cd');
  work = mkdtempSync(join(tmpdir(), 'cpe-dhcp-work-'));
  chmodSync(work, 0o755);
  ns.add('cpe');
  ns.add('lan');
  ns.veth('cpe', 'lan0', 'lan', 'eth0');
  ns.sh('cpe', `ip addr add ${serverId}/24 dev lan0`);
});
afterAll(() => {
  ns?.cleanup();
  if (dist) rmSync(dist, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

const servers: (Lines & { stop: () => void })[] = [];
/** DHCP client processes of the current test (killed after it by pid, never by name). */
const clients: ChildProcess[] = [];
afterEach(async () => {
  // Each test's server ends with it, also when the test failed.
  for (const s of servers.splice(0)) {
    s.stop();
    await waitFor('server exit', () => s.exited !== null, 10_000).catch(() => {});
  }
  for (const c of clients.splice(0)) c.kill('SIGKILL');
  ns.sh('lan', 'ip addr flush dev eth0');
});

function startServer(leaseFile = 'leases.json'): Lines & { stop: () => void } {
  const opts = {
    subnet: `${subnet}.0/24`,
    serverId,
    ranges: [{ start: `${subnet}.10`, end: `${subnet}.20` }],
    leaseTime: 120,
    dns: [serverId, '198.18.255.53'],
    leaseFile: join(work, leaseFile),
    declineQuarantine: 600,
  };
  // `ip netns exec` execs the command, so the child's pid is node's.
  const p = ns.spawn('cpe', ['node', join(dist, 'cpe/dhcp/cli.js'), 'server', JSON.stringify(opts)]);
  const srv = Object.assign(lines(p), { stop: () => p.kill('SIGTERM') });
  servers.push(srv);
  return srv;
}

/** A udhcpc in the lan namespace whose script logs each event as a JSON line and configures eth0. */
function startUdhcpc(extra: string[] = []) {
  const log = join(work, `udhcpc-${Date.now()}.log`);
  const script = join(work, 'udhcpc.sh');
  writeFileSync(
    script,
    `#!/bin/sh
printf '{"ev":"%s","ip":"%s","mask":"%s","router":"%s","dns":"%s","lease":"%s","serverid":"%s"}\\n' \\
  "$1" "$ip" "$mask" "$router" "$dns" "$lease" "$serverid" >> ${log}
case "$1" in
  bound|renew) ip addr replace "$ip/$mask" dev "$interface" ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
`,
    { mode: 0o755 },
  );
  const p = ns.spawn('lan', [
    'udhcpc',
    '-f',
    '-i',
    'eth0',
    '-s',
    script,
    '-t',
    '5',
    '-T',
    '1',
    '-A',
    '1',
    ...extra,
  ]);
  clients.push(p);
  const events = () =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, string>)
      : [];
  return { p, events };
}

const leaseFile = (name = 'leases.json') =>
  JSON.parse(readFileSync(join(work, name), 'utf8')).leases as {
    address: string;
    mac: string;
    state: string;
    expiresAt: number;
  }[];

describe('CPE DHCP server with udhcpc', () => {
  it('leases (option 50 honoured), renews, survives a restart, releases; malformed input is dropped', async () => {
    const mac = ns.sh('lan', 'cat /sys/class/net/eth0/address').trim();
    let srv = startServer();
    await once(srv, (l) => l.ev === 'listening', 10_000);

    // 1. DISCOVER/OFFER/REQUEST/ACK, asking for .15 (option 50).
    const c1 = startUdhcpc(['-r', `${subnet}.15`]);
    await waitFor('udhcpc bound', () => c1.events().some((e) => e.ev === 'bound'), 15_000);
    const bound = c1.events().find((e) => e.ev === 'bound')!;
    expect(bound).toMatchObject({
      ip: `${subnet}.15`,
      mask: '24',
      router: serverId,
      serverid: serverId,
      lease: '120',
    });
    expect(bound.dns.trim().split(/\s+/)).toEqual([serverId, '198.18.255.53']);
    await once(srv, (l) => l.ev === 'bound', 5_000);
    expect(leaseFile().find((l) => l.mac === mac)).toMatchObject({ address: `${subnet}.15`, state: 'bound' });
    expect(ns.sh('lan', 'ip -4 addr show dev eth0')).toContain(`${subnet}.15/24`);
    ns.sh('lan', `ping -c 1 -W 2 ${serverId}`);

    // 2. Renew (SIGUSR1: unicast REQUEST from ciaddr, RFC 2131 4.4.5); the lease is extended.
    const before = leaseFile().find((l) => l.mac === mac)!.expiresAt;
    await new Promise((r) => setTimeout(r, 1100));
    c1.p.kill('SIGUSR1');
    await waitFor('udhcpc renew', () => c1.events().some((e) => e.ev === 'renew'), 15_000);
    await waitFor('lease extended', () => leaseFile().find((l) => l.mac === mac)!.expiresAt > before, 5_000);
    expect(srv.seen.some((l) => String(l.msg ?? '').includes('REQUEST -> ack'))).toBe(true);

    // 3. Malformed packets from the LAN: logged with the reason, dropped, the server keeps going.
    ns.sh(
      'lan',
      `python3 -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'\\x01'*100, ('${serverId}', 67)); s.sendto(b'\\x01\\x01\\x06\\x00' + b'\\x00'*232 + b'\\x63\\x82\\x53\\x63' + b'\\x35\\x09\\x01', ('${serverId}', 67))"`,
    );
    const bad = await once(
      srv,
      (l) => String(l.msg ?? '').startsWith('malformed DHCP message dropped'),
      5_000,
    );
    expect(bad.msg).toMatch(/shorter than|runs past/);
    await waitFor(
      'two malformed logs',
      () => srv.seen.filter((l) => String(l.msg ?? '').startsWith('malformed')).length === 2,
      5_000,
    );

    // 4. Restart the server: the lease file keeps the binding. A new udhcpc (no option 50 this time)
    //    gets .15 again, not the first free address (.10).
    c1.p.kill('SIGKILL');
    srv.stop();
    await waitFor('server exit', () => srv.exited !== null, 10_000);
    expect(srv.exited).toBe(0);
    ns.sh('lan', 'ip addr flush dev eth0');
    srv = startServer();
    const listening = await once(srv, (l) => l.ev === 'listening', 10_000);
    expect((listening.leases as { mac: string; address: string }[]).find((l) => l.mac === mac)?.address).toBe(
      `${subnet}.15`,
    );
    const c2 = startUdhcpc();
    await waitFor('udhcpc bound after restart', () => c2.events().some((e) => e.ev === 'bound'), 15_000);
    expect(c2.events().find((e) => e.ev === 'bound')!.ip).toBe(`${subnet}.15`);

    // 5. Release (SIGUSR2): RFC 2131 4.4.6; the server marks it released and says so.
    c2.p.kill('SIGUSR2');
    const rel = await once(srv, (l) => l.ev === 'released', 10_000);
    expect(rel.lease).toMatchObject({ address: `${subnet}.15`, mac, state: 'released' });
    await waitFor(
      'lease file shows the release',
      () => leaseFile().find((l) => l.mac === mac)?.state === 'released',
      5_000,
    );
    c2.p.kill('SIGKILL');
  }, 120_000);

  it('DECLINE: udhcpc finds the offered address in use (ARP), declines it; it is quarantined and another one leased', async () => {
    const srv = startServer('leases-decline.json');
    await once(srv, (l) => l.ev === 'listening', 10_000);
    // Another host on the LAN already uses .16 (the CPE answers ARP for it).
    ns.sh('cpe', `ip addr add ${subnet}.16/32 dev lan0`);
    try {
      const c = startUdhcpc(['-a', '-r', `${subnet}.16`]);
      const dec = await once(srv, (l) => l.ev === 'declined', 20_000);
      expect(dec.address).toBe(`${subnet}.16`);
      expect(srv.seen.some((l) => String(l.msg ?? '').startsWith(`address ${subnet}.16 declined by`))).toBe(
        true,
      );
      expect(leaseFile('leases-decline.json').find((l) => l.address === `${subnet}.16`)).toMatchObject({
        state: 'declined',
        mac: null,
      });
      // udhcpc starts over (after its 10 s pause) and gets another address, not the quarantined one.
      await waitFor('udhcpc bound after the decline', () => c.events().some((e) => e.ev === 'bound'), 30_000);
      const ip = c.events().find((e) => e.ev === 'bound')!.ip;
      expect(ip).not.toBe(`${subnet}.16`);
      expect(Number(ip.split('.')[3])).toBeGreaterThanOrEqual(10);
    } finally {
      ns.sh('cpe', `ip addr del ${subnet}.16/32 dev lan0`);
    }
  }, 60_000);

  it('dhclient (ISC) takes a lease and releases it', async () => {
    const srv = startServer('leases-dhclient.json');
    await once(srv, (l) => l.ev === 'listening', 10_000);
    const log = join(work, 'dhclient.log');
    const script = join(work, 'dhclient.sh');
    writeFileSync(
      script,
      `#!/bin/sh
echo "$reason $new_ip_address $new_subnet_mask $new_routers $new_domain_name_servers" >> ${log}
case "$reason" in
  BOUND|RENEW|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  RELEASE|EXPIRE|FAIL|STOP) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" ;;
esac
exit 0
`,
      { mode: 0o755 },
    );
    const files = ['-sf', script, '-lf', join(work, 'dhclient.leases'), '-pf', join(work, 'dhclient.pid')];
    const d = ns.spawn('lan', ['dhclient', '-d', '-4', '-1', ...files, 'eth0']);
    clients.push(d);
    const bound = await once(srv, (l) => l.ev === 'bound', 20_000);
    const address = (bound.lease as { address: string }).address;
    await waitFor(
      'dhclient BOUND',
      () => existsSync(log) && readFileSync(log, 'utf8').includes('BOUND'),
      10_000,
    );
    expect(readFileSync(log, 'utf8')).toContain(
      `BOUND ${address} 255.255.255.0 ${serverId} ${serverId} 198.18.255.53`,
    );
    // dhclient -r: DHCPRELEASE to the server, and the running dhclient stops.
    ns.sh('lan', `dhclient -r -4 ${files.join(' ')} eth0`, 20_000);
    const rel = await once(srv, (l) => l.ev === 'released', 10_000);
    expect(rel.lease).toMatchObject({ address, state: 'released' });
  }, 60_000);
});
