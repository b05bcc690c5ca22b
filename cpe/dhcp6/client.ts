// DHCPv6 client for one uplink interface (RFC 8415 18.2): Solicit (collecting Advertises during the
// first retransmission time, 18.2.1) -> Request -> bound -> Renew at T1 -> Rebind at T2 -> lease
// lost at the end of the valid lifetime; Release at stop (18.2.7). It asks for an address (IA_NA)
// and/or a delegated prefix (IA_PD, with a length hint). Retransmission as in RFC 8415 15 with the
// constants of 7.6. It only talks DHCPv6: the caller puts the address on the interface and the
// prefix on the LAN. DHCPv6 gives no route: the default router comes from the link's RAs. Emits
// 'bound', 'renewed', 'lost'. The clock and the transport are injectable (tests in virtual time).
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { type Logger, pino } from 'pino';
import { type Clock, realClock } from '../dhcp/client.js';
import type { Dhcp6Transport } from './udp6.js';
import {
  type Dhcp6Message,
  dnsServers,
  duidLl,
  emit6,
  encodeIaNa,
  encodeIaPd,
  encodeOption,
  type IaAddress,
  type IaPrefix,
  iaNas,
  iaPds,
  Msg,
  Opt6,
  option,
  parse6,
  preference,
  Status,
  statusOf,
  u16,
} from './wire.js';

export interface Dhcp6Lease {
  /** The server's DUID, hex. */
  serverId: string;
  address: IaAddress | undefined;
  prefix: IaPrefix | undefined;
  dns: string[];
  /** Seconds (RFC 8415 21.4: chosen by the client when the server leaves them 0). */
  t1: number;
  t2: number;
  /** ms by the client's clock: when the Request/Renew/Rebind that got this Reply was first sent. */
  obtainedAt: number;
  /** When the last of the lease's valid lifetimes ends. */
  expiresAt: number;
}

export type Client6State = 'soliciting' | 'requesting' | 'bound' | 'renewing' | 'rebinding' | 'stopped';

export interface Dhcp6ClientOptions {
  interface: string;
  /** Hardware address (the DUID-LL); default: read from /sys/class/net/<interface>/address. */
  mac?: string;
  /** Ask for an address (IA_NA); default true. */
  address?: boolean;
  /** Ask for a delegated prefix (IA_PD) with this length hint (RFC 8415 18.2.1); none: no IA_PD. */
  prefixLength?: number;
  logger?: Logger;
  clock?: Clock;
  transport: Dhcp6Transport;
  /** RAND of RFC 8415 15, -0.1..0.1; default Math.random based. */
  rand?: () => number;
}

export interface Dhcp6ClientEvents {
  bound: [lease: Dhcp6Lease];
  renewed: [lease: Dhcp6Lease, previous: Dhcp6Lease];
  lost: [lease: Dhcp6Lease, reason: string];
  state: [state: Client6State];
}

/** RFC 8415 7.6: retransmission constants, ms (MRC: count, 0 = none). */
const SOL = { irt: 1000, mrt: 3_600_000, mrc: 0 };
const REQ = { irt: 1000, mrt: 30_000, mrc: 10 };
const REN = { irt: 10_000, mrt: 600_000, mrc: 0 };
const REB = { irt: 10_000, mrt: 600_000, mrc: 0 };
/** The IAID of the client's one IA_NA and one IA_PD (RFC 8415 12: unique per IA type on the client). */
const IAID = 1;
/** RFC 8415 21.7 / RFC 3646: the options the client asks for. */
const ORO = Buffer.from([0, Opt6.DNS_SERVERS]);
const INFINITY = 0xffffffff;

interface Offer {
  serverId: Buffer;
  pref: number;
  address: IaAddress | undefined;
  prefix: IaPrefix | undefined;
}

export class Dhcp6Client extends EventEmitter<Dhcp6ClientEvents> {
  readonly duid: Buffer;
  readonly #opts: Dhcp6ClientOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #transport: Dhcp6Transport;
  #state: Client6State = 'stopped';
  #xid = 0;
  #timer: unknown;
  #phaseTimers: unknown[] = [];
  /** The exchange under way: its first send time, retransmission time and count. */
  #startedAt = 0;
  #rt = 0;
  #count = 0;
  #best: Offer | undefined;
  #collecting = false;
  #lease: Dhcp6Lease | undefined;
  #serverId: Buffer | undefined;

  constructor(opts: Dhcp6ClientOptions) {
    super();
    this.#opts = opts;
    this.#log = (opts.logger ?? pino({ name: 'dhcp6-client' })).child({
      module: 'dhcp6-client',
      interface: opts.interface,
    });
    this.#clock = opts.clock ?? realClock;
    const mac = (opts.mac ?? readFileSync(`/sys/class/net/${opts.interface}/address`, 'utf8'))
      .trim()
      .toLowerCase();
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) throw new TypeError(`bad MAC address ${mac}`);
    if (opts.address === false && opts.prefixLength === undefined)
      throw new TypeError('a DHCPv6 client asks for an address, a prefix or both');
    this.duid = duidLl(mac);
    this.#transport = opts.transport;
    this.#transport.onMessage((buf) => this.#receive(buf));
  }

  get state(): Client6State {
    return this.#state;
  }

  get lease(): Dhcp6Lease | undefined {
    return this.#lease;
  }

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#solicit();
  }

  /** Stops without telling the server. */
  stop(): void {
    this.#clearAll();
    this.#setState('stopped');
    this.#transport.close();
  }

  /** RFC 8415 18.2.7: gives the lease back (one Release, not retransmitted: the CPE is stopping), then stops. */
  release(): void {
    const l = this.#lease;
    if (l && this.#serverId && this.#state !== 'soliciting' && this.#state !== 'requesting') {
      this.#newXid();
      this.#startedAt = this.#clock.now();
      this.#send(Msg.RELEASE, [encodeOption(Opt6.SERVERID, this.#serverId), ...this.#ias(l)]);
      this.#log.info({ address: l.address?.address, prefix: prefixText(l.prefix) }, 'DHCPv6 lease released');
    }
    this.#lease = undefined;
    this.stop();
  }

  #setState(s: Client6State): void {
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
    this.#xid = Math.floor(Math.random() * 0x1000000);
  }

  #rand(): number {
    return (this.#opts.rand ?? (() => Math.random() * 0.2 - 0.1))();
  }

  /** The IAs to send: empty ones in a Solicit, the lease's in Request/Renew/Rebind/Release. */
  #ias(l?: { address?: IaAddress; prefix?: IaPrefix }): Buffer[] {
    const out: Buffer[] = [];
    if (this.#opts.address !== false) out.push(encodeIaNa(IAID, l?.address ? [l.address] : []));
    const len = this.#opts.prefixLength;
    if (len !== undefined)
      out.push(
        encodeIaPd(IAID, l?.prefix ? [l.prefix] : [{ prefix: '::', length: len, preferred: 0, valid: 0 }]),
      );
    return out;
  }

  #send(type: Msg, extra: Buffer[]): void {
    // RFC 8415 21.9: elapsed time in hundredths of a second since the exchange began, 0xffff at most.
    const elapsed = Math.min(0xffff, Math.floor((this.#clock.now() - this.#startedAt) / 10));
    const options = [
      { code: Opt6.CLIENTID, data: this.duid },
      { code: Opt6.ELAPSED_TIME, data: u16(elapsed) },
      ...(type === Msg.RELEASE ? [] : [{ code: Opt6.ORO, data: ORO }]),
    ];
    const head = emit6({ type, xid: this.#xid, options });
    this.#transport.send(Buffer.concat([head, ...extra]));
  }

  /** RFC 8415 15: RT = IRT + RAND*IRT first, then 2*RTprev + RAND*RTprev, capped by MRT + RAND*MRT. */
  #nextRt(p: { irt: number; mrt: number }, solicit: boolean): number {
    if (this.#count === 0) {
      // RFC 8415 18.2.1: the first Solicit's RAND is strictly greater than 0.
      const r = this.#rand();
      this.#rt = p.irt + (solicit ? Math.abs(r) || 0.01 : r) * p.irt;
    } else this.#rt = 2 * this.#rt + this.#rand() * this.#rt;
    if (p.mrt && this.#rt > p.mrt) this.#rt = p.mrt + this.#rand() * p.mrt;
    this.#count++;
    return this.#rt;
  }

  #begin(state: Client6State): void {
    this.#clearAll();
    this.#newXid();
    this.#startedAt = this.#clock.now();
    this.#count = 0;
    this.#setState(state);
  }

  // Soliciting (RFC 8415 18.2.1): Advertises are collected until the first RT ends, unless one has
  // preference 255; then the best (highest preference) is requested.

  #solicit(): void {
    this.#begin('soliciting');
    this.#best = undefined;
    this.#collecting = true;
    this.#lease = undefined;
    this.#serverId = undefined;
    this.#solicitTick();
  }

  #solicitTick(): void {
    this.#send(Msg.SOLICIT, this.#ias());
    const wait = this.#nextRt(SOL, true);
    this.#log.debug({ xid: this.#xid, attempt: this.#count, nextInMs: Math.round(wait) }, 'Solicit sent');
    this.#timer = this.#clock.setTimeout(() => {
      this.#collecting = false;
      if (this.#best) this.#request(this.#best);
      else this.#solicitTick();
    }, wait);
  }

  #request(o: Offer): void {
    this.#begin('requesting');
    this.#serverId = o.serverId;
    this.#log.info(
      { server: o.serverId.toString('hex'), address: o.address?.address, prefix: prefixText(o.prefix) },
      'DHCPv6 Advertise accepted',
    );
    this.#requestTick(o);
  }

  #requestTick(o: Offer): void {
    if (REQ.mrc && this.#count >= REQ.mrc) {
      this.#log.warn({ server: o.serverId.toString('hex') }, 'no Reply to Request: soliciting again');
      this.#solicit();
      return;
    }
    this.#send(Msg.REQUEST, [encodeOption(Opt6.SERVERID, o.serverId), ...this.#ias(o)]);
    this.#timer = this.#clock.setTimeout(() => this.#requestTick(o), this.#nextRt(REQ, false));
  }

  // Renewing (18.2.4, to the lease's server) and rebinding (18.2.5, to any server), until T2 or
  // the end of the valid lifetimes.

  #enter(state: 'renewing' | 'rebinding'): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#newXid();
    this.#startedAt = this.#clock.now();
    this.#count = 0;
    this.#setState(state);
    this.#log.info(
      { address: this.#lease?.address?.address },
      state === 'renewing' ? 'T1: renewing' : 'T2: rebinding',
    );
    this.#renewTick();
  }

  #renewTick(): void {
    const l = this.#lease;
    if (!l) return;
    const renewing = this.#state === 'renewing';
    const server = renewing && this.#serverId ? [encodeOption(Opt6.SERVERID, this.#serverId)] : [];
    this.#send(renewing ? Msg.RENEW : Msg.REBIND, [...server, ...this.#ias(l)]);
    this.#timer = this.#clock.setTimeout(() => this.#renewTick(), this.#nextRt(renewing ? REN : REB, false));
  }

  #receive(buf: Buffer): void {
    if (this.#state === 'stopped' || this.#state === 'bound') return;
    const m = parse6(buf);
    if (typeof m === 'string') {
      this.#log.warn({ reason: m }, `malformed DHCPv6 message dropped: ${m}`);
      return;
    }
    // RFC 8415 16.10, 16.11: a reply to this exchange (transaction id) for this client (its DUID),
    // with a server DUID.
    if (m.xid !== this.#xid) return;
    if (m.type !== Msg.ADVERTISE && m.type !== Msg.REPLY) return;
    const cid = option(m, Opt6.CLIENTID);
    const sid = option(m, Opt6.SERVERID);
    if (!cid?.equals(this.duid)) return;
    if (!sid || sid.length === 0) {
      this.#log.warn({ type: Msg[m.type] }, 'DHCPv6 message without a server identifier dropped');
      return;
    }
    const read = this.#readIas(m);
    if (typeof read === 'string') {
      this.#log.warn({ type: Msg[m.type], reason: read }, `DHCPv6 ${Msg[m.type]} dropped: ${read}`);
      return;
    }
    if (m.type === Msg.ADVERTISE) {
      if (this.#state === 'soliciting') this.#advertise(m, sid, read);
      return;
    }
    if (this.#state === 'soliciting') return;
    this.#reply(m, sid, read);
  }

  /** The IA_NA's first valid address and the IA_PD's first valid prefix, and the statuses. */
  #readIas(
    m: Dhcp6Message,
  ): { address?: IaAddress; prefix?: IaPrefix; top: number; why: string; noBinding: boolean } | string {
    const top = statusOf(m.options);
    if (typeof top === 'string') return top;
    const na = iaNas(m);
    if (typeof na === 'string') return na;
    const pd = iaPds(m);
    if (typeof pd === 'string') return pd;
    const n = na.find((x) => x.iaid === IAID);
    const p = pd.find((x) => x.iaid === IAID);
    const why = [top.status ? `${Status[top.status] ?? top.status} ${top.message}` : '']
      .concat(n?.status ? `IA_NA ${Status[n.status] ?? n.status} ${n.statusMessage}` : '')
      .concat(p?.status ? `IA_PD ${Status[p.status] ?? p.status} ${p.statusMessage}` : '')
      .filter(Boolean)
      .join('; ');
    return {
      // RFC 8415 18.2.10.1: an address or prefix with a valid lifetime of 0 is not to be used.
      address:
        n && n.status === Status.Success
          ? n.items.find((a) => a.valid > 0 && a.preferred <= a.valid)
          : undefined,
      prefix:
        p && p.status === Status.Success
          ? p.items.find((a) => a.valid > 0 && a.preferred <= a.valid)
          : undefined,
      top: top.status,
      why: why.trim(),
      noBinding: n?.status === Status.NoBinding || p?.status === Status.NoBinding,
    };
  }

  #wantsAll(r: { address?: IaAddress; prefix?: IaPrefix }): boolean {
    return (
      (this.#opts.address === false || !!r.address) && (this.#opts.prefixLength === undefined || !!r.prefix)
    );
  }

  #advertise(
    m: Dhcp6Message,
    sid: Buffer,
    r: { address?: IaAddress; prefix?: IaPrefix; top: number; why: string },
  ): void {
    // RFC 8415 18.2.9: an Advertise with NoAddrsAvail (or nothing the client asked for) is ignored.
    if (r.top !== Status.Success || (!r.address && !r.prefix)) {
      this.#log.warn(
        { server: sid.toString('hex'), reason: r.why || 'no address or prefix' },
        'DHCPv6 Advertise ignored',
      );
      return;
    }
    const pref = preference(m);
    // Offers that hold all the client asks for rank above those with part of it.
    const rank = (o: Offer) => (this.#wantsAll(o) ? 256 : 0) + o.pref;
    const o: Offer = { serverId: Buffer.from(sid), pref, address: r.address, prefix: r.prefix };
    if (!this.#best || rank(o) > rank(this.#best)) this.#best = o;
    // RFC 8415 18.2.1: preference 255, or an Advertise after the first RT, is taken at once.
    if (pref === 255 || !this.#collecting) this.#request(this.#best);
  }

  #reply(
    m: Dhcp6Message,
    sid: Buffer,
    r: { address?: IaAddress; prefix?: IaPrefix; top: number; why: string; noBinding: boolean },
  ): void {
    // RFC 8415 18.2.10: UseMulticast would need a unicast client; NoBinding to a Renew/Rebind
    // means the server has lost the binding: start over with a Solicit (a Request of it would do,
    // with the same outcome one round trip later).
    if (r.top !== Status.Success || r.noBinding || (!r.address && !r.prefix)) {
      this.#log.warn(
        { server: sid.toString('hex'), reason: r.why || 'no address or prefix' },
        'DHCPv6 Reply refused: soliciting again',
      );
      const lost = this.#lease;
      this.#clearAll();
      if (lost) this.emit('lost', lost, `Reply from the server: ${r.why || 'no address or prefix'}`);
      this.#solicit();
      return;
    }
    const now = this.#clock.now();
    const lts = [r.address, r.prefix].filter((x): x is IaAddress | IaPrefix => !!x);
    const cap = (s: number) => (s === INFINITY ? 0x7fffffff : s);
    const minPref = Math.min(...lts.map((x) => cap(x.preferred)));
    const maxValid = Math.max(...lts.map((x) => cap(x.valid)));
    // RFC 8415 21.4, 21.21: T1/T2 of 0 leave the times to the client (0.5 and 0.8 of the shortest
    // preferred lifetime, 18.2.4); T1 > T2 is ignored like a 0.
    const na = iaNas(m);
    const pd = iaPds(m);
    const ias = [...(typeof na === 'string' ? [] : na), ...(typeof pd === 'string' ? [] : pd)].filter(
      (x) => x.iaid === IAID && x.status === Status.Success,
    );
    let t1 = Math.min(...ias.map((x) => (x.t1 && x.t1 <= x.t2 ? cap(x.t1) : Number.POSITIVE_INFINITY)));
    let t2 = Math.min(...ias.map((x) => (x.t2 && x.t1 <= x.t2 ? cap(x.t2) : Number.POSITIVE_INFINITY)));
    if (!Number.isFinite(t1)) t1 = Math.floor(minPref * 0.5);
    if (!Number.isFinite(t2)) t2 = Math.floor(minPref * 0.8);
    if (t2 > maxValid) t2 = Math.floor(maxValid * 0.8);
    if (t1 > t2) t1 = Math.floor(t2 * 0.625);
    const dns = dnsServers(m);
    const previous = this.#lease;
    const lease: Dhcp6Lease = {
      serverId: sid.toString('hex'),
      address: r.address,
      prefix: r.prefix,
      dns: typeof dns === 'string' ? [] : dns,
      t1,
      t2,
      obtainedAt: this.#startedAt,
      expiresAt: this.#startedAt + maxValid * 1000,
    };
    this.#clearAll();
    this.#lease = lease;
    this.#serverId = Buffer.from(sid);
    this.#setState('bound');
    this.#log.info(
      {
        address: r.address?.address,
        prefix: prefixText(r.prefix),
        server: lease.serverId,
        t1,
        t2,
        valid: maxValid,
      },
      previous ? 'DHCPv6 lease renewed' : 'DHCPv6 lease bound',
    );
    // RFC 8415 18.2.4: times count from when the message that got this Reply was sent.
    const at = (s: number) => Math.max(0, this.#startedAt + s * 1000 - now);
    this.#phaseTimers.push(
      this.#clock.setTimeout(() => this.#enter('renewing'), at(t1)),
      this.#clock.setTimeout(() => this.#enter('rebinding'), at(t2)),
      this.#clock.setTimeout(() => this.#expire(), at(maxValid)),
    );
    if (previous) this.emit('renewed', lease, previous);
    else this.emit('bound', lease);
  }

  #expire(): void {
    const l = this.#lease;
    if (!l) return;
    this.#log.warn(
      { address: l.address?.address, prefix: prefixText(l.prefix) },
      'DHCPv6 lease expired without renewal: lost',
    );
    this.#clearAll();
    this.emit('lost', l, 'lease expired');
    this.#solicit();
  }
}

export function prefixText(p: IaPrefix | undefined): string | undefined {
  return p ? `${p.prefix}/${p.length}` : undefined;
}
