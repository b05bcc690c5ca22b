// The HAG's workers (hag/workers/): how many run and what each is (TUN, join addresses, metrics
// port), the config checks of workers and join addresses with file and line, the ECMP plans
// (a resilient nexthop group over the live workers' TUNs), and the supervisor's merged /metrics.
import { describe, expect, it } from 'vitest';
import { parseHagConfig } from '../../hag/config.js';
import { syncPlan, teardownPlan } from '../../hag/workers/ecmp.js';
import { mergeExpositions } from '../../hag/workers/merge-metrics.js';
import { workerConfig, workerCount, workerSlot } from '../../hag/workers/plan.js';
import { formatIssues } from '../../src/config/index.js';

const HOST = { addresses: () => [], interfaceExists: () => false };
const BASE = 'access:\n  subscribers: [198.18.1.0/24]\nmetrics: {port: 9100}\n';

function parse(extra: string, service = '') {
  return parseHagConfig(
    `${extra}\nservice:\n  addresses: [198.18.100.1, "2001:db8:100::1"]\n  socks: {port: 1080}\n${service}${BASE}`,
    'w.yaml',
    HOST,
  );
}

describe('HAG workers: plan', () => {
  it('one per core up to the join addresses of each family; 1 without join addresses', () => {
    const none = parse('');
    if (!none.ok) throw new Error(formatIssues(none.issues));
    expect(workerCount(none.value, 8)).toBe(1);
    const r = parse(
      '',
      '  joinAddresses: [198.18.101.1, 198.18.101.2, 198.18.101.3, "2001:db8:101::1", "2001:db8:101::2"]\n',
    );
    if (!r.ok) throw new Error(formatIssues(r.issues));
    expect(workerCount(r.value, 8)).toBe(2);
    expect(workerCount(r.value, 1)).toBe(1);
    const slot = workerSlot(r.value, 1, 2);
    expect(slot).toEqual({
      index: 1,
      count: 2,
      tun: 'hag0-1',
      joins: ['198.18.101.2', '2001:db8:101::2'],
      metricsPort: 9102,
    });
    const c = workerConfig(r.value, slot);
    expect(c.tun.name).toBe('hag0-1');
    expect(c.service.joinAddresses).toEqual(['198.18.101.2', '2001:db8:101::2']);
    expect(c.service.addresses).toEqual(r.value.service.addresses);
    expect(c.metrics?.port).toBe(9102);
    // One worker keeps the configured TUN and port.
    expect(workerSlot(r.value, 0, 1)).toMatchObject({ tun: 'hag0', metricsPort: 9100 });
  });

  it('config errors with their line: too few join addresses, a service address as one, duplicates, transparent', () => {
    const few = parse('workers: 3', '  joinAddresses: [198.18.101.1, 198.18.101.2]\n');
    expect(few.ok).toBe(false);
    if (!few.ok)
      expect(formatIssues(few.issues)).toMatch(/w\.yaml:1: workers: 3 workers need 3 service\.joinAddresses/);
    const noJoins = parse('workers: 2');
    if (!noJoins.ok)
      expect(formatIssues(noJoins.issues)).toMatch(/workers: 2 workers need service\.joinAddresses/);
    expect(noJoins.ok).toBe(false);
    const svc = parse('', '  joinAddresses: [198.18.100.1, 198.18.101.1, 198.18.101.1]\n');
    expect(svc.ok).toBe(false);
    if (!svc.ok) {
      const text = formatIssues(svc.issues);
      expect(text).toMatch(/joinAddresses\[0\]: 198\.18\.100\.1 is a service address/);
      expect(text).toMatch(/joinAddresses\[2\]: 198\.18\.101\.1 is listed twice/);
    }
    const longTun = parse(
      'workers: 2\ntun: {name: abcdefghijklmn}',
      '  joinAddresses: [198.18.101.1, 198.18.101.2]\n',
    );
    expect(longTun.ok).toBe(false);
  });
});

describe('HAG workers: ECMP plans', () => {
  const argv = (cmds: { argv: string[] }[]) => cmds.map((c) => c.argv.join(' '));

  it('the service addresses over a resilient group of the live TUNs, per family', () => {
    const cmds = argv(
      syncPlan(
        ['198.18.100.1', '2001:db8:100::1'],
        [
          { index: 0, tun: 'hag0-0' },
          { index: 2, tun: 'hag0-2' },
        ],
      ),
    );
    expect(cmds).toEqual([
      'ip nexthop replace id 4841000 dev hag0-0',
      'ip nexthop replace id 4841200 dev hag0-0',
      'ip nexthop replace id 4841002 dev hag0-2',
      'ip nexthop replace id 4841202 dev hag0-2',
      'ip nexthop replace id 4841099 group 4841000/4841200/4841002/4841202 type resilient buckets 256 idle_timer 3600 unbalanced_timer 0',
      'ip route replace 198.18.100.1/32 nhid 4841099',
      'ip -6 nexthop replace id 4841100 dev hag0-0',
      'ip -6 nexthop replace id 4841300 dev hag0-0',
      'ip -6 nexthop replace id 4841102 dev hag0-2',
      'ip -6 nexthop replace id 4841302 dev hag0-2',
      'ip nexthop replace id 4841199 group 4841100/4841300/4841102/4841302 type resilient buckets 256 idle_timer 3600 unbalanced_timer 0',
      'ip -6 route replace 2001:db8:100::1/128 nhid 4841199',
    ]);
  });

  it('no live worker: the routes and the group go; teardown removes the nexthops too', () => {
    const none = syncPlan(['198.18.100.1'], []);
    expect(argv(none)).toEqual(['ip route del 198.18.100.1/32', 'ip nexthop del id 4841099']);
    expect(none.every((c) => c.mayFail)).toBe(true);
    expect(argv(teardownPlan(['198.18.100.1'], 2)).slice(2)).toEqual([
      'ip nexthop del id 4841000',
      'ip nexthop del id 4841200',
      'ip nexthop del id 4841001',
      'ip nexthop del id 4841201',
    ]);
  });
});

describe('HAG workers: merged /metrics', () => {
  it('each family once, its samples together, each with its worker label', () => {
    const w = (n: number) =>
      `# HELP hag_connections_total Conns.\n# TYPE hag_connections_total counter\nhag_connections_total{proto="socks"} ${n}\n` +
      `# HELP hag_memory_bytes RSS.\n# TYPE hag_memory_bytes gauge\nhag_memory_bytes ${n * 10}\n`;
    expect(
      mergeExpositions([
        { labels: { worker: '0' }, text: w(1) },
        { labels: { worker: '1' }, text: w(2) },
      ]),
    ).toBe(
      '# HELP hag_connections_total Conns.\n# TYPE hag_connections_total counter\n' +
        'hag_connections_total{worker="0",proto="socks"} 1\nhag_connections_total{worker="1",proto="socks"} 2\n' +
        '# HELP hag_memory_bytes RSS.\n# TYPE hag_memory_bytes gauge\n' +
        'hag_memory_bytes{worker="0"} 10\nhag_memory_bytes{worker="1"} 20\n',
    );
  });
});
