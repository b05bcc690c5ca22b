// The Prometheus text writer both daemons use (src/daemon/exposition.ts): the naming rules it
// enforces, escaping, histogram buckets; the build info; and the CPE's and the HAG's families
// as they render (names renamed for promtool, no precomputed rate, RTT histograms).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMetrics } from '../../cpe/daemon/metrics.js';
import type { StatusSnapshot } from '../../cpe/daemon/status.js';
import { HagMetrics } from '../../hag/metrics.js';
import { readBuildInfo } from '../../src/daemon/build-info.js';
import {
  exposition,
  HistogramFamily,
  HistogramSeries,
  MetricFamily,
  RTT_BUCKETS_SECONDS,
} from '../../src/daemon/exposition.js';
import { INBOUND_STATUS } from './lib/inbound-status.js';

/** name{labels} -> value, for the sample lines of an exposition. */
function samples(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/** Family name -> type, from the TYPE lines. */
function types(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const x of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) m.set(x[1], x[2]);
  return m;
}

/** Every family typed counter is named _total, and no other. */
function expectCounterNames(text: string): void {
  for (const [name, type] of types(text)) expect(type === 'counter', name).toBe(name.endsWith('_total'));
}

describe('exposition writer', () => {
  it('names counters _total and nothing else so', () => {
    expect(() => new MetricFamily('x_bytes', 'counter', 'h')).toThrow(/_total/);
    expect(() => new MetricFamily('x_total', 'gauge', 'h')).toThrow(/_total/);
    expect(() => new HistogramFamily('x_total', 'h')).toThrow(/_total/);
    expect(() => new MetricFamily('x_count', 'gauge', 'h')).toThrow(/histogram/);
    expect(() => new MetricFamily('x-y', 'gauge', 'h')).toThrow(/invalid/);
    expect(() => new MetricFamily('x_bytes_total', 'counter', 'h')).not.toThrow();
  });

  it('refuses two families that share a series name', () => {
    const gauge = new MetricFamily('cpe_connections', 'gauge', 'open');
    const counter = new MetricFamily('cpe_connections_total', 'counter', 'opened');
    expect(() => exposition([gauge, counter])).toThrow(/share the name cpe_connections/);
    const h = new HistogramFamily('rtt_seconds', 'h');
    expect(() => exposition([h, new MetricFamily('rtt_seconds', 'gauge', 'g')])).toThrow(/share/);
    expect(() => exposition([h, new MetricFamily('rtt_seconds_bucket_total', 'counter', 'c')])).toThrow(
      /share/,
    );
    expect(() => exposition([h, new MetricFamily('rtt_samples_total', 'counter', 'c')])).not.toThrow();
  });

  it('writes HELP, TYPE and escaped label values', () => {
    const f = new MetricFamily('a_total', 'counter', 'Things.');
    f.inc({ reason: 'say "hi"\\\nbye' });
    f.inc({ reason: 'say "hi"\\\nbye' }, 2);
    f.inc();
    const g = new MetricFamily('b', 'gauge', 'Gauge\\\nnext.').set({}, Number.POSITIVE_INFINITY);
    expect(exposition([f, g])).toBe(
      [
        '# HELP a_total Things.',
        '# TYPE a_total counter',
        'a_total{reason="say \\"hi\\"\\\\\\nbye"} 3',
        'a_total 1',
        '# HELP b Gauge\\\\\\nnext.',
        '# TYPE b gauge',
        'b +Inf',
        '',
      ].join('\n'),
    );
    expect(f.get({ reason: 'say "hi"\\\nbye' })).toBe(3);
  });

  it('counts a histogram into cumulative buckets, a bound inclusive', () => {
    const s = new HistogramSeries([0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 0.1, 0.5, 3]) s.observe(v);
    const text = exposition([new HistogramFamily('rtt_seconds', 'RTT.').set({ uplink: 'dsl' }, s)]);
    expect(text).toBe(
      [
        '# HELP rtt_seconds RTT.',
        '# TYPE rtt_seconds histogram',
        'rtt_seconds_bucket{uplink="dsl",le="0.01"} 2',
        'rtt_seconds_bucket{uplink="dsl",le="0.1"} 4',
        'rtt_seconds_bucket{uplink="dsl",le="1"} 5',
        'rtt_seconds_bucket{uplink="dsl",le="+Inf"} 6',
        `rtt_seconds_sum{uplink="dsl"} ${0.005 + 0.01 + 0.05 + 0.1 + 0.5 + 3}`,
        'rtt_seconds_count{uplink="dsl"} 6',
        '',
      ].join('\n'),
    );
    // Without labels, and empty.
    const empty = exposition([new HistogramFamily('e_seconds', 'E.').set({}, new HistogramSeries([1]))]);
    expect(empty).toContain(
      'e_seconds_bucket{le="1"} 0\ne_seconds_bucket{le="+Inf"} 0\ne_seconds_sum 0\ne_seconds_count 0',
    );
    expect(() => new HistogramSeries([0.1, 0.1])).toThrow(/increase/);
    expect(() => new HistogramFamily('h', 'h').set({ le: '1' }, s)).toThrow(/le/);
  });

  it('has RTT buckets from a millisecond to seconds', () => {
    expect(RTT_BUCKETS_SECONDS[0]).toBe(0.001);
    expect(RTT_BUCKETS_SECONDS.at(-1)).toBeGreaterThanOrEqual(2);
    expect(() => new HistogramSeries(RTT_BUCKETS_SECONDS)).not.toThrow();
  });
});

describe('build info', () => {
  it("splits a one-file build's version from its revision, and finds the repository's package.json", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-build-info-'));
    try {
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'hybrid-access', version: '0.1.0-1a2b3c4', revision: '1a2b3c4' }),
      );
      mkdirSync(join(dir, 'dist/src/daemon'), { recursive: true });
      // A package.json of another package on the way up is passed over.
      writeFileSync(join(dir, 'dist/package.json'), JSON.stringify({ name: 'other', version: '9' }));
      expect(readBuildInfo(join(dir, 'dist/src/daemon'))).toEqual({
        version: '0.1.0',
        revision: '1a2b3c4',
        node: process.version,
      });
      // A tsc build outside the checkout: the working directory's package.json, the checkout's git.
      const repo = readBuildInfo(dir.replace(/$/, '-none'), join(__dirname, '../../src/daemon'));
      expect(repo.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(repo.revision).toMatch(/^[0-9a-f]{7,}$/);
      expect(readBuildInfo(join(dir, 'dist'), tmpdir()).version).toBe('0.1.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(readBuildInfo(tmpdir()).version).toBe('unknown');
  });
});

function snapshot(): StatusSnapshot {
  const probe = new HistogramSeries(RTT_BUCKETS_SECONDS);
  probe.observe(0.012);
  probe.observe(0.4);
  const srtt = new HistogramSeries(RTT_BUCKETS_SECONDS);
  srtt.observe(0.03);
  const uplink = {
    name: 'dsl',
    interface: 'wan0',
    role: 'primary',
    backup: false,
    health: 'up',
    healthReason: 'echo replies',
    state: 'up',
    reason: 'ok',
    hagReachable: true,
    active: true,
    probeLoss: 0.1,
    usable: true,
    address: '198.18.1.2',
    coreAddress: '198.19.0.1',
    probeRttMs: 12,
    subflowRttMs: 30,
    probeRtt: probe,
    subflowSrtt: srtt,
    subflows: 1,
    bytesIn: 5000,
    bytesOut: 700,
    rateInBps: 40_000,
    rateOutBps: 5600,
    capacityBps: undefined,
    quota: {
      bytes: 1e9,
      limit: 1e9,
      used: 850e6,
      period: 'month',
      resetDay: 15,
      periodStart: 1_700_000_000_000,
      periodEnd: 1_702_592_000_000,
      warnAt: 80,
      warned: true,
      exceeded: false,
      exhausted: false,
      events: { 'quota-warning': 1, 'quota-exhausted': 0, 'quota-reset': 2 },
    },
    history: [],
  };
  // A JSON round trip: the snapshot as /status.json carries it still renders.
  return JSON.parse(
    JSON.stringify({
      time: 0,
      uptimeS: 1,
      hag: { address: '198.18.100.1', port: 1080, method: 'socks', state: 'up', reason: '', since: 0 },
      uplinks: [
        uplink,
        {
          ...uplink,
          name: 'lte',
          quota: undefined,
          families: ['ipv6'],
          coreAddresses: ['fd48:4143:5045::3'],
          subflows: 1,
          subflows6: 1,
          state: 'direct-only',
          reason: 'hag-unreachable',
          active: false,
          usable: false,
        },
      ],
      uplinkSwitches: 2,
      events: { webhook: { sent: 5, failed: 1, dropped: 2, retries: 3, queued: 0 } },
      connections: {
        active: 2,
        bonded: 1,
        direct: 1,
        accepted: 4,
        closed: 2,
        bondedTotal: 3,
        directTotal: 1,
        refused: { 'too-many-connections': 1 },
      },
      dhcp: undefined,
      inbound: INBOUND_STATUS,
      ra: { sent: 7, solicitations: 2, refused: 1, sendFailures: 0 },
      mib: { MPCapableSYNTX: 3 },
      tcpMib: { ActiveOpens: 4 },
      memoryRss: 1 << 20,
      memory: {},
    }),
  );
}

describe('CPE /metrics', () => {
  const text = renderMetrics(snapshot());
  const s = samples(text);
  const t = types(text);

  it('has counters named _total, typed counter', () => {
    expectCounterNames(text);
    expect(t.get('cpe_mptcp_mib_total')).toBe('counter');
    expect(s.get('cpe_mptcp_mib_total{counter="MPCapableSYNTX"}')).toBe('3');
    expect(s.get('cpe_tcp_mib_total{counter="ActiveOpens"}')).toBe('4');
    expect(s.get('cpe_uplink_bytes_total{uplink="dsl",direction="in"}')).toBe('5000');
  });

  it('leaves rates to PromQL and keeps the open-connection gauge apart from the counter', () => {
    expect(text).not.toMatch(/rate|_bps/);
    expect(s.get('cpe_connections_active{path="bonded"}')).toBe('1');
    expect(s.get('cpe_connections_total{path="bonded"}')).toBe('3');
    expect(t.has('cpe_connections')).toBe(false);
  });

  it('names the IP families of each uplink and counts its subflows by family (an IPv6-only LTE)', () => {
    expect(s.get('cpe_uplink_family{uplink="lte",family="ipv6"}')).toBe('1');
    expect(s.get('cpe_uplink_family{uplink="lte",family="ipv4"}')).toBeUndefined();
    expect(s.get('cpe_uplink_family_subflows{uplink="lte",family="ipv6"}')).toBe('1');
    expect(s.get('cpe_uplink_family_subflows{uplink="lte",family="ipv4"}')).toBe('0');
    // A status without families (an older daemon's) gives no such series.
    expect(s.get('cpe_uplink_family{uplink="dsl",family="ipv4"}')).toBeUndefined();
  });

  it("counts the LAN's router advertisements by kind (lan.ra)", () => {
    expect(t.get('cpe_lan_ra_total')).toBe('counter');
    expect(s.get('cpe_lan_ra_total{kind="sent"}')).toBe('7');
    expect(s.get('cpe_lan_ra_total{kind="solicitation"}')).toBe('2');
    expect(s.get('cpe_lan_ra_total{kind="refused"}')).toBe('1');
    expect(s.get('cpe_lan_ra_total{kind="send-failed"}')).toBe('0');
  });

  it('has RTT histograms per uplink, in seconds', () => {
    expect(t.get('cpe_uplink_probe_rtt_seconds')).toBe('histogram');
    expect(t.get('cpe_uplink_subflow_srtt_seconds')).toBe('histogram');
    expect(s.get('cpe_uplink_probe_rtt_seconds_bucket{uplink="dsl",le="0.015"}')).toBe('1');
    expect(s.get('cpe_uplink_probe_rtt_seconds_bucket{uplink="dsl",le="0.5"}')).toBe('2');
    expect(s.get('cpe_uplink_probe_rtt_seconds_count{uplink="lte"}')).toBe('2');
    expect(s.get('cpe_uplink_subflow_srtt_seconds_sum{uplink="dsl"}')).toBe('0.03');
    // The quota only where the uplink has one.
    expect(s.get('cpe_uplink_quota_bytes{uplink="dsl"}')).toBe('1000000000');
    expect(s.has('cpe_uplink_quota_bytes{uplink="lte"}')).toBe(false);
  });

  it('has the quota as billed: period, warning, exhaustion, their events; the event hook (issue 15)', () => {
    expect(s.get('cpe_uplink_quota_used_bytes{uplink="dsl"}')).toBe('850000000');
    expect(s.get('cpe_uplink_quota_period_start_timestamp_seconds{uplink="dsl"}')).toBe('1700000000');
    expect(s.get('cpe_uplink_quota_period_end_timestamp_seconds{uplink="dsl"}')).toBe('1702592000');
    expect(s.get('cpe_uplink_quota_warned{uplink="dsl"}')).toBe('1');
    expect(s.get('cpe_uplink_quota_exhausted{uplink="dsl"}')).toBe('0');
    expect(t.get('cpe_uplink_quota_events_total')).toBe('counter');
    expect(s.get('cpe_uplink_quota_events_total{uplink="dsl",kind="warning"}')).toBe('1');
    expect(s.get('cpe_uplink_quota_events_total{uplink="dsl",kind="reset"}')).toBe('2');
    expect(s.has('cpe_uplink_quota_warned{uplink="lte"}')).toBe(false);
    expect(s.get('cpe_events_total{sink="webhook",result="sent"}')).toBe('5');
    expect(s.get('cpe_events_total{sink="webhook",result="dropped"}')).toBe('2');
    expect(s.get('cpe_event_retries_total{sink="webhook"}')).toBe('3');
  });

  it('says what each uplink is good for and why, and which one carries non-TCP (issue 15)', () => {
    expect(s.get('cpe_uplink_state{uplink="dsl",state="up"}')).toBe('1');
    expect(s.get('cpe_uplink_state{uplink="dsl",state="down"}')).toBe('0');
    expect(s.get('cpe_uplink_state{uplink="lte",state="direct-only"}')).toBe('1');
    expect(s.get('cpe_uplink_reason{uplink="lte",reason="hag-unreachable"}')).toBe('1');
    expect(s.get('cpe_uplink_reason{uplink="dsl",reason="ok"}')).toBe('1');
    expect(s.get('cpe_uplink_active{uplink="dsl"}')).toBe('1');
    expect(s.get('cpe_uplink_active{uplink="lte"}')).toBe('0');
    expect(s.get('cpe_uplink_probe_loss_ratio{uplink="dsl"}')).toBe('0.1');
    expect(t.get('cpe_uplink_switches_total')).toBe('counter');
    expect(s.get('cpe_uplink_switches_total')).toBe('2');
  });

  it('shows the inbound control connection, each forward with its state, and the inbound connections (issue 18)', () => {
    expect(s.get('cpe_inbound_control_up')).toBe('1');
    expect(s.get('cpe_inbound_forward_state{forward="web",state="open",reason=""}')).toBe('1');
    expect(s.get('cpe_inbound_forward_state{forward="ssh",state="refused",reason="not-allowed"}')).toBe('1');
    expect(s.get('cpe_inbound_connections_active{forward="web"}')).toBe('1');
    expect(s.get('cpe_inbound_connections_total{forward="web"}')).toBe('7');
    expect(s.get('cpe_inbound_failures_total{reason="lan-refused"}')).toBe('1');
    expect(t.get('cpe_inbound_connections_total')).toBe('counter');
  });

  it('says which build runs', () => {
    const info = [...s.keys()].find((k) => k.startsWith('hybrid_access_build_info{'));
    expect(info).toMatch(
      /^hybrid_access_build_info\{version="[^"]+",revision="[^"]+",node="v\d+[^"]*",daemon="cpe"\}$/,
    );
    expect(s.get(info as string)).toBe('1');
  });
});

describe('HAG /metrics', () => {
  it('types the MIB and TUN counters as counters, and the subflow SRTT as a histogram', () => {
    const m = new HagMetrics();
    m.scraped.mib.set({ counter: 'MPJoinAckRx' }, 2);
    m.scraped.tcpMib.set({ counter: 'PassiveOpens' }, 5);
    m.scraped.tunPackets.set({ direction: 'in' }, 9);
    m.srtt.observe(0.02);
    m.connections.inc({ proto: 'socks' });
    const text = m.render();
    const t = types(text);
    expectCounterNames(text);
    const s = samples(text);
    expect(s.get('hag_mptcp_mib_total{counter="MPJoinAckRx"}')).toBe('2');
    expect(s.get('hag_tcp_mib_total{counter="PassiveOpens"}')).toBe('5');
    expect(s.get('hag_tun_packets_total{direction="in"}')).toBe('9');
    expect(t.get('hag_subflow_srtt_seconds')).toBe('histogram');
    expect(s.get('hag_subflow_srtt_seconds_bucket{le="0.02"}')).toBe('1');
    expect(s.get('hag_subflow_srtt_seconds_bucket{le="0.015"}')).toBe('0');
    expect([...s.keys()].some((k) => /^hybrid_access_build_info\{.*daemon="hag"\}$/.test(k))).toBe(true);
  });
});
