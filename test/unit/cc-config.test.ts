// Congestion control as configuration: the CPE picks it globally (mptcp.congestionControl) and
// per uplink (uplinks[].congestionControl, for the subflows sent over that uplink), the HAG for
// every subflow it sends on; the endpoint opens each subflow with its uplink's controller.
import { describe, expect, it } from 'vitest';
import { parseCpeConfig } from '../../cpe/daemon/config.js';
import { parseHagConfig } from '../../hag/config.js';
import { formatIssues } from '../../src/config/index.js';
import { hybridNet } from '../../src/sim/hybrid.js';

const known = new Set(['lan0', 'dsl0', 'lte0']);
const opts = { interfaceExists: (n: string) => known.has(n) };
/** The HAG's host, for its cross checks: no addresses, no interfaces. */
const HOST = { addresses: () => [], interfaceExists: () => false };
const cpe = (extra: string, lte = '') => `lan:
  interface: lan0
  addresses: [198.18.5.1/24]
uplinks:
  - name: dsl
    interface: dsl0
    address: 198.18.11.2/24
    gateway: 198.18.11.1
    role: primary
  - name: lte
    interface: lte0
    address: 198.18.12.2/24
    gateway: 198.18.12.1
    role: overflow
${lte}hag:
  addresses: [198.18.100.1]
${extra}`;

describe('congestion control in the configuration', () => {
  it('CPE: CUBIC by default, BBR globally or for one uplink, an unknown name refused', () => {
    const d = parseCpeConfig(cpe(''), 'cpe.yaml', opts);
    if (!d.ok) throw new Error(formatIssues(d.issues));
    expect(d.value.mptcp.congestionControl).toBe('cubic');
    expect(d.value.uplinks.map((u) => u.congestionControl)).toEqual([undefined, undefined]);
    const g = parseCpeConfig(cpe('mptcp:\n  congestionControl: bbr\n'), 'cpe.yaml', opts);
    if (!g.ok) throw new Error(formatIssues(g.issues));
    expect(g.value.mptcp.congestionControl).toBe('bbr');
    const u = parseCpeConfig(cpe('', '    congestionControl: bbr\n'), 'cpe.yaml', opts);
    if (!u.ok) throw new Error(formatIssues(u.issues));
    expect(u.value.uplinks.map((x) => x.congestionControl)).toEqual([undefined, 'bbr']);
    const bad = parseCpeConfig(cpe('', '    congestionControl: vegas\n'), 'cpe.yaml', opts);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(formatIssues(bad.issues)).toMatch(/congestionControl/);
  });

  it('HAG: CUBIC by default, BBR when configured', () => {
    const base =
      'service:\n  addresses: [198.18.100.1]\n  socks: {port: 1080}\naccess:\n  subscribers: [198.18.1.0/24]\n';
    const d = parseHagConfig(base, 'hag.yaml', HOST);
    if (!d.ok) throw new Error(formatIssues(d.issues));
    expect(d.value.mptcp.congestionControl).toBe('cubic');
    const b = parseHagConfig(`${base}mptcp:\n  congestionControl: bbr\n`, 'hag.yaml', HOST);
    if (!b.ok) throw new Error(formatIssues(b.issues));
    expect(b.value.mptcp.congestionControl).toBe('bbr');
    expect(parseHagConfig(`${base}mptcp:\n  congestionControl: reno\n`, 'hag.yaml', HOST).ok).toBe(false);
  });

  it("the endpoint opens each subflow with its uplink's controller", () => {
    const lteAddr = '198.18.2.2';
    const {
      net,
      cpe: ep,
      hag,
      pm,
    } = hybridNet(
      [
        { name: 'dsl', rate: 20e6, delay: 10 },
        { name: 'lte', rate: 40e6, delay: 30 },
      ],
      { cpe: { congestionControlFor: (local) => (local.join('.') === lteAddr ? 'bbr' : undefined) } },
    );
    hag.listen(443, () => {});
    const conn = pm.connect(0, Uint8Array.of(198, 19, 0, 1), 443)!;
    net.runUntil(() => conn.subflows.length === 2 && conn.subflows.every((s) => s.socket.cc.name), 5000);
    net.run(net.now + 500);
    const byAddr = Object.fromEntries(
      conn.subflows.map((s) => [s.socket.tuple.local.join('.'), s.socket.cc.name]),
    );
    expect(byAddr).toEqual({ '198.18.1.2': 'cubic', [lteAddr]: 'bbr' });
    void ep;
  });
});
