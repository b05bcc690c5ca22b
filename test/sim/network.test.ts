// The network and its run loop: routing by source and destination, wakers and timers, the guard
// against stacks that never let time advance, copying out of the shared transmit buffer,
// whole-run determinism, pcap captures, and how much faster than real time a heavy run goes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SansIo } from '../../src/driver.js';
import { readPcap } from '../../src/io/pcap.js';
import { corruptTcpPayload } from '../../src/sim/middlebox.js';
import { Network } from '../../src/sim/network.js';
import { formatIp, parseIp } from '../../src/wire/addr.js';
import { setU16 } from '../../src/wire/bytes.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { TCP_FLAG } from '../../src/wire/tcp.js';
import { PacedSender, Scripted, Sink, tcpPacket, udpPacket } from './nodes.js';

function ipv6Packet(src: string, dst: string): Uint8Array {
  const b = new Uint8Array(48);
  emitIpv6(
    {
      src: parseIp(src),
      dst: parseIp(dst),
      nextHeader: 59,
      hopLimit: 64,
      trafficClass: 0,
      flowLabel: 0,
      payloadLen: 8,
    },
    b,
  );
  return b;
}

describe('routing', () => {
  it('a multi-homed node routes by source, a gateway by destination', () => {
    const net = new Network();
    const cpe = new Scripted([
      { at: 0, bytes: udpPacket('198.18.1.2', '198.19.0.1', 1, 2, 64, 1) },
      { at: 0, bytes: udpPacket('198.18.2.2', '198.19.0.1', 1, 2, 64, 2) },
      { at: 0, bytes: ipv6Packet('2001:db8:2::2', '2001:db8:ff::1') },
      { at: 0, bytes: ipv6Packet('2001:db8:1::2', '2001:db8:ff::1') },
      { at: 0, bytes: udpPacket('203.0.113.9', '198.19.0.1', 1, 2, 64, 3) },
    ]);
    const hag = new Scripted([
      { at: 1, bytes: udpPacket('198.19.0.1', '198.18.2.2', 2, 1, 64, 4) },
      { at: 1, bytes: udpPacket('198.19.0.1', '198.18.1.2', 2, 1, 64, 5) },
    ]);
    net.addNode('cpe', cpe);
    net.addNode('hag', hag);
    const dsl = net.connect('cpe', 'hag', { name: 'dsl', rate: 50e6, delay: 10 });
    const lte = net.connect('cpe', 'hag', { name: 'lte', rate: 20e6, delay: 30 });
    net.route('cpe', { src: '198.18.1.0/24', via: dsl });
    net.route('cpe', { src: '198.18.2.0/24', via: lte });
    net.route('cpe', { src: '2001:db8:1::/48', via: dsl });
    net.route('cpe', { src: '2001:db8:2::/48', via: lte });
    net.route('hag', { dst: '198.18.1.0/24', via: dsl });
    net.route('hag', { dst: '198.18.0.0/15', via: lte });
    net.run(Infinity);

    expect(dsl.ab.stats.deliveredPackets).toBe(2);
    expect(lte.ab.stats.deliveredPackets).toBe(2);
    expect(net.node('cpe').stats.noRoute).toBe(1);
    expect(dsl.ba.stats.deliveredPackets).toBe(1);
    expect(lte.ba.stats.deliveredPackets).toBe(1);
    // Arrival times tell the paths apart.
    const byTime = hag.arrivals.map((x) => [
      x.t,
      formatIp(x.bytes, x.bytes[0] >> 4 === 4 ? 12 : 8, x.bytes[0] >> 4 === 4 ? 4 : 16),
    ]);
    expect(
      byTime
        .filter(([, a]) => a === '198.18.1.2' || a === '2001:db8:1::2')
        .every(([t]) => (t as number) < 11),
    ).toBe(true);
    expect(
      byTime
        .filter(([, a]) => a === '198.18.2.2' || a === '2001:db8:2::2')
        .every(([t]) => (t as number) > 30),
    ).toBe(true);
    expect(cpe.arrivals.map((x) => x.seq)).toEqual([5, 4]);
  });

  it('rejects a route over a link that does not leave the node', () => {
    const net = new Network();
    net.addNode('a', new Sink());
    net.addNode('b', new Sink());
    const l = net.addLink('a', 'b', { rate: 1e6, delay: 1 });
    expect(() => net.route('b', { via: l })).toThrow(/does not leave/);
  });
});

/** A stack with an application write (which wakes the driver) and a lazily moving deadline. */
class Appish implements SansIo {
  private waker: () => void = () => {};
  private pending = 0;
  deadline = Infinity;
  timeouts: number[] = [];
  polls = 0;

  write(n: number): void {
    this.pending += n;
    this.waker();
  }
  input(): void {}
  pollTransmit(_now: number, buf: Uint8Array): number {
    this.polls++;
    if (this.pending === 0) return 0;
    this.pending--;
    const p = udpPacket('198.18.0.1', '198.19.0.1', 1, 2, 100, this.pending);
    buf.set(p);
    return p.length;
  }
  pollTimeout(): number {
    return this.deadline;
  }
  handleTimeout(now: number): void {
    if (now < this.deadline) throw new Error(`handleTimeout at ${now} before the deadline ${this.deadline}`);
    this.timeouts.push(now);
    this.deadline = Infinity;
  }
  setWaker(w: () => void): void {
    this.waker = w;
  }
}

describe('driving stacks', () => {
  it('a waker makes the node transmit at the current virtual time', () => {
    const net = new Network();
    const app = new Appish();
    const sink = new Sink();
    net.addNode('a', app);
    net.addNode('b', sink);
    net.addLink('a', 'b', { rate: Infinity, delay: 2 });
    net.at(5, () => app.write(3));
    net.run(100);
    expect(sink.arrivals.map((x) => x.t)).toEqual([7, 7, 7]);
    expect(net.now).toBe(100);
    // Writing outside run() is picked up at the next run.
    app.write(1);
    net.run(200);
    expect(sink.arrivals.map((x) => x.t)).toEqual([7, 7, 7, 102]);
  });

  it('timers fire at the deadline, also when it moves later or earlier', () => {
    const net = new Network();
    const app = new Appish();
    net.addNode('a', app);
    net.at(0, () => {
      app.deadline = 10;
      app.write(0);
    });
    net.at(5, () => {
      app.deadline = 50;
      app.write(0);
    });
    net.at(60, () => {
      app.deadline = 200;
      app.write(0);
    });
    net.at(70, () => {
      app.deadline = 80;
      app.write(0);
    });
    net.run(1000);
    expect(app.timeouts).toEqual([50, 80]);
  });

  it('stops with a clear error when a stack transmits forever at one instant', () => {
    const net = new Network({ maxWorkPerInstant: 10_000 });
    const p = udpPacket('198.18.0.1', '198.19.0.1', 1, 2, 100, 0);
    const babbler: SansIo = {
      input() {},
      pollTransmit(_n, buf) {
        buf.set(p);
        return p.length;
      },
      pollTimeout: () => Infinity,
      handleTimeout() {},
      setWaker() {},
    };
    net.addNode('babbler', babbler);
    net.addNode('b', new Sink());
    net.addLink('babbler', 'b', { rate: 1e9, delay: 1, queueBytes: 1e9 });
    expect(() => net.run(10)).toThrow(/stuck at t=0 ms.*node "babbler" pollTransmit/s);
  });

  it('stops with a clear error when a timer never moves past now', () => {
    const net = new Network({ maxWorkPerInstant: 10_000 });
    net.addNode('spinner', {
      input() {},
      pollTransmit: () => 0,
      pollTimeout: () => 3,
      handleTimeout() {},
      setWaker() {},
    });
    expect(() => net.run(10)).toThrow(/stuck at t=3 ms/);
  });

  it('copies each packet out of the shared transmit buffer', () => {
    const net = new Network();
    const sink = new Sink();
    net.addNode('a', new PacedSender(50, 200, 0));
    net.addNode('b', sink);
    net.addLink('a', 'b', { rate: 1e6, delay: 1, queueBytes: 100_000 });
    net.run(Infinity);
    expect(sink.arrivals.map((x) => x.seq)).toEqual([...Array(50).keys()]);
  });

  it('runUntil stops at the event that makes the predicate true, or at the limit', () => {
    const net = new Network();
    const sink = new Sink();
    net.addNode('a', new PacedSender(10, 100, 10));
    net.addNode('b', sink);
    net.addLink('a', 'b', { rate: Infinity, delay: 3 });
    expect(net.runUntil(() => sink.arrivals.length >= 4, 1000)).toBe(true);
    expect(net.now).toBe(33);
    expect(net.runUntil(() => sink.arrivals.length >= 100, 500)).toBe(false);
    expect(net.now).toBe(533);
    expect(sink.arrivals.length).toBe(10);
  });
});

/** A full trace of a busy, lossy, jittery, corrupting two-link run. */
function busyRun(seed: number) {
  const net = new Network({ seed });
  const sinks = [new Sink(), new Sink()];
  const tcp = Array.from({ length: 200 }, (_, i) => ({
    at: i * 0.3,
    bytes: tcpPacket({ sport: 1000 + (i % 2), flags: TCP_FLAG.ack, payload: new Uint8Array(300).fill(i) }),
  }));
  net.addNode('a', new Scripted(tcp));
  net.addNode('b', sinks[0]);
  net.addNode('c', new PacedSender(3000, 700, 0.05));
  net.addNode('d', sinks[1]);
  net.addLink('a', 'b', {
    rate: 10e6,
    delay: 5,
    jitter: 3,
    jitterReorders: true,
    loss: 0.05,
    duplicate: 0.05,
    middleboxes: [corruptTcpPayload({ fixChecksum: true, probability: 0.2 })],
  });
  net.addLink('c', 'd', {
    rate: 50e6,
    delay: 10,
    jitter: 1,
    reorder: 0.02,
    burstLoss: { pGoodToBad: 0.02, pBadToGood: 0.3 },
    queueBytes: 20_000,
  });
  net.run(Infinity);
  return sinks.map((s) => s.arrivals.map((x) => `${x.t}|${Buffer.from(x.bytes).toString('hex')}`));
}

describe('determinism', () => {
  it('the same seed gives the identical run, another seed a different one', () => {
    const a = busyRun(11);
    const b = busyRun(11);
    const c = busyRun(12);
    expect(a[0].length).toBeGreaterThan(100);
    expect(a[1].length).toBeGreaterThan(1000);
    expect(b).toEqual(a);
    expect(c[0]).not.toEqual(a[0]);
    expect(c[1]).not.toEqual(a[1]);
  });
});

describe('pcap capture', () => {
  it('writes a LINKTYPE_RAW file with one record per delivered packet, both directions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-pcap-'));
    try {
      const net = new Network();
      const a = new Scripted([
        { at: 0, bytes: udpPacket('198.18.0.1', '198.19.0.1', 1, 2, 100, 1) },
        { at: 1.5, bytes: udpPacket('198.18.0.1', '198.19.0.1', 1, 2, 300, 2) },
      ]);
      const b = new Scripted([{ at: 1000.25, bytes: udpPacket('198.19.0.1', '198.18.0.1', 2, 1, 60, 3) }]);
      net.addNode('a', a);
      net.addNode('b', b);
      const l = net.connect('a', 'b', { rate: 8e6, delay: 10 });
      const path = join(dir, 'l.pcap');
      net.capture(l, path);
      const sent = net.capture(l.ab, undefined, { point: 'send' });
      net.run(Infinity);
      net.close();

      const f = readFileSync(path);
      // File header: magic (little-endian, microseconds), version 2.4, snaplen, LINKTYPE_RAW.
      expect(f.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect([f.readUInt16LE(4), f.readUInt16LE(6)]).toEqual([2, 4]);
      expect(f.readUInt32LE(16)).toBeGreaterThanOrEqual(65535);
      expect(f.readUInt32LE(20)).toBe(101);
      // Records: ts_sec, ts_usec, incl_len, orig_len, then the packet.
      const expected = [
        { t: 10.1, len: 100 },
        { t: 11.8, len: 300 },
        { t: 1010.31, len: 60 },
      ];
      let off = 24;
      for (const e of expected) {
        const us = Math.round(e.t * 1000);
        expect(f.readUInt32LE(off)).toBe(Math.floor(us / 1e6));
        expect(f.readUInt32LE(off + 4)).toBe(us % 1e6);
        expect(f.readUInt32LE(off + 8)).toBe(e.len);
        expect(f.readUInt32LE(off + 12)).toBe(e.len);
        expect(f[off + 16] >> 4).toBe(4);
        off += 16 + e.len;
      }
      expect(off).toBe(f.length);
      const back = readPcap(f);
      if (!Array.isArray(back)) throw new Error(String(back));
      expect(back.map((p) => Buffer.from(p.data))).toEqual([
        Buffer.from(b.arrivals[0].bytes),
        Buffer.from(b.arrivals[1].bytes),
        Buffer.from(a.arrivals[0].bytes),
      ]);
      const s = readPcap(sent.toBuffer());
      if (!Array.isArray(s)) throw new Error(String(s));
      expect(s.map((p) => p.timeMs)).toEqual([0, 1.5]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('speed', () => {
  it('runs 100k packets through a 100 Mbit/s link much faster than real time', () => {
    // A lean sender: one prebuilt datagram, its sequence number patched per packet.
    const template = udpPacket('198.18.0.1', '198.19.0.1', 1, 2, 1500, 0);
    const count = 100_000;
    let sent = 0;
    let next = 0;
    const sender: SansIo = {
      input() {},
      pollTransmit(now, buf) {
        if (sent >= count || now < next) return 0;
        buf.set(template);
        setU16(buf, 30, sent & 0xffff);
        sent++;
        next += 0.12;
        return template.length;
      },
      pollTimeout: () => (sent < count ? next : Infinity),
      handleTimeout() {},
      setWaker() {},
    };
    let received = 0;
    let bytes = 0;
    const sink: SansIo = {
      input(_now, p) {
        received++;
        bytes += p.length;
      },
      pollTransmit: () => 0,
      pollTimeout: () => Infinity,
      handleTimeout() {},
      setWaker() {},
    };
    const net = new Network();
    net.addNode('a', sender);
    net.addNode('b', sink);
    net.addLink('a', 'b', { rate: 100e6, delay: 10, jitter: 0.5, loss: 0.001 });
    const t0 = performance.now();
    net.run(Infinity);
    const wall = performance.now() - t0;
    const speedup = net.now / wall;
    console.log(
      `sim speed: ${count} packets (${(bytes / 1e6).toFixed(0)} MB) through 100 Mbit/s, ` +
        `${(net.now / 1000).toFixed(2)} s virtual in ${wall.toFixed(0)} ms wall: ${speedup.toFixed(1)}x real time, ` +
        `${Math.round(count / (wall / 1000))} packets/s, ${net.events} events`,
    );
    // Speed is reported, not asserted: timing targets belong to benchmark scripts, not tests.
    expect(received).toBeGreaterThan(count * 0.99);
  });
});
