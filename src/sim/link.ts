// A unidirectional link (a bidirectional one is two of these): middleboxes, then a drop-tail
// queue measured in bytes in front of a serializer of fixed rate, then loss, propagation delay,
// jitter, reordering and duplication, then delivery to the receiving node.
//
// The serializer is computed, not simulated: a FIFO link of fixed rate starts each packet when
// the previous one is done, so a packet accepted at `now` leaves at max(now, busyUntil) + size/rate
// and its delivery time is known at once. Each packet costs one event (its delivery); the queue
// occupancy is the bytes of accepted packets whose transmission has not started yet. A link that
// goes down drops what is queued and in flight by bumping an epoch: deliveries scheduled under an
// older epoch are ignored when they fire.
//
// Every random feature draws from its own seeded stream, so enabling one does not shift another.

import { copyOut } from '../wire/bytes.js';
import { PacketView } from '../wire/packet.js';
import type { Clock, EventTarget } from './clock.js';
import type { Middlebox, MiddleboxContext } from './middlebox.js';
import { Rng } from './rng.js';

export type DropCause = 'down' | 'mtu' | 'queue' | 'loss' | 'burst' | 'middlebox';
export const DROP_CAUSES: readonly DropCause[] = ['down', 'mtu', 'queue', 'loss', 'burst', 'middlebox'];

/**
 * The Gilbert-Elliott burst-loss channel (Gilbert 1960, Elliott 1963): a two-state Markov chain,
 * Good and Bad, with a loss probability in each state. For each packet the loss is drawn in the
 * current state, then the state moves (Good to Bad with pGoodToBad, Bad to Good with pBadToGood).
 * The mean stay in Bad is 1/pBadToGood packets, the stationary share of Bad is
 * pGoodToBad / (pGoodToBad + pBadToGood); with lossGood 0 and lossBad 1 (the "simple Gilbert"
 * defaults) loss bursts have mean length 1/pBadToGood and the loss rate is that share.
 */
export interface GilbertElliott {
  pGoodToBad: number;
  pBadToGood: number;
  /** Loss probability in Good (default 0). */
  lossGood?: number;
  /** Loss probability in Bad (default 1). */
  lossBad?: number;
}

export interface LinkConfig {
  /** Bits per second; Infinity means no serialization time. */
  rate: number;
  /** One-way propagation delay in ms. */
  delay: number;
  /** Extra delay, uniform in [0, jitter) ms, per packet (default 0). */
  jitter?: number;
  /**
   * Whether jitter may reorder packets (default false: a packet never overtakes the one before
   * it, as behind a real queue; its jitter is then at least that packet's).
   */
  jitterReorders?: boolean;
  /** Independent random loss probability per packet (default 0). */
  loss?: number;
  /** Burst loss, applied in addition to `loss` (default none). */
  burstLoss?: GilbertElliott;
  /** Probability that a packet is held back by `reorderDelay`, letting later ones overtake it. */
  reorder?: number;
  /** Hold-back of a reordered packet in ms (default 5). */
  reorderDelay?: number;
  /** Probability that a packet is delivered twice (default 0). */
  duplicate?: number;
  /** Largest packet in bytes; larger ones are dropped and counted (default 1500). */
  mtu?: number;
  /**
   * Drop-tail queue in front of the serializer, in bytes (default: 50 ms at the rate, at least
   * two MTUs, like the lab's tbf limit; unbounded when the rate is). A packet that finds the
   * serializer idle never waits.
   */
  queueBytes?: number;
  /** Intervals [from, to) of virtual time during which the link is down. */
  outages?: ReadonlyArray<{ from: number; to: number }>;
  /** Middleboxes run in order on every packet accepted (before the queue). */
  middleboxes?: Middlebox[];
}

/** The configuration with every default filled in. */
export type ResolvedLinkConfig = Required<Omit<LinkConfig, 'burstLoss' | 'outages' | 'middleboxes'>> & {
  burstLoss: Required<GilbertElliott> | undefined;
};

function resolve(c: LinkConfig): ResolvedLinkConfig {
  const mtu = c.mtu ?? 1500;
  const rate = c.rate;
  if (!(rate > 0)) throw new RangeError(`link rate ${rate} must be positive`);
  if (!(c.delay >= 0)) throw new RangeError(`link delay ${c.delay} must be >= 0`);
  const queueBytes =
    c.queueBytes ?? (Number.isFinite(rate) ? Math.max(Math.ceil((rate * 0.05) / 8), 2 * mtu) : Infinity);
  const ge = c.burstLoss;
  return {
    rate,
    delay: c.delay,
    jitter: c.jitter ?? 0,
    jitterReorders: c.jitterReorders ?? false,
    loss: c.loss ?? 0,
    burstLoss: ge && {
      pGoodToBad: ge.pGoodToBad,
      pBadToGood: ge.pBadToGood,
      lossGood: ge.lossGood ?? 0,
      lossBad: ge.lossBad ?? 1,
    },
    reorder: c.reorder ?? 0,
    reorderDelay: c.reorderDelay ?? 5,
    duplicate: c.duplicate ?? 0,
    mtu,
    queueBytes,
  };
}

export class LinkStats {
  /** Packets and bytes offered to the link. */
  sentPackets = 0;
  sentBytes = 0;
  /** Packets and bytes handed to the receiving node (duplicates included). */
  deliveredPackets = 0;
  deliveredBytes = 0;
  /** Extra copies delivered by duplication. */
  duplicated = 0;
  /** Packets held back by explicit reordering. */
  reordered = 0;
  readonly dropped: Record<DropCause, number> = {
    down: 0,
    mtu: 0,
    queue: 0,
    loss: 0,
    burst: 0,
    middlebox: 0,
  };
  readonly droppedBytes: Record<DropCause, number> = {
    down: 0,
    mtu: 0,
    queue: 0,
    loss: 0,
    burst: 0,
    middlebox: 0,
  };

  get droppedPackets(): number {
    let n = 0;
    for (const c of DROP_CAUSES) n += this.dropped[c];
    return n;
  }
}

/** Who receives what a link delivers. */
export interface LinkReceiver {
  receive(now: number, packet: Uint8Array, link: Link): void;
}

/**
 * An observer of a link: 'send' sees each packet offered (before middleboxes), 'deliver' each one
 * handed to the receiver, 'drop' each one dropped with its cause (except packets in flight when
 * the link goes down: those are only counted). Packets must not be modified or kept.
 */
export type LinkTap = (now: number, packet: Uint8Array, link: Link, cause?: DropCause) => void;
export type TapPoint = 'send' | 'deliver' | 'drop';

const STATE_DOWN = -1;
const STATE_UP = -2;

class Ctx implements MiddleboxContext {
  now = 0;
  packet: Uint8Array = new Uint8Array(0);
  private readonly pv = new PacketView();
  private parsed = false;
  private ok = false;

  constructor(
    readonly link: Link,
    readonly rng: Rng,
  ) {}

  reset(now: number, packet: Uint8Array): void {
    this.now = now;
    this.packet = packet;
    this.parsed = false;
  }

  view(): PacketView | undefined {
    if (!this.parsed) {
      this.parsed = true;
      this.ok = this.pv.wrap(this.packet) === undefined;
    }
    return this.ok ? this.pv : undefined;
  }

  invalidate(): void {
    this.parsed = false;
  }
}

export class Link implements EventTarget {
  readonly stats = new LinkStats();
  readonly middleboxes: Middlebox[];
  private cfg: ResolvedLinkConfig;
  private up = true;
  private epoch = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  /** When the serializer finishes the last accepted packet. */
  private busyUntil = 0;
  /** Accepted packets that have not started transmission: start times and sizes, FIFO. */
  private qStart: number[] = [];
  private qLen: number[] = [];
  private qHead = 0;
  private queuedBytes = 0;
  /** Latest delivery time scheduled (to keep jitter from reordering). */
  private lastArrival = -Infinity;
  private geBad = false;
  private readonly rLoss: Rng;
  private readonly rBurst: Rng;
  private readonly rJitter: Rng;
  private readonly rReorder: Rng;
  private readonly rDup: Rng;
  private readonly ctx: Ctx;
  private sendTaps: LinkTap[] = [];
  private deliverTaps: LinkTap[] = [];
  private dropTaps: LinkTap[] = [];

  constructor(
    readonly name: string,
    private readonly clock: Clock,
    config: LinkConfig,
    seed: number,
    private readonly receiver: LinkReceiver,
    /** Names of the sending and receiving nodes (for messages and routing checks). */
    readonly from = '',
    readonly to = '',
  ) {
    this.cfg = resolve(config);
    this.middleboxes = [...(config.middleboxes ?? [])];
    const base = Rng.derive(seed, `link:${name}`);
    this.rLoss = base.fork('loss');
    this.rBurst = base.fork('burst');
    this.rJitter = base.fork('jitter');
    this.rReorder = base.fork('reorder');
    this.rDup = base.fork('duplicate');
    this.ctx = new Ctx(this, base.fork('middlebox'));
    for (const o of config.outages ?? []) {
      this.setUpAt(o.from, false);
      this.setUpAt(o.to, true);
    }
  }

  /** The configuration in force, defaults filled in. */
  get config(): Readonly<ResolvedLinkConfig> {
    return this.cfg;
  }

  /**
   * Changes parameters (rate, delay, loss, ...) from now on; packets already accepted keep the
   * times they were given. Outages and middleboxes are not changed here.
   */
  configure(changes: Partial<Omit<LinkConfig, 'outages' | 'middleboxes'>>): void {
    const prev = this.cfg;
    const merged: LinkConfig = { ...prev, burstLoss: prev.burstLoss, ...changes };
    // A new rate without a new queue size keeps the old queue size.
    if (changes.queueBytes === undefined) merged.queueBytes = prev.queueBytes;
    this.cfg = resolve(merged);
  }

  addMiddlebox(mb: Middlebox): void {
    this.middleboxes.push(mb);
  }

  removeMiddlebox(mb: Middlebox): void {
    const i = this.middleboxes.indexOf(mb);
    if (i >= 0) this.middleboxes.splice(i, 1);
  }

  tap(point: TapPoint, fn: LinkTap): void {
    (point === 'send' ? this.sendTaps : point === 'deliver' ? this.deliverTaps : this.dropTaps).push(fn);
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Bytes waiting in the queue (not yet being transmitted) at the current time. */
  get queued(): number {
    this.dequeueStarted(this.clock.now);
    return this.queuedBytes;
  }

  /**
   * Takes the link down (dropping everything queued and in flight, and every packet offered
   * until it is up again) or brings it back up.
   */
  setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    if (up) return;
    this.epoch++;
    this.stats.dropped.down += this.inFlight;
    this.stats.droppedBytes.down += this.inFlightBytes;
    this.inFlight = 0;
    this.inFlightBytes = 0;
    this.qStart.length = 0;
    this.qLen.length = 0;
    this.qHead = 0;
    this.queuedBytes = 0;
    this.busyUntil = this.clock.now;
    this.lastArrival = -Infinity;
  }

  /** Schedules setUp(up) at virtual time `time`. */
  setUpAt(time: number, up: boolean): void {
    this.clock.at(time, this, undefined, up ? STATE_UP : STATE_DOWN);
  }

  onEvent(now: number, arg: unknown, tag: number): void {
    if (tag === STATE_DOWN || tag === STATE_UP) {
      this.setUp(tag === STATE_UP);
      return;
    }
    // A delivery; one from before the link last went down was counted as dropped then.
    if (tag !== this.epoch) return;
    const packet = arg as Uint8Array;
    this.inFlight--;
    this.inFlightBytes -= packet.length;
    this.stats.deliveredPackets++;
    this.stats.deliveredBytes += packet.length;
    const taps = this.deliverTaps;
    for (let i = 0; i < taps.length; i++) taps[i](now, packet, this);
    this.receiver.receive(now, packet, this);
  }

  /** Offers a packet at `now`. The link owns the bytes from here on (it may edit them). */
  send(now: number, packet: Uint8Array): void {
    const st = this.stats;
    const cfg = this.cfg;
    st.sentPackets++;
    st.sentBytes += packet.length;
    const taps = this.sendTaps;
    for (let i = 0; i < taps.length; i++) taps[i](now, packet, this);

    if (!this.up) {
      this.drop(now, packet, 'down');
      return;
    }
    if (packet.length > cfg.mtu) {
      this.drop(now, packet, 'mtu');
      return;
    }

    let p = packet;
    const mbs = this.middleboxes;
    if (mbs.length > 0) {
      const ctx = this.ctx;
      ctx.reset(now, p);
      for (let i = 0; i < mbs.length; i++) {
        const v = mbs[i](p, ctx);
        if (v === 'deliver') continue;
        if (v === 'drop') {
          this.drop(now, p, 'middlebox');
          return;
        }
        p = v;
        ctx.reset(now, p);
      }
    }
    const len = p.length;

    // Drop-tail queue in front of the serializer.
    this.dequeueStarted(now);
    let start = now;
    if (this.busyUntil > now) {
      if (this.queuedBytes + len > cfg.queueBytes) {
        this.drop(now, p, 'queue');
        return;
      }
      start = this.busyUntil;
      this.qStart.push(start);
      this.qLen.push(len);
      this.queuedBytes += len;
    }
    const txEnd = Number.isFinite(cfg.rate) ? start + (len * 8000) / cfg.rate : start;
    this.busyUntil = txEnd;

    // Loss on the wire: the packet has used the serializer either way.
    const ge = cfg.burstLoss;
    if (ge) {
      const lost = this.rBurst.chance(this.geBad ? ge.lossBad : ge.lossGood);
      this.geBad = this.geBad ? !this.rBurst.chance(ge.pBadToGood) : this.rBurst.chance(ge.pGoodToBad);
      if (lost) {
        this.drop(now, p, 'burst');
        return;
      }
    }
    if (this.rLoss.chance(cfg.loss)) {
      this.drop(now, p, 'loss');
      return;
    }

    let arrival = txEnd + cfg.delay;
    if (cfg.jitter > 0) arrival += this.rJitter.next() * cfg.jitter;
    if (!cfg.jitterReorders && arrival < this.lastArrival) arrival = this.lastArrival;
    this.lastArrival = arrival;
    if (this.rReorder.chance(cfg.reorder)) {
      // Held back: later packets overtake it (it does not move lastArrival).
      arrival += cfg.reorderDelay;
      st.reordered++;
    }
    this.schedule(arrival, p);
    if (this.rDup.chance(cfg.duplicate)) {
      st.duplicated++;
      this.schedule(arrival, copyOut(p, 0, p.length));
    }
  }

  private schedule(at: number, p: Uint8Array): void {
    this.inFlight++;
    this.inFlightBytes += p.length;
    this.clock.at(at, this, p, this.epoch);
  }

  private drop(now: number, p: Uint8Array, cause: DropCause): void {
    this.stats.dropped[cause]++;
    this.stats.droppedBytes[cause] += p.length;
    const taps = this.dropTaps;
    for (let i = 0; i < taps.length; i++) taps[i](now, p, this, cause);
  }

  /** Forgets queued packets whose transmission has started by `now`. */
  private dequeueStarted(now: number): void {
    const qs = this.qStart;
    let h = this.qHead;
    while (h < qs.length && qs[h] <= now) {
      this.queuedBytes -= this.qLen[h];
      h++;
    }
    if (h === qs.length) {
      qs.length = 0;
      this.qLen.length = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > qs.length) {
      qs.splice(0, h);
      this.qLen.splice(0, h);
      h = 0;
    }
    this.qHead = h;
  }
}
