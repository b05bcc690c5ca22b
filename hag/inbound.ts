// Inbound port forwarding at the HAG (service.inbound; the protocol is src/inbound/wire.ts).
// Design: a CPE may sit behind carrier NAT on every line, so nothing can be opened toward it; it
// keeps one MPTCP control connection open to the HAG's inbound port and registers its public port
// ranges there. For each range the operator's rules allow (InboundPolicy: per subscriber prefix,
// port ranges; at most maxPorts per control), the HAG listens with kernel TCP on its public
// addresses; a range refused is answered with its status and logged and counted with its reason.
// A client's connection to such a port is held paused with a one-time random ticket, announced to
// the CPE as INCOMING on the control connection; the CPE opens a new MPTCP connection (its subflows
// on every usable uplink, bonded as outbound traffic is) whose first message, ATTACH, names the
// ticket; the daemon pairs the two (take()) and relays them. A ticket not taken within
// attachTimeout, a REJECT from the CPE (its LAN host refused) or the control connection's end
// resets the client. The control connection's end closes its listeners: the ports are free again.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Logger } from 'pino';
import {
  CONTROL_QUEUE_MAX,
  decodeInbound,
  encodeInbound,
  FORWARD_STATUS,
  forwardStatusName,
  type InboundMessage,
  InboundReader,
  type PortRange,
  portRangeText,
  rejectReasonName,
  TICKET_BYTES,
} from '../src/inbound/index.js';
import { resetSocket } from '../src/relay/relay.js';
import type { ConnStream } from '../src/tcp/stream.js';
import { formatIp, hostPort, parseIp, unmap } from './addr.js';
import type { HagConfig } from './config.js';
import type { HagMetrics } from './metrics.js';
import { InboundPolicy } from './policy.js';

export type InboundConfig = NonNullable<HagConfig['service']['inbound']>;

/** One CPE's control connection and the public ports it holds. */
interface Control {
  id: number;
  client: string;
  owner: string;
  stream: ConnStream;
  /** Public port -> the index of its range in the REGISTER. */
  ports: Map<number, number>;
  servers: net.Server[];
  /** Its clients waiting for an attach connection. */
  pending: number;
  idle: NodeJS.Timeout | undefined;
  closed: boolean;
  end: (reason: string) => void;
}

/** A client's connection to a public port, waiting for the CPE's attach connection. */
export interface PendingInbound {
  socket: net.Socket;
  control: Control;
  port: number;
  /** The client, "address:port". */
  peer: string;
  timer: NodeJS.Timeout;
}

/** What the daemon gives the service: its logger, metrics and refusal log (hag_refusals_total). */
export interface InboundHost {
  log: Logger;
  metrics: HagMetrics;
  refuse(client: string, reason: string, extra: Record<string, unknown>): void;
}

/**
 * Clients one control connection may have waiting for their attach connections: a flood of
 * connections to a forwarded port is reset beyond it (`too-many-pending`) instead of growing the
 * table and the CPE's work without bound.
 */
const MAX_PENDING_PER_CONTROL = 256;

export class InboundService {
  private policy: InboundPolicy;
  private readonly controls = new Set<Control>();
  /** Public port -> the control connection holding it. */
  private readonly holders = new Map<number, Control>();
  /** Ticket (hex) -> the client connection waiting for it. */
  private readonly pending = new Map<string, PendingInbound>();

  constructor(
    private cfg: InboundConfig,
    private readonly host: InboundHost,
  ) {
    this.policy = new InboundPolicy(cfg.allow);
  }

  /** A reload: new rules, limits and timeouts for the next registrations (the port and addresses stay). */
  reconfigure(cfg: InboundConfig): void {
    this.cfg = { ...cfg, port: this.cfg.port, listen: this.cfg.listen };
    this.policy = new InboundPolicy(cfg.allow);
  }

  /** Control connections and public ports open now (the daemon's scrape). */
  get counts(): { controls: number; ports: number; pending: number } {
    return { controls: this.controls.size, ports: this.holders.size, pending: this.pending.size };
  }

  /**
   * A control connection whose first message was REGISTER (`ranges`, the CPE instance `owner`):
   * opens what is allowed, answers REGISTERED, then serves PING and REJECT until the connection
   * ends; resolves with why it ended. `rest`: bytes that came after the REGISTER.
   */
  async control(
    id: number,
    client: string,
    stream: ConnStream,
    owner: Uint8Array,
    ranges: PortRange[],
    rest: Buffer,
  ): Promise<string> {
    const ownerHex = Buffer.from(owner).toString('hex');
    // The same CPE again (restarted, or come back from another address) before the HAG saw its old
    // connection end: the id is a secret only it and the HAG know.
    for (const c of this.controls) if (c.owner === ownerHex) c.end('replaced');
    let end!: (reason: string) => void;
    const ended = new Promise<string>((resolve) => {
      end = resolve;
    });
    const ctl: Control = {
      id,
      client,
      owner: ownerHex,
      stream,
      ports: new Map(),
      servers: [],
      pending: 0,
      idle: undefined,
      closed: false,
      end: (reason) => this.close(ctl, reason, end),
    };
    this.controls.add(ctl);
    // Its end may come while the ports are opened (a reset closes at once; a FIN once read).
    stream.once('end', () => ctl.end('cpe-closed'));
    stream.once('close', () => ctl.end('cpe-closed'));
    const status = await this.open(ctl, ranges);
    if (ctl.closed) return ended;
    this.send(ctl, { type: 'registered', status });
    this.host.log.info(
      {
        event: 'inbound-registered',
        id,
        client,
        forwards: ranges.map((r, i) => ({ ports: portRangeText(r), status: forwardStatusName(status[i]) })),
      },
      `inbound ${id} from ${client}: ${
        ranges
          .filter((_, i) => status[i] === FORWARD_STATUS.ok)
          .map(portRangeText)
          .join(', ') || 'no ports'
      } open`,
    );
    const reader = new InboundReader();
    const onData = (b: Buffer) => {
      ctl.idle?.refresh();
      reader.push(b);
      for (let m = reader.next(); m && !ctl.closed; m = reader.next()) {
        if (m.type === 'ping') this.send(ctl, { type: 'pong' });
        else if (m.type === 'reject') this.rejected(ctl, Buffer.from(m.ticket).toString('hex'), m.reason);
        else {
          reader.error = `unexpected ${m.type} on the control connection`;
          break;
        }
      }
      if (reader.error && !ctl.closed) {
        this.host.refuse(client, 'malformed-message', { id, detail: reader.error });
        ctl.end('malformed-message');
      }
    };
    ctl.idle = setTimeout(() => ctl.end('idle'), this.cfg.idleTimeout);
    stream.on('data', onData);
    if (rest.length > 0) onData(rest);
    stream.resume();
    return ended;
  }

  /** The statuses of REGISTER's ranges; listens on those allowed. */
  private async open(ctl: Control, ranges: PortRange[]): Promise<number[]> {
    const client = parseIp(ctl.client)!;
    const status: number[] = [];
    let held = 0;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i];
      const size = r.last - r.first + 1;
      let s: number = FORWARD_STATUS.ok;
      if (
        r.first < 1 ||
        r.first > r.last ||
        ranges.some((o, j) => j < i && o.first <= r.last && r.first <= o.last)
      )
        s = FORWARD_STATUS.invalid;
      else if (!this.policy.allows(client, r)) s = FORWARD_STATUS.notAllowed;
      else if (held + size > this.cfg.maxPorts) s = FORWARD_STATUS.tooMany;
      else {
        for (let p = r.first; p <= r.last && s === FORWARD_STATUS.ok; p++)
          if (this.holders.has(p)) s = FORWARD_STATUS.inUse;
      }
      if (s === FORWARD_STATUS.ok) s = await this.listenRange(ctl, r, i);
      if (ctl.closed) return status;
      if (s === FORWARD_STATUS.ok) held += size;
      else
        this.host.refuse(ctl.client, `forward-${forwardStatusName(s)}`, {
          id: ctl.id,
          ports: portRangeText(r),
        });
      status.push(s);
    }
    return status;
  }

  /** Listens on every port of `r` on every public address; all or nothing. */
  private async listenRange(ctl: Control, r: PortRange, index: number): Promise<number> {
    const opened: net.Server[] = [];
    for (let p = r.first; p <= r.last; p++) {
      for (const address of this.cfg.listen) {
        const server = net.createServer(
          { allowHalfOpen: true, pauseOnConnect: true, noDelay: true },
          (sock) => this.incoming(ctl, p, sock),
        );
        const err = await new Promise<Error | undefined>((resolve) => {
          server.once('error', resolve);
          server.listen({ port: p, host: address, backlog: 128 }, () => resolve(undefined));
        });
        if (err) {
          this.host.log.warn(
            { event: 'inbound-listen-failed', id: ctl.id, address, port: p, error: err.message },
            `inbound ${ctl.id}: cannot listen on ${hostPort(address, p)}: ${err.message}`,
          );
          for (const s of opened) s.close();
          return FORWARD_STATUS.listenFailed;
        }
        server.on('error', () => {});
        opened.push(server);
      }
    }
    if (ctl.closed) {
      for (const s of opened) s.close();
      return FORWARD_STATUS.ok;
    }
    ctl.servers.push(...opened);
    for (let p = r.first; p <= r.last; p++) {
      ctl.ports.set(p, index);
      this.holders.set(p, ctl);
    }
    return FORWARD_STATUS.ok;
  }

  /** A client connected to public port `port`: held with a ticket, announced to the CPE. */
  private incoming(ctl: Control, port: number, socket: net.Socket): void {
    socket.on('error', () => {});
    const address = unmap(parseIp(socket.remoteAddress ?? '') ?? new Uint8Array(4));
    const peer = hostPort(formatIp(address), socket.remotePort ?? 0);
    if (ctl.closed || ctl.pending >= MAX_PENDING_PER_CONTROL) {
      if (!ctl.closed) this.host.metrics.inbound.inc({ result: 'too-many-pending' });
      resetSocket(socket);
      return;
    }
    ctl.pending++;
    const ticket = randomBytes(TICKET_BYTES);
    const hex = ticket.toString('hex');
    const timer = setTimeout(() => this.drop(hex, 'attach-timeout'), this.cfg.attachTimeout);
    this.pending.set(hex, { socket, control: ctl, port, peer, timer });
    socket.once('close', () => {
      if (this.pending.get(hex)?.socket === socket) this.drop(hex, 'client-gone');
    });
    this.host.metrics.inbound.inc({ result: 'offered' });
    this.send(ctl, {
      type: 'incoming',
      ticket,
      index: ctl.ports.get(port) ?? 0,
      port,
      address,
      peerPort: socket.remotePort ?? 0,
    });
  }

  /**
   * Writes `m` on the control connection; a CPE that leaves more than CONTROL_QUEUE_MAX unread
   * (pinging, say, without reading the pongs) is refused and its control closed.
   */
  private send(ctl: Control, m: InboundMessage): void {
    if (ctl.closed) return;
    ctl.stream.write(encodeInbound(m));
    if (ctl.stream.writableLength <= CONTROL_QUEUE_MAX) return;
    this.host.refuse(ctl.client, 'control-not-read', { id: ctl.id, queued: ctl.stream.writableLength });
    ctl.end('control-not-read');
  }

  /** The CPE's attach connection named `ticket`: the client waiting for it (now the caller's), if any. */
  take(ticket: Uint8Array): PendingInbound | undefined {
    const hex = Buffer.from(ticket).toString('hex');
    const p = this.pending.get(hex);
    if (!p) return undefined;
    this.pending.delete(hex);
    p.control.pending--;
    clearTimeout(p.timer);
    this.host.metrics.inbound.inc({ result: 'paired' });
    return p;
  }

  /** The CPE did not take an inbound connection: its client is reset. */
  private rejected(ctl: Control, hex: string, reason: number): void {
    const p = this.pending.get(hex);
    if (!p || p.control !== ctl) return;
    this.drop(hex, `cpe-rejected: ${rejectReasonName(reason)}`);
  }

  /** Resets a waiting client connection, logged and counted with why. */
  private drop(hex: string, why: string): void {
    const p = this.pending.get(hex);
    if (!p) return;
    this.pending.delete(hex);
    p.control.pending--;
    clearTimeout(p.timer);
    resetSocket(p.socket);
    this.host.metrics.inbound.inc({ result: why.split(':')[0] });
    this.host.log.warn(
      {
        event: 'inbound-dropped',
        id: p.control.id,
        client: p.control.client,
        peer: p.peer,
        port: p.port,
        reason: why,
      },
      `inbound ${p.control.id}: ${p.peer} to port ${p.port} reset: ${why}`,
    );
  }

  private close(ctl: Control, reason: string, resolve: (reason: string) => void): void {
    if (ctl.closed) return;
    ctl.closed = true;
    this.controls.delete(ctl);
    if (ctl.idle) clearTimeout(ctl.idle);
    for (const s of ctl.servers) s.close();
    for (const p of ctl.ports.keys()) if (this.holders.get(p) === ctl) this.holders.delete(p);
    for (const [hex, p] of this.pending) if (p.control === ctl) this.drop(hex, 'control-closed');
    if (reason !== 'cpe-closed') ctl.stream.destroy();
    else if (!ctl.stream.destroyed) ctl.stream.end();
    this.host.log.info(
      { event: 'inbound-closed', id: ctl.id, client: ctl.client, reason, ports: ctl.ports.size },
      `inbound ${ctl.id} from ${ctl.client} closed: ${reason}`,
    );
    resolve(reason);
  }

  /** Closes every control connection and listener (drain, stop). */
  stop(): void {
    for (const c of [...this.controls]) c.end('shutdown');
  }
}

/** decodeInbound in the shape HandshakeReader.read takes. */
export function parseInbound(b: Uint8Array) {
  const d = decodeInbound(b);
  if (d.kind === 'ok') return { kind: 'ok' as const, value: d.message, consumed: d.consumed };
  if (d.kind === 'incomplete') return d;
  return { kind: 'error' as const, error: { reason: d.reason } };
}
