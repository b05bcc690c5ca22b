// The real-time driver: runs a sans-IO core (src/driver.ts) on a TUN device. Batches of packets
// read from the TUN go to core.input; after every batch, timer or wake-up the driver drains
// core.pollTransmit into the TUN, one write per packet, and re-arms a single timer at the core's
// next deadline. Time is performance.now() in milliseconds. On a TUN with offloads each packet read
// carries a virtio_net_hdr whose checksum verdict goes to the core with it (a GRO super-packet
// too), and each packet written gets a header in front: the core writes after the header's room
// in the reused output buffer, which stays all zero (an ordinary packet, checksum complete).
import { performance } from 'node:perf_hooks';
import type { SansIo } from '../driver.js';
import { VNET_GSO_NONE, vnetChecksumTrusted, vnetGsoType } from '../wire/virtio-net-hdr.js';
import type { Tun } from './tun-tap/index.js';

export class TunDriverStats {
  packetsIn = 0;
  packetsOut = 0;
  /** Packets read longer than the MTU (GRO'd super-packets, gso_type set). */
  superPacketsIn = 0;
  /** Packets the TUN refused (EAGAIN: its queue was full); the protocol recovers them. */
  writeDrops = 0;
}

export class TunDriver {
  readonly stats = new TunDriverStats();
  /** The TUN's virtio_net_hdr length (0 without offloads), then room for the largest packet. */
  private readonly hdr: number;
  private readonly out: Uint8Array;
  /** The part of `out` after the header, where the core writes. */
  private readonly body: Uint8Array;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private flushQueued = false;
  private closed = false;

  constructor(
    private readonly tun: Tun,
    private readonly core: SansIo,
  ) {
    this.hdr = tun.vnetHdrLen;
    this.out = new Uint8Array(this.hdr + 65536);
    this.body = this.out.subarray(this.hdr);
    core.setWaker(() => this.wake());
  }

  start(): this {
    const hdr = this.hdr;
    this.tun.read((data, lengths, count, offsets) => {
      const now = performance.now();
      for (let i = 0; i < count; i++) {
        const off = offsets[i];
        if (hdr === 0) {
          this.core.input(now, data.subarray(off, off + lengths[i]));
          continue;
        }
        if (vnetGsoType(data, off - hdr) !== VNET_GSO_NONE) this.stats.superPacketsIn++;
        this.core.input(now, data.subarray(off, off + lengths[i]), vnetChecksumTrusted(data, off - hdr));
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
      const n = this.core.pollTransmit(now, this.body);
      if (n === 0) break;
      if (this.tun.write(this.out.subarray(0, this.hdr + n))) this.stats.packetsOut++;
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
