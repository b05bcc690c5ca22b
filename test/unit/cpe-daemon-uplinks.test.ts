import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { Uplinks } from '../../cpe/daemon/uplinks.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import { TcpState } from '../../src/tcp/state.js';
import { tempDir } from './lib/temp-dir.js';

const yaml = (quota: string) => `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, address: 198.18.12.2/24, gateway: 198.18.12.1, role: overflow, quota: ${quota}}
hag: {addresses: [198.18.100.1]}
state: {directory: ${tempDir('ha-uplinks-')}}
`;

function config(quota: string) {
  const r = parseCpeConfig(yaml(quota), 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

function setup(quota = '{bytes: 10MB, period: day}') {
  const calls: PmAddress[] = [];
  const owner = new Map<Subflow, number>();
  const pm = {
    setAddress: (_now: number, a: PmAddress) => calls.push({ ...a }),
    addressOf: (sf: Subflow) => owner.get(sf),
  };
  const prio: { sf: Subflow; backup: boolean }[] = [];
  const conn = {
    subflows: [] as Subflow[],
    setBackup: (sf: Subflow, backup: boolean) => prio.push({ sf, backup }),
  };
  const mk = (uplinkId: number) => {
    const sf = { socket: { stats: { bytesIn: 0, bytesOut: 0 }, rtt: { srtt: 20 } } } as unknown as Subflow;
    owner.set(sf, uplinkId);
    conn.subflows.push(sf);
    return sf as unknown as { socket: { stats: { bytesIn: number; bytesOut: number } } } & Subflow;
  };
  const ups = new Uplinks(config(quota), pm as never, pino({ level: 'silent' }), () => [
    conn as unknown as MptcpConnection,
  ]);
  ups.netExec = () => undefined; // route commands never run on this host
  // The LTE interface's counters (what the quota counts), set by the test.
  const lte0 = { rx: 0, tx: 0, key: 'boot/3' };
  ups.readCounters = (name) => (name === 'lte0' ? { ...lte0 } : 'no such interface');
  return { ups, calls, mk, prio, conn, lte0 };
}

describe('CPE uplinks', () => {
  it('counts subflow bytes per uplink once, including what a closed subflow carried last', () => {
    const { ups, mk, conn } = setup();
    const a = mk(1);
    const b = mk(2);
    a.socket.stats.bytesIn = 1000;
    b.socket.stats.bytesIn = 300;
    ups.tick();
    ups.tick();
    expect(ups.list.map((u) => u.bytesIn)).toEqual([1000, 300]);
    b.socket.stats.bytesIn = 500;
    b.socket.stats.bytesOut = 40;
    conn.subflows.splice(1, 1);
    ups.closed(b);
    ups.tick();
    expect(ups.list[1].bytesIn).toBe(500);
    expect(ups.list[1].bytesOut).toBe(40);
  });

  it('a used-up quota makes the uplink backup-only: path manager flag and MP_PRIO on its subflows', () => {
    const { ups, mk, calls, prio, lte0 } = setup();
    const lte = mk(2);
    mk(1);
    ups.tick();
    lte0.rx = 9_000_000;
    ups.tick();
    expect(ups.list[1].quotaExceeded).toBe(false);
    lte0.tx = 1_000_001;
    ups.tick();
    expect(ups.list[1].quotaExceeded).toBe(true);
    expect(ups.list[1].backup).toBe(true);
    expect(calls.at(-1)).toMatchObject({ id: 2, backup: true, up: true });
    expect(prio).toEqual([{ sf: lte, backup: true }]);
    // A reload with a larger quota lifts it.
    ups.reconfigure(config('{bytes: 20MB, period: day}'));
    expect(ups.list[1].quotaExceeded).toBe(false);
    expect(calls.at(-1)).toMatchObject({ id: 2, backup: false });
    expect(prio.at(-1)).toEqual({ sf: lte, backup: false });
  });

  it('counts open subflows per uplink, and those whose connection fell back to plain TCP', () => {
    const owner = new Map<Subflow, number>();
    // The LTE subflow is an IPv6 one (a 16-byte local address).
    const sf = (id: number, srtt: number) => {
      const s = {
        socket: {
          stats: { bytesIn: 0, bytesOut: 0 },
          rtt: { srtt },
          state: TcpState.Established,
          tuple: { local: new Uint8Array(id === 2 ? 16 : 4) },
        },
      };
      owner.set(s as unknown as Subflow, id);
      return s as unknown as Subflow;
    };
    const mptcp = { fallback: false, subflows: [sf(1, 20), sf(2, 40)] };
    const plain = { fallback: true, subflows: [sf(1, 30)] };
    const pm = { setAddress: () => {}, addressOf: (s: Subflow) => owner.get(s) };
    const ups = new Uplinks(
      config('{bytes: 10MB, period: day}'),
      pm as never,
      pino({ level: 'silent' }),
      () => [mptcp as unknown as MptcpConnection, plain as unknown as MptcpConnection],
    );
    ups.netExec = () => undefined;
    ups.tick();
    expect(ups.list.map((u) => [u.subflows, u.fallbackSubflows])).toEqual([
      [2, 1],
      [1, 0],
    ]);
    expect(ups.list[0].subflowRttMs).toBe(25);
    expect(ups.list.map((u) => u.subflows6)).toEqual([0, 1]);
    plain.fallback = false;
    ups.tick();
    expect(ups.list[0].fallbackSubflows).toBe(0);
  });

  it('IPv6: an IPv6-only uplink gives the path manager its IPv6 core address, a dual-stack one both', () => {
    const text = `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, gateway6: "2001:db8:11::1", role: primary}
  - {name: lte, interface: lte0, address: "2001:db8:12::2/64", gateway6: "2001:db8:12::1", role: overflow}
  - {name: sat, interface: wan, address: 198.18.13.2/24, gateway: 198.18.13.1, role: backup}
hag: {addresses: [198.18.100.1, "2001:db8:100::1"]}
state: {directory: ${tempDir('ha-uplinks-')}}
`;
    const r = parseCpeConfig(text, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const calls: PmAddress[] = [];
    const pm = {
      setAddress: (_now: number, a: PmAddress) => calls.push({ ...a }),
      addressOf: () => undefined,
    };
    const ups = new Uplinks(r.value, pm as never, pino({ level: 'silent' }), () => []);
    ups.netExec = () => undefined;
    ups.start(0);
    ups.stop();
    const v6 = (last: number) =>
      Uint8Array.from([...[0xfd, 0x48, 0x41, 0x43, 0x50, 0x45], ...new Array(9).fill(0), last]);
    const byId = (id: number) => calls.find((c) => c.id === id);
    expect(byId(1)).toMatchObject({ addr: Uint8Array.of(10, 254, 0, 2), otherFamily: v6(2) });
    expect(byId(2)).toMatchObject({ addr: v6(3), otherFamily: undefined });
    expect(byId(3)).toMatchObject({ addr: Uint8Array.of(10, 254, 0, 4), otherFamily: undefined });
    // Policy routing and masquerade (cpe/net) get each uplink's core addresses of its families.
    expect(ups.list.map((u) => u.coreAddresses)).toEqual([
      ['10.254.0.2', 'fd48:4143:5045::2'],
      ['fd48:4143:5045::3'],
      ['10.254.0.4'],
    ]);
  });
});
