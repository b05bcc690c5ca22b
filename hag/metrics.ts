// The HAG's counters and their Prometheus text exposition (format 0.0.4), written by hand: a few
// counter and gauge families with labels, plus whatever the daemon adds at scrape time (the MPTCP
// and TCP MIB of the core, active sessions, memory).

type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

export class Family {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly type: 'counter' | 'gauge',
    readonly help: string,
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  set(labels: Labels, v: number): void {
    this.values.set(key(labels), v);
  }

  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }

  clear(): void {
    this.values.clear();
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`);
    for (const [k, v] of this.values) {
      const n = Number.isFinite(v) ? `${v}` : v > 0 ? '+Inf' : '-Inf';
      out.push(`${this.name}${k ? `{${k}}` : ''} ${n}`);
    }
  }
}

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
  readonly reloads = new Family(
    'hag_config_reloads_total',
    'counter',
    'Configuration reloads (SIGHUP), by result.',
  );
  /** Families filled at each scrape. */
  readonly gauges = {
    active: new Family('hag_connections_active', 'gauge', 'Connections open now, by protocol and state.'),
    subflows: new Family('hag_subflows_active', 'gauge', 'MPTCP subflows open now, by uplink.'),
    bytesActive: new Family(
      'hag_bytes_active',
      'gauge',
      'Bytes relayed so far by open connections, by direction.',
    ),
    srtt: new Family('hag_subflow_srtt_seconds', 'gauge', 'Smoothed RTT over the open subflows (avg, max).'),
    mib: new Family(
      'hag_mptcp_mib',
      'gauge',
      'The MPTCP core counters, named as the Linux MIB (nstat MPTcpExt*).',
    ),
    tcpMib: new Family('hag_tcp_mib', 'gauge', 'The TCP core counters, named as the Linux TCP MIB.'),
    driver: new Family('hag_tun_packets', 'gauge', 'TUN packets: in, out, and writes dropped (queue full).'),
    memory: new Family('hag_process_resident_memory_bytes', 'gauge', 'Resident memory of the HAG process.'),
    coreSockets: new Family('hag_core_tcp_sockets', 'gauge', 'TCP sockets (subflows) in the core.'),
    coreTimeWait: new Family(
      'hag_core_tcp_time_wait',
      'gauge',
      'Core TCP connections in TIME-WAIT (records without buffers), and the bytes they hold.',
    ),
    files: new Family(
      'hag_open_files',
      'gauge',
      'Open files: the limit (RLIMIT_NOFILE) and the connections it holds (capacity); more are refused (file-limit).',
    ),
    coreBuffers: new Family(
      'hag_core_buffer_bytes',
      'gauge',
      'Send and receive buffer memory the core holds.',
    ),
    draining: new Family('hag_draining', 'gauge', '1 while draining after SIGTERM.'),
  };

  render(): string {
    const out: string[] = [];
    for (const f of [
      this.connections,
      this.refusals,
      this.errors,
      this.bytes,
      this.subflows,
      this.uplinkBytes,
      this.fastOpen,
      this.reloads,
    ])
      f.render(out);
    for (const f of Object.values(this.gauges)) f.render(out);
    return `${out.join('\n')}\n`;
  }
}
