// The simulator's building blocks: the seeded generator, the event queue and address parsing.
import { describe, expect, it } from 'vitest';
import { Clock, EventQueue, type EventTarget } from '../../src/sim/clock.js';
import { Rng } from '../../src/sim/rng.js';
import { formatIp, parseIp, parsePrefix, prefixMatches } from '../../src/wire/addr.js';
import { A, B, PacedSender, udpPacket } from './nodes.js';

describe('Rng', () => {
  it('follows the xoshiro128** reference sequence', () => {
    // State {1, 2, 3, 4}: the first outputs of the reference C implementation.
    const r = Rng.fromState(1, 2, 3, 4);
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('is deterministic per seed and label, and differs otherwise', () => {
    const seq = (r: Rng) => Array.from({ length: 8 }, () => r.nextU32());
    expect(seq(new Rng(42))).toEqual(seq(new Rng(42)));
    expect(seq(new Rng(42))).not.toEqual(seq(new Rng(43)));
    expect(seq(Rng.derive(1, 'a'))).toEqual(seq(Rng.derive(1, 'a')));
    expect(seq(Rng.derive(1, 'a'))).not.toEqual(seq(Rng.derive(1, 'b')));
    expect(seq(new Rng(0))).not.toEqual(new Array(8).fill(0));
  });

  it('is roughly uniform', () => {
    const r = new Rng(9);
    const bins = new Array(10).fill(0);
    let sum = 0;
    let outside = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outside++;
      bins[Math.floor(x * 10)]++;
      sum += x;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.005);
    for (const b of bins) expect(Math.abs(b - n / 10)).toBeLessThan(500);
    const e = new Rng(10);
    let es = 0;
    for (let i = 0; i < n; i++) es += e.exponential(3);
    expect(Math.abs(es / n - 3)).toBeLessThan(0.05);
  });
});

describe('EventQueue', () => {
  const noop: EventTarget = { onEvent() {} };

  it('pops by time, and by insertion order at equal times', () => {
    const q = new EventQueue();
    const r = new Rng(4);
    const pushed: { t: number; id: number }[] = [];
    for (let id = 0; id < 5000; id++) {
      const t = r.int(50);
      q.push(t, noop, id);
      pushed.push({ t, id });
    }
    const popped: number[] = [];
    for (let e = q.pop(); e; e = q.pop()) popped.push(e.arg as number);
    const expected = [...pushed].sort((a, b) => a.t - b.t || a.id - b.id).map((x) => x.id);
    expect(popped).toEqual(expected);
  });

  it('skips cancelled events and counts live ones', () => {
    const q = new EventQueue();
    const a = q.push(1, noop, 'a');
    q.push(2, noop, 'b');
    const c = q.push(0.5, noop, 'c');
    q.cancel(c);
    q.cancel(c);
    expect(q.size).toBe(2);
    expect(q.peekTime()).toBe(1);
    expect(q.pop()?.arg).toBe('a');
    q.cancel(a);
    expect(q.size).toBe(1);
    expect(q.pop()?.arg).toBe('b');
    expect(q.pop()).toBeUndefined();
    expect(q.peekTime()).toBe(Infinity);
  });

  it('the clock runs events in order and never goes back', () => {
    const clock = new Clock();
    const seen: [number, unknown][] = [];
    const t: EventTarget = {
      onEvent(now, arg) {
        seen.push([now, arg]);
        if (arg === 'x') clock.at(now - 5, t, 'late');
      },
    };
    clock.at(3, t, 'x');
    clock.at(1, t, 'y');
    while (clock.step()) {}
    expect(seen).toEqual([
      [1, 'y'],
      [3, 'x'],
      [3, 'late'],
    ]);
    expect(clock.step()).toBe(false);
  });
});

describe('addresses', () => {
  it('parses and formats IPv4 and IPv6', () => {
    expect([...parseIp('198.18.0.1')]).toEqual([198, 18, 0, 1]);
    expect(formatIp(parseIp('2001:db8::1'))).toBe('2001:db8::1');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(formatIp(parseIp('::'))).toBe('::');
    expect(formatIp(parseIp('::ffff:198.18.0.1'))).toBe('::ffff:c612:1');
    expect(formatIp(parseIp('fe80::'))).toBe('fe80::');
    for (const bad of ['1.2.3', '256.1.1.1', '1::2::3', '2001:db8::g', '1:2:3:4:5:6:7:8:9']) {
      expect(() => parseIp(bad)).toThrow(SyntaxError);
    }
  });

  it('matches prefixes of either family', () => {
    const p = parsePrefix('198.18.0.0/15');
    expect(prefixMatches(p, parseIp('198.19.255.255'), 0)).toBe(true);
    expect(prefixMatches(p, parseIp('198.20.0.0'), 0)).toBe(false);
    const q = parsePrefix('2001:db8:1::/49');
    expect(prefixMatches(q, parseIp('2001:db8:1:7fff::1'), 0)).toBe(true);
    expect(prefixMatches(q, parseIp('2001:db8:1:8000::1'), 0)).toBe(false);
    expect(prefixMatches(parsePrefix('0.0.0.0/0'), parseIp('1.2.3.4'), 0)).toBe(true);
    // Host bits of the prefix are ignored.
    expect(prefixMatches(parsePrefix('10.1.2.3/8'), parseIp('10.200.0.0'), 0)).toBe(true);
  });
});

describe('test nodes', () => {
  it('the paced sender emits valid datagrams with consecutive sequence numbers', () => {
    const s = new PacedSender(3, 100, 0);
    const buf = new Uint8Array(65536);
    for (let i = 0; i < 3; i++) {
      const n = s.pollTransmit(0, buf);
      expect(buf.slice(0, n)).toEqual(udpPacket(A, B, 5000, 6000, 100, i));
    }
    expect(s.pollTransmit(0, buf)).toBe(0);
  });
});
