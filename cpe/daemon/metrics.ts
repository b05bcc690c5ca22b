// The CPE's /metrics: its metric families filled from a status snapshot (the same data as
// /status.json), written out by src/daemon/exposition.ts. Byte counters only, no precomputed
// rates: throughput is rate(cpe_uplink_bytes_total[1m]) * 8 in PromQL.
import { buildInfoFamily } from '../../src/daemon/build-info.js';
import { exposition, HistogramFamily, MetricFamily } from '../../src/daemon/exposition.js';
import type { StatusSnapshot } from './status.js';

/** Prometheus text exposition (version 0.0.4) of a snapshot. */
export function renderMetrics(s: StatusSnapshot): string {
  const u = s.uplinks;
  const perUplink = (
    name: string,
    type: 'counter' | 'gauge',
    help: string,
    value: (x: StatusSnapshot['uplinks'][number]) => number | undefined,
  ) => {
    const f = new MetricFamily(name, type, help);
    for (const x of u) {
      const v = value(x);
      if (v !== undefined) f.set({ uplink: x.name }, v);
    }
    return f;
  };
  const bytes = new MetricFamily(
    'cpe_uplink_bytes_total',
    'counter',
    "Payload bytes carried by the uplink's subflows, by direction (in: from the HAG).",
  );
  const probeRtt = new HistogramFamily(
    'cpe_uplink_probe_rtt_seconds',
    "RTT of the uplink's ICMP echo probes that were answered.",
  );
  const srtt = new HistogramFamily(
    'cpe_uplink_subflow_srtt_seconds',
    "Smoothed RTT (RFC 6298) of the uplink's open subflows, each sampled once a second.",
  );
  // Issue 16: IPv6 uplinks. The families each uplink has, and its open subflows by family.
  const family = new MetricFamily(
    'cpe_uplink_family',
    'gauge',
    'The IP families the uplink has (1 per family): an IPv6-only line has only ipv6.',
  );
  const subflowsFamily = new MetricFamily(
    'cpe_uplink_family_subflows',
    'gauge',
    'Open subflows on the uplink, by IP family.',
  );
  for (const x of u) {
    for (const fam of x.families ?? []) family.set({ uplink: x.name, family: fam }, 1);
    if (x.subflows6 !== undefined) {
      subflowsFamily.set({ uplink: x.name, family: 'ipv4' }, x.subflows - x.subflows6);
      subflowsFamily.set({ uplink: x.name, family: 'ipv6' }, x.subflows6);
    }
  }
  for (const x of u) {
    bytes.set({ uplink: x.name, direction: 'in' }, x.bytesIn);
    bytes.set({ uplink: x.name, direction: 'out' }, x.bytesOut);
    probeRtt.set({ uplink: x.name }, x.probeRtt);
    srtt.set({ uplink: x.name }, x.subflowSrtt);
  }
  const connections = new MetricFamily('cpe_connections_active', 'gauge', 'Open LAN connections, by path.')
    .set({ path: 'bonded' }, s.connections.bonded)
    .set({ path: 'direct' }, s.connections.direct);
  const opened = new MetricFamily('cpe_connections_total', 'counter', 'LAN connections opened, by path.')
    .set({ path: 'bonded' }, s.connections.bondedTotal)
    .set({ path: 'direct' }, s.connections.directTotal);
  const refusals = new MetricFamily('cpe_refusals_total', 'counter', 'LAN connections refused, by reason.');
  for (const [k, v] of Object.entries(s.connections.refused)) refusals.set({ reason: k }, v);
  const mib = new MetricFamily('cpe_mptcp_mib_total', 'counter', 'MPTCP core counters (Linux MIB names).');
  for (const [k, v] of Object.entries(s.mib)) mib.set({ counter: k }, v);
  const tcpMib = new MetricFamily('cpe_tcp_mib_total', 'counter', 'TCP core counters (Linux TCP MIB names).');
  for (const [k, v] of Object.entries(s.tcpMib)) tcpMib.set({ counter: k }, v);
  // Item 2 of issue 15: what each uplink is good for now, and why; which one carries non-TCP.
  const state = new MetricFamily(
    'cpe_uplink_state',
    'gauge',
    'The uplink state, 1 for the current one: up, direct-only (the HAG does not answer over it), down, unknown.',
  );
  const reason = new MetricFamily(
    'cpe_uplink_reason',
    'gauge',
    'Why the uplink is in its state, 1 for the current reason (ok, not-probed, no-address, echo-lost, loss-high, rtt-high, hag-unreachable).',
  );
  for (const x of u) {
    for (const st of ['up', 'direct-only', 'down', 'unknown'])
      state.set({ uplink: x.name, state: st }, x.state === st ? 1 : 0);
    reason.set({ uplink: x.name, reason: x.reason }, 1);
  }
  // Item 3 of issue 15: quota warnings, exhaustions and new periods; item 5: the event hook.
  const quotaEvents = new MetricFamily(
    'cpe_uplink_quota_events_total',
    'counter',
    'Quota events since the start, by kind (warning, exhausted, reset).',
  );
  for (const x of u)
    if (x.quota)
      for (const [k, v] of Object.entries(x.quota.events))
        quotaEvents.set({ uplink: x.name, kind: k.replace('quota-', '') }, v);
  const events = new MetricFamily(
    'cpe_events_total',
    'counter',
    'Events of the hook, by target (command, webhook) and result (sent, failed, dropped: the queue was full).',
  );
  const eventRetries = new MetricFamily('cpe_event_retries_total', 'counter', 'Retried event deliveries.');
  for (const [sink, st] of Object.entries(s.events)) {
    for (const r of ['sent', 'failed', 'dropped'] as const) events.set({ sink, result: r }, st[r]);
    eventRetries.set({ sink }, st.retries);
  }
  // Issue 18: inbound port forwarding through the HAG.
  const inbound = inboundFamilies(s);
  // Issue 16 item 3: the LAN's router advertisements (lan.ra), when on.
  const ra = new MetricFamily(
    'cpe_lan_ra_total',
    'counter',
    'Router advertisements sent on the LAN, solicitations answered and refused, sends that failed.',
  );
  if (s.ra)
    for (const [kind, v] of [
      ['sent', s.ra.sent],
      ['solicitation', s.ra.solicitations],
      ['refused', s.ra.refused],
      ['send-failed', s.ra.sendFailures],
    ] as const)
      ra.set({ kind }, v);
  // Issue 16: the LAN's prefix by DHCPv6 prefix delegation, when an uplink asks for one.
  const delegation = delegationFamilies(s);
  return exposition([
    buildInfoFamily('cpe'),
    ...delegation,
    ...inbound,
    perUplink(
      'cpe_uplink_up',
      'gauge',
      'Whether the uplink is usable for subflows (probe not down, address known, the HAG answers over it).',
      (x) => (x.usable ? 1 : 0),
    ),
    perUplink('cpe_uplink_backup', 'gauge', 'Whether the uplink carries backup subflows only.', (x) =>
      x.backup ? 1 : 0,
    ),
    state,
    reason,
    perUplink(
      'cpe_uplink_active',
      'gauge',
      "Whether the uplink carries the LAN's non-TCP traffic and the direct connections.",
      (x) => (x.active ? 1 : 0),
    ),
    perUplink(
      'cpe_uplink_probe_loss_ratio',
      'gauge',
      "Share of the probe's last window of echo rounds that were lost.",
      (x) => x.probeLoss,
    ),
    new MetricFamily(
      'cpe_uplink_switches_total',
      'counter',
      'Moves of non-TCP and direct traffic from one uplink to another.',
    ).set({}, s.uplinkSwitches),
    bytes,
    probeRtt,
    srtt,
    perUplink('cpe_uplink_subflows', 'gauge', 'Open subflows on the uplink.', (x) => x.subflows),
    family,
    subflowsFamily,
    perUplink(
      'cpe_uplink_quota_used_bytes',
      'gauge',
      'Bytes counted toward the quota this period.',
      (x) => x.quota?.used,
    ),
    perUplink('cpe_uplink_quota_bytes', 'gauge', 'The quota per period.', (x) => x.quota?.bytes),
    perUplink(
      'cpe_uplink_quota_period_start_timestamp_seconds',
      'gauge',
      'When the current quota period began (Unix time).',
      (x) => (x.quota ? x.quota.periodStart / 1000 : undefined),
    ),
    perUplink(
      'cpe_uplink_quota_period_end_timestamp_seconds',
      'gauge',
      'When the current quota period ends (Unix time).',
      (x) => (x.quota ? x.quota.periodEnd / 1000 : undefined),
    ),
    perUplink(
      'cpe_uplink_quota_warned',
      'gauge',
      'Whether the warning share of the quota is used this period.',
      (x) => (x.quota ? (x.quota.warned ? 1 : 0) : undefined),
    ),
    perUplink('cpe_uplink_quota_exhausted', 'gauge', 'Whether the quota is used up this period.', (x) =>
      x.quota ? (x.quota.exhausted ? 1 : 0) : undefined,
    ),
    quotaEvents,
    events,
    eventRetries,
    new MetricFamily('cpe_hag_up', 'gauge', 'Whether new connections are bonded through the HAG.').set(
      {},
      s.hag.state === 'up' ? 1 : 0,
    ),
    connections,
    opened,
    refusals,
    ra,
    mib,
    tcpMib,
    new MetricFamily('cpe_resident_memory_bytes', 'gauge', 'Resident set size.').set({}, s.memoryRss),
  ]);
}

/** The families of inbound port forwarding (none without `inbound` in the config). */
function inboundFamilies(s: StatusSnapshot): MetricFamily[] {
  const ib = s.inbound;
  if (!ib) return [];
  const control = new MetricFamily(
    'cpe_inbound_control_up',
    'gauge',
    "Whether the inbound control connection to the HAG is up (its forwards' ports are open there).",
  ).set({}, ib.control.state === 'up' ? 1 : 0);
  const state = new MetricFamily(
    'cpe_inbound_forward_state',
    'gauge',
    'Each forward, 1 for its state: open (the HAG listens), pending (not registered), refused (with the reason the HAG gave).',
  );
  const active = new MetricFamily(
    'cpe_inbound_connections_active',
    'gauge',
    'Inbound connections open now, by forward.',
  );
  const total = new MetricFamily(
    'cpe_inbound_connections_total',
    'counter',
    'Inbound connections relayed to the LAN host, by forward.',
  );
  const failed = new MetricFamily(
    'cpe_inbound_failures_total',
    'counter',
    'Inbound connections the CPE refused or gave up, by reason (lan-refused, lan-timeout, cpe-busy, no-such-forward, attach-timeout).',
  );
  for (const f of ib.forwards) {
    for (const st of ['open', 'pending', 'refused'])
      state.set(
        { forward: f.name, state: st, reason: st === 'refused' ? (f.reason ?? '') : '' },
        f.state === st ? 1 : 0,
      );
    active.set({ forward: f.name }, f.active);
    total.set({ forward: f.name }, f.connections);
  }
  for (const [k, v] of Object.entries(ib.failed)) failed.set({ reason: k }, v);
  return [control, state, active, total, failed];
}

/** The delegated LAN prefix: which (info, 1 while delegated), its lifetimes left, delegations taken and lost. */
function delegationFamilies(s: StatusSnapshot): MetricFamily[] {
  const d = s.delegation;
  if (!d) return [];
  const info = new MetricFamily(
    'cpe_lan_prefix_info',
    'gauge',
    "The LAN's prefix delegated by DHCPv6 (1 while delegated): the uplink, the delegated prefix, the LAN's /64.",
  );
  const lifetime = new MetricFamily(
    'cpe_lan_prefix_lifetime_seconds',
    'gauge',
    "Seconds left of the delegated prefix's preferred and valid lifetimes (absent when infinite).",
  );
  const total = new MetricFamily(
    'cpe_lan_prefix_delegations_total',
    'counter',
    'Prefixes delegated to the LAN, and delegations lost (lease ended or refused).',
  );
  if (d.uplink && d.prefix && d.lanPrefix) {
    info.set({ uplink: d.uplink, prefix: d.prefix, lan_prefix: d.lanPrefix }, 1);
    if (typeof d.preferredS === 'number') lifetime.set({ kind: 'preferred' }, d.preferredS);
    if (typeof d.validS === 'number') lifetime.set({ kind: 'valid' }, d.validS);
  }
  total.set({ kind: 'delegated' }, d.delegated);
  total.set({ kind: 'lost' }, d.lost);
  return [info, lifetime, total];
}
