// The LuCI view of the OpenWrt package (cpe/deploy/openwrt/files/luci/status.js) run as LuCI runs
// a view (the file is a function body given LuCI's modules), with small stand-ins for E(), rpc,
// poll and dom: from a status.json of the daemon it shows the HAG, each line with its state and
// why, its address, rates, subflow RTT and quota, and the connections; it polls; and it says so
// when the daemon does not answer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../cpe/daemon/status.js';

interface Node {
  tag: string;
  attrs: Record<string, string>;
  children: (Node | string)[];
}

const text = (n: Node | string): string => (typeof n === 'string' ? n : n.children.map(text).join(' '));

function loadView(answer: () => unknown) {
  const body = readFileSync(
    join(import.meta.dirname, '../../cpe/deploy/openwrt/files/luci/status.js'),
    'utf8',
  );
  const E = (tag: string, attrs: Record<string, string> = {}, children?: unknown): Node => ({
    tag,
    attrs,
    children: (Array.isArray(children) ? children : children === undefined ? [] : [children]) as Node[],
  });
  const declared: unknown[] = [];
  const polls: (() => Promise<unknown>)[] = [];
  const rpc = {
    declare: (d: unknown) => {
      declared.push(d);
      return () => Promise.resolve(answer());
    },
  };
  const poll = { add: (f: () => Promise<unknown>) => polls.push(f) };
  const dom = {
    content: (node: Node, c: Node) => {
      node.children = [c];
    },
  };
  const view = { extend: (v: unknown) => v };
  const v = new Function('view', 'rpc', 'poll', 'dom', 'E', '_', body)(
    view,
    rpc,
    poll,
    dom,
    E,
    (s: string) => s,
  ) as {
    load(): Promise<unknown>;
    render(s: unknown): Node;
  };
  return { v, declared, polls };
}

const snapshot = (health: string, reason: string): Partial<StatusSnapshot> => ({
  hag: { address: '198.18.100.1', port: 5124, method: 'convert', state: 'up', reason: '', since: 0 },
  uplinks: [
    {
      name: 'dsl',
      interface: 'eth1',
      role: 'primary',
      backup: false,
      health,
      healthReason: reason,
      state: health,
      reason: health === 'up' ? 'ok' : 'echo-lost',
      hagReachable: true,
      active: health === 'up',
      probeLoss: 0,
      usable: health === 'up',
      address: '198.18.11.2',
      coreAddress: '10.254.0.2',
      probeRttMs: 12,
      subflowRttMs: 14.6,
      probeRtt: { bounds: [], counts: [], sum: 0, count: 0 },
      subflowSrtt: { bounds: [], counts: [], sum: 0, count: 0 },
      subflows: 1,
      fallbackSubflows: 0,
      bytesIn: 0,
      bytesOut: 0,
      rateInBps: 12_500_000,
      rateOutBps: 800_000,
      capacityBps: 50e6,
      quota: {
        bytes: 50e9,
        limit: 50e9,
        used: 12.5e9,
        period: 'month',
        resetDay: 1,
        periodStart: 0,
        periodEnd: 0,
        warnAt: 80,
        warned: false,
        exceeded: false,
        exhausted: false,
        events: { 'quota-warning': 0, 'quota-exhausted': 0, 'quota-reset': 0 },
      },
      history: [],
    },
  ],
  connections: {
    active: 3,
    bonded: 2,
    direct: 1,
    accepted: 10,
    closed: 7,
    bondedTotal: 8,
    directTotal: 2,
    refused: {},
  },
});

describe('LuCI view', () => {
  it("shows each line's state and why, rates, RTT and quota, and the HAG, from the rpcd plugin", async () => {
    let status: unknown = snapshot('down', 'no echo reply within 1000 ms');
    const { v, declared, polls } = loadView(() => status);
    expect(declared).toEqual([{ object: 'luci.hybrid-access', method: 'status' }]);
    const page = v.render(await v.load());
    const shown = text(page);
    for (const want of [
      'Hybrid Access',
      '198.18.100.1:5124 (convert) up',
      'dsl (eth1)',
      'primary',
      'down',
      'echo-lost: no echo reply within 1000 ms',
      '198.18.11.2',
      '↓ 12.5 Mbit/s ↑ 800 kbit/s',
      '15 ms',
      '12.50 GB / 50.00 GB',
      'Connections: 3 (2 bonded, 1 direct)',
    ])
      expect(shown).toContain(want);
    // Polled every 5 s: the next answer replaces the content.
    expect(polls).toHaveLength(1);
    status = snapshot('up', '3 echo replies');
    await polls[0]();
    expect(text(page)).toContain('up (in use)');
    expect(text(page)).toContain('ok: 3 echo replies');
    expect(text(page)).not.toContain('no echo reply');
  });

  it('says when the daemon does not answer', async () => {
    const { v } = loadView(() => ({ error: 'the daemon does not answer at 198.18.5.1:8080' }));
    expect(text(v.render(await v.load()))).toContain('the daemon does not answer at 198.18.5.1:8080');
  });
});
