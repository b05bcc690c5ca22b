// The CPE's control connection of inbound port forwarding (src/inbound/wire.ts): one MPTCP
// connection to the HAG's inbound port, opened by the path manager like any other (a subflow per
// usable uplink, so it lives on while one uplink does), which registers the forwards' public port
// ranges, and over which the HAG announces each client connection (INCOMING). It pings every
// keepalive (the carriers' NAT mappings of its subflows stay, and a HAG gone silent is noticed:
// three pings unanswered end it) and, once it ends or fails, is opened again after `retry`
// (doubling, up to 15 s; each delay jittered down by up to half). It reports to its owner; it
// never acts on a forward itself.
import type { Logger } from 'pino';
import {
  CONTROL_QUEUE_MAX,
  encodeInbound,
  INBOUND_VERSION,
  type InboundMessage,
  InboundReader,
  type PortRange,
} from '../../src/inbound/index.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { ConnStream } from '../../src/tcp/stream.js';
import type { HagLink } from './hag-link.js';
import { parseAddress } from './ip.js';

const RETRY_MAX_MS = 15_000;

export interface Incoming {
  ticket: Uint8Array;
  index: number;
  port: number;
  address: Uint8Array;
  peerPort: number;
}

/** What the control connection reports. */
export interface ControlOwner {
  /** The HAG answered the registration: a status per range (src/inbound FORWARD_STATUS). */
  registered(status: number[]): void;
  /** A client connected to a public port; `hag` is the HAG address to attach to. */
  incoming(m: Incoming, hag: string): void;
  /** The control connection ended or failed; it is tried again after a while. */
  down(reason: string): void;
}

export interface ControlOptions {
  port: number;
  keepaliveMs: number;
  retryMs: number;
  /** How long the HAG may take to answer the registration. */
  timeoutMs: number;
  ranges: PortRange[];
  /** This CPE's id (inbound-id.ts): a HAG that still holds an older control of ours replaces it. */
  owner: Uint8Array;
  /** The clock (ms): the daemon's performance.now(). */
  now: () => number;
  /** [0, 1): the retry delay's jitter (default Math.random). */
  random?: () => number;
}

export type ControlState = 'connecting' | 'up' | 'down' | 'stopped';

export class InboundControl {
  state: ControlState = 'down';
  reason = 'not started';
  since = Date.now();
  /** The HAG address of the current connection. */
  hag: string | undefined;
  private stream: ConnStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private lastHeard = 0;

  constructor(
    private readonly opts: ControlOptions,
    private readonly ep: MptcpEndpoint,
    private readonly pm: ClientPathManager,
    private readonly hagLink: HagLink,
    private readonly owner: ControlOwner,
    private readonly log: Logger,
  ) {
    this.retryMs = opts.retryMs;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    this.timer = undefined;
    if (this.state === 'stopped') return;
    const hag = this.hagLink.pick((a) => this.pm.initialAddress(parseAddress(a) as Uint8Array) !== undefined);
    const conn = this.pm.connect(this.opts.now(), parseAddress(hag) as Uint8Array, this.opts.port);
    if (!conn) {
      this.fail('no usable uplink');
      return;
    }
    this.hag = hag;
    this.set('connecting', '');
    const stream = new ConnStream(conn, this.ep);
    this.stream = stream;
    const reader = new InboundReader();
    stream.on('error', () => {});
    stream.on('data', (d: Buffer) => {
      this.lastHeard = this.opts.now();
      reader.push(d);
      for (let m = reader.next(); m && this.stream === stream; m = reader.next()) {
        if (m.type === 'registered') this.registered(m.status);
        else if (m.type === 'incoming') this.owner.incoming(m, hag);
        else if (m.type !== 'pong') reader.error = `unexpected ${m.type} from the HAG`;
      }
      if (reader.error && this.stream === stream)
        this.fail(`malformed message from the HAG: ${reader.error}`);
    });
    const ended = () => {
      if (this.stream === stream) this.fail('closed by the HAG');
    };
    stream.once('end', ended);
    stream.once('close', ended);
    this.send({
      type: 'register',
      version: INBOUND_VERSION,
      owner: this.opts.owner,
      ranges: this.opts.ranges,
    });
    this.ep.wake(conn);
    this.timer = setTimeout(
      () => this.fail(`no registration answer within ${this.opts.timeoutMs} ms`),
      this.opts.timeoutMs,
    );
  }

  private registered(status: number[]): void {
    if (this.timer) clearTimeout(this.timer);
    this.retryMs = this.opts.retryMs;
    this.set('up', '');
    this.log.info(
      { event: 'inbound-up', hag: this.hag, port: this.opts.port },
      `inbound control connection to the HAG ${this.hag} is up`,
    );
    this.owner.registered(status);
    this.timer = setInterval(() => this.keepalive(), this.opts.keepaliveMs);
  }

  /** A ping, unless three went unanswered: then the HAG is gone. */
  private keepalive(): void {
    if (this.opts.now() - this.lastHeard > 3 * this.opts.keepaliveMs + 1000) {
      this.fail('no answer to 3 keepalives');
      return;
    }
    this.send({ type: 'ping' });
  }

  /** Tells the HAG to reset the client of `ticket` (why: src/inbound REJECT_REASON). */
  reject(ticket: Uint8Array, reason: number): void {
    this.send({ type: 'reject', ticket, reason });
  }

  /**
   * Writes `m` on the current connection; a HAG that leaves more than CONTROL_QUEUE_MAX unread (a
   * flood of INCOMINGs, each answered with REJECT, say) fails it.
   */
  private send(m: InboundMessage): void {
    const s = this.stream;
    if (!s) return;
    s.write(encodeInbound(m));
    if (s.writableLength > CONTROL_QUEUE_MAX)
      this.fail(`the HAG leaves its control connection unread (${s.writableLength} bytes queued)`);
  }

  private set(state: ControlState, reason: string): void {
    if (state !== this.state) this.since = Date.now();
    this.state = state;
    this.reason = reason;
  }

  private fail(reason: string): void {
    if (this.state === 'stopped') return;
    this.close();
    const wasUp = this.state === 'up';
    this.set('down', reason);
    // Somewhere in [retry/2, retry): the CPEs that lost their controls at once (a HAG restart or
    // drain) do not all come back in the same instant, nor again in step at each doubling.
    const delay = Math.round(this.retryMs * (1 - (this.opts.random ?? Math.random)() / 2));
    this.log[wasUp ? 'warn' : 'info'](
      { event: 'inbound-down', hag: this.hag, reason, retryMs: delay },
      `inbound control connection down (${reason}); again in ${delay} ms`,
    );
    this.owner.down(reason);
    this.timer = setTimeout(() => this.connect(), delay);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private close(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      clearInterval(this.timer);
    }
    this.timer = undefined;
    const s = this.stream;
    this.stream = undefined;
    s?.destroy();
  }

  stop(): void {
    this.close();
    this.set('stopped', 'stopped');
  }
}
