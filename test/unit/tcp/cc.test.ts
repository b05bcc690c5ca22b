// RTT estimation (RFC 6298) and congestion control (NewReno: RFC 5681/6582/3465; CUBIC: RFC 9438),
// driven by a fake ACK clock: rounds of ACKs of one SMSS each, one RTT apart. Expected numbers are
// worked out from the RFC formulas in the comments.
import { describe, expect, it } from 'vitest';
import { Cubic } from '../../../src/tcp/cc/cubic.js';
import { createCongestionController } from '../../../src/tcp/cc/index.js';
import { initialWindow, NewReno } from '../../../src/tcp/cc/newreno.js';
import { RttEstimator } from '../../../src/tcp/rtt.js';

const MSS = 1000;
const rttAt = (ms: number) => ({ srtt: ms, minRtt: ms, latest: ms });

describe('RttEstimator (RFC 6298)', () => {
  it('starts at 1 s, then SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR', () => {
    const r = new RttEstimator({ minRto: 0 });
    expect(r.rto).toBe(1000);
    r.sample(0, 100);
    expect(r.srtt).toBe(100);
    expect(r.rttvar).toBe(50);
    expect(r.rto).toBe(300);
  });

  it('smooths with alpha 1/8 and beta 1/4 (2.3)', () => {
    const r = new RttEstimator({ minRto: 0 });
    r.sample(0, 100);
    r.sample(10, 200);
    // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
    expect(r.rttvar).toBe(62.5);
    expect(r.srtt).toBe(112.5);
    expect(r.rto).toBe(112.5 + 4 * 62.5);
  });

  it('applies the minimum RTO and the clock granularity', () => {
    const r = new RttEstimator({ minRto: 200 });
    r.sample(0, 10);
    expect(r.rto).toBe(200);
    const g = new RttEstimator({ minRto: 0, granularity: 50 });
    for (let i = 0; i < 50; i++) g.sample(i, 10); // RTTVAR decays to ~0: G dominates
    expect(g.rto).toBeCloseTo(10 + 50, 0);
  });

  it('doubles on backoff up to the maximum, and a new sample ends the backoff (5.5, 5.7)', () => {
    const r = new RttEstimator({ minRto: 200, maxRto: 60_000 });
    r.sample(0, 10);
    r.backoff();
    expect(r.rto).toBe(400);
    r.backoff();
    expect(r.rto).toBe(800);
    for (let i = 0; i < 20; i++) r.backoff();
    expect(r.rto).toBe(60_000);
    r.sample(1, 10);
    expect(r.rto).toBe(200);
  });

  it('keeps the minimum RTT of a recent window', () => {
    const r = new RttEstimator({ minRttWindow: 1000 });
    r.sample(0, 50);
    r.sample(100, 30);
    r.sample(200, 60);
    expect(r.minRtt).toBe(30);
    r.sample(1500, 80); // the 30 ms sample expired
    expect(r.minRtt).toBe(80);
  });
});

/** One round: cwnd/MSS ACKs of one MSS each at time t. */
function round(cc: NewReno | Cubic, t: number, rtt = 100, limited = true): void {
  const n = Math.floor(cc.window / MSS);
  for (let i = 0; i < n; i++) cc.onAck(t, MSS, cc.window, limited, rttAt(rtt));
}

describe('NewReno', () => {
  it('starts with the RFC 6928 initial window', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(9000)).toBe(18000);
    expect(new NewReno(MSS).window).toBe(10 * MSS);
  });

  it('doubles per round in slow start, grows one SMSS per round in congestion avoidance', () => {
    const cc = new NewReno(MSS);
    round(cc, 0);
    expect(cc.window).toBe(20 * MSS);
    round(cc, 100);
    expect(cc.window).toBe(40 * MSS);
    cc.onCongestionEvent(200, 40 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    expect(cc.window).toBe(20 * MSS);
    round(cc, 300);
    expect(cc.window).toBe(21 * MSS);
    round(cc, 400);
    expect(cc.window).toBe(22 * MSS);
  });

  it('grows by all a stretch ACK acknowledged in slow start (RFC 9406 4.2: L = infinity, paced)', () => {
    // A receiver behind GRO acknowledges a ten-segment super-packet with one ACK.
    for (const cc of [new NewReno(MSS), new Cubic(MSS)]) {
      cc.onAck(0, 10 * MSS, 10 * MSS, true, rttAt(100));
      expect(cc.window, cc.name).toBe(20 * MSS);
    }
  });

  it('falls to one segment after an RTO with ssthresh at half the flight', () => {
    const cc = new NewReno(MSS);
    cc.onRetransmissionTimeout(0, 30 * MSS);
    expect(cc.window).toBe(MSS);
    expect(cc.ssthresh).toBe(15 * MSS);
  });

  it('does not grow while the application limits the sender (RFC 7661)', () => {
    const cc = new NewReno(MSS);
    round(cc, 0, 100, false);
    expect(cc.window).toBe(10 * MSS);
  });

  it('never sets ssthresh below two segments', () => {
    const cc = new NewReno(MSS);
    cc.onCongestionEvent(0, MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
  });
});

describe('CUBIC (RFC 9438)', () => {
  it('reduces to beta = 0.7 on a congestion event and computes K from W_max', () => {
    const cc = new Cubic(MSS);
    while (cc.window < 100 * MSS) round(cc, 0, 100);
    const w = cc.window;
    cc.onCongestionEvent(0, w);
    expect(cc.window).toBeCloseTo(0.7 * w, 6);
    expect(cc.ssthresh).toBeCloseTo(0.7 * w, 6);
  });

  it('returns to W_max after K seconds (concave), then grows beyond it (convex)', () => {
    const cc = new Cubic(MSS);
    // Leave slow start at exactly 100 segments, then a loss: W_max = 100, cwnd = 70.
    (cc as unknown as { window: number }).window = 100 * MSS;
    cc.onCongestionEvent(0, 100 * MSS);
    const k = Math.cbrt((100 * (1 - 0.7)) / 0.4); // equation 2: about 4.22 s
    const rtt = 100;
    let t = 0;
    const trace: [number, number][] = [];
    while (t < 8000) {
      round(cc, t, rtt);
      trace.push([t, cc.window / MSS]);
      t += rtt;
    }
    const at = (s: number) => trace.find(([tt]) => tt >= s * 1000)![1];
    // Near K the window is back at W_max (the target looks one RTT ahead: allow a few segments).
    expect(at(k)).toBeGreaterThan(97);
    expect(at(k)).toBeLessThan(104);
    // Concave before K: growth slows as W_max nears.
    expect(at(1) - at(0.5)).toBeGreaterThan(at(3.5) - at(3));
    // Convex after K: growth speeds up.
    expect(at(7.5) - at(7)).toBeGreaterThan(at(5.5) - at(5));
  });

  it('fast convergence: a second loss below the last maximum lowers W_max (4.7)', () => {
    const cc = new Cubic(MSS);
    (cc as unknown as { window: number }).window = 100 * MSS;
    cc.onCongestionEvent(0, 100 * MSS); // W_max 100, cwnd 70
    cc.onCongestionEvent(10, 70 * MSS); // below W_last_max: W_max = 70 * 1.7 / 2 = 59.5
    expect((cc as unknown as { wMax: number }).wMax).toBeCloseTo(59.5, 6);
  });

  it('is at least Reno-friendly with small windows and short RTTs (4.3)', () => {
    const cubic = new Cubic(MSS);
    const reno = new NewReno(MSS);
    for (const cc of [cubic, reno]) {
      (cc as unknown as { window: number }).window = 20 * MSS;
      cc.onCongestionEvent(0, 20 * MSS);
    }
    for (let t = 0; t < 2000; t += 10) {
      round(cubic, t, 10);
      round(reno, t, 10);
    }
    // With a 10 ms RTT the cubic curve is flat over 2 s; W_est (alpha = 0.53) must carry growth.
    expect(cubic.window).toBeGreaterThan(0.45 * reno.window);
    expect(cubic.window).toBeGreaterThan(14 * MSS + 50 * MSS);
  });

  it('after an RTO: one segment, ssthresh as for a congestion event (4.8)', () => {
    const cc = new Cubic(MSS);
    (cc as unknown as { window: number }).window = 50 * MSS;
    cc.onRetransmissionTimeout(0, 50 * MSS);
    expect(cc.window).toBe(MSS);
    expect(cc.ssthresh).toBeCloseTo(35 * MSS, 6);
  });

  it('leaves slow start when the round RTT rises (HyStart++ delay threshold)', () => {
    const cc = new Cubic(MSS);
    let t = 0;
    for (let i = 0; i < 3; i++) {
      round(cc, t, 40);
      t += 40;
    }
    expect(cc.ssthresh).toBe(Number.POSITIVE_INFINITY);
    round(cc, t, 60); // 20 ms more than the last round: above eta = clamp(40/8, 4, 16) = 5
    expect(cc.ssthresh).toBeLessThan(Number.POSITIVE_INFINITY);
  });

  it('is chosen by name', () => {
    expect(createCongestionController('cubic', MSS, 1).name).toBe('cubic');
    expect(createCongestionController('newreno', MSS, 1).name).toBe('newreno');
    expect(createCongestionController('bbr', MSS, 1).name).toBe('bbr');
    expect(() => createCongestionController('vegas' as 'cubic', MSS, 1)).toThrow(
      /unknown congestion control/,
    );
  });
});
