// The HAG's metric families: counters the daemon adds to as connections end, and the families it
// fills at each scrape (the MPTCP and TCP MIB of the core, open sessions, memory); the subflow
// SRTT histogram it samples once a second. Written out by src/daemon/exposition.ts.
import { buildInfoFamily } from '../src/daemon/build-info.js';
import {
  exposition,
  MetricFamily as Family,
  HistogramFamily,
  HistogramSeries,
  RTT_BUCKETS_SECONDS,
} from '../src/daemon/exposition.js';

export class HagMetrics {
  readonly connections = new Family(
    'hag_connections_total',
    'counter',
    'Client connections accepted, by protocol.',
  );
  readonly refusals = new Family(
    'hag_refusals_total',
    'counter',
    'Connections or requests refused, by protocol and reason.',
  );
  readonly errors = new Family('hag_errors_total', 'counter', 'Connections that ended abnormally, by kind.');
  readonly bytes = new Family(
    'hag_bytes_total',
    'counter',
    'Bytes relayed by finished connections, by direction (up: client to server).',
  );
  readonly subflows = new Family(
    'hag_subflows_total',
    'counter',
    'MPTCP subflows of finished connections, by uplink.',
  );
  readonly uplinkBytes = new Family(
    'hag_uplink_bytes_total',
    'counter',
    'Bytes carried by the subflows of finished connections, by uplink and direction (down: toward the client).',
  );
  readonly fastOpen = new Family(
    'hag_fast_open_total',
    'counter',
    'Client connections by TCP Fast Open outcome (accepted: 0-RTT, the SYN data was taken and the server dialled before the handshake ended; refused: SYN data ignored; requested: a cookie was asked for; off).',
  );
  readonly inbound = new Family(
    'hag_inbound_connections_total',
    'counter',
    'Client connections to forwarded public ports (service.inbound), by result (offered: announced to the CPE; paired: its attach connection came; attach-timeout, cpe-rejected, client-gone, control-closed: reset; too-many-pending: reset at once, 256 already waiting).',
  );
  readonly reloads = new Family(
    'hag_config_reloads_total',
    'counter',
    'Configuration reloads (SIGHUP), by result.',
  );
  /** Families filled at each scrape. */
  readonly scraped = {
    active: new Family('hag_connections_active', 'gauge', 'Connections open now, by protocol and state.'),
    subflows: new Family('hag_subflows_active', 'gauge', 'MPTCP subflows open now, by uplink.'),
    bytesActive: new Family(
      'hag_bytes_active',
      'gauge',
      'Bytes relayed so far by open connections, by direction.',
    ),
    mib: new Family(
      'hag_mptcp_mib_total',
      'counter',
      'The MPTCP core counters, named as the Linux MIB (nstat MPTcpExt*).',
    ),
    tcpMib: new Family('hag_tcp_mib_total', 'counter', 'The TCP core counters, named as the Linux TCP MIB.'),
    tunPackets: new Family('hag_tun_packets_total', 'counter', 'Packets through the TUN, by direction.'),
    tunWriteDrops: new Family(
      'hag_tun_write_drops_total',
      'counter',
      'Packets not written to the TUN (its queue full).',
    ),
    tunSuperPackets: new Family(
      'hag_tun_gro_packets_total',
      'counter',
      'GRO super-packets among the packets in from the TUN.',
    ),
    memory: new Family('hag_process_resident_memory_bytes', 'gauge', 'Resident memory of the HAG process.'),
    coreSockets: new Family('hag_core_tcp_sockets', 'gauge', 'TCP sockets (subflows) in the core.'),
    coreTimeWait: new Family(
      'hag_core_tcp_time_wait',
      'gauge',
      'Core TCP connections in TIME-WAIT (records without buffers).',
    ),
    coreTimeWaitBytes: new Family(
      'hag_core_tcp_time_wait_bytes',
      'gauge',
      'Memory the TIME-WAIT records hold.',
    ),
    files: new Family(
      'hag_open_files',
      'gauge',
      'Open files: the limit (RLIMIT_NOFILE) and the connections it holds (capacity); more are refused (file-limit).',
    ),
    coreBuffers: new Family(
      'hag_core_buffer_bytes',
      'gauge',
      "Buffer memory the core holds for traffic: the sockets' and connections' send and receive buffers, sent ranges, mapping tables.",
    ),
    inboundControls: new Family(
      'hag_inbound_controls',
      'gauge',
      'CPE control connections of inbound port forwarding open now.',
    ),
    inboundPorts: new Family('hag_inbound_ports', 'gauge', 'Public ports forwarded to CPEs now (listening).'),
    inboundPending: new Family(
      'hag_inbound_pending',
      'gauge',
      "Client connections to forwarded ports waiting for their CPE's attach connection.",
    ),
    draining: new Family('hag_draining', 'gauge', '1 while draining after SIGTERM.'),
  };
  /** Each open subflow's smoothed RTT, sampled once a second (the daemon's housekeeping tick). */
  readonly srtt = new HistogramSeries(RTT_BUCKETS_SECONDS);
  private readonly srttFamily = new HistogramFamily(
    'hag_subflow_srtt_seconds',
    'Smoothed RTT (RFC 6298) of the open subflows, each sampled once a second.',
  ).set({}, this.srtt);
  private readonly info = buildInfoFamily('hag');

  render(): string {
    return exposition([
      this.info,
      this.connections,
      this.refusals,
      this.errors,
      this.bytes,
      this.subflows,
      this.uplinkBytes,
      this.fastOpen,
      this.inbound,
      this.reloads,
      this.srttFamily,
      ...Object.values(this.scraped),
    ]);
  }
}
