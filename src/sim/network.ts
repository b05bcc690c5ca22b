// The simulated network: named nodes (SansIo stacks), links between them, per-node route tables,
// pcap captures, and the run loop that advances virtual time event by event. Everything random
// comes from one seed, split into a stream per link and feature, so a run is reproducible.
import type { SansIo } from '../driver.js';
import { PcapWriter } from '../io/pcap.js';
import type { RandomFill } from '../util/random.js';
import { parsePrefix } from '../wire/addr.js';
import { Clock, type EventEntry, type EventTarget } from './clock.js';
import { Link, type LinkConfig, type TapPoint } from './link.js';
import { type NodeHost, type NodeOptions, SimNode } from './node.js';
import { Rng } from './rng.js';
import { PacketSlab } from './slab.js';

export interface NetworkOptions {
  /** Seed of every random stream (default 1). */
  seed?: number;
  /** Virtual time at the start, ms (default 0). */
  start?: number;
  /**
   * Events plus transmitted packets allowed at one instant before the run is declared stuck
   * (default 1,000,000): a stack that keeps producing packets or timers without time advancing.
   */
  maxWorkPerInstant?: number;
}

/** A link in both directions: `ab` from the first node to the second, `ba` back. */
export class DuplexLink {
  constructor(
    readonly name: string,
    readonly ab: Link,
    readonly ba: Link,
  ) {}

  /** Both directions down (dropping what they hold) or up. */
  setUp(up: boolean): void {
    this.ab.setUp(up);
    this.ba.setUp(up);
  }

  setUpAt(time: number, up: boolean): void {
    this.ab.setUpAt(time, up);
    this.ba.setUpAt(time, up);
  }

  /** Down during [from, to). */
  outage(from: number, to: number): void {
    this.setUpAt(from, false);
    this.setUpAt(to, true);
  }

  get isUp(): boolean {
    return this.ab.isUp && this.ba.isUp;
  }

  /** The direction that leaves `node`. */
  from(node: SimNode | string): Link {
    const n = typeof node === 'string' ? node : node.name;
    if (this.ab.from === n) return this.ab;
    if (this.ba.from === n) return this.ba;
    throw new Error(`link "${this.name}" does not leave node "${n}"`);
  }
}

export interface DuplexConfig extends LinkConfig {
  /** Name of the link (default "a-b"); the directions are "<name>:a>b" and "<name>:b>a". */
  name?: string;
  /** Overrides for the second direction (b to a), e.g. an asymmetric DSL rate. */
  reverse?: Partial<LinkConfig>;
}

export interface RouteSpec {
  /** Source prefix, e.g. "198.18.1.0/24" or "2001:db8:1::/48" (absent: any). */
  src?: string;
  /** Destination prefix (absent: any). */
  dst?: string;
  /** The link to take: a link leaving the node, or a duplex link (its direction leaving the node). */
  via: Link | DuplexLink;
}

export interface CaptureOptions {
  /** 'deliver' (default): packets as the receiver gets them, at arrival; 'send': as offered. */
  point?: Exclude<TapPoint, 'drop'>;
}

const callbackTarget: EventTarget = {
  onEvent(now: number, arg: unknown): void {
    (arg as (now: number) => void)(now);
  },
};

export class Network implements NodeHost {
  readonly clock: Clock;
  readonly seed: number;
  /** One transmit buffer shared by all nodes: packets are copied out of it. */
  readonly txBuf = new Uint8Array(65536);
  readonly slab = new PacketSlab();
  private readonly nodeMap = new Map<string, SimNode>();
  private readonly linkMap = new Map<string, Link>();
  private readonly captures: PcapWriter[] = [];
  private readonly maxWork: number;
  private instant = Number.NaN;
  private workAtInstant = 0;
  /** Events processed so far. */
  events = 0;

  constructor(opts: NetworkOptions = {}) {
    this.seed = (opts.seed ?? 1) >>> 0;
    this.clock = new Clock(opts.start ?? 0);
    this.maxWork = opts.maxWorkPerInstant ?? 1_000_000;
  }

  /**
   * The random source of the stack or endpoint named `label` (StackOptions.random,
   * EndpointOptions.random): a stream of the run's seed, so that ISNs, MPTCP keys and, from the
   * ISS, BBR's probe timing repeat with the seed.
   */
  random(label: string): RandomFill {
    const rng = Rng.derive(this.seed, `secrets:${label}`);
    return (out) => rng.fill(out);
  }

  /** Current virtual time in ms. */
  get now(): number {
    return this.clock.now;
  }

  get nodes(): SimNode[] {
    return [...this.nodeMap.values()];
  }

  get links(): Link[] {
    return [...this.linkMap.values()];
  }

  /** Adds a stack under a unique name; it is polled once at the current time. */
  addNode(name: string, stack: SansIo, opts?: NodeOptions): SimNode {
    if (this.nodeMap.has(name)) throw new Error(`node "${name}" exists already`);
    const n = new SimNode(name, stack, this, opts);
    this.nodeMap.set(name, n);
    n.wake();
    return n;
  }

  node(name: string): SimNode {
    const n = this.nodeMap.get(name);
    if (!n) throw new Error(`no node "${name}"`);
    return n;
  }

  link(name: string): Link {
    const l = this.linkMap.get(name);
    if (!l) throw new Error(`no link "${name}"`);
    return l;
  }

  /** A unidirectional link from one node to another. */
  addLink(from: SimNode | string, to: SimNode | string, config: LinkConfig & { name?: string }): Link {
    const a = this.resolveNode(from);
    const b = this.resolveNode(to);
    const name = config.name ?? `${a.name}>${b.name}`;
    if (this.linkMap.has(name)) throw new Error(`link "${name}" exists already`);
    const l = new Link(name, this.clock, config, this.seed, b, a.name, b.name);
    this.linkMap.set(name, l);
    a.links.push(l);
    return l;
  }

  /** A bidirectional link: two unidirectional ones with the same parameters (unless `reverse`). */
  connect(a: SimNode | string, b: SimNode | string, config: DuplexConfig): DuplexLink {
    const na = this.resolveNode(a);
    const nb = this.resolveNode(b);
    const { name: given, reverse, ...cfg } = config;
    const name = given ?? `${na.name}-${nb.name}`;
    const ab = this.addLink(na, nb, { ...cfg, name: `${name}:${na.name}>${nb.name}` });
    const ba = this.addLink(nb, na, {
      ...cfg,
      // Middleboxes are per direction: the reverse gets only its own.
      middleboxes: reverse?.middleboxes ?? [],
      ...reverse,
      name: `${name}:${nb.name}>${na.name}`,
    });
    return new DuplexLink(name, ab, ba);
  }

  /**
   * Appends a route to a node's table. The first route whose source and destination prefixes
   * match a packet picks its link; a node without routes uses its only link.
   */
  route(node: SimNode | string, spec: RouteSpec): void {
    const n = this.resolveNode(node);
    const link = spec.via instanceof DuplexLink ? spec.via.from(n) : spec.via;
    if (link.from !== n.name) throw new Error(`link "${link.name}" does not leave node "${n.name}"`);
    n.routes.push({
      src: spec.src === undefined ? undefined : parsePrefix(spec.src),
      dst: spec.dst === undefined ? undefined : parsePrefix(spec.dst),
      link,
    });
  }

  /** Runs `fn` at virtual time `time` (a test's scripted action: write data, change a link). */
  at(time: number, fn: (now: number) => void): EventEntry {
    return this.clock.at(time, callbackTarget, fn);
  }

  /**
   * Records the packets of a link (both directions of a duplex link, into one file) as a
   * LINKTYPE_RAW pcap: to `path`, or in memory without one (PcapWriter.toBuffer()). Call close()
   * at the end of the run to flush files.
   */
  capture(target: Link | DuplexLink, path?: string, opts: CaptureOptions = {}): PcapWriter {
    const w = new PcapWriter(path);
    const write = (now: number, packet: Uint8Array): void => w.write(packet, now);
    const point = opts.point ?? 'deliver';
    for (const l of target instanceof DuplexLink ? [target.ab, target.ba] : [target]) l.tap(point, write);
    this.captures.push(w);
    return w;
  }

  /** Flushes and closes every capture. */
  close(): void {
    for (const w of this.captures) w.close();
  }

  /**
   * Processes every event up to and including `untilMs`, then sets the time to it. With
   * Infinity it runs until no event is left (and the time stays at the last event).
   */
  run(untilMs: number): void {
    const clock = this.clock;
    while (clock.step(untilMs)) this.countEvent();
    if (Number.isFinite(untilMs)) clock.advanceTo(untilMs);
  }

  /** Runs for `ms` of virtual time from now. */
  runFor(ms: number): void {
    this.run(this.clock.now + ms);
  }

  /**
   * Runs until `done()` holds (checked before starting and after every event) or `maxMs` of
   * virtual time from now have passed. Returns whether `done()` held; the time is then that of
   * the event that made it true (or now + maxMs).
   */
  runUntil(done: () => boolean, maxMs: number): boolean {
    if (done()) return true;
    const deadline = this.clock.now + maxMs;
    const clock = this.clock;
    while (clock.step(deadline)) {
      this.countEvent();
      if (done()) return true;
    }
    if (Number.isFinite(deadline)) clock.advanceTo(deadline);
    return done();
  }

  /** Runs until no event is left or `maxMs` have passed; true when the network went idle. */
  runUntilIdle(maxMs = Infinity): boolean {
    const deadline = this.clock.now + maxMs;
    while (this.clock.step(deadline)) this.countEvent();
    return this.clock.nextTime() === Infinity;
  }

  /** NodeHost: counts a transmitted packet against the per-instant budget. */
  work(now: number, who: SimNode, what: string): void {
    if (now !== this.instant) {
      this.instant = now;
      this.workAtInstant = 0;
    }
    if (++this.workAtInstant > this.maxWork) this.stuck(`node "${who.name}" ${what}`);
  }

  private countEvent(): void {
    this.events++;
    const now = this.clock.now;
    if (now !== this.instant) {
      this.instant = now;
      this.workAtInstant = 0;
    }
    if (++this.workAtInstant > this.maxWork) this.stuck('an event');
  }

  private stuck(last: string): never {
    throw new Error(
      `simulation stuck at t=${this.clock.now} ms: more than ${this.maxWork} events and packets at the ` +
        `same instant (the last: ${last}). A stack keeps transmitting, or its pollTimeout stays at or ` +
        'before now after handleTimeout, without virtual time advancing.',
    );
  }

  private resolveNode(n: SimNode | string): SimNode {
    return typeof n === 'string' ? this.node(n) : n;
  }
}
