// The real-time driver: runs a sans-IO core (src/driver.ts) on a TUN device. Batches of packets
// read from the TUN go to core.input; after every batch, timer or wake-up the driver drains
// core.pollTransmit into the TUN, one write per packet, and re-arms a single timer at the core's
// next deadline. Time is performance.now() in milliseconds. On a TUN with offloads each packet read
// carries a virtio_net_hdr whose checksum verdict goes to the core with it (a GRO super-packet
// too), and each packet written gets a header in front: the core writes after the header's room
// in the reused output buffer. With checksum offload and TSO the core is told so (setOffload):
// its TCP segments, up to 64 KB, leave without a checksum, and the header asks the kernel for it
// and for cutting them at the MSS the core reports (txGsoSize, SuperSegmentWriter); other packets
// get an all-zero header (complete as written).
// Reads are held off for a moment after a batch that emptied the TUN's queue (as a NIC coalesces
// interrupts and NAPI defers them, gro_flush_timeout): on slow links packets arrive one at a time,
// and every wakeup costs an event-loop turn, a read that finds nothing, an ACK and a relay write.
// The first packet after a quiet spell is read at once; a batch that filled up is followed by the
// next read at once, and so is a batch of ACKs alone (the sending side's ACK clock stays as it was).
import { performance } from 'node:perf_hooks';
import type { SansIo } from '../driver.js';
import { MAX_IP_PACKET } from '../tcp/offload.js';
import {
  SuperSegmentWriter,
  VNET_GSO_NONE,
  vnetChecksumTrusted,
  vnetGsoType,
  zeroVnetHdr,
} from '../wire/virtio-net-hdr.js';
import type { Tun } from './tun-tap/index.js';

export class TunDriverStats {
  packetsIn = 0;
  packetsOut = 0;
  /** Packets read longer than the MTU (GRO'd super-packets, gso_type set). */
  superPacketsIn = 0;
  /** Packets written longer than one MSS of payload (super-segments the kernel cuts). */
  superSegmentsOut = 0;
  /** Batches after which reading was held off (RX_HOLDOFF_MS). */
  holdoffs = 0;
  /** Packets the TUN refused (EAGAIN: its queue was full); the protocol recovers them. */
  writeDrops = 0;
}

/**
 * How long (ms) the driver waits before reading again after a batch that drained the TUN: at
 * 20-60 Mbit/s about 2-5 packets then come per wakeup instead of 1-2. Node's timers count whole
 * milliseconds; 0 reads at once, as before.
 */
export const RX_HOLDOFF_MS = 1;

/**
 * Only a batch with a packet at least this long (data, not only ACKs) is followed by a hold-off:
 * a sender's ACKs are read at once, so that its ACK clock is not slowed (measured on bench-lab
 * default with a hold-off after every batch: upload 43-46 Mbit/s against 50-53 without).
 */
export const HOLDOFF_MIN_PACKET = 512;

export interface TunDriverOptions {
  /** RX_HOLDOFF_MS unless given. */
  rxHoldoffMs?: number;
}

export class TunDriver {
  readonly stats = new TunDriverStats();
  /** The TUN's virtio_net_hdr length (0 without offloads), then room for the largest packet. */
  private readonly hdr: number;
  private readonly out: Uint8Array;
  /** The part of `out` after the header, where the core writes. */
  private readonly body: Uint8Array;
  /** Set when the core's TCP segments leave for the kernel to checksum and cut. */
  private readonly writer: SuperSegmentWriter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private flushQueued = false;
  private closed = false;
  private readonly rxHoldoffMs: number;
  /** Resumes reading after a hold-off; made once, refreshed for each. */
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly resumeRead = () => {
    if (!this.closed) this.tun.hold(false);
  };

  constructor(
    private readonly tun: Tun,
    private readonly core: SansIo,
    opts: TunDriverOptions = {},
  ) {
    this.rxHoldoffMs = opts.rxHoldoffMs ?? RX_HOLDOFF_MS;
    this.hdr = tun.vnetHdrLen;
    this.out = new Uint8Array(this.hdr + 65536);
    this.body = this.out.subarray(this.hdr);
    const o = tun.offloads;
    if (this.hdr > 0 && o.csum && core.setOffload) {
      core.setOffload(true, o.tso4 && o.tso6 ? MAX_IP_PACKET : 0);
      this.writer = new SuperSegmentWriter();
    }
    core.setWaker(() => this.wake());
  }

  start(): this {
    const hdr = this.hdr;
    this.tun.read((data, lengths, count, offsets, drained) => {
      const now = performance.now();
      let longest = 0;
      for (let i = 0; i < count; i++) {
        const off = offsets[i];
        if (lengths[i] > longest) longest = lengths[i];
        if (hdr === 0) {
          this.core.input(now, data.subarray(off, off + lengths[i]));
          continue;
        }
        if (vnetGsoType(data, off - hdr) !== VNET_GSO_NONE) this.stats.superPacketsIn++;
        this.core.input(now, data.subarray(off, off + lengths[i]), vnetChecksumTrusted(data, off - hdr));
      }
      this.stats.packetsIn += count;
      this.flush();
      if (drained && longest >= HOLDOFF_MIN_PACKET && this.rxHoldoffMs > 0) this.holdOff();
    });
    this.flush();
    return this;
  }

  /** Stops reading for rxHoldoffMs: what arrives meanwhile waits in the TUN's queue and comes in one batch. */
  private holdOff(): void {
    this.stats.holdoffs++;
    this.tun.hold(true);
    if (this.resumeTimer) this.resumeTimer.refresh();
    else this.resumeTimer = setTimeout(this.resumeRead, this.rxHoldoffMs);
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
    const hdr = this.hdr;
    const w = this.writer;
    for (;;) {
      const n = this.core.pollTransmit(now, this.body);
      if (n === 0) break;
      if (w) {
        const gso = this.core.txGsoSize ?? 0;
        if (gso === 0) zeroVnetHdr(this.out, 0);
        else if (w.write(this.out, 0, hdr, n, gso)) {
          // Not a TCP packet: a core that reports a segment size only for TCP has a bug.
          throw new Error(`core wrote a non-TCP packet with segment size ${gso}`);
        } else if (this.out[1] !== VNET_GSO_NONE) this.stats.superSegmentsOut++;
      }
      if (this.tun.write(this.out.subarray(0, hdr + n))) this.stats.packetsOut++;
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
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.tun.close();
  }
}
