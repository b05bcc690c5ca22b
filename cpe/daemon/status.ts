// The CPE's status page on the LAN: GET /status.json (uplinks with state, counters, throughput,
// RTTs, quota use and per-second history; the HAG's reachability; connections), GET /metrics (the
// same for Prometheus, written by cpe/daemon/metrics.ts) and GET / (the HTML page rendered from the
// same snapshot by cpe/daemon/status-page.ts). Read-only; anything but GET is refused.
import http from 'node:http';
import type { HistogramData } from '../../src/daemon/exposition.js';
import type { InboundStatus } from './inbound.js';
import { renderMetrics } from './metrics.js';
import { renderStatusPage } from './status-page.js';

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
  /** up, direct-only (the HAG does not answer over it: no subflows), down or unknown. */
  state: string;
  /** Why (cpe/daemon/uplinks.ts UplinkReason): ok, not-probed, no-address, echo-lost, loss-high, rtt-high, hag-unreachable. */
  reason: string;
  hagReachable: boolean | undefined;
  /** Whether it carries the LAN's non-TCP traffic and the direct connections now. */
  active: boolean;
  /** Share of the probe's last window of rounds that were lost. */
  probeLoss: number | undefined;
  usable: boolean;
  address: string | undefined;
  /** The core's IPv4 address for the uplink (unused by an IPv6-only one: see coreAddresses). */
  coreAddress: string;
  /** The IP families the uplink has, and the core's addresses on it (one per family). */
  families?: string[];
  coreAddresses?: string[];
  /** Of the open subflows, those over IPv6. */
  subflows6?: number;
  probeRttMs: number | undefined;
  subflowRttMs: number | undefined;
  /** Histograms (seconds) of the probe's RTTs and of the subflows' SRTT sampled each second. */
  probeRtt: HistogramData;
  subflowSrtt: HistogramData;
  subflows: number;
  /** Of those, the ones whose connection fell back to plain TCP (RFC 8684 3.7: options stripped). */
  fallbackSubflows: number;
  bytesIn: number;
  bytesOut: number;
  rateInBps: number;
  rateOutBps: number;
  capacityBps: number | undefined;
  /**
   * The quota as billed (the interface's bytes both ways this period); `bytes` and `exceeded` are
   * the older names of `limit` and `exhausted`. Times in ms since the epoch; warnAt in percent.
   */
  quota:
    | {
        bytes: number;
        limit: number;
        used: number;
        period: string;
        resetDay: number;
        periodStart: number;
        periodEnd: number;
        warnAt: number;
        warned: boolean;
        exceeded: boolean;
        exhausted: boolean;
        /** Warnings, exhaustions and resets since the daemon started. */
        events: Record<'quota-warning' | 'quota-exhausted' | 'quota-reset', number>;
      }
    | undefined;
  /** The last 60 per-second samples: byte counters and the RTTs (ms) of that second. */
  history: { t: number; bytesIn: number; bytesOut: number; probeRttMs?: number; subflowRttMs?: number }[];
}

export interface StatusSnapshot {
  time: number;
  uptimeS: number;
  hag: { address: string; port: number; method: string; state: string; reason: string; since: number };
  uplinks: UplinkStatus[];
  /** Moves of non-TCP and direct traffic between uplinks since the start. */
  uplinkSwitches: number;
  /** The event hook's targets (command, webhook): events sent, failed, dropped, retries, queued. */
  events: Record<string, { sent: number; failed: number; dropped: number; retries: number; queued: number }>;
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
  /** The LAN DHCP server's leases: their count, and each (expiresAt in ms since the epoch). */
  dhcp:
    | {
        leases: number;
        list: { address: string; mac: string | null; hostname?: string; state: string; expiresAt: number }[];
      }
    | undefined;
  /** Inbound port forwarding (config `inbound`): the control connection, each forward, the connections. */
  inbound?: InboundStatus;
  /** The LAN's router advertisements (lan.ra): sent, solicitations answered, refused, send failures. */
  ra?: { sent: number; solicitations: number; refused: number; sendFailures: number };
  /**
   * The LAN's prefix by DHCPv6 prefix delegation (an uplink with `delegation`): the uplink, the
   * prefix delegated and the LAN's /64 in it, the CPE's address there, the lifetimes left (s; null:
   * infinite), withdrawn prefixes still advertised deprecated, delegations taken and lost.
   */
  delegation?: {
    uplink: string | undefined;
    prefix: string | undefined;
    lanPrefix: string | undefined;
    lanAddress: string | undefined;
    preferredS: number | null | undefined;
    validS: number | null | undefined;
    deprecated: string[];
    delegated: number;
    lost: number;
  };
  mib: Record<string, number>;
  tcpMib: Record<string, number>;
  memoryRss: number;
  /** process.memoryUsage(): rss, heapTotal, heapUsed, external, arrayBuffers (bytes). */
  memory: Record<string, number>;
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
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(renderStatusPage(this.src.snapshot()));
    } else {
      res.writeHead(404).end();
    }
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }
}
