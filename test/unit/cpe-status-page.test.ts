// The CPE status page rendered from one snapshot (cpe/daemon/status-page.ts): a down line with its
// reason, capacity, the quota bar with its reset date, MPTCP health per line, the uptime, the DHCP
// leases (a client's own host name escaped), and SVG charts with axes, units and a legend.
import { describe, expect, it } from 'vitest';
import type { StatusSnapshot, UplinkStatus } from '../../cpe/daemon/status.js';
import { renderStatusPage } from '../../cpe/daemon/status-page.js';
import { niceMax } from '../../src/daemon/svg-chart.js';
import { INBOUND_STATUS } from './lib/inbound-status.js';

const T = Date.UTC(2026, 11, 2, 12, 0, 0);
const hist = { buckets: [], counts: [], sum: 0, count: 0 } as unknown as UplinkStatus['probeRtt'];

function uplink(over: Partial<UplinkStatus>): UplinkStatus {
  return {
    name: 'dsl',
    interface: 'dsl0',
    role: 'primary',
    backup: false,
    health: 'up',
    healthReason: '3 echo replies',
    state: 'up',
    reason: 'ok',
    hagReachable: true,
    active: true,
    probeLoss: 0,
    usable: true,
    address: '198.18.11.2',
    coreAddress: '198.18.200.2',
    probeRttMs: 12.5,
    subflowRttMs: 14.2,
    probeRtt: hist,
    subflowSrtt: hist,
    subflows: 2,
    fallbackSubflows: 0,
    bytesIn: 50e6,
    bytesOut: 1e6,
    rateInBps: 20e6,
    rateOutBps: 1e6,
    capacityBps: 40e6,
    quota: undefined,
    // One sample a second: 2.5 MB/s in (20 Mbit/s), RTTs 12-13 ms.
    history: Array.from({ length: 10 }, (_, i) => ({
      t: T - (9 - i) * 1000,
      bytesIn: i * 2.5e6,
      bytesOut: i * 1e5,
      probeRttMs: 12 + (i % 2),
      subflowRttMs: 14,
    })),
    ...over,
  };
}

function snapshot(): StatusSnapshot {
  return {
    time: T,
    uptimeS: 3 * 3600 + 25 * 60,
    hag: {
      address: '198.18.100.1',
      port: 5124,
      method: 'convert',
      state: 'up',
      reason: '',
      since: T - 60_000,
    },
    uplinks: [
      uplink({}),
      uplink({
        name: 'lte',
        interface: 'lte0',
        role: 'overflow',
        families: ['ipv6'],
        coreAddresses: ['fd48:4143:5045::3'],
        subflows6: 0,
        backup: true,
        health: 'down',
        healthReason: 'no echo reply within 300 ms',
        state: 'down',
        reason: 'echo-lost',
        hagReachable: undefined,
        active: false,
        probeRttMs: undefined,
        subflowRttMs: undefined,
        subflows: 0,
        rateInBps: 0,
        rateOutBps: 0,
        capacityBps: 30e6,
        // With the period's bounds, as the quota work reports them.
        quota: {
          bytes: 5e9,
          limit: 5e9,
          used: 4.5e9,
          period: 'month',
          resetDay: 1,
          periodStart: T - 86_400_000,
          periodEnd: T + 29 * 86_400_000,
          warnAt: 80,
          warned: true,
          exceeded: false,
          exhausted: false,
          events: { 'quota-warning': 1, 'quota-exhausted': 0, 'quota-reset': 0 },
        },
      }),
      uplink({
        name: 'wan3',
        interface: 'eth3',
        role: 'overflow',
        active: false,
        subflows: 1,
        fallbackSubflows: 1,
      }),
    ],
    uplinkSwitches: 0,
    events: {},
    connections: {
      active: 3,
      bonded: 2,
      direct: 1,
      accepted: 40,
      closed: 37,
      bondedTotal: 30,
      directTotal: 10,
      refused: {},
    },
    dhcp: {
      leases: 2,
      list: [
        {
          address: '198.18.5.101',
          mac: '02:00:00:00:00:01',
          hostname: '<img src=x onerror=alert(1)>',
          state: 'bound',
          expiresAt: T + 540_000,
        },
        { address: '198.18.5.100', mac: null, state: 'declined', expiresAt: T + 540_000 },
      ],
    },
    inbound: INBOUND_STATUS,
    mib: { MPCapableSYNACKRX: 40, MPCapableFallbackSYNACK: 1, DSSFallback: 0, MPJoinSynAckRx: 38 },
    tcpMib: {},
    memoryRss: 0,
    memory: {},
  };
}

/** The page's text: tags dropped, entities decoded. */
const text = (html: string) =>
  html
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

describe('status page', () => {
  const html = renderStatusPage(snapshot());
  const lte = /<section class="card" id="u-lte"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
  const dsl = /<section class="card" id="u-dsl"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';

  it('says why a line is down, and its capacity', () => {
    expect(text(lte)).toContain('down');
    expect(text(lte)).toMatch(/why: echo-lost ?: probe echoes lost \(no echo reply within 300 ms\)/);
    expect(text(lte)).toContain('no subflows (line down)');
    expect(text(lte)).toMatch(/capacity 30 Mbit\/s/);
    expect(text(dsl)).toMatch(/capacity 40 Mbit\/s \(53% in use\)/);
    expect(text(dsl)).not.toContain('why:');
  });

  it('names the IP families of a line (an IPv6-only LTE) and its subflows over IPv6', () => {
    expect(text(lte)).toContain('IP IPv6 only');
    const both = renderStatusPage({
      ...snapshot(),
      uplinks: [
        uplink({
          families: ['ipv4', 'ipv6'],
          coreAddresses: ['10.254.0.2', 'fd48:4143:5045::2'],
          subflows: 3,
          subflows6: 2,
        }),
      ],
    });
    expect(text(both)).toContain('IP IPv4 and IPv6; 2 subflows over IPv6');
    expect(text(dsl)).not.toContain('IPv6'); // a status without families (older daemons): no row
  });

  it('draws the quota as a progress bar with its share and reset date', () => {
    expect(lte).toMatch(
      /role="progressbar" aria-label="lte quota used" aria-valuemin="0" aria-valuemax="5000000000" aria-valuenow="4500000000"/,
    );
    expect(lte).toContain('class="bar warn"');
    expect(lte).toContain('style="width:90.0%"');
    const reset = new Date(T + 29 * 86_400_000);
    expect(text(lte)).toContain(`4.50 GB of 5.00 GB (90%) this month`);
    expect(text(lte)).toContain(`resets ${reset.getFullYear()}-12-31`);
    expect(dsl).not.toContain('progressbar');
  });

  it('shows MPTCP health per line and the fallback counts, the uptime and the HAG', () => {
    expect(text(dsl)).toContain('2 subflows, RTT 14.2 ms; options get through');
    const wan3 = /<section class="card" id="u-wan3"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    expect(text(wan3)).toContain(
      '1 subflow, RTT 14.2 ms; 1 fell back to plain TCP : options do not get through',
    );
    expect(text(html)).toContain('fallbacks to TCP: 1 at the handshake, 0 mid-connection');
    expect(text(html)).toContain('up 3 h 25 min');
    expect(text(html)).toContain('bonding');
  });

  it('lists the DHCP leases with host, MAC, address and expiry, host names escaped', () => {
    expect(html).not.toContain('<img');
    expect(text(html)).toContain('DHCP leases (1)');
    expect(text(html)).toContain('<img src=x onerror=alert(1)> 02:00:00:00:00:01 198.18.5.101 in 9 min 0 s');
    expect(html).not.toContain('198.18.5.100<');
  });

  it('charts have axes with units, time ticks and a legend', () => {
    const svg = /<svg[\s\S]*?<\/svg>/.exec(dsl)?.[0] ?? '';
    expect(svg).toContain('<title>dsl throughput</title>');
    // y axis to 20 Mbit/s (the rate is 20 Mbit/s), ticks 0, 10 and 20; x from -60 s to now.
    for (const t of ['0 bit/s', '10 Mbit/s', '20 Mbit/s', '-60 s', '-30 s', 'now', '>in<', '>out<'])
      expect(svg).toContain(t.startsWith('>') ? t : `>${t}<`);
    expect(svg).toMatch(/<path d="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){8}" fill="none" stroke="#1565c0"/);
    expect(dsl).toContain('<title>dsl RTT</title>');
    expect(dsl).toContain('>probe<');
    expect(niceMax(13)).toBe(20);
    expect(niceMax(0)).toBe(1);
  });

  it('lists the port forwards: the control connection, each state with why, the connections', () => {
    const fwd = /<h2>Port forwarding[\s\S]*?<\/table>/.exec(html)?.[0] ?? '';
    expect(text(fwd)).toContain('control connection to the HAG: up to 198.18.100.1:5125');
    expect(text(fwd)).toMatch(/web 8080 198\.18\.5\.10:80 open 1 open, 7 in all, 1 failed/);
    expect(text(fwd)).toMatch(/ssh 2222 198\.18\.5\.10:22 refused: not-allowed/);
    expect(renderStatusPage({ ...snapshot(), inbound: undefined })).not.toContain('Port forwarding');
    // IPv6 endpoints in brackets, as everywhere else (src/wire/addr.ts hostPort).
    const v6 = renderStatusPage({
      ...snapshot(),
      inbound: {
        ...INBOUND_STATUS,
        control: { ...INBOUND_STATUS.control, hag: '2001:db8:100::1' },
        forwards: [{ ...INBOUND_STATUS.forwards[0], host: '2001:db8:5::10' }],
      },
    });
    expect(text(v6)).toContain('up to [2001:db8:100::1]:5125');
    expect(text(v6)).toContain('web 8080 [2001:db8:5::10]:80 open');
  });

  it('reads without script and links the data it is made of', () => {
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="10"></noscript>');
    expect(html).toContain('href="/status.json"');
    expect(html).not.toMatch(/<(script|link|img)[^>]+src=|<link /);
  });
});
