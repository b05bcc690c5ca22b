// The TUN driver on a TUN with offloads (a stand-in for the addon's Tun): packets are taken from
// the batch by offset, each with its virtio_net_hdr's checksum verdict, GRO super-packets are
// counted, and every packet written has a zero virtio_net_hdr in front of what the core wrote;
// with checksum offload and TSO the core is told, and its TCP segments go out as super-segments.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SansIo } from '../../../src/driver.js';
import { HOLDOFF_MIN_PACKET, RX_HOLDOFF_MS, TunDriver } from '../../../src/io/tun-driver.js';
import type { BatchHandler, Tun } from '../../../src/io/tun-tap/index.js';
import {
  emitPacket,
  ipReprOf,
  packetLen,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_HDR_LEN,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
  writeVnetHdr,
} from '../../../src/wire/index.js';

const NO_OFFLOADS = { csum: false, tso4: false, tso6: false, uso4: false, uso6: false };
const TSO = { csum: true, tso4: true, tso6: true, uso4: false, uso6: false };

class FakeTun {
  readonly vnetHdrLen: number;
  /** As the addon has it: the largest packet with offloads, else the MTU (the slot size). */
  readonly slotSize: number;
  readonly written: Uint8Array[] = [];
  onBatch: BatchHandler | undefined;
  /** hold() calls, in order: false while held. */
  readonly reading: boolean[] = [];
  constructor(
    hdr: number,
    readonly offloads = NO_OFFLOADS,
  ) {
    this.vnetHdrLen = hdr;
    this.slotSize = hdr > 0 ? 65536 : 1500;
  }
  read(onBatch: BatchHandler): this {
    this.onBatch = onBatch;
    return this;
  }
  write(p: Uint8Array): boolean {
    this.written.push(Uint8Array.from(p));
    return true;
  }
  hold(on: boolean): void {
    this.reading.push(!on);
  }
  close(): void {}
}

class Recorder implements SansIo {
  readonly got: { bytes: number[]; verified: boolean | undefined }[] = [];
  private toSend: Uint8Array[] = [];
  input(_now: number, packet: Uint8Array, checksumVerified?: boolean): void {
    this.got.push({ bytes: Array.from(packet), verified: checksumVerified });
  }
  pollTransmit(_now: number, buf: Uint8Array): number {
    const p = this.toSend.shift();
    if (!p) return 0;
    buf.set(p);
    return p.length;
  }
  send(p: Uint8Array): void {
    this.toSend.push(p);
  }
  pollTimeout(): number {
    return Number.POSITIVE_INFINITY;
  }
  handleTimeout(): void {}
  setWaker(): void {}
}

/** A core that takes offloads: the segment size of each packet is given with it. */
class OffloadCore extends Recorder {
  offload: [boolean, number] | undefined;
  txGsoSize = 0;
  private readonly sizes: number[] = [];
  setOffload(csum: boolean, maxPacket: number): void {
    this.offload = [csum, maxPacket];
  }
  override pollTransmit(now: number, buf: Uint8Array): number {
    this.txGsoSize = this.sizes.shift() ?? 0;
    return super.pollTransmit(now, buf);
  }
  sendSized(p: Uint8Array, gsoSize: number): void {
    this.send(p);
    this.sizes.push(gsoSize);
  }
}

function tcpPacket(payloadLen: number): Uint8Array {
  const p = {
    ip: ipReprOf(Uint8Array.of(198, 18, 0, 1), Uint8Array.of(198, 18, 0, 2)),
    tcp: {
      srcPort: 1,
      dstPort: 2,
      seq: 7,
      ack: 9,
      flags: 0x10,
      window: 100,
      urgent: 0,
      options: [],
      payload: new Uint8Array(payloadLen).fill(5),
    },
  };
  const b = new Uint8Array(packetLen(p));
  emitPacket(p, b);
  return b;
}

describe('TunDriver with offloads', () => {
  it('hands each packet with its checksum verdict, counts super-packets, writes behind a zero header', () => {
    const tun = new FakeTun(VNET_HDR_LEN);
    const core = new Recorder();
    const driver = new TunDriver(tun as unknown as Tun, core).start();
    // Three packets packed one after another, each behind its header.
    const data = Buffer.alloc(200, 0xee);
    const offsets = new Uint32Array(64);
    const lengths = new Uint32Array(64);
    const flags = [0, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM];
    let at = 0;
    for (let i = 0; i < 3; i++) {
      writeVnetHdr(data, at, flags[i]!, i === 2 ? VNET_GSO_TCPV4 : 0, 0, i === 2 ? 1448 : 0, 0, 0);
      offsets[i] = at + VNET_HDR_LEN;
      lengths[i] = 3 + i;
      data.fill(i + 1, offsets[i]!, offsets[i]! + lengths[i]!);
      at = offsets[i]! + lengths[i]!;
    }
    core.send(Uint8Array.of(0x45, 1, 2));
    tun.onBatch!(data, lengths, 3, offsets, false);
    expect(core.got).toEqual([
      { bytes: [1, 1, 1], verified: false },
      { bytes: [2, 2, 2, 2], verified: true },
      { bytes: [3, 3, 3, 3, 3], verified: true },
    ]);
    expect(driver.stats.superPacketsIn).toBe(1);
    expect(tun.written).toEqual([Uint8Array.of(...new Array(VNET_HDR_LEN).fill(0), 0x45, 1, 2)]);
  });

  it('with checksum offload and TSO, tells the core and writes its TCP segments as super-segments', () => {
    const tun = new FakeTun(VNET_HDR_LEN, TSO);
    const core = new OffloadCore();
    const driver = new TunDriver(tun as unknown as Tun, core);
    expect(core.offload).toEqual([true, 65535]);
    core.sendSized(tcpPacket(3000), 1000);
    core.sendSized(tcpPacket(0), 1000);
    core.sendSized(Uint8Array.of(0x45, 1, 2), 0);
    driver.flush();
    const [sup, ack, other] = tun.written;
    expect([vnetFlags(sup!, 0), vnetGsoType(sup!, 0), vnetGsoSize(sup!, 0)]).toEqual([
      VNET_F_NEEDS_CSUM,
      VNET_GSO_TCPV4,
      1000,
    ]);
    expect([vnetCsumStart(sup!, 0), vnetCsumOffset(sup!, 0)]).toEqual([20, 16]);
    expect(sup!.length).toBe(VNET_HDR_LEN + 40 + 3000);
    // An ACK: only the checksum is left to the kernel; a packet complete as written: zero header.
    expect([vnetFlags(ack!, 0), vnetGsoType(ack!, 0)]).toEqual([VNET_F_NEEDS_CSUM, 0]);
    expect(Array.from(other!)).toEqual([...new Array(VNET_HDR_LEN).fill(0), 0x45, 1, 2]);
    expect(driver.stats.superSegmentsOut).toBe(1);
  });

  it('with checksum offload but no TSO, segments stay one MSS', () => {
    const core = new OffloadCore();
    new TunDriver(new FakeTun(VNET_HDR_LEN, { ...TSO, tso6: false }) as unknown as Tun, core);
    expect(core.offload).toEqual([true, 0]);
  });

  // A guard of the fallback path (unchanged, so it passes before this change too).
  it('without offloads, packets are plain both ways', () => {
    const tun = new FakeTun(0);
    const core = new Recorder();
    new TunDriver(tun as unknown as Tun, core).start();
    const data = Buffer.alloc(3000, 7);
    const offsets = Uint32Array.of(0, 1500);
    core.send(Uint8Array.of(0x45, 9));
    tun.onBatch!(data, Uint32Array.of(2, 3), 2, offsets, false);
    expect(core.got).toEqual([
      { bytes: [7, 7], verified: undefined },
      { bytes: [7, 7, 7], verified: undefined },
    ]);
    expect(tun.written).toEqual([Uint8Array.of(0x45, 9)]);
  });
});

describe('TunDriver read hold-off', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const data = Buffer.alloc(3000, 7);
  /** Two data segments (a sender's ACKs alone are shorter than HOLDOFF_MIN_PACKET). */
  const lengths = Uint32Array.of(1400, HOLDOFF_MIN_PACKET);
  const acks = Uint32Array.of(60, HOLDOFF_MIN_PACKET - 1);
  const offsets = Uint32Array.of(0, 1500);

  it('after a batch that drained the TUN, reads again only after RX_HOLDOFF_MS', () => {
    vi.useFakeTimers();
    const tun = new FakeTun(0);
    const core = new Recorder();
    const driver = new TunDriver(tun as unknown as Tun, core).start();
    core.send(Uint8Array.of(0x45, 9));
    tun.onBatch!(data, lengths, 2, offsets, true);
    // The batch is acted on at once (its answer written), then reading pauses.
    expect(tun.written).toEqual([Uint8Array.of(0x45, 9)]);
    expect(tun.reading).toEqual([false]);
    vi.advanceTimersByTime(RX_HOLDOFF_MS - 0.5);
    expect(tun.reading).toEqual([false]);
    vi.advanceTimersByTime(0.5);
    expect(tun.reading).toEqual([false, true]);
    // The same timer serves the next hold-off.
    tun.onBatch!(data, lengths, 1, offsets, true);
    vi.advanceTimersByTime(RX_HOLDOFF_MS);
    expect(tun.reading).toEqual([false, true, false, true]);
    expect(driver.stats.holdoffs).toBe(2);
    driver.close();
  });

  it('a batch that filled up (more packets queued) is followed by the next read at once', () => {
    vi.useFakeTimers();
    const tun = new FakeTun(0);
    const driver = new TunDriver(tun as unknown as Tun, new Recorder()).start();
    tun.onBatch!(data, lengths, 2, offsets, false);
    expect(tun.reading).toEqual([]);
    expect(driver.stats.holdoffs).toBe(0);
  });

  it('a batch of ACKs alone is followed by the next read at once: the ACK clock of the sender is not held', () => {
    vi.useFakeTimers();
    const tun = new FakeTun(0);
    const driver = new TunDriver(tun as unknown as Tun, new Recorder()).start();
    tun.onBatch!(data, acks, 2, offsets, true);
    expect(tun.reading).toEqual([]);
    expect(driver.stats.holdoffs).toBe(0);
  });

  it('rxHoldoffMs 0 reads at once, as before', () => {
    const tun = new FakeTun(0);
    new TunDriver(tun as unknown as Tun, new Recorder(), { rxHoldoffMs: 0 }).start();
    tun.onBatch!(data, lengths, 2, offsets, true);
    expect(tun.reading).toEqual([]);
  });

  it('closed during a hold-off, it does not resume', () => {
    vi.useFakeTimers();
    const tun = new FakeTun(0);
    const driver = new TunDriver(tun as unknown as Tun, new Recorder()).start();
    tun.onBatch!(data, lengths, 2, offsets, true);
    driver.close();
    vi.advanceTimersByTime(10 * RX_HOLDOFF_MS);
    expect(tun.reading).toEqual([false]);
  });
});
