// A two-stack harness in the spirit of quinn-proto's Pair: two TcpStacks joined by a perfect
// in-memory wire (optionally with a packet filter), driven in virtual time. For stack-level tests;
// link emulation lives in the simulator (src/sim).
import { type StackOptions, TcpStack } from '../../../src/tcp/stack.js';

export const A_ADDR = Uint8Array.of(198, 18, 1, 1);
export const B_ADDR = Uint8Array.of(198, 18, 2, 1);

export class Pair {
  now = 0;
  readonly a: TcpStack;
  readonly b: TcpStack;
  /** Return false to drop a packet going from `from` ('a' or 'b'). */
  filter: (from: 'a' | 'b', pkt: Uint8Array) => boolean = () => true;
  /** One-way delay in ms. */
  delay = 1;
  private readonly q: { at: number; to: 'a' | 'b'; pkt: Uint8Array }[] = [];
  private readonly buf = new Uint8Array(65536);
  sent = { a: 0, b: 0 };

  constructor(opts: StackOptions = {}, optsB: StackOptions = opts) {
    this.a = new TcpStack(opts);
    this.b = new TcpStack(optsB);
  }

  private drain(): void {
    for (const [name, st] of [
      ['a', this.a],
      ['b', this.b],
    ] as const) {
      for (;;) {
        const n = st.pollTransmit(this.now, this.buf);
        if (n === 0) break;
        const pkt = this.buf.slice(0, n);
        this.sent[name]++;
        if (this.filter(name, pkt))
          this.q.push({ at: this.now + this.delay, to: name === 'a' ? 'b' : 'a', pkt });
      }
    }
  }

  /**
   * Like run, but lets the event loop turn every `sliceMs` of virtual time, so that stream events
   * (which Node emits asynchronously) are delivered while the pair runs.
   */
  async runAsync(done: () => boolean, limitMs = 60_000, sliceMs = 5): Promise<number> {
    const end = this.now + limitMs;
    while (!done() && this.now < end) {
      this.run(done, Math.min(sliceMs, end - this.now));
      await new Promise((r) => setImmediate(r));
    }
    return this.now;
  }

  /** Runs until `done()` or `limitMs` of virtual time. Returns the time reached. */
  run(done: () => boolean = () => false, limitMs = 60_000): number {
    const end = this.now + limitMs;
    for (let guard = 0; guard < 10_000_000; guard++) {
      this.drain();
      if (done()) return this.now;
      const nextPkt = this.q.length ? this.q[0].at : Number.POSITIVE_INFINITY;
      const next = Math.min(nextPkt, this.a.pollTimeout(), this.b.pollTimeout());
      if (next === Number.POSITIVE_INFINITY || next > end) {
        this.now = end;
        return this.now;
      }
      this.now = Math.max(this.now, next);
      while (this.q.length && this.q[0].at <= this.now) {
        const p = this.q.shift()!;
        (p.to === 'a' ? this.a : this.b).input(this.now, p.pkt);
      }
      if (this.a.pollTimeout() <= this.now) this.a.handleTimeout(this.now);
      if (this.b.pollTimeout() <= this.now) this.b.handleTimeout(this.now);
    }
    throw new Error('pair did not settle');
  }
}
