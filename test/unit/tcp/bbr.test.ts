// BBR (draft-ietf-ccwg-bbr) state by state, and the delivery-rate sampler it feeds on, driven by
// a fake clock: a sender that sends one-segment packets as the window and pacing rate allow into a
// fluid bottleneck of fixed rate and unlimited queue, with a fixed base RTT and one ACK per packet.
import { describe, expect, it } from 'vitest';
import { Bbr, type BbrState } from '../../../src/tcp/cc/bbr.js';
import { RateSampler } from '../../../src/tcp/rate-sample.js';

const MSS = 1000;

interface Transition {
  t: number;
  state: BbrState;
  round: number;
  window: number;
  queue: number;
  inflight: number;
}

class FakePath {
  now = 0;
  readonly rs = new RateSampler(0);
  readonly cc = new Bbr(MSS, 7);
  inflight = 0;
  readonly log: Transition[] = [];
  /** BBR's bandwidth estimate at the start of each round. */
  readonly roundBw: number[] = [];
  private seq = 0;
  private busyUntil = 0;
  private nextSend = 0;
  private readonly acks: { end: number; at: number }[] = [];
  private head = 0;
  private readonly rtt = { srtt: 0, minRtt: 0, latest: 0 };

  /** `rate` bytes per ms at the bottleneck, `baseRtt` ms of propagation both ways. */
  constructor(
    private readonly rate: number,
    public baseRtt: number,
  ) {
    this.note();
  }

  get bdp(): number {
    return this.rate * this.baseRtt;
  }

  /** Bytes queued at the bottleneck now. */
  get queue(): number {
    return Math.max(0, this.busyUntil - this.now) * this.rate;
  }

  run(until: number): void {
    while (this.now < until) {
      while (this.canSend() && this.now >= this.nextSend) this.send();
      const ack = this.head < this.acks.length ? this.acks[this.head].at : Number.POSITIVE_INFINITY;
      const send = this.canSend() ? Math.max(this.nextSend, this.now) : Number.POSITIVE_INFINITY;
      this.now = Math.min(ack, send, until);
      while (this.head < this.acks.length && this.acks[this.head].at <= this.now)
        this.ack(this.acks[this.head++].end);
    }
  }

  /** Runs until `pred` holds (checked after every ACK batch), at most until `limit`. */
  runUntil(pred: () => boolean, limit: number): void {
    while (!pred() && this.now < limit) this.run(this.now + 0.5);
  }

  private canSend(): boolean {
    return this.inflight + MSS <= this.cc.window;
  }

  private send(): void {
    this.rs.sent(this.now, this.seq, MSS, this.inflight, false);
    this.inflight += MSS;
    this.busyUntil = Math.max(this.now, this.busyUntil) + MSS / this.rate;
    this.acks.push({ end: this.seq + MSS, at: this.busyUntil + this.baseRtt });
    this.seq += MSS;
    const p = this.cc.pacingRate;
    this.nextSend = this.now + (p > 0 ? MSS / p : 0);
  }

  private ack(end: number): void {
    const before = this.inflight;
    this.rs.begin();
    this.rs.ackedTo(this.now, end);
    this.inflight -= MSS;
    const minRtt = this.rtt.minRtt || Number.POSITIVE_INFINITY;
    this.rs.generate(this.now, minRtt === Number.POSITIVE_INFINITY ? 0 : minRtt);
    if (this.rs.rtt >= 0) {
      this.rtt.latest = this.rs.rtt;
      this.rtt.srtt = this.rtt.srtt ? 0.875 * this.rtt.srtt + 0.125 * this.rs.rtt : this.rs.rtt;
      this.rtt.minRtt = this.rtt.minRtt ? Math.min(this.rtt.minRtt, this.rs.rtt) : this.rs.rtt;
    }
    const round = this.cc.roundCount;
    this.cc.onRateSample(this.now, this.rs, before, this.inflight, this.rtt);
    if (this.cc.roundCount !== round) this.roundBw[this.cc.roundCount] = this.cc.bandwidth;
    if (this.cc.state !== this.log[this.log.length - 1].state) this.note();
  }

  private note(): void {
    this.log.push({
      t: this.now,
      state: this.cc.state,
      round: this.cc.roundCount,
      window: this.cc.window,
      queue: this.queue,
      inflight: this.inflight,
    });
  }

  /** The first transition into `state` at or after `from`. */
  entry(state: BbrState, from = 0): Transition | undefined {
    return this.log.find((x) => x.state === state && x.t >= from);
  }
}

const R = 1250; // 10 Mbit/s in bytes per ms
const RTT = 40;

describe('BBR: Startup', () => {
  it('grows to the bottleneck rate and leaves after 3 rounds without 25% growth', () => {
    const p = new FakePath(R, RTT);
    p.runUntil(() => p.cc.state !== 'startup', 5000);
    const drain = p.entry('drain');
    expect(drain).toBeDefined();
    // The estimate is the bottleneck rate.
    expect(p.cc.bandwidth).toBeGreaterThan(0.95 * R);
    expect(p.cc.bandwidth).toBeLessThanOrEqual(1.02 * R);
    // Exponential growth until the pipe is full: the estimate doubles (at least 1.25x) per round
    // while below the rate ...
    const bw = p.roundBw;
    const exit = drain!.round;
    const full = bw.findIndex((b) => b >= 0.9 * R);
    for (let i = 3; i < full; i++) expect(bw[i]).toBeGreaterThanOrEqual(1.25 * bw[i - 1]);
    // ... and Startup ends 3 rounds after growth stopped (the round count of 5.3.1.2).
    expect(bw[exit] / bw[exit - 3]).toBeLessThan(1.25);
    expect(exit - full).toBeGreaterThanOrEqual(3);
    expect(exit - full).toBeLessThanOrEqual(4);
  });

  it('paces at 2.77 times the estimate with a window of twice the BDP', () => {
    const p = new FakePath(R, RTT);
    p.runUntil(() => p.cc.roundCount >= 5, 2000);
    expect(p.cc.state).toBe('startup');
    expect(p.cc.pacingRate).toBeCloseTo(2.77 * 0.99 * p.cc.bandwidth, 0);
  });
});

describe('BBR: Drain', () => {
  it('empties the queue Startup built, then enters ProbeBW_DOWN', () => {
    const p = new FakePath(R, RTT);
    p.runUntil(() => p.cc.state.startsWith('probe-bw'), 5000);
    const drain = p.entry('drain')!;
    // ProbeBW_DOWN, then at once CRUISE: inflight is at the BDP (5.3.3.1).
    const next = p.log[p.log.indexOf(drain) + 1];
    expect(next.state).toMatch(/^probe-bw-(down|cruise)$/);
    expect(drain.queue).toBeGreaterThan(0.5 * p.bdp); // Startup's cwnd gain of 2 left about a BDP queued
    expect(next.inflight).toBeLessThanOrEqual(p.bdp + MSS);
    expect(next.queue).toBeLessThanOrEqual(2 * MSS);
    expect(next.round - drain.round).toBeLessThanOrEqual(3);
  });
});

describe('BBR: ProbeBW', () => {
  it('cycles DOWN, CRUISE, REFILL (one round), UP, DOWN every 2 to 3 s', () => {
    const p = new FakePath(R, RTT);
    p.run(14_000);
    const bw = p.log.filter((x) => x.state.startsWith('probe-bw'));
    const refills = bw.filter((x) => x.state === 'probe-bw-refill');
    expect(refills.length).toBeGreaterThanOrEqual(4);
    // Every REFILL follows CRUISE, lasts one round and leads to UP, then DOWN.
    for (const r of refills.slice(0, -1)) {
      const i = bw.indexOf(r);
      expect(bw[i - 1].state).toBe('probe-bw-cruise');
      expect(bw[i + 1].state).toBe('probe-bw-up');
      expect(bw[i + 1].round - r.round).toBe(1);
      expect(bw[i + 2].state).toBe('probe-bw-down');
    }
    // The wall-clock wait between probes is 2-3 s (5.3.3.8; a round bound of 63 is longer here).
    // A ProbeRTT restarts the cycle, so only gaps without one count.
    for (let k = 1; k < refills.length; k++) {
      const gap = p.log.filter((x) => x.t > refills[k - 1].t && x.t < refills[k].t);
      if (gap.some((x) => x.state === 'probe-rtt')) continue;
      const downAt = gap.find((x) => x.state === 'probe-bw-down')!.t;
      expect(refills[k].t - downAt).toBeGreaterThanOrEqual(2000);
      expect(refills[k].t - downAt).toBeLessThanOrEqual(3000 + 2 * RTT);
    }
    // The estimate stays the bottleneck rate through the cycles.
    expect(p.cc.bandwidth).toBeGreaterThan(0.95 * R);
    expect(p.cc.bandwidth).toBeLessThanOrEqual(1.3 * R);
  });

  it('probes UP at 1.25 times the estimate and cruises at it', () => {
    const p = new FakePath(R, RTT);
    p.runUntil(() => p.cc.state === 'probe-bw-up', 10_000);
    p.run(p.now + 1);
    expect(p.cc.pacingRate).toBeCloseTo(1.25 * 0.99 * p.cc.bandwidth, 0);
    p.runUntil(() => p.cc.state === 'probe-bw-cruise', 20_000);
    p.run(p.now + 1);
    expect(p.cc.pacingRate).toBeCloseTo(0.99 * p.cc.bandwidth, 0);
  });
});

describe('BBR: ProbeRTT', () => {
  it('after 5 s without a lower RTT sample: a window of 4 segments for 200 ms and a round', () => {
    // 1 Mbit/s, 20 ms: half the BDP is under the 4-segment floor (BBR.MinPipeCwnd).
    const p = new FakePath(125, 20);
    let minWindow = Number.POSITIVE_INFINITY;
    // At 1 s the path gets 1 ms longer (a route change): no RTT sample is below the minimum since.
    p.run(1000);
    p.baseRtt += 1;
    p.runUntil(() => p.cc.state === 'probe-rtt', 7000);
    const enter = p.entry('probe-rtt')!;
    expect(enter.t).toBeGreaterThan(5000);
    expect(enter.t).toBeLessThan(6000 + 2 * 21);
    while (p.cc.state === 'probe-rtt') {
      minWindow = Math.min(minWindow, p.cc.window);
      p.run(p.now + 1);
    }
    const left = p.log[p.log.length - 1];
    expect(minWindow).toBe(4 * MSS);
    expect(left.t - enter.t).toBeGreaterThanOrEqual(200);
    expect(left.t - enter.t).toBeLessThanOrEqual(200 + 4 * 30);
    expect(left.state).toBe('probe-bw-cruise');
    // The next one comes 5 s later.
    p.runUntil(() => p.cc.state === 'probe-rtt', left.t + 6000);
    expect(p.now - left.t).toBeGreaterThanOrEqual(5000);
  });

  it('holds half the BDP where that is above 4 segments (BBRv3 ProbeRTTCwndGain)', () => {
    const p = new FakePath(R, RTT);
    p.run(1000);
    p.baseRtt += 1;
    p.runUntil(() => p.cc.state === 'probe-rtt', 7000);
    p.run(p.now + 1);
    expect(p.cc.window).toBeCloseTo(0.5 * p.cc.bandwidth * p.cc.minRtt, -2);
    expect(p.cc.window).toBeGreaterThan(4 * MSS);
    const minRtt = p.cc.minRtt;
    p.runUntil(() => p.cc.state !== 'probe-rtt', 8000);
    // The queue drained: the RTT estimate is the propagation time again.
    expect(p.cc.minRtt).toBeLessThanOrEqual(minRtt);
    expect(p.queue).toBeLessThan(2 * MSS);
  });
});

describe('RateSampler (draft-ietf-ccwg-bbr 4.1)', () => {
  it('rates an ACK by the newest segment it delivers, SACKed ones included', () => {
    const rs = new RateSampler(1000);
    // Ten segments at 1 ms intervals from t = 0, one every ms.
    for (let i = 0; i < 10; i++) rs.sent(i, 1000 + i * MSS, MSS, i * MSS, false);
    // t = 50: a SACK for segments 2..9 (segments 0 and 1 lost or late).
    rs.begin();
    rs.sacked(50, 1000 + 2 * MSS, 1000 + 10 * MSS);
    expect(rs.generate(50, 10)).toBe(true);
    expect(rs.newlyAcked).toBe(8 * MSS);
    expect(rs.sampleDelivered).toBe(8 * MSS);
    expect(rs.rtt).toBe(41); // the newest, segment 9, went at t = 9
    // delivered since segment 9 left / max(send elapsed 9 ms, ack elapsed 50 ms)
    expect(rs.deliveryRate).toBeCloseTo((8 * MSS) / 50, 5);
    // t = 60: the cumulative ACK covers 0 and 1; the SACKed ones are not counted twice.
    rs.begin();
    rs.ackedTo(60, 1000 + 10 * MSS);
    rs.generate(60, 10);
    expect(rs.newlyAcked).toBe(2 * MSS);
    expect(rs.delivered).toBe(10 * MSS);
  });

  it('marks samples application-limited until the bubble is acknowledged', () => {
    const rs = new RateSampler(0);
    rs.sent(0, 0, MSS, 0, false);
    rs.markAppLimited(MSS);
    rs.sent(1, MSS, MSS, MSS, false);
    rs.begin();
    rs.ackedTo(40, MSS);
    rs.generate(40, 10);
    expect(rs.isAppLimited).toBe(false);
    rs.begin();
    rs.ackedTo(41, 2 * MSS);
    rs.generate(41, 10);
    expect(rs.isAppLimited).toBe(true);
    expect(rs.appLimited).toBe(0); // delivered passed the bubble's end
  });

  it('gives no rate from a retransmitted segment, nor from an interval under the min RTT', () => {
    const rs = new RateSampler(0);
    rs.sent(0, 0, MSS, 0, false);
    rs.sent(30, 0, MSS, 0, true);
    rs.begin();
    rs.ackedTo(40, MSS);
    expect(rs.generate(40, 10)).toBe(true);
    expect(rs.deliveryRate).toBe(0);
    expect(rs.rtt).toBe(-1);
    rs.sent(40, MSS, MSS, 0, false);
    rs.begin();
    rs.ackedTo(45, 2 * MSS);
    rs.generate(45, 10);
    expect(rs.deliveryRate).toBe(0);
    expect(rs.rtt).toBe(5);
  });
});
