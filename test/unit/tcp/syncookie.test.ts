// SYN cookies (RFC 4987 3.6): the cookie itself (MAC, time counter, MSS table, options in the
// TSval), and per-segment tests of a listener whose SYN queue is full: a SYN draws a cookie
// SYN/ACK and no state; a valid third ACK rebuilds the connection; a forged or stale one draws a
// RST; per-source shares of the queue and fewer SYN/ACK retransmissions under pressure.
import { describe, expect, it } from 'vitest';
import { TfoCookies, type TfoServerOptions } from '../../../src/tcp/fastopen.js';
import type { TcpSocket } from '../../../src/tcp/socket.js';
import { type SynCookieMode, TcpStack } from '../../../src/tcp/stack.js';
import { TcpState } from '../../../src/tcp/state.js';
import {
  COOKIE_MSS_TABLE,
  COOKIE_ROTATE_MS,
  COOKIE_TICK_MS,
  type CookieSyn,
  type CookieTsOptions,
  SynCookies,
} from '../../../src/tcp/syncookie.js';
import {
  emitPacket,
  ipReprOf,
  packetLen,
  parsePacket,
  type TcpOption,
  WireError,
} from '../../../src/wire/index.js';
import { ACK, RST, SYN } from './harness.js';

const SERVER = Uint8Array.of(198, 18, 2, 1);
const CLIENT = Uint8Array.of(198, 18, 1, 1);
const SECRET = new Uint8Array(32).fill(7);

describe('SynCookies', () => {
  const c = new SynCookies(SECRET);
  const out: CookieSyn = { mss: 0 };
  const make = (now: number, irs = 1000, mss = 1460) => c.make(now, SERVER, 80, CLIENT, 40000, irs, mss);
  const check = (now: number, iss: number, irs = 1000) =>
    c.check(now, SERVER, 80, CLIENT, 40000, irs, iss, out);

  it('a cookie validates for its 4-tuple and client ISN and gives the MSS back', () => {
    const iss = make(5000);
    expect(check(5000, iss)).toBe('ok');
    expect(out.mss).toBe(1460);
    expect(check(5000, iss, 1001)).toBe('forged');
    expect(c.check(5000, SERVER, 80, CLIENT, 40001, 1000, iss, out)).toBe('forged');
    expect(c.check(5000, SERVER, 80, Uint8Array.of(198, 18, 1, 2), 40000, 1000, iss, out)).toBe('forged');
  });

  it('a forged cookie is refused: flipped bits, another secret', () => {
    const iss = make(5000);
    for (const bit of [0, 3, 17, 29, 31]) expect(check(5000, (iss ^ (1 << bit)) >>> 0)).toBe('forged');
    const other = new SynCookies(new Uint8Array(32).fill(8));
    expect(other.check(5000, SERVER, 80, CLIENT, 40000, 1000, iss, out)).toBe('forged');
  });

  it('a cookie is valid for two ticks of the counter, then stale', () => {
    const t0 = 10 * COOKIE_TICK_MS + 1;
    const iss = make(t0);
    expect(check(t0 + 2 * COOKIE_TICK_MS, iss)).toBe('ok');
    expect(check(t0 + 3 * COOKIE_TICK_MS, iss)).toBe('stale');
    expect(check(t0 + 10 * COOKIE_TICK_MS, iss)).not.toBe('ok');
  });

  it('survives one rotation of the secret', () => {
    const r = new SynCookies(SECRET);
    const iss = r.make(0, SERVER, 80, CLIENT, 40000, 1000, 1460);
    r.rotate();
    expect(r.check(0, SERVER, 80, CLIENT, 40000, 1000, iss, out)).toBe('ok');
    r.rotate();
    expect(r.check(0, SERVER, 80, CLIENT, 40000, 1000, iss, out)).toBe('forged');
  });

  it('rotates its secret by itself: a cookie survives one rotation, a forged one is still refused', () => {
    const r = new SynCookies(SECRET);
    r.make(0, SERVER, 80, CLIENT, 40000, 1, 1460); // the first use sets the rotation clock
    const t = COOKIE_ROTATE_MS - 1000;
    const iss = r.make(t, SERVER, 80, CLIENT, 40000, 1000, 1460);
    expect(r.check(t + 2000, SERVER, 80, CLIENT, 40000, 1000, iss, out)).toBe('ok'); // rotated in between
    const fixed = new SynCookies(SECRET);
    expect(fixed.make(t + 2000, SERVER, 80, CLIENT, 40000, 1000, 1460)).not.toBe(
      r.make(t + 2000, SERVER, 80, CLIENT, 40000, 1000, 1460),
    );
    expect(r.check(t + 2000, SERVER, 80, CLIENT, 40000, 1000, (iss ^ 8) >>> 0, out)).toBe('forged');
    expect(() => new SynCookies(SECRET, COOKIE_TICK_MS)).toThrow(RangeError);
  });

  it('MSS table: the largest entry not above the SYN MSS', () => {
    expect(SynCookies.mssIndex(1460)).toBe(COOKIE_MSS_TABLE.indexOf(1460));
    expect(COOKIE_MSS_TABLE[SynCookies.mssIndex(1459)]).toBe(1440);
    expect(COOKIE_MSS_TABLE[SynCookies.mssIndex(9000)]).toBe(1460);
    expect(COOKIE_MSS_TABLE[SynCookies.mssIndex(1220)]).toBe(1220);
    expect(COOKIE_MSS_TABLE[SynCookies.mssIndex(600)]).toBe(536);
    expect(COOKIE_MSS_TABLE[SynCookies.mssIndex(100)]).toBe(64);
    for (const mss of [64, 536, 1000, 1400, 1452, 1460]) {
      const iss = make(0, 1, mss);
      expect(check(0, iss, 1)).toBe('ok');
      expect(out.mss).toBe(COOKIE_MSS_TABLE[SynCookies.mssIndex(mss)]);
    }
  });

  it('window scale and SACK-permitted round-trip through the TSval, never ahead of the clock', () => {
    const o: CookieTsOptions = { wscale: 0, sack: false };
    for (const [ws, sack] of [
      [-1, false],
      [0, true],
      [7, false],
      [14, true],
    ] as const) {
      for (const clock of [0, 63, 64, 1_000_000, 0xffffffff]) {
        const v = SynCookies.encodeTs(clock, ws, sack);
        expect(((clock >>> 0) - v) >>> 0).toBeLessThan(64);
        SynCookies.decodeTs(v, o);
        expect(o).toEqual({ wscale: ws, sack });
      }
    }
  });
});

// ------------------------------------------------------------------ per segment, at the stack

interface Out {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: TcpOption[];
}

class StackHarness {
  now = 1000;
  readonly stack: TcpStack;
  readonly accepted: TcpSocket[] = [];

  constructor(mode: SynCookieMode = 'auto', backlog = 4, fastOpen?: TfoServerOptions) {
    this.stack = new TcpStack({ synCookies: mode, cookies: new SynCookies(SECRET) });
    this.stack.listen({ port: 80, backlog, fastOpen, onAccept: (s) => this.accepted.push(s) });
  }

  send(s: {
    src?: Uint8Array;
    sport?: number;
    seq: number;
    ack?: number;
    flags: number;
    options?: TcpOption[];
    payload?: string;
  }): void {
    const p = {
      ip: ipReprOf(s.src ?? CLIENT, SERVER),
      tcp: {
        srcPort: s.sport ?? 40000,
        dstPort: 80,
        seq: s.seq >>> 0,
        ack: (s.ack ?? 0) >>> 0,
        flags: s.flags,
        window: 65535,
        urgent: 0,
        options: s.options ?? [],
        payload: Buffer.from(s.payload ?? ''),
      },
    };
    const buf = new Uint8Array(packetLen(p));
    emitPacket(p, buf);
    this.stack.input(this.now, buf);
  }

  recv(): Out[] {
    const out: Out[] = [];
    const buf = new Uint8Array(70000);
    for (;;) {
      const n = this.stack.pollTransmit(this.now, buf);
      if (n === 0) return out;
      const p = parsePacket(buf, 0, n);
      if (p instanceof WireError || !p.tcp) throw new Error(`stack sent a bad packet: ${p}`);
      out.push({
        src: p.ip.src,
        dst: p.ip.dst,
        srcPort: p.tcp.srcPort,
        dstPort: p.tcp.dstPort,
        seq: p.tcp.seq,
        ack: p.tcp.ack,
        flags: p.tcp.flags,
        window: p.tcp.window,
        options: p.tcp.options,
      });
    }
  }

  /** Fills the SYN queue with SYNs from other hosts that never answer. */
  fill(n: number): void {
    for (let i = 0; i < n; i++) this.send({ src: Uint8Array.of(203, 0, 113, i + 1), seq: 7 + i, flags: SYN });
    this.recv();
  }
}

const SYN_OPTS: TcpOption[] = [
  { type: 'mss', mss: 1400 },
  { type: 'sack_permitted' },
  { type: 'timestamp', tsval: 555, tsecr: 0 },
  { type: 'window_scale', shift: 7 },
];

function tsOf(o: Out): { tsval: number; tsecr: number } {
  const t = o.options.find((x) => x.type === 'timestamp');
  if (t?.type !== 'timestamp') throw new Error('no timestamp');
  return t;
}

describe('TcpStack under a SYN flood (SYN cookies)', () => {
  it('a full SYN queue answers a SYN with a cookie SYN/ACK and keeps no state', () => {
    const h = new StackHarness();
    h.fill(4);
    const before = h.stack.connectionCount;
    h.send({ seq: 1000, flags: SYN, options: SYN_OPTS });
    const out = h.recv();
    expect(out).toHaveLength(1);
    expect(out[0].flags).toBe(SYN | ACK);
    expect(out[0].ack).toBe(1001);
    expect(h.stack.connectionCount).toBe(before);
    const c = new SynCookies(SECRET);
    const got: CookieSyn = { mss: 0 };
    expect(c.check(h.now, SERVER, 80, CLIENT, 40000, 1000, out[0].seq, got)).toBe('ok');
    expect(got.mss).toBe(1380);
    // SACK-permitted, timestamps (TSecr echoes the SYN) and window scale are offered.
    expect(out[0].options.some((o) => o.type === 'sack_permitted')).toBe(true);
    expect(tsOf(out[0]).tsecr).toBe(555);
    expect(out[0].options.some((o) => o.type === 'window_scale')).toBe(true);
    expect(h.stack.mib.SyncookiesSent).toBe(1);
    expect(h.stack.mib.TCPReqQFullDoCookies).toBe(1);
    expect(h.stack.mib.TCPReqQFullDrop).toBe(0);
  });

  it('the valid third ACK rebuilds the connection: established, accepted, options kept', () => {
    const h = new StackHarness();
    h.fill(4);
    h.send({ seq: 1000, flags: SYN, options: SYN_OPTS });
    const [synAck] = h.recv();
    h.now += 30;
    h.send({
      seq: 1001,
      ack: synAck.seq + 1,
      flags: ACK,
      options: [{ type: 'timestamp', tsval: 585, tsecr: tsOf(synAck).tsval }],
      payload: 'hello',
    });
    expect(h.accepted).toHaveLength(1);
    const s = h.accepted[0];
    expect(s.state).toBe(TcpState.Established);
    expect(s.iss).toBe(synAck.seq);
    expect(s.readableBytes).toBe(5);
    expect(s.mss).toBe(1380 - 12); // the cookie's MSS, less the timestamp option
    expect(h.stack.mib.SyncookiesRecv).toBe(1);
    expect(h.stack.mib.PassiveOpens).toBe(5);
    // The window scale came back from the TSecr: a window of 100 means 100 << 7.
    h.send({
      seq: 1006,
      ack: synAck.seq + 1,
      flags: ACK,
      options: [{ type: 'timestamp', tsval: 590, tsecr: 0 }],
    });
    expect(s.sndWnd).toBe(65535 << 7);
    // Its (delayed) ACK of the data goes out with the connection's timestamps, not before the SYN/ACK's.
    h.now += 200;
    h.stack.handleTimeout(h.now);
    const acks = h.recv();
    expect(acks.at(-1)?.ack).toBe(1006);
    expect((tsOf(acks.at(-1)!).tsval - tsOf(synAck).tsval) >>> 0).toBeGreaterThanOrEqual(230);
    expect((tsOf(acks.at(-1)!).tsval - tsOf(synAck).tsval) >>> 0).toBeLessThan(230 + 64);
  });

  it('without timestamps the connection has no window scale and no SACK', () => {
    const h = new StackHarness();
    h.fill(4);
    h.send({ seq: 1000, flags: SYN, options: [{ type: 'mss', mss: 1460 }, { type: 'sack_permitted' }] });
    const [synAck] = h.recv();
    expect(synAck.options.map((o) => o.type)).toEqual(['mss']);
    h.send({ seq: 1001, ack: synAck.seq + 1, flags: ACK });
    expect(h.accepted).toHaveLength(1);
    expect(h.accepted[0].mss).toBe(1460);
    expect(h.accepted[0].sndWnd).toBe(65535);
  });

  it('a forged third ACK draws a RST and creates nothing', () => {
    const h = new StackHarness();
    h.fill(4);
    h.send({ seq: 1000, flags: SYN, options: SYN_OPTS });
    const [synAck] = h.recv();
    const before = h.stack.connectionCount;
    h.send({ seq: 1001, ack: synAck.seq + 2, flags: ACK });
    const out = h.recv();
    expect(out).toHaveLength(1);
    expect(out[0].flags & RST).toBe(RST);
    expect(out[0].seq).toBe(synAck.seq + 2);
    expect(h.accepted).toHaveLength(0);
    expect(h.stack.connectionCount).toBe(before);
    expect(h.stack.mib.SyncookiesFailed).toBe(1);
    // A different client ISN (another sequence number) is forged too.
    h.send({ seq: 2001, ack: synAck.seq + 1, flags: ACK });
    expect(h.recv()[0].flags & RST).toBe(RST);
    expect(h.stack.mib.SyncookiesFailed).toBe(2);
  });

  it('a stale cookie (older than two ticks) draws a RST', () => {
    const h = new StackHarness('always');
    h.send({ seq: 1000, flags: SYN, options: SYN_OPTS });
    const [synAck] = h.recv();
    h.now += 3 * COOKIE_TICK_MS;
    h.send({ seq: 1001, ack: synAck.seq + 1, flags: ACK });
    expect(h.recv()[0].flags & RST).toBe(RST);
    expect(h.accepted).toHaveLength(0);
    expect(h.stack.mib.SyncookiesFailed).toBe(1);
  });

  it("without cookies ('never') a full queue drops the SYN", () => {
    const h = new StackHarness('never');
    h.fill(4);
    h.send({ seq: 1000, flags: SYN, options: SYN_OPTS });
    expect(h.recv()).toHaveLength(0);
    expect(h.stack.mib.TCPReqQFullDrop).toBe(1);
    expect(h.stack.mib.SyncookiesSent).toBe(0);
  });

  it('SYN data with a valid Fast Open cookie is not taken under SYN cookies: the SYN/ACK acknowledges only the SYN', () => {
    const tfo = new TfoCookies(SECRET);
    const h = new StackHarness('auto', 4, { cookies: tfo });
    const fo: TcpOption = { type: 'fast_open', cookie: tfo.cookieFor(CLIENT) };
    // With room in the queue the data is taken at once (RFC 7413 4.2.2)...
    h.send({ sport: 30000, seq: 500, flags: SYN, options: [...SYN_OPTS, fo], payload: 'early' });
    expect(h.recv()[0].ack).toBe(506);
    expect(h.accepted).toHaveLength(1);
    h.fill(3);
    // ...but not from a cookie SYN/ACK, which carries no Fast Open option either.
    h.send({ seq: 1000, flags: SYN, options: [...SYN_OPTS, fo], payload: 'early' });
    const [synAck] = h.recv();
    expect(synAck.ack).toBe(1001);
    expect(synAck.options.some((o) => o.type === 'fast_open')).toBe(false);
    expect(h.stack.mib.SyncookiesSent).toBe(1);
    expect(h.stack.mib.TCPFastOpenPassive).toBe(1);
    h.send({ seq: 1001, ack: synAck.seq + 1, flags: ACK, payload: 'early' });
    expect(h.accepted).toHaveLength(2);
    expect(h.accepted[1].readableBytes).toBe(5);
  });

  it('an ACK for no connection when no cookie was sent lately draws a plain RST (no cookie check)', () => {
    const h = new StackHarness();
    h.send({ seq: 1001, ack: 12345, flags: ACK });
    expect(h.recv()[0].flags & RST).toBe(RST);
    expect(h.stack.mib.SyncookiesFailed).toBe(0);
  });

  it('one source holds at most an eighth of the queue; its further SYNs get cookies', () => {
    const h = new StackHarness('auto', 64);
    for (let i = 0; i < 20; i++) h.send({ sport: 30000 + i, seq: 100 + i, flags: SYN });
    h.recv();
    expect(h.stack.connectionCount).toBe(8);
    expect(h.stack.mib.SyncookiesSent).toBe(12);
    // Another host still gets a queue slot.
    h.send({ src: Uint8Array.of(198, 18, 1, 9), seq: 5, flags: SYN });
    expect(h.stack.connectionCount).toBe(9);
  });

  it('under pressure (queue more than half full) a half-open connection gets 2 SYN/ACK retransmissions', () => {
    const h = new StackHarness('auto', 4);
    h.fill(3);
    let synAcks = 0;
    for (let t = 0; t < 200_000; t += 100) {
      h.now += 100;
      h.stack.handleTimeout(h.now);
      synAcks += h.recv().filter((o) => o.flags === (SYN | ACK)).length;
      if (h.stack.connectionCount === 0) break;
    }
    expect(h.stack.connectionCount).toBe(0);
    expect(synAcks).toBe(3 * 2);
    expect(h.now).toBeLessThan(10_000);
  });

  it('without pressure a half-open connection gets synAckRetries (5) retransmissions', () => {
    const h = new StackHarness('auto', 4);
    h.fill(1);
    let synAcks = 0;
    for (let t = 0; t < 200_000; t += 100) {
      h.now += 100;
      h.stack.handleTimeout(h.now);
      synAcks += h.recv().filter((o) => o.flags === (SYN | ACK)).length;
      if (h.stack.connectionCount === 0) break;
    }
    expect(synAcks).toBe(5);
  });
});
