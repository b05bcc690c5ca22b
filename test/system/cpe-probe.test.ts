// Uplink health probes (cpe/probe) through raw sockets bound to the uplink, in namespaces this test
// creates: a "cpe" namespace with two links (dsl0, lte0) to an "isp" namespace whose address is the
// target; the kernel's own route to the target points at lte0, so only SO_BINDTODEVICE makes the
// dsl0 probe leave by dsl0. IPv4 and IPv6 probes go down when dsl0 goes down and when the target
// stops answering echoes, and up again when each comes back.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns } from './lib/netns.js';
import { type Lines, lines, once } from './lib/proc.js';
import { stageCpe } from './lib/stage.js';

const stage = () => stageCpe('cpe-probe-stage');

let dist: string;
let ns: Netns;
const n = 20 + Math.floor(Math.random() * 200);
const dsl = `198.18.${n}`;
const lte = `198.19.${n}`;
const dsl6 = `2001:db8:${n.toString(16)}:1`;

beforeAll(() => {
  dist = stage();
  ns = new Netns('cp');
  ns.add('cpe');
  ns.add('isp');
  for (const x of ['cpe', 'isp'])
    ns.sh(x, 'sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.default.keep_addr_on_down=1');
  ns.veth('cpe', 'dsl0', 'isp', 'isp0');
  ns.veth('cpe', 'lte0', 'isp', 'isp1');
  ns.sh(
    'isp',
    `ip addr add ${dsl}.1/24 dev isp0 && ip addr add ${lte}.1/24 dev isp1 && ip -6 addr add ${dsl6}::1/64 dev isp0 nodad`,
  );
  ns.sh(
    'cpe',
    `ip addr add ${dsl}.2/24 dev dsl0 && ip addr add ${lte}.2/24 dev lte0 && ip -6 addr add ${dsl6}::2/64 dev dsl0 nodad`,
  );
  // The kernel's choice for the target is lte0 (a more specific route).
  ns.sh('cpe', `ip route add ${dsl}.1/32 via ${lte}.1 dev lte0`);
});
afterAll(() => {
  ns?.cleanup();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

function startProbe(target: string): Lines {
  const opts = {
    interface: 'dsl0',
    target,
    intervalMs: 200,
    timeoutMs: 300,
    failuresToDown: 3,
    successesToUp: 2,
  };
  return lines(ns.spawn('cpe', ['node', join(dist, 'cpe/probe/cli.js'), JSON.stringify(opts)]));
}

/** The next event `ev` after everything seen so far. */
function next(p: Lines, ev: string, timeoutMs = 10_000) {
  const from = p.seen.length;
  return once(p, (l) => l.ev === ev && p.seen.indexOf(l) >= from, timeoutMs);
}

const rx = (dev: string) => Number(ns.sh('isp', `cat /sys/class/net/${dev}/statistics/rx_packets`));

describe('uplink probes bound to their interface', () => {
  it('IPv4 and IPv6: up, down when the link goes down, up again, down when echoes are ignored, up again', async () => {
    expect(ns.sh('cpe', `ip route get ${dsl}.1`)).toContain('dev lte0');
    const v4 = startProbe(`${dsl}.1`);
    const up4 = await once(v4, (l) => l.ev === 'up', 10_000);
    expect(up4.reason).toBe('2 consecutive echo replies');
    expect(up4.srttMs).toBeGreaterThan(0);
    // The echoes (5 a second) arrive on the dsl side although the kernel would route them over lte0.
    const [dslBefore, lteBefore] = [rx('isp0'), rx('isp1')];
    await new Promise((r) => setTimeout(r, 1000));
    const [dslDelta, lteDelta] = [rx('isp0') - dslBefore, rx('isp1') - lteBefore];
    console.log(`1 s of IPv4 probing: ${dslDelta} packets in on the dsl link, ${lteDelta} on the lte link`);
    expect(dslDelta).toBeGreaterThanOrEqual(4);
    // Fewer than the probes on dsl: ARP and IPv6 neighbour discovery can add a few (4 were seen).
    expect(lteDelta).toBeLessThan(dslDelta);
    const v6 = startProbe(`${dsl6}::1`);
    await once(v6, (l) => l.ev === 'up', 10_000);

    // Link down: sends fail or go unanswered -> down; link up -> up.
    const d4 = next(v4, 'down');
    const d6 = next(v6, 'down');
    ns.sh('cpe', 'ip link set dsl0 down');
    const linkDown = [(await d4).reason, (await d6).reason];
    console.log(`link down: ${linkDown.join(' | ')}`);
    expect(linkDown[0]).toMatch(/^3 consecutive failures, last: /);
    const u4 = next(v4, 'up');
    const u6 = next(v6, 'up');
    ns.sh('cpe', 'ip link set dsl0 up');
    await u4;
    await u6;

    // The target stops answering echoes -> down by timeouts; answers again -> up.
    const t4 = next(v4, 'down');
    const t6 = next(v6, 'down');
    ns.sh('isp', 'sysctl -qw net.ipv4.icmp_echo_ignore_all=1 net.ipv6.icmp.echo_ignore_all=1');
    expect((await t4).reason).toBe('3 consecutive failures, last: no echo reply within 300 ms');
    expect((await t6).reason).toBe('3 consecutive failures, last: no echo reply within 300 ms');
    const b4 = next(v4, 'up');
    const b6 = next(v6, 'up');
    ns.sh('isp', 'sysctl -qw net.ipv4.icmp_echo_ignore_all=0 net.ipv6.icmp.echo_ignore_all=0');
    await b4;
    await b6;
    // Transitions only: up, down, up, down, up on each.
    for (const p of [v4, v6]) {
      expect(p.seen.filter((l) => l.ev === 'up' || l.ev === 'down').map((l) => l.ev)).toEqual([
        'up',
        'down',
        'up',
        'down',
        'up',
      ]);
    }
  }, 90_000);
});
