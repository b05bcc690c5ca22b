// Whether the HAG answers over one uplink: every interval a check (the daemon's: a kernel TCP
// connection from the uplink's address to the HAG, asked for its RFC 8803 4.2.1 Info TLV or a SOCKS5
// greeting). `failures` failed checks in a row make the HAG unreachable over that uplink, one answer
// reachable again; each change is reported to the owner. Bytes that came from the HAG over the
// uplink since the last round (its subflows' counter grew) are an answer already: a busy uplink
// costs the HAG no extra connections. A line that reaches the internet but not
// the HAG stays usable for direct traffic and carries no subflow. Its timers are injectable (the
// simulation tier runs it in virtual time).
import type { ProbeClock } from '../probe/probe.js';

/** Where the rounds' timers come from (default: Node's, unref'd so they keep no daemon alive). */
export type ReachTimers = Pick<ProbeClock, 'setTimeout' | 'clearTimeout'>;

const nodeTimers: ReachTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What one check found: true (the HAG answered), a reason, or undefined (nothing to check with). */
export type HagCheck = () => Promise<true | string | undefined>;

export class HagReach {
  /** undefined until the first verdict. */
  reachable: boolean | undefined;
  reason = '';
  private fails = 0;
  private timer: unknown;
  private running = false;
  private seen = -1;

  constructor(
    private readonly check: HagCheck,
    private readonly intervalMs: number,
    private readonly failures: number,
    private readonly report: (reachable: boolean, reason: string) => void,
    /** Bytes received from the HAG over this uplink so far (its subflows' counter). */
    private readonly received: () => number = () => 0,
    private readonly timers: ReachTimers = nodeTimers,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.round();
  }

  /** The line itself went down: what the checks said no longer holds (no verdict until the next). */
  forget(): void {
    this.reachable = undefined;
    this.fails = 0;
    this.reason = '';
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async round(): Promise<void> {
    const got = this.received();
    const r = got > this.seen && this.seen >= 0 ? true : await this.check().catch((e: Error) => e.message);
    this.seen = got;
    if (!this.running) return;
    if (r === true) {
      this.fails = 0;
      this.reason = '';
      if (this.reachable !== true) {
        this.reachable = true;
        this.report(true, 'the HAG answered');
      }
    } else if (r !== undefined) {
      this.fails++;
      this.reason = r;
      if (this.fails >= this.failures && this.reachable !== false) {
        this.reachable = false;
        this.report(false, `${this.fails} checks failed, last: ${r}`);
      }
    }
    this.timer = this.timers.setTimeout(() => void this.round(), this.intervalMs);
  }
}
