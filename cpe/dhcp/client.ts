// DHCP client for one uplink interface (RFC 2131 4.4): INIT -> SELECTING -> REQUESTING -> BOUND ->
// RENEWING (T1) -> REBINDING (T2) -> lease lost, with the broadcast flag set, options 50 and 54 in
// the REQUEST, randomised exponential backoff, and NAK handling. Emits 'bound', 'renewed', 'lost'.
// It only talks DHCP: the caller puts the address on the interface (see applyLeaseCommands).
// The clock and the transport are injectable, so the state machine runs in virtual time in tests.
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { type Logger, pino } from 'pino';
import { type ClientTransport, RawUdpTransport } from './raw-udp.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  blank,
  type DhcpMessage,
  describeWireError,
  emit,
  encode,
  FLAG_BROADCAST,
  MessageType,
  maskToPrefix,
  messageType,
  Opt,
  optIp,
  optIps,
  optString,
  optU32,
  parse,
} from './wire.js';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DhcpLease {
  address: string;
  prefixLength: number;
  routers: string[];
  dns: string[];
  domain?: string;
  serverId: string;
  /** Seconds, as granted. */
  leaseTime: number;
  t1: number;
  t2: number;
  /** ms since the epoch (by the client's clock). */
  obtainedAt: number;
  expiresAt: number;
}

export type ClientState =
  | 'init'
  | 'selecting'
  | 'requesting'
  | 'bound'
  | 'renewing'
  | 'rebinding'
  | 'stopped';

export interface DhcpClientOptions {
  interface: string;
  /** Hardware address; default: read from /sys/class/net/<interface>/address. */
  mac?: string;
  hostname?: string;
  /** An address to ask for first (option 50 in DISCOVER), e.g. the last lease's. */
  requestedAddress?: string;
  /** First retransmission delay, ms (RFC 2131 4.1: 4 s), doubled up to maxBackoffMs (64 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** REQUESTs sent in REQUESTING before starting over (default 4). */
  requestAttempts?: number;
  /** RFC 2131 4.4.5: least wait between RENEWING/REBINDING retransmissions, ms (60 s). */
  minRenewRetryMs?: number;
  logger?: Logger;
  clock?: Clock;
  transport?: ClientTransport;
  /** Randomisation of backoff delays, -1..1 (RFC 2131 4.1: +-1 s); default Math.random based. */
  jitter?: () => number;
}

export interface DhcpClientEvents {
  bound: [lease: DhcpLease];
  renewed: [lease: DhcpLease];
  lost: [lease: DhcpLease, reason: string];
  state: [state: ClientState];
}

const ZERO = '0.0.0.0';
const BROADCAST = '255.255.255.255';
/** RFC 2132 9.8: what the client asks for. */
const PARAMS = [Opt.SUBNET_MASK, Opt.ROUTER, Opt.DNS, Opt.DOMAIN_NAME, Opt.LEASE_TIME, Opt.T1, Opt.T2];

export class DhcpClient extends EventEmitter<DhcpClientEvents> {
  readonly mac: string;
  readonly #opts: DhcpClientOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #transport: ClientTransport;
  #state: ClientState = 'stopped';
  #xid = 0;
  #timer: unknown;
  #attempt = 0;
  #startedAt = 0;
  #offer: { address: string; serverId: string } | undefined;
  #lease: DhcpLease | undefined;
  #phaseTimers: unknown[] = [];

  constructor(opts: DhcpClientOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? pino({ name: 'dhcp-client' })).child({
      module: 'dhcp-client',
      interface: opts.interface,
    });
    this.#clock = opts.clock ?? realClock;
    this.mac = (opts.mac ?? readFileSync(`/sys/class/net/${opts.interface}/address`, 'utf8'))
      .trim()
      .toLowerCase();
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(this.mac)) throw new TypeError(`bad MAC address ${this.mac}`);
    this.#transport = opts.transport ?? new RawUdpTransport(opts.interface, this.#log);
    this.#transport.onMessage((buf) => this.#receive(buf));
  }

  get state(): ClientState {
    return this.#state;
  }

  get lease(): DhcpLease | undefined {
    return this.#lease;
  }

  /** Starts from INIT (RFC 2131 4.4.1). */
  start(): void {
    if (this.#state !== 'stopped') return;
    this.#init();
  }

  /** Stops without telling the server (the lease stays valid there). */
  stop(): void {
    this.#clearAll();
    this.#setState('stopped');
    this.#transport.close();
  }

  /** RFC 2131 4.4.6: gives the address back (unicast DHCPRELEASE to the server), then stops. */
  release(): void {
    const l = this.#lease;
    if (l && (this.#state === 'bound' || this.#state === 'renewing' || this.#state === 'rebinding')) {
      const m = this.#message(MessageType.RELEASE, l.address);
      m.options.set(Opt.SERVER_ID, encode.ip(l.serverId));
      this.#send(m, l.address, l.serverId);
      this.#log.info({ address: l.address, server: l.serverId }, 'lease released');
    }
    this.#lease = undefined;
    this.stop();
  }

  #setState(s: ClientState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  #clearAll(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const t of this.#phaseTimers) this.#clock.clearTimeout(t);
    this.#phaseTimers = [];
  }

  #newXid(): void {
    this.#xid = (Math.random() * 0x100000000) >>> 0;
  }

  /** RFC 2131 4.1: 4 s, 8 s, 16 s ... up to 64 s, each randomised by up to +-1 s. */
  #backoff(attempt: number): number {
    const base = this.#opts.initialBackoffMs ?? 4000;
    const d = Math.min(base * 2 ** attempt, this.#opts.maxBackoffMs ?? 64_000);
    const j = (this.#opts.jitter ?? (() => Math.random() * 2 - 1))();
    return Math.max(base / 2, d + j * Math.min(1000, base / 4));
  }

  #message(type: MessageType, ciaddr = ZERO): DhcpMessage {
    const m = blank(BOOTREQUEST, this.#xid, this.mac);
    m.ciaddr = ciaddr;
    // RFC 2131 4.1: 'secs' is the time since the client began acquisition or renewal.
    m.secs = Math.min(0xffff, Math.floor((this.#clock.now() - this.#startedAt) / 1000));
    m.options.set(Opt.MESSAGE_TYPE, encode.u8(type));
    // RFC 2132 9.14: client identifier, type 1 (Ethernet) + MAC.
    m.options.set(
      Opt.CLIENT_ID,
      Buffer.concat([Buffer.from([1]), Buffer.from(this.mac.replace(/:/g, ''), 'hex')]),
    );
    if (type !== MessageType.RELEASE && type !== MessageType.DECLINE) {
      m.options.set(Opt.PARAM_LIST, encode.bytes(PARAMS));
      m.options.set(Opt.MAX_SIZE, encode.u16(1500));
      if (this.#opts.hostname) m.options.set(Opt.HOSTNAME, encode.str(this.#opts.hostname));
    }
    return m;
  }

  #send(m: DhcpMessage, src: string, dst: string): void {
    this.#transport.send(emit(m), src, dst);
  }

  // INIT / SELECTING: DHCPDISCOVER with retransmission until an OFFER comes.

  #init(): void {
    this.#clearAll();
    this.#lease = undefined;
    this.#offer = undefined;
    this.#newXid();
    this.#attempt = 0;
    this.#startedAt = this.#clock.now();
    this.#setState('selecting');
    this.#discover();
  }

  #discover(): void {
    const m = this.#message(MessageType.DISCOVER);
    // The broadcast flag: the client cannot receive unicast before it has an address (RFC 2131 4.1).
    m.flags = FLAG_BROADCAST;
    if (this.#opts.requestedAddress) m.options.set(Opt.REQUESTED_IP, encode.ip(this.#opts.requestedAddress));
    this.#send(m, ZERO, BROADCAST);
    const wait = this.#backoff(this.#attempt++);
    this.#log.debug(
      { xid: this.#xid, attempt: this.#attempt, nextInMs: Math.round(wait) },
      'DHCPDISCOVER sent',
    );
    this.#timer = this.#clock.setTimeout(() => this.#discover(), wait);
  }

  // REQUESTING: DHCPREQUEST with options 50 and 54 (RFC 2131 4.3.2 table 5, SELECTING).

  #request(): void {
    const o = this.#offer!;
    if (this.#attempt >= (this.#opts.requestAttempts ?? 4)) {
      this.#log.warn({ server: o.serverId, address: o.address }, 'no ACK to DHCPREQUEST: starting over');
      this.#init();
      return;
    }
    const m = this.#message(MessageType.REQUEST);
    m.flags = FLAG_BROADCAST;
    m.options.set(Opt.REQUESTED_IP, encode.ip(o.address));
    m.options.set(Opt.SERVER_ID, encode.ip(o.serverId));
    this.#send(m, ZERO, BROADCAST);
    this.#timer = this.#clock.setTimeout(() => this.#request(), this.#backoff(this.#attempt++));
  }

  // RENEWING / REBINDING: ciaddr set, no options 50/54 (RFC 2131 4.3.2 table 5); unicast to the
  // server while renewing, broadcast while rebinding; retransmit after half the remaining time to
  // T2 (renewing) or to the lease's end (rebinding), at least minRenewRetryMs (RFC 2131 4.4.5).

  #renewTick(): void {
    const l = this.#lease!;
    const now = this.#clock.now();
    const renewing = this.#state === 'renewing';
    const m = this.#message(MessageType.REQUEST, l.address);
    this.#send(m, l.address, renewing ? l.serverId : BROADCAST);
    const until = renewing ? l.obtainedAt + l.t2 * 1000 : l.expiresAt;
    const wait = Math.max((until - now) / 2, this.#opts.minRenewRetryMs ?? 60_000);
    if (now + wait < until) this.#timer = this.#clock.setTimeout(() => this.#renewTick(), wait);
  }

  #receive(buf: Buffer): void {
    if (this.#state === 'stopped') return;
    const r = parse(buf);
    if (!r.ok) {
      this.#log.warn({ error: r.error }, `malformed DHCP reply dropped: ${describeWireError(r.error)}`);
      return;
    }
    const m = r.msg;
    // RFC 2131 4.4.1: replies are matched by xid and chaddr.
    if (m.op !== BOOTREPLY || m.xid !== this.#xid || m.chaddr !== this.mac) return;
    const type = messageType(m);
    const serverId = optIp(m, Opt.SERVER_ID);
    if (serverId === undefined) {
      this.#log.warn({ type: MessageType[type] }, 'DHCP reply without server id (option 54) ignored');
      return;
    }
    if (type === MessageType.OFFER && this.#state === 'selecting') {
      if (m.yiaddr === ZERO) {
        this.#log.warn({ server: serverId }, 'DHCPOFFER without an address ignored');
        return;
      }
      // RFC 2131 4.4.1: the client may take the first offer.
      this.#clearAll();
      this.#offer = { address: m.yiaddr, serverId };
      this.#attempt = 0;
      this.#setState('requesting');
      this.#log.info({ address: m.yiaddr, server: serverId }, 'DHCPOFFER accepted');
      this.#request();
    } else if (type === MessageType.ACK && this.#state !== 'selecting') {
      this.#ack(m, serverId);
    } else if (type === MessageType.NAK && this.#state !== 'selecting') {
      // RFC 2131 4.4.1/4.4.5: a NAK sends the client back to INIT.
      const reason = optString(m, Opt.MESSAGE) ?? 'no reason given';
      this.#log.warn({ server: serverId, reason }, 'DHCPNAK received: starting over');
      const lost = this.#lease;
      this.#clearAll();
      if (lost) this.emit('lost', lost, `NAK from ${serverId}: ${reason}`);
      this.#init();
    }
  }

  #ack(m: DhcpMessage, serverId: string): void {
    const address = this.#state === 'requesting' ? this.#offer!.address : this.#lease!.address;
    if (m.yiaddr !== address) {
      this.#log.warn({ got: m.yiaddr, expected: address }, 'DHCPACK for another address ignored');
      return;
    }
    const leaseTime = optU32(m, Opt.LEASE_TIME);
    if (leaseTime === undefined) {
      this.#log.warn({ server: serverId }, 'DHCPACK without lease time (option 51) ignored');
      return;
    }
    const mask = optIp(m, Opt.SUBNET_MASK);
    const now = this.#clock.now();
    // RFC 2131 4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease; keep T1 <= T2 <= lease.
    const lt = leaseTime === 0xffffffff ? 0x7fffffff : leaseTime;
    let t2 = optU32(m, Opt.T2) ?? Math.floor(lt * 0.875);
    if (t2 > lt) t2 = Math.floor(lt * 0.875);
    let t1 = optU32(m, Opt.T1) ?? Math.floor(lt * 0.5);
    if (t1 > t2) t1 = Math.floor(t2 * 0.5);
    const lease: DhcpLease = {
      address,
      prefixLength: mask ? maskToPrefix(mask) : 24,
      routers: optIps(m, Opt.ROUTER),
      dns: optIps(m, Opt.DNS),
      serverId,
      leaseTime: lt,
      t1,
      t2,
      obtainedAt: this.#startedAt,
      expiresAt: this.#startedAt + lt * 1000,
    };
    const domain = optString(m, Opt.DOMAIN_NAME);
    if (domain) lease.domain = domain;
    const renewal = this.#state === 'renewing' || this.#state === 'rebinding';
    this.#clearAll();
    this.#lease = lease;
    this.#setState('bound');
    this.#log.info(
      { address, server: serverId, leaseTime: lt, t1, t2 },
      renewal ? 'lease renewed' : 'lease bound',
    );
    // RFC 2131 4.4.5: times are counted from when the request was sent.
    const at = (t: number) => Math.max(0, this.#startedAt + t - now);
    this.#phaseTimers.push(
      this.#clock.setTimeout(() => this.#enter('renewing'), at(t1 * 1000)),
      this.#clock.setTimeout(() => this.#enter('rebinding'), at(t2 * 1000)),
      this.#clock.setTimeout(() => this.#expire(), at(lt * 1000)),
    );
    this.emit(renewal ? 'renewed' : 'bound', lease);
  }

  #enter(state: 'renewing' | 'rebinding'): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#newXid();
    this.#startedAt = this.#clock.now();
    this.#setState(state);
    this.#log.info(
      { address: this.#lease?.address },
      state === 'renewing' ? 'T1: renewing' : 'T2: rebinding',
    );
    this.#renewTick();
  }

  #expire(): void {
    const l = this.#lease!;
    this.#log.warn({ address: l.address }, 'lease expired without renewal: lost');
    this.#clearAll();
    this.emit('lost', l, 'lease expired');
    this.#init();
  }
}

/**
 * ip(8) commands that put a lease on the interface (address with the lease's lifetime, replacing the
 * previous one if it changed). Other routes are left to cpe/net (policy routing per uplink); with
 * `noPrefixRoute` the kernel adds no route to the subnet in the main table either (the daemon puts
 * it in the uplink's table: two uplinks on the same subnet would collide in main).
 */
export function applyLeaseCommands(
  ifname: string,
  lease: DhcpLease,
  previous?: DhcpLease,
  opts: { noPrefixRoute?: boolean } = {},
): string[][] {
  const cmds: string[][] = [];
  if (previous && previous.address !== lease.address) {
    cmds.push(['ip', 'addr', 'del', `${previous.address}/${previous.prefixLength}`, 'dev', ifname]);
  }
  const lft = String(lease.leaseTime);
  cmds.push([
    'ip',
    'addr',
    'replace',
    `${lease.address}/${lease.prefixLength}`,
    'dev',
    ifname,
    'valid_lft',
    lft,
    'preferred_lft',
    lft,
    ...(opts.noPrefixRoute ? ['noprefixroute'] : []),
  ]);
  return cmds;
}

/** ip(8) commands that remove a lost lease's address. */
export function removeLeaseCommands(ifname: string, lease: DhcpLease): string[][] {
  return [['ip', 'addr', 'del', `${lease.address}/${lease.prefixLength}`, 'dev', ifname]];
}
