// A fixed one-way delay around a sans-IO core, both ways, for trying things over a long path on
// a host whose kernel has no netem (the test tools' "--delay"): packets the core sends and packets
// it receives are held for the delay, in order. A tool, not the hot path: it copies each packet.
import type { SansIo } from '../../src/driver.js';

export class DelayedCore implements SansIo {
  private readonly outQ: { at: number; pkt: Uint8Array }[] = [];
  private readonly inQ: { at: number; pkt: Uint8Array }[] = [];

  constructor(
    private readonly core: SansIo,
    private readonly delayMs: number,
  ) {}

  input(now: number, packet: Uint8Array): void {
    this.inQ.push({ at: now + this.delayMs, pkt: Uint8Array.from(packet) });
  }

  pollTransmit(now: number, buf: Uint8Array): number {
    this.deliver(now);
    for (;;) {
      const n = this.core.pollTransmit(now, buf);
      if (n === 0) break;
      this.outQ.push({ at: now + this.delayMs, pkt: buf.slice(0, n) });
    }
    const head = this.outQ[0];
    if (!head || head.at > now) return 0;
    this.outQ.shift();
    buf.set(head.pkt);
    return head.pkt.length;
  }

  pollTimeout(): number {
    return Math.min(
      this.core.pollTimeout(),
      this.inQ[0]?.at ?? Number.POSITIVE_INFINITY,
      this.outQ[0]?.at ?? Number.POSITIVE_INFINITY,
    );
  }

  handleTimeout(now: number): void {
    this.deliver(now);
    if (this.core.pollTimeout() <= now) this.core.handleTimeout(now);
  }

  setWaker(wake: () => void): void {
    this.core.setWaker(wake);
  }

  private deliver(now: number): void {
    while (this.inQ.length && this.inQ[0].at <= now) this.core.input(now, this.inQ.shift()!.pkt);
  }
}
