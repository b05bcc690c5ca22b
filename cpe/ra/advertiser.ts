// The CPE's router advertisements on its LAN interface (lan.ra): a raw ICMPv6 socket bound to the
// interface sends the advertisement (cpe/ra/wire.ts) to all-nodes (ff02::1) when the schedule
// (cpe/ra/schedule.ts) says so, and takes the hosts' router solicitations (the kernel joined
// all-routers, ff02::2, since the CPE forwards; the socket's ICMPv6 filter passes only type 133).
// RFC 4861 6.1.1 and 6.1.2: hop limit 255 both ways (the socket reads each solicitation's), so
// either end can tell the message is from its link. The kernel picks the interface's link-local
// address as the source (RFC 6724 rule 2, the scope of ff02::1) and fills in the checksum. At
// stop, one last advertisement with router lifetime 0 (6.2.5) tells hosts to stop using the CPE
// as their default router. `update` changes what is advertised (a delegated prefix came, went or
// aged, cpe/daemon/delegation.ts).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { bindToDevice, type RawSocket, raw } from '../net/raw-socket.js';
import { RaSchedule } from './schedule.js';
import { describeNdError, encodeRa, parseRs, ROUTER_SOLICITATION, type RouterAdvertisement } from './wire.js';

export interface AdvertiserOptions {
  /** The LAN interface ("br-lan"). */
  interface: string;
  /** What to advertise (the source link-layer address is read from the interface when left out). */
  ra: RouterAdvertisement;
  /** MinRtrAdvInterval and MaxRtrAdvInterval (RFC 4861 6.2.1), ms. */
  minInterval: number;
  maxInterval: number;
  log: Logger;
  now: () => number;
  random?: () => number;
}

/** Refusals are logged at most this often (the count of the others goes with the next line). */
const REFUSAL_LOG_INTERVAL = 10_000;

/** The interface's MAC from sysfs, or undefined (no link-layer address, e.g. a TUN). */
function macOf(ifname: string): string | undefined {
  try {
    const mac = readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim();
    return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== '00:00:00:00:00:00' ? mac : undefined;
  } catch {
    return undefined;
  }
}

export class LanAdvertiser {
  readonly stats = { sent: 0, solicitations: 0, refused: 0, sendFailures: 0 };
  private sock: RawSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private schedule: RaSchedule | undefined;
  private message: Buffer;
  private final: Buffer;
  private ra: RouterAdvertisement;
  private readonly to: string;
  private refusalLoggedAt = Number.NEGATIVE_INFINITY;
  private refusalsUnlogged = 0;

  constructor(private readonly opts: AdvertiserOptions) {
    const ra = { ...opts.ra, sourceLinkLayer: opts.ra.sourceLinkLayer ?? macOf(opts.interface) };
    this.ra = ra;
    this.message = encodeRa(ra);
    this.final = encodeRa({ ...ra, routerLifetime: 0 });
    this.to = `ff02::1%${opts.interface}`;
  }

  /** Opens the socket and sends the first advertisement at once; throws when the kernel refuses the socket. */
  start(): void {
    const o = this.opts;
    const sock = raw.createSocket({ protocol: raw.Protocol.ICMPv6, addressFamily: 6, bufferSize: 1500 });
    try {
      bindToDevice(sock, o.interface);
      const { IPPROTO_IPV6, IPPROTO_ICMPV6 } = raw.SocketLevel;
      const opt = raw.SocketOption;
      sock.setOption(IPPROTO_IPV6, opt.IPV6_MULTICAST_HOPS, 255);
      sock.setOption(IPPROTO_IPV6, opt.IPV6_UNICAST_HOPS, 255);
      sock.setOption(IPPROTO_IPV6, opt.IPV6_MULTICAST_LOOP, 0);
      sock.setOption(IPPROTO_IPV6, opt.IPV6_RECVHOPLIMIT, 1);
      // Block every ICMPv6 type but router solicitations (linux/icmpv6.h: a set bit blocks).
      const filter = new Uint32Array(8).fill(0xffffffff);
      filter[ROUTER_SOLICITATION >> 5] &= ~(1 << (ROUTER_SOLICITATION & 31));
      sock.setOption(IPPROTO_ICMPV6, opt.ICMP6_FILTER, new Uint8Array(filter.buffer));
    } catch (e) {
      sock.close();
      throw e;
    }
    sock.unref();
    sock.on('message', (data, source, hopLimit) => this.onSolicitation(data, source, hopLimit));
    sock.on('error', (err) =>
      o.log.error({ event: 'ra-socket-error', interface: o.interface, err }, 'router solicitations unread'),
    );
    this.sock = sock;
    this.schedule = new RaSchedule(o.now(), o.minInterval, o.maxInterval, o.random);
    o.log.info(
      {
        event: 'ra-start',
        interface: o.interface,
        prefixes: o.ra.prefixes.map((p) => `${p.prefix}/${p.length}`),
        dns: o.ra.dns?.servers ?? [],
        routerLifetimeS: o.ra.routerLifetime,
        maxIntervalMs: o.maxInterval,
      },
      `router advertisements on ${o.interface}`,
    );
    this.arm();
  }

  private onSolicitation(data: Buffer, source: string, hopLimit: number | undefined): void {
    // RFC 4861 6.1.1: a solicitation whose IP hop limit is not 255 did not start on this link.
    const r = hopLimit === 255 ? parseRs(data, source) : undefined;
    if (!r?.ok) {
      this.stats.refused++;
      this.refused(source, r ? describeNdError(r.error) : `IP hop limit ${hopLimit}, not 255`);
      return;
    }
    this.stats.solicitations++;
    this.opts.log.debug(
      { event: 'ra-solicited', from: source, mac: r.sourceLinkLayer },
      'router solicitation',
    );
    this.schedule?.solicited(this.opts.now());
    this.arm();
  }

  private refused(from: string, reason: string): void {
    const now = this.opts.now();
    if (now - this.refusalLoggedAt < REFUSAL_LOG_INTERVAL) {
      this.refusalsUnlogged++;
      return;
    }
    this.opts.log.info(
      { event: 'ra-refused', from, reason, alsoRefused: this.refusalsUnlogged },
      `router solicitation from ${from} ignored: ${reason}`,
    );
    this.refusalLoggedAt = now;
    this.refusalsUnlogged = 0;
  }

  /** (Re)sets the timer to the schedule's next advertisement. */
  private arm(): void {
    if (!this.schedule || !this.sock) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.schedule.due - this.opts.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.send(this.message);
    this.schedule?.sentAt(this.opts.now());
    this.arm();
  }

  private send(msg: Buffer): void {
    const sock = this.sock;
    if (!sock) return;
    sock.send(msg, 0, msg.length, this.to, (err) => {
      if (!err) {
        this.stats.sent++;
        return;
      }
      this.stats.sendFailures++;
      this.opts.log.warn(
        { event: 'ra-send-failed', interface: this.opts.interface, err: err.message },
        `router advertisement on ${this.opts.interface} not sent: ${err.message}`,
      );
    });
  }

  /**
   * What is advertised from now on (a delegated prefix came, went or aged; cpe/daemon/delegation.ts).
   * A changed prefix list goes out at once (RFC 4861 6.2.4: hosts learn of it without waiting for
   * the next interval); lifetimes alone go with the next scheduled advertisement.
   */
  update(prefixes: RouterAdvertisement['prefixes'], dns: RouterAdvertisement['dns']): void {
    const key = (ps: RouterAdvertisement['prefixes']) =>
      ps.map((p) => `${p.prefix}/${p.length}:${p.preferredLifetime === 0}`).join(',');
    const changed = key(prefixes) !== key(this.ra.prefixes);
    this.ra = { ...this.ra, prefixes, dns };
    this.message = encodeRa(this.ra);
    this.final = encodeRa({ ...this.ra, routerLifetime: 0 });
    if (!changed || !this.sock) return;
    this.opts.log.info(
      {
        event: 'ra-prefixes',
        interface: this.opts.interface,
        prefixes: prefixes.map(
          (p) => `${p.prefix}/${p.length}${p.preferredLifetime === 0 ? ' (deprecated)' : ''}`,
        ),
      },
      `router advertisements on ${this.opts.interface} now carry ${prefixes.map((p) => `${p.prefix}/${p.length}`).join(', ') || 'no prefix'}`,
    );
    this.send(this.message);
    this.schedule?.sentAt(this.opts.now());
    this.arm();
  }

  /** The last advertisement (router lifetime 0, RFC 4861 6.2.5), then closes the socket. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule = undefined;
    const sock = this.sock;
    if (!sock) return;
    this.send(this.final);
    this.sock = undefined;
    // After the send's report (next tick): the datagram left inside sendto already.
    process.nextTick(() => sock.close());
  }
}
