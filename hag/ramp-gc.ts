// Collects the garbage of a ramp of connection opens once the ramp ends (issue 17). Opening a
// connection leaves garbage in V8's old space (handshake frames, promises, buffers promoted while
// the ramp ran), and old space is only collected when it reaches its limit (1.5x the live size
// with hag/deploy/node-flags): an idle HAG kept it resident, and V8's memory reducer never ran in
// Node here (it judged the allocation rate high after the ramp). So the daemon's once-a-second
// tick counts opens, and after a ramp of at least `minOpens` followed by `quietTicks` seconds with
// at most `quietOpens` each, asks V8 once for a memory-reducing collection (`gc`, exposed by --expose-gc in
// hag/deploy/node-flags; without it this does nothing). One pause per ramp, never per connection.

/** V8's gc() as --expose-gc exposes it (the options object of V8's GC extension). */
export type GcFunction = (opts: {
  type: 'major';
  execution: 'async';
  flavor: 'last-resort';
}) => Promise<void> | undefined;

export interface RampGcOptions {
  /** Opens since the last collection that make a ramp worth collecting after. */
  minOpens: number;
  /** Opens per second at most that count as quiet. */
  quietOpens: number;
  /** Quiet seconds in a row that end a ramp. */
  quietTicks: number;
}

export const RAMP_GC_DEFAULTS: RampGcOptions = { minOpens: 1000, quietOpens: 10, quietTicks: 2 };

/** The gc() that --expose-gc puts on the global object, if it is there. */
export function exposedGc(): GcFunction | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as GcFunction) : undefined;
}

export class RampGc {
  /** Opens since the last collection, and in the current second. */
  private sinceCollect = 0;
  private thisTick = 0;
  private quiet = 0;
  /** Collections asked for since the start. */
  collections = 0;

  constructor(
    private readonly gc: GcFunction | undefined,
    private readonly onCollect: (opens: number) => void = () => {},
    private readonly opts: RampGcOptions = RAMP_GC_DEFAULTS,
  ) {}

  /** A connection opened. */
  opened(): void {
    this.thisTick++;
  }

  /** Once a second: true when this tick asked for a collection. */
  tick(): boolean {
    const n = this.thisTick;
    this.thisTick = 0;
    this.sinceCollect += n;
    this.quiet = n <= this.opts.quietOpens ? this.quiet + 1 : 0;
    if (this.sinceCollect < this.opts.minOpens || this.quiet < this.opts.quietTicks) return false;
    const opens = this.sinceCollect;
    this.sinceCollect = 0;
    this.quiet = 0;
    if (!this.gc) return false;
    this.collections++;
    this.onCollect(opens);
    // 'last-resort': V8's memory-reducing collection (what a heap snapshot or a low-memory
    // notification does: compacts fragmented pages and gives free pages back); a plain major GC
    // freed the ramp's objects but kept the pages resident. 'async': in a task of V8's own, off
    // this tick's stack.
    void this.gc({ type: 'major', execution: 'async', flavor: 'last-resort' });
    return true;
  }
}
