// Health probe for one uplink: every interval a round of ICMP echoes (RFC 792) or ICMPv6 echoes
// (RFC 4443), one to each configured target with the round's sequence number, through a raw socket
// bound to the uplink's interface (SO_BINDTODEVICE), so the echoes leave by that uplink whatever the
// routing says. The first reply within the timeout makes the round a success (its RTT is smoothed):
// one target being away does not fail a line that reaches the others. A round fails when the timeout
// passes without a reply or every target gave an ICMP error or a send error. The HealthMachine
// turns rounds into 'up' and 'down' events with reasons (a reply too can bring 'down': RTT too high). Clock and socket are injectable for tests.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { type Logger, pino } from 'pino';
import { bindToDevice, raw } from '../net/raw-socket.js';
import { type Health, type HealthConfig, HealthMachine, type HealthReason } from './health.js';
import { echoRequest, type Family, type IcmpResult, readV4, readV6 } from './icmp.js';

export interface ProbeClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realProbeClock: ProbeClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What the probe needs from a socket (a raw ICMP socket bound to the uplink). */
export interface ProbeSocket {
  send(packet: Buffer, target: string, done: (err: Error | null) => void): void;
  onMessage(fn: (packet: Buffer, source: string) => void): void;
  close(): void;
}

export interface ProbeOptions extends HealthConfig {
  /** The uplink's interface. */
  interface: string;
  /** IPv4 or IPv6 address to ping. */
  target: string;
  /** More addresses of the same family, pinged in the same rounds. */
  targets?: readonly string[];
  /** Between echo requests, ms (default 1000). */
  intervalMs?: number;
  /** How long to wait for the reply, ms (default 1000). */
  timeoutMs?: number;
  /** Name in logs and events (default: the interface). */
  name?: string;
  logger?: Logger;
  clock?: ProbeClock;
  /** Default: a raw ICMP/ICMPv6 socket bound to `interface`. */
  socket?: ProbeSocket;
  /** Echo identifier (default random). */
  id?: number;
}

export interface ProbeStatus {
  name: string;
  state: Health;
  srttMs: number | undefined;
  rttvarMs: number | undefined;
  lastFailure: string | undefined;
  sent: number;
  received: number;
  failed: number;
  /** Share of the last window's rounds that were lost. */
  loss: number;
}

export interface ProbeEvents {
  up: [info: { name: string; kind: HealthReason; reason: string; srttMs: number | undefined }];
  down: [info: { name: string; kind: HealthReason; reason: string }];
  /** Every probe result. */
  result: [r: { ok: true; rttMs: number; srttMs: number } | { ok: false; reason: string }];
}

/** A raw ICMP (v4) or ICMPv6 socket bound to `ifname`. Throws if it cannot be opened or bound. */
export function rawIcmpSocket(family: Family, ifname: string): ProbeSocket {
  const sock = raw.createSocket(
    family === 4
      ? { protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 }
      : { protocol: raw.Protocol.ICMPv6, addressFamily: raw.AddressFamily.IPv6 },
  );
  try {
    bindToDevice(sock, ifname);
  } catch (e) {
    sock.close();
    throw e;
  }
  let handler: ((p: Buffer, s: string) => void) | undefined;
  sock.on('message', (buf, source) => handler?.(buf, source));
  sock.on('error', () => {
    /* send errors also reach the send callback; receive errors end in close */
  });
  return {
    send: (packet, target, done) => {
      sock.send(packet, 0, packet.length, target, (err) => done(err));
    },
    onMessage: (fn) => {
      handler = fn;
    },
    close: () => {
      handler = undefined;
      sock.close();
    },
  };
}

export class UplinkProbe extends EventEmitter<ProbeEvents> {
  readonly name: string;
  readonly family: Family;
  readonly health: HealthMachine;
  readonly #opts: ProbeOptions;
  readonly #log: Logger;
  readonly #clock: ProbeClock;
  readonly #id: number;
  readonly #targets: readonly string[];
  #socket: ProbeSocket | undefined;
  #seq = 0;
  #tick: unknown;
  /** Outstanding rounds: sequence -> send time, timeout timer, targets that have not failed yet. */
  readonly #pending = new Map<number, { at: number; timer: unknown; left: number }>();
  #sent = 0;
  #received = 0;
  #failed = 0;

  constructor(opts: ProbeOptions) {
    super();
    const family = isIP(opts.target);
    if (family !== 4 && family !== 6) throw new TypeError(`probe target ${opts.target} is not an IP address`);
    this.family = family;
    this.#targets = [...new Set([opts.target, ...(opts.targets ?? [])].map((t) => t.toLowerCase()))];
    for (const t of this.#targets)
      if (isIP(t) !== family) throw new TypeError(`probe target ${t} is not an IPv${family} address`);
    this.#opts = opts;
    this.name = opts.name ?? opts.interface;
    this.#log = (opts.logger ?? pino({ name: 'probe' })).child({
      module: 'probe',
      uplink: this.name,
      target: opts.target,
    });
    this.#clock = opts.clock ?? realProbeClock;
    this.#id = (opts.id ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    this.health = new HealthMachine(opts);
  }

  /** Opens the socket (unless one was given) and sends the first echo at once. */
  start(): void {
    if (this.#socket) return;
    this.#socket = this.#opts.socket ?? rawIcmpSocket(this.family, this.#opts.interface);
    this.#socket.onMessage((buf, source) => this.#receive(buf, source));
    this.#send();
  }

  stop(): void {
    if (this.#tick !== undefined) this.#clock.clearTimeout(this.#tick);
    this.#tick = undefined;
    for (const p of this.#pending.values()) this.#clock.clearTimeout(p.timer);
    this.#pending.clear();
    this.#socket?.close();
    this.#socket = undefined;
  }

  status(): ProbeStatus {
    return {
      name: this.name,
      state: this.health.state,
      srttMs: this.health.srtt,
      rttvarMs: this.health.rttvar,
      lastFailure: this.health.lastFailure,
      sent: this.#sent,
      received: this.#received,
      failed: this.#failed,
      loss: this.health.loss,
    };
  }

  #send(): void {
    const sock = this.#socket;
    if (!sock) return;
    this.#tick = this.#clock.setTimeout(() => this.#send(), this.#opts.intervalMs ?? 1000);
    this.#seq = (this.#seq + 1) & 0xffff;
    const seq = this.#seq;
    const at = this.#clock.now();
    const timeout = this.#opts.timeoutMs ?? 1000;
    const timer = this.#clock.setTimeout(() => {
      if (this.#pending.delete(seq)) this.#fail(`no echo reply within ${timeout} ms`);
    }, timeout);
    this.#pending.set(seq, { at, timer, left: this.#targets.length });
    this.#sent++;
    const packet = echoRequest(this.family, this.#id, seq);
    for (const target of this.#targets)
      sock.send(packet, target, (err) => {
        if (err) this.#targetFailed(seq, `send failed: ${err.message}`);
      });
  }

  /** One target of round `seq` failed; the round fails when none is left. */
  #targetFailed(seq: number, reason: string): void {
    const p = this.#pending.get(seq);
    if (!p || --p.left > 0) return;
    this.#clock.clearTimeout(p.timer);
    this.#pending.delete(seq);
    this.#fail(reason);
  }

  #receive(buf: Buffer, source: string): void {
    const r: IcmpResult = this.family === 4 ? readV4(buf) : readV6(buf, source);
    if (!r.ok) {
      this.#log.debug({ error: r.error }, 'ICMP packet dropped');
      return;
    }
    const m = r.read;
    if (m.kind === 'other' || m.id !== this.#id) return;
    const p = this.#pending.get(m.seq);
    if (!p) return; // late (already timed out) or a duplicate
    if (m.kind === 'reply') {
      // RFC 792: the reply comes from the address the request was sent to.
      if (!this.#targets.includes(m.from.toLowerCase())) return;
      this.#clock.clearTimeout(p.timer);
      this.#pending.delete(m.seq);
      this.#received++;
      this.#ok(this.#clock.now() - p.at);
    } else {
      this.#targetFailed(m.seq, `${m.reason} from ${m.from}`);
    }
  }

  #ok(rttMs: number): void {
    const t = this.health.success(rttMs);
    this.emit('result', { ok: true, rttMs, srttMs: this.health.srtt! });
    if (!t) return;
    // A reply can also make the line down: the window's mean RTT passed the limit.
    if (t.to === 'down') {
      this.#down(t.kind, t.reason);
      return;
    }
    this.#log.info({ reason: t.reason, srttMs: this.health.srtt }, `uplink ${this.name} up`);
    this.emit('up', { name: this.name, kind: t.kind, reason: t.reason, srttMs: this.health.srtt });
  }

  #down(kind: HealthReason, reason: string): void {
    this.#log.warn({ reason }, `uplink ${this.name} down`);
    this.emit('down', { name: this.name, kind, reason });
  }

  #fail(reason: string): void {
    this.#failed++;
    const t = this.health.failure(reason);
    this.emit('result', { ok: false, reason });
    this.#log.debug({ reason }, 'probe failed');
    if (t) this.#down(t.kind, t.reason);
  }
}
