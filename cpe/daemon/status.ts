// The CPE's status page on the LAN: GET /status.json (uplinks with state, counters, throughput,
// RTTs, quota use and per-second history; the HAG's reachability; connections), GET /metrics (the
// same as Prometheus text) and GET / (a small HTML page drawing live throughput and RTT charts from
// polling /status.json). Read-only; anything but GET is refused.
import http from 'node:http';
import { STATUS_HTML } from './status-page.js';

export interface StatusSource {
  snapshot(): StatusSnapshot;
}

export interface UplinkStatus {
  name: string;
  interface: string;
  role: string;
  backup: boolean;
  health: string;
  healthReason: string;
  usable: boolean;
  address: string | undefined;
  coreAddress: string;
  probeRttMs: number | undefined;
  subflowRttMs: number | undefined;
  subflows: number;
  bytesIn: number;
  bytesOut: number;
  rateInBps: number;
  rateOutBps: number;
  capacityBps: number | undefined;
  quota: { bytes: number; used: number; period: string; exceeded: boolean } | undefined;
  history: { t: number; bytesIn: number; bytesOut: number }[];
}

export interface StatusSnapshot {
  time: number;
  uptimeS: number;
  hag: { address: string; port: number; method: string; state: string; reason: string; since: number };
  uplinks: UplinkStatus[];
  connections: {
    active: number;
    bonded: number;
    direct: number;
    accepted: number;
    closed: number;
    bondedTotal: number;
    directTotal: number;
    refused: Record<string, number>;
  };
  dhcp: { leases: number } | undefined;
  mib: Record<string, number>;
  memoryRss: number;
  /** process.memoryUsage(): rss, heapTotal, heapUsed, external, arrayBuffers (bytes). */
  memory: Record<string, number>;
}

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition (version 0.0.4) of a snapshot. */
export function renderMetrics(s: StatusSnapshot): string {
  const out: string[] = [];
  const metric = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    rows: [Record<string, string>, number][],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels)
        .map(([k, x]) => `${k}="${esc(x)}"`)
        .join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 0}`);
    }
  };
  const u = s.uplinks;
  metric(
    'cpe_uplink_up',
    'Whether the uplink is usable (probe not down, address known).',
    'gauge',
    u.map((x) => [{ uplink: x.name }, x.usable ? 1 : 0]),
  );
  metric(
    'cpe_uplink_backup',
    'Whether the uplink carries backup subflows only.',
    'gauge',
    u.map((x) => [{ uplink: x.name }, x.backup ? 1 : 0]),
  );
  metric(
    'cpe_uplink_bytes_total',
    "Payload bytes carried by the uplink's subflows.",
    'counter',
    u.flatMap((x) => [
      [{ uplink: x.name, direction: 'in' }, x.bytesIn],
      [{ uplink: x.name, direction: 'out' }, x.bytesOut],
    ]),
  );
  metric(
    'cpe_uplink_rate_bps',
    'Throughput over the last second, bit/s.',
    'gauge',
    u.flatMap((x) => [
      [{ uplink: x.name, direction: 'in' }, x.rateInBps],
      [{ uplink: x.name, direction: 'out' }, x.rateOutBps],
    ]),
  );
  metric(
    'cpe_uplink_probe_rtt_seconds',
    'Smoothed ICMP probe RTT.',
    'gauge',
    u.filter((x) => x.probeRttMs !== undefined).map((x) => [{ uplink: x.name }, (x.probeRttMs ?? 0) / 1000]),
  );
  metric(
    'cpe_uplink_subflow_rtt_seconds',
    "Mean smoothed RTT of the uplink's subflows.",
    'gauge',
    u
      .filter((x) => x.subflowRttMs !== undefined)
      .map((x) => [{ uplink: x.name }, (x.subflowRttMs ?? 0) / 1000]),
  );
  metric(
    'cpe_uplink_subflows',
    'Open subflows on the uplink.',
    'gauge',
    u.map((x) => [{ uplink: x.name }, x.subflows]),
  );
  metric(
    'cpe_uplink_quota_used_bytes',
    'Bytes counted toward the quota this period.',
    'gauge',
    u.filter((x) => x.quota).map((x) => [{ uplink: x.name }, x.quota?.used ?? 0]),
  );
  metric(
    'cpe_uplink_quota_bytes',
    'The quota per period.',
    'gauge',
    u.filter((x) => x.quota).map((x) => [{ uplink: x.name }, x.quota?.bytes ?? 0]),
  );
  metric('cpe_hag_up', 'Whether new connections are bonded through the HAG.', 'gauge', [
    [{}, s.hag.state === 'up' ? 1 : 0],
  ]);
  metric('cpe_connections', 'Open LAN connections by path.', 'gauge', [
    [{ path: 'bonded' }, s.connections.bonded],
    [{ path: 'direct' }, s.connections.direct],
  ]);
  metric('cpe_connections_total', 'LAN connections opened, by path.', 'counter', [
    [{ path: 'bonded' }, s.connections.bondedTotal],
    [{ path: 'direct' }, s.connections.directTotal],
  ]);
  metric(
    'cpe_refusals_total',
    'LAN connections refused, by reason.',
    'counter',
    Object.entries(s.connections.refused).map(([k, v]) => [{ reason: k }, v]),
  );
  metric(
    'cpe_mptcp_mib',
    'MPTCP counters (Linux MIB names).',
    'counter',
    Object.entries(s.mib).map(([k, v]) => [{ counter: k }, v]),
  );
  metric('cpe_resident_memory_bytes', 'Resident set size.', 'gauge', [[{}, s.memoryRss]]);
  return `${out.join('\n')}\n`;
}

export class StatusServer {
  private server: http.Server | undefined;

  constructor(private readonly src: StatusSource) {}

  async listen(port: number, host: string | undefined): Promise<{ address: string; port: number }> {
    const server = http.createServer((req, res) => this.serve(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as { address: string; port: number };
    return { address: a.address, port: a.port };
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/status.json') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(`${JSON.stringify(this.src.snapshot())}\n`);
    } else if (path === '/metrics') {
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(renderMetrics(this.src.snapshot()));
    } else if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_HTML);
    } else {
      res.writeHead(404).end();
    }
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
