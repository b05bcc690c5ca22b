// The link model in virtual time: rate, delay, jitter, loss (random and Gilbert-Elliott bursts),
// queue, MTU, outages, duplication and reordering, each measured at a sink behind one link.
import { describe, expect, it } from 'vitest';
import type { SansIo } from '../../src/driver.js';
import type { LinkConfig } from '../../src/sim/link.js';
import { Network } from '../../src/sim/network.js';
import { type Arrival, PacedSender, Sink } from './nodes.js';

function oneLink(sender: SansIo, config: LinkConfig, seed = 1) {
  const net = new Network({ seed });
  const sink = new Sink();
  net.addNode('a', sender);
  net.addNode('b', sink);
  const link = net.addLink('a', 'b', config);
  return { net, sink, link };
}

/** Runs `count` datagrams of `size` bytes, one per `interval` ms, over a link; returns the arrivals. */
function trace(config: LinkConfig, count: number, size: number, interval: number, seed = 1) {
  const r = oneLink(new PacedSender(count, size, interval), config, seed);
  r.net.run(Infinity);
  return r;
}

function seqs(a: Arrival[]): number[] {
  return a.map((x) => x.seq);
}

describe('rate', () => {
  it('a saturating sender gets exactly the configured rate', () => {
    // 200 Mbit/s offered into 100 Mbit/s: the queue fills and drops, the serializer never idles.
    const { sink, link } = trace({ rate: 100e6, delay: 5, queueBytes: 30_000 }, 20_000, 1500, 0.06);
    const a = sink.arrivals;
    expect(link.stats.dropped.queue).toBeGreaterThan(5000);
    const bits = (a.length - 1) * 1500 * 8;
    const rate = bits / ((a[a.length - 1].t - a[0].t) / 1000);
    expect(Math.abs(rate / 100e6 - 1)).toBeLessThan(0.01);
    // Back to back: every gap is one serialization time (0.12 ms).
    let worst = 0;
    for (let i = 1; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i].t - a[i - 1].t - 0.12));
    expect(worst).toBeLessThan(1e-9);
  });

  it('serialization time is size * 8 / rate', () => {
    const { sink } = trace({ rate: 8e6, delay: 0 }, 3, 1000, 0);
    // 1000 bytes at 8 Mbit/s = 1 ms each, back to back.
    expect(sink.arrivals.map((x) => x.t)).toEqual([1, 2, 3]);
  });
});

describe('delay', () => {
  it('one-way delay is exactly transmission plus propagation', () => {
    const { sink } = trace({ rate: 8e6, delay: 20 }, 5, 1000, 7);
    // Sent at 0, 7, 14, ...; 1 ms of serialization; 20 ms of propagation.
    expect(sink.arrivals.map((x) => x.t)).toEqual([21, 28, 35, 42, 49]);
  });

  it('jitter stays within [delay, delay + jitter) and does not reorder by default', () => {
    const { sink } = trace({ rate: Infinity, delay: 10, jitter: 5 }, 2000, 100, 1);
    const a = sink.arrivals;
    expect(seqs(a)).toEqual([...Array(2000).keys()]);
    const delays = a.map((x) => x.t - x.seq);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...delays)).toBeLessThan(15);
    // Jitter actually varies the delay.
    expect(new Set(delays.map((d) => Math.round(d))).size).toBeGreaterThan(3);
  });

  it('jitter may reorder when allowed', () => {
    const { sink } = trace({ rate: Infinity, delay: 10, jitter: 5, jitterReorders: true }, 2000, 100, 1);
    const s = seqs(sink.arrivals);
    let inversions = 0;
    for (let i = 1; i < s.length; i++) if (s[i] < s[i - 1]) inversions++;
    expect(inversions).toBeGreaterThan(100);
    const delays = sink.arrivals.map((x) => x.t - x.seq);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...delays)).toBeLessThan(15);
  });
});

describe('random loss', () => {
  const cfg: LinkConfig = { rate: 1e9, delay: 1, loss: 0.1 };
  const n = 20_000;

  it('drops the configured share within statistical tolerance', () => {
    const { sink, link } = trace(cfg, n, 200, 0.01);
    const lost = n - sink.arrivals.length;
    const sigma = Math.sqrt(n * 0.1 * 0.9);
    expect(Math.abs(lost - n * 0.1)).toBeLessThan(5 * sigma);
    expect(link.stats.dropped.loss).toBe(lost);
    expect(link.stats.sentPackets).toBe(n);
    expect(link.stats.deliveredPackets).toBe(sink.arrivals.length);
  });

  it('is exactly reproducible with the same seed and differs with another', () => {
    const t1 = trace(cfg, 2000, 200, 0.01, 7).sink.arrivals.map((x) => [x.seq, x.t]);
    const t2 = trace(cfg, 2000, 200, 0.01, 7).sink.arrivals.map((x) => [x.seq, x.t]);
    const t3 = trace(cfg, 2000, 200, 0.01, 8).sink.arrivals.map((x) => [x.seq, x.t]);
    expect(t2).toEqual(t1);
    expect(t3).not.toEqual(t1);
  });

  it('a loss stream is independent of other random features', () => {
    const plain = seqs(trace(cfg, 3000, 200, 0.05, 3).sink.arrivals);
    const withJitter = seqs(trace({ ...cfg, jitter: 0.01 }, 3000, 200, 0.05, 3).sink.arrivals);
    expect(withJitter).toEqual(plain);
  });
});

describe('Gilbert-Elliott burst loss', () => {
  it('gives loss runs of the configured mean length and the stationary loss rate', () => {
    const p = 0.01;
    const r = 0.25;
    const n = 100_000;
    const { sink, link } = trace(
      { rate: 1e9, delay: 1, burstLoss: { pGoodToBad: p, pBadToGood: r } },
      n,
      100,
      0.001,
    );
    const got = new Uint8Array(n);
    for (const x of sink.arrivals) got[x.seq] = 1;
    const runs: number[] = [];
    let run = 0;
    for (let i = 0; i < n; i++) {
      if (!got[i]) run++;
      else if (run > 0) {
        runs.push(run);
        run = 0;
      }
    }
    if (run > 0) runs.push(run);
    const mean = runs.reduce((s, x) => s + x, 0) / runs.length;
    // Mean burst 1/r = 4 packets; its standard error here is about 0.11.
    expect(mean).toBeGreaterThan(3.5);
    expect(mean).toBeLessThan(4.5);
    const lossRate = (n - sink.arrivals.length) / n;
    expect(lossRate).toBeGreaterThan((p / (p + r)) * 0.85);
    expect(lossRate).toBeLessThan((p / (p + r)) * 1.15);
    expect(link.stats.dropped.burst).toBe(n - sink.arrivals.length);
  });
});

describe('queue', () => {
  it('a drop-tail byte queue drops what does not fit', () => {
    // 1 ms per packet; one in the serializer, five fit in 5000 bytes of queue.
    const { net, sink, link } = oneLink(new PacedSender(20, 1000, 0), {
      rate: 8e6,
      delay: 0,
      queueBytes: 5000,
    });
    net.run(0);
    expect(link.queued).toBe(5000);
    net.run(Infinity);
    expect(seqs(sink.arrivals)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(link.stats.dropped.queue).toBe(14);
    expect(link.stats.droppedBytes.queue).toBe(14_000);
    expect(link.queued).toBe(0);
  });

  it('frees space as packets start transmission', () => {
    // One packet every 0.5 ms into a 1 ms serializer with room for two: the queue grows by one
    // packet per ms and overflows from then on, one drop in two.
    const { sink, link } = trace({ rate: 8e6, delay: 0, queueBytes: 2000 }, 40, 1000, 0.5);
    expect(link.stats.dropped.queue).toBeGreaterThan(10);
    expect(link.stats.dropped.queue).toBeLessThan(20);
    expect(sink.arrivals.length + link.stats.dropped.queue).toBe(40);
  });
});

describe('MTU', () => {
  it('drops and counts packets larger than the MTU', () => {
    const net = new Network();
    const sink = new Sink();
    const sizes = [999, 1000, 1001, 1500];
    const senders = sizes.map((s, i) => net.addNode(`s${i}`, new PacedSender(1, s, 0)));
    net.addNode('b', sink);
    const links = senders.map((s) => net.addLink(s, 'b', { rate: 1e9, delay: 1, mtu: 1000 }));
    const drops: [number, string | undefined][] = [];
    for (const l of links) l.tap('drop', (_now, p, _l, cause) => drops.push([p.length, cause]));
    net.run(Infinity);
    expect(drops).toEqual([
      [1001, 'mtu'],
      [1500, 'mtu'],
    ]);
    expect(sink.arrivals.map((x) => x.len).sort()).toEqual([1000, 999]);
    expect(links.map((l) => l.stats.dropped.mtu)).toEqual([0, 0, 1, 1]);
  });
});

describe('down and up', () => {
  it('drops in-flight, queued and offered packets while down', () => {
    const { net, sink, link } = oneLink(new PacedSender(100, 100, 1), {
      rate: Infinity,
      delay: 10,
      outages: [{ from: 30.5, to: 60.5 }],
    });
    net.run(Infinity);
    const expected = [...Array(21).keys(), ...Array.from({ length: 39 }, (_, i) => 61 + i)];
    expect(seqs(sink.arrivals)).toEqual(expected);
    // 10 in flight (sent at 21..30) and 30 offered (31..60).
    expect(link.stats.dropped.down).toBe(40);
    expect(link.isUp).toBe(true);
  });

  it('setUp from a test takes effect at once, queued packets included', () => {
    const { net, sink, link } = oneLink(new PacedSender(10, 1000, 0), { rate: 8e6, delay: 2 });
    net.at(3.5, () => link.setUp(false));
    net.at(20, () => link.setUp(true));
    net.run(Infinity);
    // Packets finish serialization at 1, 2, 3, ... and arrive 2 ms later: 0 (at 3) arrives, the
    // rest were in flight or queued at 3.5.
    expect(seqs(sink.arrivals)).toEqual([0]);
    expect(link.stats.dropped.down).toBe(9);
    expect(link.queued).toBe(0);
  });
});

describe('duplication and reordering', () => {
  it('duplicates packets with the configured probability', () => {
    const n = 10_000;
    const { sink, link } = trace({ rate: 1e9, delay: 1, duplicate: 0.1 }, n, 100, 0.01);
    const extra = sink.arrivals.length - n;
    expect(extra).toBe(link.stats.duplicated);
    expect(Math.abs(extra - 1000)).toBeLessThan(5 * Math.sqrt(n * 0.09));
    const s = seqs(sink.arrivals);
    let repeats = 0;
    for (let i = 1; i < s.length; i++) if (s[i] === s[i - 1]) repeats++;
    expect(repeats).toBe(extra);
  });

  it('holds packets back by the reorder delay so later ones overtake them', () => {
    const n = 2000;
    const { sink, link } = trace({ rate: Infinity, delay: 10, reorder: 0.05, reorderDelay: 5 }, n, 100, 0.5);
    const a = sink.arrivals;
    expect(a.length).toBe(n);
    const late = a.filter((x) => x.t - x.seq * 0.5 > 10);
    expect(late.length).toBe(link.stats.reordered);
    expect(Math.abs(late.length - 100)).toBeLessThan(5 * Math.sqrt(n * 0.05 * 0.95));
    for (const x of late) expect(x.t - x.seq * 0.5).toBe(15);
    const s = seqs(a);
    let inversions = 0;
    for (let i = 1; i < s.length; i++) if (s[i] < s[i - 1]) inversions++;
    expect(inversions).toBeGreaterThan(50);
  });

  it('does not reorder without reordering configured', () => {
    const { sink } = trace({ rate: 10e6, delay: 10, loss: 0.05 }, 2000, 500, 0.2);
    const s = seqs(sink.arrivals);
    expect([...s].sort((x, y) => x - y)).toEqual(s);
  });
});

describe('configure', () => {
  it('changes the rate for packets offered afterwards', () => {
    const { net, sink, link } = oneLink(new PacedSender(4, 1000, 10), { rate: 8e6, delay: 0 });
    net.at(15, () => link.configure({ rate: 4e6, delay: 3 }));
    net.run(Infinity);
    expect(sink.arrivals.map((x) => x.t)).toEqual([1, 11, 25, 35]);
  });
});
