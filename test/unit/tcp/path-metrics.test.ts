// RFC 9040 TCP control block sharing (src/tcp/path-metrics.ts) and the controllers' seed(): what a
// new connection on a path inherits from those that ended there (temporal sharing, RFC 9040
// section 6), how the cached window is split among connections open at once (ensemble sharing,
// section 7), what expires when, what a path is (both addresses, section 8.1), the bound on
// entries; then the congestion controllers and the RTT estimator started from a seed, and two
// stacks in a row through the Pair harness: the second transfer starts where the first ended.
import { describe, expect, it } from 'vitest';
import { CouplingGroup } from '../../../src/mptcp/cc/coupling.js';
import { Lia } from '../../../src/mptcp/cc/lia.js';
import { Olia } from '../../../src/mptcp/cc/olia.js';
import { Bbr } from '../../../src/tcp/cc/bbr.js';
import { Cubic } from '../../../src/tcp/cc/cubic.js';
import { initialWindow, NewReno } from '../../../src/tcp/cc/newreno.js';
import { PathMetrics } from '../../../src/tcp/path-metrics.js';
import { RateSampler } from '../../../src/tcp/rate-sample.js';
import { RttEstimator } from '../../../src/tcp/rtt.js';
import type { TcpSocket } from '../../../src/tcp/socket.js';
import { TcpState } from '../../../src/tcp/state.js';
import { A_ADDR, B_ADDR, Pair } from './pair.js';

const MSS = 1000;
const IW = initialWindow(MSS); // RFC 6928: 10 segments
const HAG = Uint8Array.of(198, 18, 100, 1);
const DSL = Uint8Array.of(198, 18, 11, 2);
const LTE = Uint8Array.of(198, 18, 12, 2);
const MIN = 60_000;
const rttAt = (ms: number) => ({ srtt: ms, minRtt: ms, latest: ms });

/** What a connection that grew to `segments` and saw no loss leaves. */
const grown = (segments: number, srtt = 20, ssthresh = Infinity) => ({
  srtt,
  rttvar: srtt / 4,
  window: segments * MSS,
  ssthresh,
  mss: MSS,
});

describe('PathMetrics: temporal sharing (RFC 9040 section 6)', () => {
  it('a path nothing has ended on gives nothing: RFC 6928 and RFC 6298 apply', () => {
    const m = new PathMetrics();
    expect(m.opened(0, HAG, DSL, MSS)).toBeUndefined();
    expect(m.size).toBe(1);
  });

  it('the next connection takes the RTT, the window and the ssthresh the last one left (6.1)', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(70, 20));
    expect(m.opened(200, HAG, DSL, MSS)).toEqual({
      srtt: 20,
      rttvar: 5,
      window: 70 * MSS,
      ssthresh: Infinity,
    });
  });

  it('is kept in segments: a connection with another MSS gets as many segments', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, { ...grown(40), ssthresh: 30 * MSS });
    expect(m.opened(200, HAG, DSL, 1400)).toMatchObject({ window: 30 * 1400, ssthresh: 30 * 1400 });
  });

  it('the window never above the cached ssthresh, ssthresh never below two segments', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(80, 20, 25 * MSS));
    expect(m.opened(200, HAG, DSL, MSS)).toMatchObject({ window: 25 * MSS, ssthresh: 25 * MSS });
    m.closed(300, HAG, DSL, grown(5, 20, MSS));
    // A 1-segment ssthresh would fall below RFC 5681's floor; the window stays at least RFC 6928's.
    expect(m.opened(400, HAG, DSL, MSS)).toMatchObject({ window: IW, ssthresh: 2 * MSS });
  });

  it('the newest connection replaces what the entry held (6.2), one that learnt nothing leaves it', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(70, 20));
    m.opened(200, HAG, DSL, MSS);
    m.closed(300, HAG, DSL, grown(30, 40, 30 * MSS));
    expect(m.opened(400, HAG, DSL, MSS)).toEqual({
      srtt: 40,
      rttvar: 10,
      window: 30 * MSS,
      ssthresh: 30 * MSS,
    });
    m.closed(500, HAG, DSL, undefined); // no RTT sample (refused, timed out)
    m.opened(600, HAG, DSL, MSS);
    m.closed(700, HAG, DSL, { ...grown(0, 60), window: 0 }); // only a request: no window tested
    expect(m.opened(800, HAG, DSL, MSS)).toEqual({
      srtt: 60,
      rttvar: 15,
      window: 30 * MSS,
      ssthresh: 30 * MSS,
    });
  });

  it('the window expires after RFC 7661 non-validated period (5 min), RTT and ssthresh after an hour', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(0, HAG, DSL, grown(70, 20, 50 * MSS));
    m.closed(0, HAG, DSL, undefined);
    expect(m.opened(5 * MIN, HAG, DSL, MSS)?.window).toBe(50 * MSS);
    m.closed(5 * MIN, HAG, DSL, undefined);
    expect(m.opened(5 * MIN + 1, HAG, DSL, MSS)).toEqual({
      srtt: 20,
      rttvar: 5,
      window: IW,
      ssthresh: 50 * MSS,
    });
    m.closed(0, HAG, DSL, undefined);
    expect(m.opened(60 * MIN, HAG, DSL, MSS)?.srtt).toBe(20);
    m.closed(0, HAG, DSL, undefined);
    expect(m.opened(60 * MIN + 1, HAG, DSL, MSS)).toBeUndefined();
  });

  it('the lifetimes are settable', () => {
    const m = new PathMetrics({ rttLifetimeMs: 1000, windowLifetimeMs: 100 });
    m.opened(0, HAG, DSL, MSS);
    m.closed(0, HAG, DSL, grown(70));
    expect(m.opened(100, HAG, DSL, MSS)?.window).toBe(70 * MSS);
    m.closed(100, HAG, DSL, undefined);
    expect(m.opened(101, HAG, DSL, MSS)?.window).toBe(IW);
    m.closed(101, HAG, DSL, undefined);
    expect(m.opened(1001, HAG, DSL, MSS)).toBeUndefined();
  });

  it('a path is both addresses (8.1): another uplink or another end is another path', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(70));
    expect(m.opened(200, HAG, LTE, MSS)).toBeUndefined();
    expect(m.opened(200, DSL, HAG, MSS)).toBeUndefined();
    expect(m.opened(200, HAG, DSL, MSS)?.window).toBe(70 * MSS);
  });
});

describe('PathMetrics: ensemble sharing (RFC 9040 section 7)', () => {
  it('connections open at once split the cached window, none below RFC 6928 initial window', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(60));
    // Six parallel page-load connections: each one opened while others run takes its share.
    const windows = [1, 2, 3, 4, 5, 6].map(() => m.opened(200, HAG, DSL, MSS)?.window);
    expect(windows).toEqual([60, 30, 20, 15, 12, 10].map((s) => s * MSS));
    // With more open than the window has initial windows, the floor holds.
    expect(m.opened(200, HAG, DSL, MSS)?.window).toBe(IW);
  });

  it('a connection that closes no longer counts (its share goes to the next one)', () => {
    const m = new PathMetrics();
    m.opened(0, HAG, DSL, MSS);
    m.closed(100, HAG, DSL, grown(60));
    m.opened(200, HAG, DSL, MSS);
    m.opened(200, HAG, DSL, MSS);
    m.closed(300, HAG, DSL, undefined);
    expect(m.opened(400, HAG, DSL, MSS)?.window).toBe(30 * MSS);
    m.closed(500, HAG, DSL, undefined);
    m.closed(500, HAG, DSL, undefined);
    // More closes than opens do not make the count negative.
    m.closed(500, HAG, DSL, undefined);
    expect(m.opened(600, HAG, DSL, MSS)?.window).toBe(60 * MSS);
  });
});

describe('PathMetrics: bounded', () => {
  it('keeps maxPaths entries, the least recently closed on goes first, open ones are spared', () => {
    const m = new PathMetrics({ maxPaths: 2 });
    const addr = (i: number) => Uint8Array.of(10, 0, 0, i);
    m.opened(0, HAG, addr(1), MSS);
    m.closed(1, HAG, addr(1), grown(20));
    m.opened(0, HAG, addr(2), MSS);
    m.closed(2, HAG, addr(2), grown(20));
    m.opened(3, HAG, addr(1), MSS); // addr(1) is open: spared
    m.closed(4, HAG, addr(1), grown(30)); // and now the most recent
    m.opened(5, HAG, addr(3), MSS); // addr(2) goes
    expect(m.size).toBe(2);
    expect(m.opened(6, HAG, addr(1), MSS)?.window).toBe(30 * MSS);
    // addr(1) is open again, addr(3) too: a new path may go over the bound (to twice it) rather
    // than forget a path in use.
    m.opened(7, HAG, addr(4), MSS);
    expect(m.size).toBe(3);
    expect(m.opened(8, HAG, addr(2), MSS)).toBeUndefined();
  });
});

describe('seed(): controllers start from the path (RFC 9040 6.1)', () => {
  /** One round of cwnd/MSS ACKs, window-limited. */
  const round = (cc: NewReno | Cubic, t: number) => {
    const n = Math.floor(cc.window / MSS);
    for (let i = 0; i < n; i++) cc.onAck(t, MSS, cc.window, true, rttAt(20));
  };

  it('NewReno and CUBIC: slow start from the seeded window, below the seeded ssthresh', () => {
    for (const cc of [new NewReno(MSS), new Cubic(MSS)]) {
      expect(cc.window, cc.name).toBe(IW);
      cc.seed(40 * MSS, Infinity);
      expect(cc.window, cc.name).toBe(40 * MSS);
      expect(cc.ssthresh, cc.name).toBe(Infinity);
      round(cc, 0);
      expect(cc.window, cc.name).toBe(80 * MSS); // doubles per round from there
    }
  });

  it('NewReno: a seeded ssthresh at the seeded window means congestion avoidance at once', () => {
    const cc = new NewReno(MSS);
    cc.seed(30 * MSS, 30 * MSS);
    round(cc, 0);
    expect(cc.window).toBe(31 * MSS); // one SMSS per round (RFC 5681 3.1)
  });

  it('CUBIC: a seeded ssthresh below the window: no slow start, and a loss still halves (RFC 9438)', () => {
    const cc = new Cubic(MSS);
    cc.seed(30 * MSS, 20 * MSS);
    round(cc, 0);
    expect(cc.window).toBeLessThan(32 * MSS);
    cc.onCongestionEvent(100, cc.window);
    expect(cc.window).toBeLessThan(25 * MSS);
  });

  it('LIA and OLIA: the seeded window joins the coupled sum', () => {
    for (const make of [(g: CouplingGroup) => new Lia(MSS, g), (g: CouplingGroup) => new Olia(MSS, g)]) {
      const g = new CouplingGroup();
      const cc = make(g);
      cc.seed(40 * MSS, 60 * MSS);
      expect(cc.window).toBe(40 * MSS);
      expect(cc.ssthresh).toBe(60 * MSS);
      cc.onAck(0, MSS, cc.window, true, rttAt(20));
      expect(g.totalWindow).toBeGreaterThanOrEqual(40 * MSS);
    }
  });

  it('BBR: the seed is the draft InitialCwnd, and its first pacing rate is the startup gain times it per RTT', () => {
    const plain = new Bbr(MSS, 1);
    const seeded = new Bbr(MSS, 1);
    seeded.seed(40 * MSS, Infinity);
    expect(seeded.window).toBe(40 * MSS);
    for (const cc of [plain, seeded]) cc.onRateSample(0, new RateSampler(0), 0, 0, rttAt(20));
    // 5.6.2 BBRInitPacingRate: nominal bandwidth = InitialCwnd / SRTT, times BBRStartupPacingGain (2.77).
    expect(plain.pacingRate).toBeCloseTo((2.77 * IW) / 20, 0);
    expect(seeded.pacingRate).toBeCloseTo(4 * plain.pacingRate, 0);
  });
});

describe('RttEstimator.seed (RFC 9040 6.1, RFC 6298)', () => {
  it('an RTO from the cached srtt and rttvar instead of 1 s; the first sample replaces them (2.2)', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.seed(20, 5);
    expect(r.srtt).toBe(20);
    expect(r.rto).toBe(20 + 4 * 5);
    expect(r.minRtt).toBe(0); // the minimum waits for a measurement
    r.sample(0, 100);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    r.sample(10, 100);
    expect(r.srtt).toBe(100); // 2.3 smoothing from then on
  });

  it('is ignored once measured, or when nothing is known', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.seed(0, 0);
    expect(r.rto).toBe(1000);
    r.sample(0, 50);
    r.seed(20, 5);
    expect(r.srtt).toBe(50);
  });

  it('keeps the minimum RTO', () => {
    const r = new RttEstimator({ minRto: 200 });
    r.seed(20, 5);
    expect(r.rto).toBe(200);
  });
});

describe('two stacks: the next connection on the path starts where the last one ended', () => {
  /** b sends `bytes` to a on a new connection, both close; returns b's socket as the data starts. */
  function transfer(p: Pair, bytes: number): { server: TcpSocket; window0: number } {
    let server: TcpSocket | undefined;
    p.b.listen({ port: 80, onAccept: (s) => (server = s) });
    const client = p.a.connect(p.now, { local: A_ADDR, remote: B_ADDR, remotePort: 80 });
    p.run(() => server !== undefined && client.state === TcpState.Established, 5000);
    const s = server!;
    const window0 = s.cc.window;
    const data = new Uint8Array(bytes);
    let sent = 0;
    let got = 0;
    const buf = new Uint8Array(65536);
    const end = p.now + 60_000;
    while (got < bytes && p.now < end) {
      if (sent < bytes) {
        sent += s.send(data, sent);
        p.b.wake(s);
      }
      for (let n = client.recv(buf); n > 0; n = client.recv(buf)) got += n;
      p.a.wake(client);
      p.run(() => false, 1);
    }
    expect(got).toBe(bytes);
    s.close();
    client.close();
    p.b.wake(s);
    p.a.wake(client);
    p.run(() => false, 200);
    expect([TcpState.Closed, TcpState.TimeWait]).toContain(s.state);
    p.b.unlisten(80);
    return { server: s, window0 };
  }

  it('with pathMetrics the second download starts from the window the first one grew to; without, afresh', () => {
    const on = new Pair({ tcp: { congestionControl: 'cubic' } }, { pathMetrics: new PathMetrics() });
    on.delay = 10;
    const first = transfer(on, 200_000);
    expect(first.window0).toBe(initialWindow(first.server.mss));
    const grownTo = first.server.cc.window;
    expect(grownTo).toBeGreaterThan(4 * first.window0);
    const second = transfer(on, 200_000);
    expect(second.window0).toBe(grownTo);
    // It had nothing left to grow for: the third starts from about the same.
    expect(transfer(on, 200_000).window0).toBeGreaterThanOrEqual(grownTo);
    const off = new Pair({ tcp: { congestionControl: 'cubic' } });
    off.delay = 10;
    transfer(off, 200_000);
    expect(transfer(off, 200_000).window0).toBe(initialWindow(first.server.mss));
  });
});
