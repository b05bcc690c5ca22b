// Uplink health probes (cpe/probe): ICMP echo build/read for IPv4 (RFC 792) and IPv6 (RFC 4443),
// the up/down hysteresis and RTT smoothing (RFC 6298 2.3), and the probe driven by a fake clock
// and a fake socket: interval, timeout, N failures -> down, M successes -> up, ICMP errors.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { HealthMachine } from '../../cpe/probe/health.js';
import { checksum, echoRequest, readV4, readV6 } from '../../cpe/probe/icmp.js';
import { type ProbeClock, type ProbeOptions, type ProbeSocket, UplinkProbe } from '../../cpe/probe/probe.js';

function ipv4(src: string, dst: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = 1;
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** The echo reply a host sends back for `req` (type 0, checksum redone). */
function replyTo(req: Buffer): Buffer {
  const r = Buffer.from(req);
  r[0] = 0;
  r.writeUInt16BE(0, 2);
  r.writeUInt16BE(checksum(r), 2);
  return r;
}

describe('ICMP echo wire', () => {
  it('builds an IPv4 echo request with a valid checksum, and reads the reply', () => {
    const req = echoRequest(4, 0x1234, 7);
    expect(req[0]).toBe(8);
    expect(checksum(req)).toBe(0);
    const r = readV4(ipv4('198.18.1.1', '198.18.1.2', replyTo(req)));
    expect(r).toEqual({ ok: true, read: { kind: 'reply', id: 0x1234, seq: 7, from: '198.18.1.1' } });
  });

  it('reads a destination unreachable that quotes our request (RFC 792)', () => {
    const req = echoRequest(4, 0x1234, 9);
    const quoted = ipv4('198.18.1.2', '198.18.9.9', req).subarray(0, 28);
    const err = Buffer.concat([Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), quoted]);
    err.writeUInt16BE(checksum(err), 2);
    const r = readV4(ipv4('198.18.1.1', '198.18.1.2', err));
    expect(r).toEqual({
      ok: true,
      read: {
        kind: 'error',
        id: 0x1234,
        seq: 9,
        from: '198.18.1.1',
        reason: 'destination unreachable (host unreachable)',
      },
    });
  });

  it('malformed IPv4 input gives typed errors, never exceptions', () => {
    expect(readV4(Buffer.alloc(10))).toEqual({ ok: false, error: { kind: 'truncated', length: 10 } });
    const bad = ipv4('198.18.1.1', '198.18.1.2', replyTo(echoRequest(4, 1, 1)));
    bad[30] ^= 0xff;
    expect(readV4(bad)).toEqual({ ok: false, error: { kind: 'bad-checksum' } });
    const udp = ipv4('198.18.1.1', '198.18.1.2', Buffer.alloc(8));
    udp[9] = 17;
    expect(readV4(udp).ok).toBe(false);
    for (let n = 0; n < 2000; n++) {
      const b = Buffer.from(Array.from({ length: (n * 7) % 90 }, (_, i) => (i * 31 + n) & 0xff));
      readV4(b);
      readV6(b, '2001:db8::1');
    }
  });

  it('ICMPv6: echo request 128 with the checksum left to the kernel; reply 129 and unreachable 1 read (RFC 4443)', () => {
    const req = echoRequest(6, 0xbeef, 3);
    expect([req[0], req.readUInt16BE(2)]).toEqual([128, 0]);
    const rep = Buffer.from(req);
    rep[0] = 129;
    expect(readV6(rep, '2001:db8::1')).toEqual({
      ok: true,
      read: { kind: 'reply', id: 0xbeef, seq: 3, from: '2001:db8::1' },
    });
    const ip6 = Buffer.alloc(40);
    ip6[0] = 0x60;
    ip6[6] = 58;
    const un = Buffer.concat([Buffer.from([1, 3, 0, 0, 0, 0, 0, 0]), ip6, req]);
    expect(readV6(un, '2001:db8::fe')).toEqual({
      ok: true,
      read: {
        kind: 'error',
        id: 0xbeef,
        seq: 3,
        from: '2001:db8::fe',
        reason: 'destination unreachable (address unreachable)',
      },
    });
    expect(readV6(Buffer.alloc(4), '::1').ok).toBe(false);
  });
});

describe('health hysteresis and RTT smoothing', () => {
  it('N failures -> down, M successes -> up, with reasons', () => {
    const h = new HealthMachine({ failuresToDown: 3, successesToUp: 2 });
    expect(h.success(10)).toBeUndefined();
    expect(h.success(10)).toEqual({
      from: 'unknown',
      to: 'up',
      kind: 'echo-replies',
      reason: '2 consecutive echo replies',
    });
    expect(h.failure('timeout')).toBeUndefined();
    expect(h.failure('timeout')).toBeUndefined();
    expect(h.success(10)).toBeUndefined(); // a success in between resets the count
    h.failure('a');
    h.failure('b');
    expect(h.failure('c')).toEqual({
      from: 'up',
      to: 'down',
      kind: 'echo-lost',
      reason: '3 consecutive failures, last: c',
    });
    expect(h.failure('d')).toBeUndefined(); // already down: no second event
    expect(h.success(5)).toBeUndefined();
    expect(h.success(5)?.to).toBe('up');
  });

  it('a loss rate over the window above maxLoss makes it down, though no N failures came in a row', () => {
    const h = new HealthMachine({ failuresToDown: 3, successesToUp: 2, window: 10, maxLoss: 0.3 });
    h.success(10);
    expect(h.success(10)?.to).toBe('up');
    // Every other echo lost: never 3 in a row, but 50% once the window is full.
    const seen: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(h.failure('timeout')?.kind);
      seen.push(h.success(10)?.kind);
    }
    expect(seen.every((k) => k === undefined)).toBe(true); // 4 of 10 lost: 40%, window full only now
    const t = h.failure('timeout'); // 5 of 10 (the window dropped a success)
    expect(t).toMatchObject({ to: 'down', kind: 'loss-high' });
    expect(t?.reason).toMatch(/^50% of the last 10 echoes lost \(limit 30%\), last: timeout$/);
    expect(h.loss).toBe(0.5);
    // Up again only once the window's loss is back within the limit, with 2 successes in a row.
    expect(h.success(10)).toBeUndefined(); // still 50%: the window dropped a success
    expect(h.success(10)).toBeUndefined(); // 40%
    let up: string | undefined;
    for (let i = 0; i < 6 && !up; i++) up = h.success(10)?.to;
    expect(up).toBe('up');
    expect(h.loss).toBeLessThanOrEqual(0.3);
  });

  it('a mean RTT over the window above maxRtt makes it down, and up again when it falls', () => {
    const h = new HealthMachine({ failuresToDown: 3, successesToUp: 2, window: 4, maxRttMs: 100 });
    h.success(40);
    expect(h.success(40)?.to).toBe('up');
    expect(h.success(200)).toBeUndefined(); // mean 93
    const t = h.success(200); // mean 120
    expect(t).toMatchObject({ to: 'down', kind: 'rtt-high' });
    expect(t?.reason).toBe('mean RTT 120.0 ms over the last 4 echoes (limit 100 ms)');
    expect(h.success(40)).toBeUndefined(); // 40, 200, 200, 40: 120
    expect(h.success(40)).toBeUndefined(); // 200, 200, 40, 40: 120
    expect(h.success(40)).toMatchObject({ to: 'up', kind: 'echo-replies' }); // 200, 40, 40, 40: 80
  });

  it('smooths RTT like RFC 6298 2.3', () => {
    const h = new HealthMachine();
    h.success(100);
    expect([h.srtt, h.rttvar]).toEqual([100, 50]);
    h.success(20);
    expect(h.rttvar).toBe(0.75 * 50 + 0.25 * 80);
    expect(h.srtt).toBe(0.875 * 100 + 0.125 * 20);
  });
});

class FakeClock implements ProbeClock {
  t = 0;
  timers: { at: number; fn: () => void; id: number }[] = [];
  #id = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.#id;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((t) => t.id !== h);
  }
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const n = this.timers[0];
      if (!n || n.at > end) break;
      this.timers.shift();
      this.t = n.at;
      n.fn();
    }
    this.t = end;
  }
}

/** A link to the target: answers after `rtt` ms while `answering`; send fails while `down`. */
class FakeSocket implements ProbeSocket {
  answering = true;
  /** Targets that do not answer (the others do, while `answering`). */
  readonly silent = new Set<string>();
  /** Targets whose sends fail (no route to them). */
  readonly unreachable = new Set<string>();
  down = false;
  rtt = 20;
  sent = 0;
  last: Buffer | undefined;
  handler: ((p: Buffer, s: string) => void) | undefined;
  constructor(private readonly clock: FakeClock) {}
  send(packet: Buffer, target: string, done: (err: Error | null) => void) {
    this.sent++;
    this.last = packet;
    if (this.down) return done(new Error('ENETDOWN, Network is down'));
    if (this.unreachable.has(target)) return done(new Error('EHOSTUNREACH, No route to host'));
    done(null);
    if (!this.answering || this.silent.has(target)) return;
    const reply = ipv4(target, '198.18.1.2', replyTo(packet));
    this.clock.setTimeout(() => this.handler?.(reply, target), this.rtt);
  }
  onMessage(fn: (p: Buffer, s: string) => void) {
    this.handler = fn;
  }
  close() {}
}

function probe(targets: string[] = [], more: Partial<ProbeOptions> = {}) {
  const clock = new FakeClock();
  const socket = new FakeSocket(clock);
  const p = new UplinkProbe({
    interface: 'dsl0',
    target: '198.18.1.1',
    targets,
    intervalMs: 1000,
    timeoutMs: 500,
    failuresToDown: 3,
    successesToUp: 2,
    clock,
    socket,
    logger: pino({ level: 'silent' }),
    ...more,
  });
  const events: string[] = [];
  p.on('up', (e) => events.push(`up@${clock.t}: ${e.reason}`));
  p.on('down', (e) => events.push(`down@${clock.t}: ${e.reason}`));
  return { clock, socket, p, events };
}

describe('UplinkProbe in virtual time', () => {
  it('goes up after M replies, down after N timeouts, up again when replies return', () => {
    const { clock, socket, p, events } = probe();
    p.start();
    clock.advance(1500);
    expect(events).toEqual(['up@1020: 2 consecutive echo replies']);
    expect(p.status()).toMatchObject({ state: 'up', srttMs: 20, sent: 2, received: 2 });
    socket.answering = false;
    clock.advance(3000); // echoes at 2000, 3000, 4000 time out at 2500, 3500, 4500
    expect(events[1]).toBe('down@4500: 3 consecutive failures, last: no echo reply within 500 ms');
    expect(p.status().state).toBe('down');
    socket.answering = true;
    clock.advance(2000); // replies to 5000 and 6000
    expect(events[2]).toBe('up@6020: 2 consecutive echo replies');
    expect(events).toHaveLength(3);
    p.stop();
    const sent = socket.sent;
    clock.advance(10_000);
    expect(socket.sent).toBe(sent);
  });

  it("a reply whose RTT takes the window's mean past maxRtt is a 'down' event (rtt-high)", () => {
    const { clock, socket, p, events } = probe([], { window: 4, maxRttMs: 100 });
    p.start();
    clock.advance(1500);
    socket.rtt = 300;
    clock.advance(1000); // mean of 20, 20, 300: 113 ms
    expect(events).toEqual([
      'up@1020: 2 consecutive echo replies',
      expect.stringMatching(/^down@2300: mean RTT 113.3 ms/),
    ]);
    expect(p.status().state).toBe('down');
  });

  it('a reply after the timeout does not count; RTT is smoothed from the replies', () => {
    const { clock, socket, p } = probe();
    socket.rtt = 700; // slower than the 500 ms timeout
    p.start();
    clock.advance(3900);
    expect(p.status()).toMatchObject({ state: 'down', received: 0 });
    socket.rtt = 100;
    clock.advance(2000);
    expect(p.status().state).toBe('up');
    expect(p.status().srttMs).toBe(100);
  });

  it('send errors (link down) are failures with the reason', () => {
    const { clock, socket, p, events } = probe();
    socket.down = true;
    p.start();
    clock.advance(2500);
    expect(events).toEqual([
      'down@2000: 3 consecutive failures, last: send failed: ENETDOWN, Network is down',
    ]);
  });

  it('ignores replies from other addresses, with other ids, and unknown sequence numbers', () => {
    const { clock, socket, p } = probe();
    socket.answering = false;
    p.start();
    const req = socket.last!;
    const other = (mut: (b: Buffer) => void, from = '198.18.1.1') => {
      const b = Buffer.from(req);
      mut(b);
      return ipv4(from, '198.18.1.2', replyTo(b));
    };
    socket.handler!(
      other(() => {}, '198.18.1.99'),
      '198.18.1.99',
    );
    socket.handler!(
      other((b) => b.writeUInt16BE((b.readUInt16BE(4) + 1) & 0xffff, 4)),
      '198.18.1.1',
    );
    socket.handler!(
      other((b) => b.writeUInt16BE(99, 6)),
      '198.18.1.1',
    );
    clock.advance(100);
    expect(p.status().received).toBe(0);
    socket.handler!(
      other(() => {}),
      '198.18.1.1',
    );
    expect(p.status().received).toBe(1);
  });

  it('several targets: a round succeeds when any answers, fails when none does', () => {
    const { clock, socket, p, events } = probe(['198.18.1.7', '198.18.1.8']);
    socket.silent.add('198.18.1.1');
    socket.silent.add('198.18.1.7');
    p.start();
    clock.advance(1500);
    expect(socket.sent).toBe(6); // 3 targets, 2 rounds
    expect(events).toEqual(['up@1020: 2 consecutive echo replies']);
    socket.silent.add('198.18.1.8');
    clock.advance(3000);
    expect(events[1]).toBe('down@4500: 3 consecutive failures, last: no echo reply within 500 ms');
    socket.silent.delete('198.18.1.1');
    clock.advance(2000);
    expect(events[2]).toBe('up@6020: 2 consecutive echo replies');
    expect(p.status()).toMatchObject({ sent: 7, received: 4 });
  });

  it('several targets: a target that errors does not fail a round another answers; all erroring fails it at once', () => {
    const { clock, socket, p, events } = probe(['198.18.1.7']);
    socket.unreachable.add('198.18.1.1');
    p.start();
    clock.advance(1500);
    expect(events).toEqual(['up@1020: 2 consecutive echo replies']);
    socket.unreachable.add('198.18.1.7');
    clock.advance(3000); // rounds at 2000, 3000, 4000 fail when sent
    expect(events[1]).toBe(
      'down@4000: 3 consecutive failures, last: send failed: EHOSTUNREACH, No route to host',
    );
  });

  it('rejects targets of two families', () => {
    expect(() => new UplinkProbe({ interface: 'x', target: '198.18.1.1', targets: ['2001:db8::1'] })).toThrow(
      /not an IPv4 address/,
    );
  });

  it('rejects a target that is not an address', () => {
    expect(() => new UplinkProbe({ interface: 'x', target: 'example.com' })).toThrow(/not an IP address/);
  });
});
