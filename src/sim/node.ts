// One simulated host: a SansIo stack driven in virtual time. It feeds the stack what its links
// deliver, drains pollTransmit into the link its route table picks (each packet copied out of the
// network's shared transmit buffer), keeps one timer event per stack for pollTimeout, and turns
// the stack's waker into a poll at the current instant. A node with `tso` stands for a host whose
// core sits on a TUN with checksum offload and TSO: its TCP segments, up to 64 KB, are cut into
// MSS pieces with complete checksums before they reach a link, as the kernel would
// (src/wire/gso-segment.ts).
//
// The timer is lazy: when the stack's deadline moves later, the pending event stays and, when it
// fires, finds the deadline not yet due and re-arms; only a deadline that moves earlier replaces
// it. That keeps the heap small for TCP, whose retransmission deadline moves with every ACK.
import type { SansIo } from '../driver.js';
import { type Prefix, prefixMatches } from '../wire/addr.js';
import { GsoSegmenter } from '../wire/gso-segment.js';
import type { Clock, EventEntry, EventTarget } from './clock.js';
import type { Link, LinkReceiver } from './link.js';
import type { PacketSlab } from './slab.js';

/** A route: the first one whose prefixes both match (an absent prefix matches all) picks the link. */
export interface Route {
  readonly src: Prefix | undefined;
  readonly dst: Prefix | undefined;
  readonly link: Link;
}

export class NodeStats {
  /** Packets the stack transmitted, and those no route took. */
  transmitted = 0;
  noRoute = 0;
  /** Of those, super-segments the node cut (with `tso`); `transmitted` counts their pieces. */
  superSegments = 0;
  /** Packets delivered to the stack. */
  received = 0;
  /** handleTimeout calls. */
  timeouts = 0;
}

/** What a node needs from its network. */
export interface NodeHost {
  readonly clock: Clock;
  /** The network's shared transmit buffer (64 KiB). */
  readonly txBuf: Uint8Array;
  /** Where packets are copied out of txBuf. */
  readonly slab: PacketSlab;
  /** Counts one unit of work at `now`; throws when one instant sees too much. */
  work(now: number, who: SimNode, what: string): void;
}

/** How a node's device treats what its stack sends. */
export interface NodeOptions {
  /** Checksum offload and TSO: the stack may send super-segments, which the node cuts. */
  tso?: boolean;
}

const POLL = 1;
const TIMER = 2;

export class SimNode implements EventTarget, LinkReceiver {
  readonly stats = new NodeStats();
  /** Links leaving this node. */
  readonly links: Link[] = [];
  readonly routes: Route[] = [];
  private pollPending = false;
  private timerEntry: EventEntry | undefined;
  private timerAt = Infinity;
  /** With `tso`: the cutter and the piece it writes. */
  private readonly gso: GsoSegmenter | undefined;
  private readonly piece: Uint8Array | undefined;

  constructor(
    readonly name: string,
    readonly stack: SansIo,
    private readonly host: NodeHost,
    opts: NodeOptions = {},
  ) {
    stack.setWaker(() => this.wake());
    if (opts.tso) {
      if (!stack.setOffload) throw new Error(`node "${name}": its stack takes no offloads`);
      stack.setOffload(true, 0xffff);
      this.gso = new GsoSegmenter();
      this.piece = new Uint8Array(0x10000);
    }
  }

  /** Schedules a poll of the stack at the current virtual time (once, however often called). */
  wake(): void {
    if (this.pollPending) return;
    this.pollPending = true;
    this.host.clock.at(this.host.clock.now, this, undefined, POLL);
  }

  onEvent(now: number, _arg: unknown, tag: number): void {
    if (tag === POLL) {
      this.pollPending = false;
      this.drain(now);
      return;
    }
    // TIMER
    this.timerEntry = undefined;
    this.timerAt = Infinity;
    const due = this.stack.pollTimeout();
    if (due > now) {
      this.armTimer(now);
      return;
    }
    this.stats.timeouts++;
    this.stack.handleTimeout(now);
    this.drain(now);
  }

  receive(now: number, packet: Uint8Array, _link: Link): void {
    this.stats.received++;
    this.stack.input(now, packet);
    this.drain(now);
  }

  /** The link a packet leaving this node takes, or undefined. */
  route(buf: Uint8Array, len: number): Link | undefined {
    const routes = this.routes;
    if (routes.length === 0) return this.links.length === 1 ? this.links[0] : undefined;
    const version = buf[0] >> 4;
    let srcOff: number;
    let dstOff: number;
    let alen: number;
    if (version === 4 && len >= 20) {
      srcOff = 12;
      dstOff = 16;
      alen = 4;
    } else if (version === 6 && len >= 40) {
      srcOff = 8;
      dstOff = 24;
      alen = 16;
    } else {
      return undefined;
    }
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (r.src && (r.src.bytes.length !== alen || !prefixMatches(r.src, buf, srcOff))) continue;
      if (r.dst && (r.dst.bytes.length !== alen || !prefixMatches(r.dst, buf, dstOff))) continue;
      return r.link;
    }
    return undefined;
  }

  /** Takes every packet the stack has ready, then re-arms the timer. */
  drain(now: number): void {
    const buf = this.host.txBuf;
    const stack = this.stack;
    for (;;) {
      const n = stack.pollTransmit(now, buf);
      if (!(n > 0)) break;
      if (n > buf.length) {
        throw new RangeError(
          `node "${this.name}": pollTransmit returned ${n}, beyond the ${buf.length}-byte buffer`,
        );
      }
      this.host.work(now, this, 'pollTransmit');
      const link = this.route(buf, n);
      const size = this.gso ? (stack.txGsoSize ?? 0) : 0;
      if (size > 0) {
        this.cut(now, buf, n, size, link);
        continue;
      }
      this.stats.transmitted++;
      if (!link) {
        this.stats.noRoute++;
        continue;
      }
      link.send(now, this.host.slab.copy(buf, n));
    }
    this.armTimer(now);
  }

  /** What the kernel does under a TUN with TSO: the segment's pieces, checksums complete. */
  private cut(now: number, buf: Uint8Array, n: number, size: number, link: Link | undefined): void {
    const g = this.gso!;
    const out = this.piece!;
    const count = g.count(buf, n, size);
    if (typeof count !== 'number') throw new RangeError(`node "${this.name}": ${count}`);
    if (count > 1) this.stats.superSegments++;
    for (let k = 0; k < count; k++) {
      const m = g.piece(buf, n, size, k, out) as number;
      this.stats.transmitted++;
      if (!link) {
        this.stats.noRoute++;
        continue;
      }
      link.send(now, this.host.slab.copy(out, m));
    }
  }

  private armTimer(now: number): void {
    const t = this.stack.pollTimeout();
    if (Number.isNaN(t)) throw new RangeError(`node "${this.name}": pollTimeout returned NaN`);
    if (t === Infinity) return;
    const at = Math.max(t, now);
    if (this.timerEntry) {
      if (this.timerAt <= at) return;
      this.host.clock.cancel(this.timerEntry);
    }
    this.timerEntry = this.host.clock.at(at, this, undefined, TIMER);
    this.timerAt = at;
  }
}
