// The CPE's LAN DHCP server: UDP sockets on port 67, the wire module for parsing and emitting, the
// protocol engine for decisions, the lease file for persistence, pino for every refusal. Two sockets:
// one on 0.0.0.0:67 receives broadcasts; one bound to the server address sends (Linux routes a
// limited broadcast from a bound source out of that source's interface, so replies leave on the LAN
// even when the default route points at an uplink) and receives unicast renewals.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { renameSync } from 'node:fs';
import { type Logger, pino } from 'pino';
import { DhcpEngine, type DhcpServerConfig, type Outcome } from './engine.js';
import { loadLeases, saveLeases } from './lease-file.js';
import type { Lease } from './leases.js';
import { describeWireError, emit, MessageType, parse, SERVER_PORT } from './wire.js';

export interface DhcpServerOptions extends DhcpServerConfig {
  /** JSON lease file; without it leases live in memory only. */
  leaseFile?: string;
  logger?: Logger;
  /** Server port (default 67) and the port replies go to (default 68); for tests. */
  port?: number;
  clientPort?: number;
  /** How often expired leases are swept, ms (default 1000). */
  sweepMs?: number;
}

export interface DhcpServerEvents {
  bound: [lease: Lease];
  released: [lease: Lease];
  declined: [address: string, mac: string];
  expired: [lease: Lease];
  error: [err: Error];
}

export class DhcpServer extends EventEmitter<DhcpServerEvents> {
  readonly engine: DhcpEngine;
  readonly #opts: DhcpServerOptions;
  readonly #log: Logger;
  #rx: Socket | undefined;
  #tx: Socket | undefined;
  #sweep: NodeJS.Timeout | undefined;
  /** Counters of what happened, by event name and refusal. */
  readonly counters = {
    received: 0,
    malformed: 0,
    offer: 0,
    ack: 0,
    nak: 0,
    release: 0,
    decline: 0,
    inform: 0,
    ignored: 0,
  };

  private constructor(opts: DhcpServerOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? pino({ name: 'dhcp-server' })).child({ module: 'dhcp-server' });
    this.engine = new DhcpEngine(opts);
  }

  /** Loads the lease file, binds the sockets and starts serving. Throws on bad config or bind errors. */
  static async start(opts: DhcpServerOptions): Promise<DhcpServer> {
    const s = new DhcpServer(opts);
    s.#restore();
    try {
      await s.#bind();
    } catch (e) {
      await s.close();
      throw e;
    }
    s.#sweep = setInterval(() => s.#expire(Date.now()), opts.sweepMs ?? 1000);
    s.#sweep.unref();
    s.#log.info(
      { serverId: opts.serverId, subnet: opts.subnet, leases: s.engine.leases.all().length },
      'DHCP server listening',
    );
    return s;
  }

  get leases(): Lease[] {
    return this.engine.leases.snapshot();
  }

  #restore(): void {
    const path = this.#opts.leaseFile;
    if (path === undefined) return;
    const r = loadLeases(path);
    if (!r.ok) {
      // Keep the unreadable file for inspection and start empty rather than refuse to serve the LAN.
      const aside = `${path}.corrupt-${Date.now()}`;
      try {
        renameSync(path, aside);
      } catch {
        /* unreadable and unmovable: it will be overwritten */
      }
      this.#log.error(
        { leaseFile: path, movedTo: aside, error: r.error },
        'lease file unusable; starting with no leases',
      );
      return;
    }
    const rejected = this.engine.leases.restore(r.leases);
    for (const l of rejected)
      this.#log.warn({ lease: l }, 'lease from the lease file dropped: outside the subnet');
    this.#expire(Date.now());
  }

  async #bind(): Promise<void> {
    const port = this.#opts.port ?? SERVER_PORT;
    const open = (address: string) =>
      new Promise<Socket>((resolve, reject) => {
        const sock = createSocket({ type: 'udp4', reuseAddr: true });
        sock.once('error', reject);
        sock.bind({ port, address }, () => {
          sock.off('error', reject);
          sock.setBroadcast(true);
          sock.on('error', (e) => this.#socketError(e));
          sock.on('message', (buf, rinfo) => this.#onMessage(buf, rinfo));
          resolve(sock);
        });
      });
    this.#rx = await open('0.0.0.0');
    this.#tx = await open(this.#opts.serverId);
  }

  #socketError(e: Error): void {
    this.#log.error({ err: e }, 'DHCP socket error');
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  #onMessage(buf: Buffer, rinfo: RemoteInfo): void {
    this.counters.received++;
    const r = parse(buf);
    if (!r.ok) {
      this.counters.malformed++;
      this.#log.warn(
        { from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length, error: r.error },
        `malformed DHCP message dropped: ${describeWireError(r.error)}`,
      );
      return;
    }
    const now = Date.now();
    const out = this.engine.handle(r.msg, now);
    this.#apply(out, MessageType[r.msg.options.get(53)![0]] ?? 'unknown');
  }

  /** Sends the reply, logs, persists and emits for one engine outcome. */
  #apply(out: Outcome, received: string): void {
    this.counters[out.event]++;
    const fields = { received, mac: out.mac, address: out.address, reason: out.reason };
    if (out.event === 'ignored') this.#log.warn(fields, `DHCP ${received} ignored: ${out.reason}`);
    else if (out.event === 'nak') this.#log.warn(fields, `DHCP ${received} refused with NAK: ${out.reason}`);
    else if (out.event === 'decline')
      this.#log.warn(fields, `address ${out.address} declined by ${out.mac}: quarantined`);
    else this.#log.info(fields, `DHCP ${received} -> ${out.event}`);
    if (out.reply && this.#tx) {
      const bytes = emit(out.reply.msg);
      this.#tx.send(bytes, this.#opts.clientPort ?? out.reply.port, out.reply.to, (err) => {
        if (err) this.#log.error({ err, to: out.reply?.to }, 'DHCP reply not sent');
      });
    }
    if (out.changed && out.event !== 'offer') this.#persist();
    const lease = out.address ? this.engine.leases.get(out.address) : undefined;
    if (out.event === 'ack' && lease) this.emit('bound', { ...lease });
    else if (out.event === 'release' && lease) this.emit('released', { ...lease });
    else if (out.event === 'decline' && out.address) this.emit('declined', out.address, out.mac);
  }

  #expire(now: number): void {
    const changed = this.engine.leases.expire(now);
    if (changed.length === 0) return;
    for (const l of changed) {
      if (l.state === 'expired') {
        this.#log.info({ mac: l.mac, address: l.address }, 'lease expired');
        this.emit('expired', { ...l });
      } else this.#log.info({ address: l.address }, 'quarantine over');
    }
    this.#persist();
  }

  #persist(): void {
    const path = this.#opts.leaseFile;
    if (path === undefined) return;
    try {
      saveLeases(path, this.engine.leases.snapshot());
    } catch (e) {
      this.#log.error({ err: e, leaseFile: path }, 'lease file not written');
    }
  }

  /** Stops serving; the lease file is written one last time. Idempotent. */
  async close(): Promise<void> {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    const socks = [this.#rx, this.#tx].filter((s): s is Socket => s !== undefined);
    this.#rx = this.#tx = undefined;
    await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
    if (socks.length > 0) this.#persist();
  }
}
