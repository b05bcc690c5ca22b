// One intercepted LAN connection, from accept to close: the packet path's middle. The kernel ended
// the LAN host's TCP (nftables TPROXY); the accepted socket's local address is the original
// destination. Bonded: an MPTCP connection to the HAG from the path manager (its subflows on the
// usable uplinks), the Convert Connect TLV or SOCKS5 CONNECT for the destination, the HAG's reply
// (an error resets the LAN host, so a refusing server looks like one), then the relay; in method
// transparent the MPTCP connection goes to the destination itself (a HAG on the path ends it). Direct:
// when no uplink is usable or the HAG does not answer, a kernel TCP connection from the active
// uplink's address. Every refusal is logged with why; every close with bytes per uplink.
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { connectionLevel } from '../../src/daemon/logger.js';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import { SchedulingRules, scheduler } from '../../src/mptcp/sched/index.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import { endName, type Relay, relay, resetSocket } from '../../src/relay/relay.js';
import { ConnStream } from '../../src/tcp/stream.js';
import { hostPort } from '../../src/wire/addr.js';
import type { TransparentConnection } from '../net/transparent.js';
import type { CpeConfig } from './config.js';
import { FIRST_BYTES_WAIT_MS, firstBytes } from './first-bytes.js';
import { type HagMethod, hagHandshake } from './hag-handshake.js';
import type { HagLink } from './hag-link.js';
import { parseAddress } from './ip.js';
import { subflowBytes, type UplinkBytes, uplinkEntry } from './uplink-bytes.js';
import type { Uplinks } from './uplinks.js';

/** The relay's sides in the CPE's words (its logs: lan-reset, upstream-reset). */
const RELAY_SIDES = { kernel: 'lan', core: 'upstream' };

export type Path = 'bonded' | 'direct';

export interface Session {
  id: number;
  src: string;
  dst: string;
  path: Path | 'pending';
  startedAt: number;
  lan: Socket;
  conn?: MptcpConnection;
  /** Every subflow the connection had, to report bytes per uplink at close. */
  subflows: Set<Subflow>;
  /** Direct: bytes over the uplink that carried direct traffic when it opened (`directVia`). */
  direct?: Socket;
  directVia?: string;
  relay?: Relay;
}

export interface InterceptStats {
  accepted: number;
  bonded: number;
  direct: number;
  refused: Record<string, number>;
  closed: number;
}

let nextId = 1;

export class Interceptor {
  readonly sessions = new Map<number, Session>();
  readonly byConn = new Map<MptcpConnection, Session>();
  readonly stats: InterceptStats = { accepted: 0, bonded: 0, direct: 0, refused: {}, closed: 0 };
  draining = false;
  /** Connections the open-file limit holds (the daemon sets it at start); beyond: file-limit. */
  fileCapacity = Number.POSITIVE_INFINITY;
  private drained: (() => void) | undefined;

  constructor(
    public cfg: CpeConfig,
    private readonly ep: MptcpEndpoint,
    private readonly pm: ClientPathManager,
    private readonly uplinks: Uplinks,
    private readonly hag: HagLink,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {
    ep.on((e) => {
      if (e.type === 'sub-established') this.byConn.get(e.conn)?.subflows.add(e.subflow);
      if (e.type === 'sub-closed') {
        this.byConn.get(e.conn)?.subflows.add(e.subflow);
        uplinks.closed(e.subflow);
      }
    });
  }

  /** The scheduling rules of the current config (rebuilt when the config changes). */
  private get scheduling(): SchedulingRules {
    if (this.rulesFor !== this.cfg) {
      const sc = this.cfg.scheduling;
      this.rules = new SchedulingRules(
        sc.rules.map((r) => ({
          ports: r.ports,
          prefixes: r.destinations,
          sources: r.sources,
          scheduler: r.scheduler,
        })),
        sc.default,
      );
      this.rulesFor = this.cfg;
      this.hagTakesPolicy = true; // a reload (perhaps after the HAG was upgraded) tries again
    }
    return this.rules!;
  }
  private rules: SchedulingRules | undefined;
  private rulesFor: CpeConfig | undefined;
  /** Whether the HAG reads our policy TLV (false once it refused it; again true at a reload). */
  private hagTakesPolicy = true;

  get method(): HagMethod {
    const h = this.cfg.hag;
    return { method: h.method, cookie: h.cookie, username: h.username, password: h.password };
  }

  private refuse(
    s: Session | { src: string; dst: string },
    reason: string,
    extra: Record<string, unknown> = {},
  ): void {
    const key = reason.split(':')[0];
    this.stats.refused[key] = (this.stats.refused[key] ?? 0) + 1;
    this.log.warn(
      { event: 'refused', id: (s as Session).id, src: s.src, dst: s.dst, reason, ...extra },
      `refused ${s.src} -> ${s.dst}: ${reason}`,
    );
  }

  handle(c: TransparentConnection): void {
    const lan = c.socket;
    // A FIN from the LAN host is a half-close: carried upstream, the other way stays open.
    lan.allowHalfOpen = true;
    lan.setNoDelay(true);
    lan.on('error', () => {}); // reported by the relay or the session close
    this.stats.accepted++;
    const fmt = (a: { address: string; port: number }) => hostPort(a.address, a.port);
    const s: Session = {
      id: nextId++,
      src: fmt(c.source),
      dst: fmt(c.destination),
      path: 'pending',
      startedAt: Date.now(),
      lan,
      subflows: new Set(),
    };
    const refusal = this.draining
      ? 'draining'
      : this.sessions.size >= this.cfg.intercept.maxConnections
        ? 'too-many-connections'
        : this.sessions.size >= this.fileCapacity
          ? 'file-limit'
          : undefined;
    if (refusal) {
      this.refuse(s, refusal, { open: this.sessions.size });
      resetSocket(lan);
      return;
    }
    this.sessions.set(s.id, s);
    this.run(s, c.destination, c.source.address).catch((e: Error) => {
      this.log.error({ event: 'internal-error', id: s.id, err: e }, 'session failed');
      resetSocket(lan);
      this.finish(s, 'internal-error');
    });
  }

  private async run(
    s: Session,
    dst: { address: string; port: number; family: 4 | 6 },
    src: string,
  ): Promise<void> {
    let why = this.hag.usable ? undefined : `HAG unreachable (${this.hag.reason})`;
    let replay: Buffer | undefined;
    if (!why) {
      const r = await this.bond(s, dst, src);
      if (r.result === 'done') return;
      why = r.result;
      replay = r.sent;
    }
    if (s.lan.destroyed) {
      this.finish(s, 'lan-gone');
      return;
    }
    await this.direct(s, dst, why, replay);
  }

  /**
   * Tries the HAG; 'done' when the session went on (or ended) there, else why to go direct, with
   * the LAN bytes already sent toward the HAG (to be replayed to the server directly).
   */
  private async bond(
    s: Session,
    dst: { address: string; port: number },
    src: string,
  ): Promise<{ result: 'done' | string; sent?: Buffer }> {
    const hagAddr = this.hag.pick((a) => this.pm.initialAddress(parseAddress(a)) !== undefined);
    const transparent = this.method.method === 'transparent';
    // Transparent: to the destination; IPv6 destinations go direct (not tested through the HAG).
    const remote = parseAddress(transparent ? dst.address : hagAddr) as Uint8Array;
    if (transparent && remote.length !== 4) return { result: 'IPv6 destination in method transparent' };
    // RFC 8803 is 0-RTT: the LAN host's first bytes, when they come at once, ride in the SYN
    // behind the Convert header (first-bytes.ts). SOCKS5 must wait for its reply anyway.
    const zeroRtt = this.method.method === 'convert';
    const first = zeroRtt ? await firstBytes(s.lan, FIRST_BYTES_WAIT_MS) : undefined;
    if (s.lan.destroyed) {
      this.finish(s, 'lan-gone');
      return { result: 'done' };
    }
    const conn = this.pm.connect(this.now(), remote, transparent ? dst.port : this.cfg.hag.port);
    if (!conn) return { result: 'no usable uplink' };
    // The bonding policy for this destination and LAN host (config `scheduling`), both ways: the
    // HAG gets it with the Convert message (src/convert/policy.ts) and schedules the download so,
    // each of its subflows with the congestion control of the uplink it sends to.
    const dstBytes = parseAddress(dst.address);
    const name = dstBytes
      ? this.scheduling.pick(dstBytes, dst.port, parseAddress(src) ?? undefined)
      : this.scheduling.fallback;
    conn.scheduler = scheduler(name);
    const policy =
      this.hagTakesPolicy && !transparent
        ? { scheduler: name, overflow: this.pm.overflowIds(conn), congestion: this.pm.congestionIds(conn) }
        : undefined;
    s.conn = conn;
    this.byConn.set(conn, s);
    const stream = new ConnStream(conn, this.ep);
    stream.on('error', () => {});
    this.ep.wake(conn);
    // With Convert, what the LAN host sends goes right behind the Connect TLV, without waiting for
    // the HAG's reply (a copy is kept, up to 64 KB, to replay it directly should the HAG not answer).
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const onLanData = (b: Buffer) => {
      early.push(b);
      earlyBytes += b.length;
      stream.write(b);
      if (earlyBytes >= 64 * 1024) s.lan.pause();
    };
    // The Convert message is written at once, and the first bytes behind it, before the SYN leaves.
    const handshake = hagHandshake(stream, dst, this.method, this.cfg.hag.connectTimeout, policy);
    if (first) onLanData(first);
    if (zeroRtt) s.lan.on('data', onLanData);
    const r = await handshake;
    if (zeroRtt) {
      s.lan.off('data', onLanData);
      s.lan.pause();
    }
    if (r.kind === 'unreachable') {
      this.hag.failed(r.reason);
      stream.destroy();
      this.byConn.delete(conn);
      s.conn = undefined;
      return { result: `HAG unreachable (${r.reason})`, sent: Buffer.concat(early) };
    }
    this.hag.ok();
    if (r.kind === 'no-policy') {
      // A HAG older than this CPE: this connection goes direct (its bytes replayed), the next
      // ones to the HAG without the policy (their downloads get the HAG's default scheduler).
      this.hagTakesPolicy = false;
      this.log.warn(
        { event: 'hag-no-policy', hag: hagAddr },
        `the HAG at ${hagAddr} does not take the policy TLV: its downloads follow its own scheduling`,
      );
      stream.destroy();
      this.byConn.delete(conn);
      s.conn = undefined;
      return { result: 'HAG takes no policy TLV', sent: Buffer.concat(early) };
    }
    if (r.kind === 'refused') {
      // The server (or the HAG's policy) refused: the LAN host sees a reset, as from the server.
      this.refuse(s, r.reason, { path: 'bonded' });
      resetSocket(s.lan);
      stream.destroy();
      this.finish(s, `refused: ${r.reason}`);
      return { result: 'done' };
    }
    if (s.lan.destroyed) {
      stream.destroy();
      this.finish(s, 'lan-gone');
      return { result: 'done' };
    }
    s.path = 'bonded';
    this.stats.bonded++;
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'open',
        id: s.id,
        path: 'bonded',
        method: this.method.method,
        src: s.src,
        dst: s.dst,
        mptcp: !conn.fallback,
      },
      `open ${s.id} ${s.src} -> ${s.dst} bonded`,
    );
    s.relay = relay(s.lan, stream, { early: r.early, idleMs: this.cfg.intercept.idleTimeout });
    this.finish(s, endName(await s.relay.done, RELAY_SIDES));
    return { result: 'done' };
  }

  /** Direct via the active uplink (Uplinks.directSource): a kernel TCP connection from its address. */
  private async direct(
    s: Session,
    dst: { address: string; port: number; family: 4 | 6 },
    why: string,
    replay?: Buffer,
  ): Promise<void> {
    const src = this.uplinks.directSource(dst.family);
    const sock = net.connect({ host: dst.address, port: dst.port, localAddress: src.address, noDelay: true });
    sock.allowHalfOpen = true;
    s.direct = sock;
    s.directVia = src.uplink.name;
    const ok = await new Promise<true | string>((resolve) => {
      const t = setTimeout(
        () => resolve(`no answer within ${this.cfg.hag.connectTimeout * 3} ms`),
        this.cfg.hag.connectTimeout * 3,
      );
      sock.once('connect', () => {
        clearTimeout(t);
        resolve(true);
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        resolve(e.message);
      });
    });
    if (ok !== true) {
      this.refuse(s, `direct connection failed: ${ok}`, { path: 'direct', via: src.uplink.name, why });
      sock.on('error', () => {});
      sock.destroy();
      resetSocket(s.lan);
      this.finish(s, `refused: ${ok}`);
      return;
    }
    if (s.lan.destroyed) {
      sock.destroy();
      this.finish(s, 'lan-gone');
      return;
    }
    s.path = 'direct';
    this.stats.direct++;
    this.log[connectionLevel(this.cfg.log)](
      { event: 'open', id: s.id, path: 'direct', src: s.src, dst: s.dst, via: src.uplink.name, why },
      `open ${s.id} ${s.src} -> ${s.dst} direct via ${src.uplink.name}: ${why}`,
    );
    // What already went toward the HAG goes to the server first.
    if (replay && replay.length > 0) sock.write(replay);
    s.relay = relay(s.lan, sock, { idleMs: this.cfg.intercept.idleTimeout });
    this.finish(s, endName(await s.relay.done, RELAY_SIDES));
  }

  /** Bytes per uplink of a session: from its subflows' stats (bonded) or its direct socket. */
  perUplink(s: Session): UplinkBytes {
    if (s.conn) for (const sf of s.conn.subflows) s.subflows.add(sf);
    const out = subflowBytes(s.subflows, this.pm, this.uplinks);
    if (s.direct && s.directVia) {
      const e = uplinkEntry(out, s.directVia);
      e.bytesIn += s.direct.bytesRead;
      e.bytesOut += s.direct.bytesWritten;
    }
    return out;
  }

  private finish(s: Session, reason: string): void {
    if (!this.sessions.delete(s.id)) return;
    if (s.conn) this.byConn.delete(s.conn);
    this.stats.closed++;
    this.log[connectionLevel(this.cfg.log)](
      {
        event: 'close',
        id: s.id,
        path: s.path,
        src: s.src,
        dst: s.dst,
        reason,
        durationMs: Date.now() - s.startedAt,
        bytesFromLan: s.lan.bytesRead,
        bytesToLan: s.lan.bytesWritten,
        uplinks: this.perUplink(s),
      },
      `close ${s.id} ${s.dst}: ${reason}`,
    );
    if (this.draining && this.sessions.size === 0) this.drained?.();
  }

  /** Refuses new connections and waits up to `timeoutMs` for the open ones; then resets the rest. */
  async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    if (this.sessions.size > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        setTimeout(resolve, timeoutMs).unref();
      });
    }
    const left = this.sessions.size;
    for (const s of this.sessions.values()) {
      if (s.relay) s.relay.stop();
      else resetSocket(s.lan);
    }
    return left;
  }
}
