// The real-time driver: runs a sans-IO core (src/driver.ts) on a TUN device. Batches of packets
// read from the TUN go to core.input; after every batch, timer or wake-up the driver drains
// core.pollTransmit into the TUN, one write per packet, and re-arms a single timer at the core's
// next deadline. Time is performance.now() in milliseconds.
import { performance } from 'node:perf_hooks';
import type { SansIo } from '../driver.js';
import type { Tun } from './tun-tap/index.js';

export class TunDriverStats {
  packetsIn = 0;
  packetsOut = 0;
  /** Packets the TUN refused (EAGAIN: its queue was full); the protocol recovers them. */
  writeDrops = 0;
}

export class TunDriver {
  readonly stats = new TunDriverStats();
  private readonly out = new Uint8Array(65536);
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private flushQueued = false;
  private closed = false;

  constructor(
    private readonly tun: Tun,
    private readonly core: SansIo,
  ) {
    core.setWaker(() => this.wake());
  }

  start(): this {
    this.tun.read((data, lengths, count) => {
      const now = performance.now();
      let off = 0;
      const slot = this.tun.slotSize;
      for (let i = 0; i < count; i++) {
        this.core.input(now, data.subarray(off, off + lengths[i]));
        off += slot;
      }
      this.stats.packetsIn += count;
      this.flush();
    });
    this.flush();
    return this;
  }

  private wake(): void {
    if (this.flushQueued || this.closed) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Sends everything the core has ready and re-arms the timer. */
  flush(): void {
    if (this.closed) return;
    const now = performance.now();
    for (;;) {
      const n = this.core.pollTransmit(now, this.out);
      if (n === 0) break;
      if (this.tun.write(this.out.subarray(0, n))) this.stats.packetsOut++;
      else this.stats.writeDrops++;
    }
    this.arm();
  }

  private arm(): void {
    const at = this.core.pollTimeout();
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(0, at - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.core.handleTimeout(performance.now());
      this.flush();
    }, delay);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.tun.close();
  }
}
