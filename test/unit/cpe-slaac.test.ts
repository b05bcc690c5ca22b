import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { Uplinks } from '../../cpe/daemon/uplinks.js';
import type { Cmd } from '../../cpe/net/plan.js';
import { parseSlaac, type SlaacState } from '../../cpe/net/slaac.js';
import type { PmAddress } from '../../src/mptcp/pm/client.js';
import { tempDir } from './lib/temp-dir.js';

const addr = (info: object[]) => JSON.stringify([{ ifname: 'lte0', addr_info: info }]);

describe('SLAAC state from ip -j', () => {
  it('takes the first usable global address and the default route gateway', () => {
    const r = parseSlaac(
      addr([
        { family: 'inet6', local: '2001:db8:20::aa', prefixlen: 64, scope: 'global', tentative: true },
        { family: 'inet6', local: '2001:db8:20::bb', prefixlen: 64, scope: 'global', deprecated: true },
        { family: 'inet6', local: '2001:db8:20::cc', prefixlen: 64, scope: 'global' },
      ]),
      JSON.stringify([{ dst: 'default', gateway: 'fe80::1', dev: 'lte0', protocol: 'ra' }]),
    );
    expect(r).toEqual({ address: '2001:db8:20::cc', prefixLength: 64, router: 'fe80::1' });
  });

  it('nothing yet: no address, no router; bad output is a string', () => {
    expect(parseSlaac('[]', '[]')).toEqual({
      address: undefined,
      prefixLength: undefined,
      router: undefined,
    });
    expect(parseSlaac('', '')).toEqual({ address: undefined, prefixLength: undefined, router: undefined });
    expect(typeof parseSlaac('{', '[]')).toBe('string');
  });
});

describe('a slaac uplink', () => {
  it('sets the sysctls, then takes the address and router: table route, path manager up; a new router moves the route', () => {
    const text = `lan: {interface: lan0, addresses: [198.18.5.1/24]}
uplinks:
  - {name: dsl, interface: dsl0, address: 198.18.11.2/24, gateway: 198.18.11.1, role: primary}
  - {name: lte, interface: lte0, addressing: slaac, role: overflow, probe: {target: "2001:db8:100::1"}}
hag: {addresses: [198.18.100.1, "2001:db8:100::1"]}
state: {directory: ${tempDir('ha-slaac-')}}
`;
    const r = parseCpeConfig(text, 'cpe.yaml', { interfaceExists: (n) => n !== 'cpe0' });
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const calls: PmAddress[] = [];
    const pm = {
      setAddress: (_now: number, a: PmAddress) => calls.push({ ...a }),
      addressOf: () => undefined,
    };
    const ups = new Uplinks(r.value, pm as never, pino({ level: 'silent' }), () => []);
    const cmds: string[] = [];
    ups.netExec = (c: Cmd) => {
      cmds.push(c.argv.join(' '));
      return undefined;
    };
    let state: SlaacState = { address: undefined, prefixLength: undefined, router: undefined };
    ups.slaac = () => state;
    ups.start(0);
    const lte = ups.list[1];
    expect(cmds).toContain('sysctl -qw net.ipv6.conf.lte0.accept_ra=2 net.ipv6.conf.lte0.autoconf=1');
    expect(lte.reason).toBe('no-address');
    expect(calls.filter((c) => c.id === 2).at(-1)?.up).toBe(false);
    state = { address: '2001:db8:20::cc', prefixLength: 64, router: 'fe80::1' };
    ups.tick();
    expect(lte.address).toBe('2001:db8:20::cc');
    expect(lte.gateway6).toBe('fe80::1');
    expect(cmds).toContain('ip -6 route replace default via fe80::1 dev lte0 table 201');
    expect(calls.filter((c) => c.id === 2).at(-1)).toMatchObject({ up: true, otherFamily: undefined });
    expect(calls.filter((c) => c.id === 2).at(-1)?.addr.length).toBe(16);
    state = { ...state, router: 'fe80::2' };
    ups.tick();
    expect(cmds).toContain('ip -6 route replace default via fe80::2 dev lte0 table 201');
    ups.stop();
  });
});
