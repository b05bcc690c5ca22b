// The burst pacer (src/tcp/pacing.ts): ten segments leave at once, a burst beyond them is spread
// at twice cwnd/srtt, and credit comes back with time; at a controller's rate a late wake-up
// sends what it owes.
import { describe, expect, it } from 'vitest';
import { Pacer } from '../../../src/tcp/pacing.js';

const MSS = 1448;

describe('Pacer', () => {
  it('lets ten segments go at once, then spaces the rest at 2 cwnd/srtt', () => {
    const p = new Pacer();
    const cwnd = 100 * MSS;
    const srtt = 50; // ms: rate 2 * 144,800 / 50 = 5,792 bytes per ms, 4 segments per ms
    for (let i = 0; i < 10; i++) expect(p.wait(0, MSS, cwnd, srtt, MSS)).toBe(0);
    const at = p.wait(0, MSS, cwnd, srtt, MSS);
    expect(at).toBeCloseTo(MSS / 5792, 6);
    // At that time it goes, and the one after waits another segment's time.
    expect(p.wait(at, MSS, cwnd, srtt, MSS)).toBe(0);
    expect(p.wait(at, MSS, cwnd, srtt, MSS)).toBeCloseTo(at + MSS / 5792, 6);
    // A pause refills the bucket, but to ten segments only.
    for (let i = 0; i < 10; i++) expect(p.wait(1000, MSS, cwnd, srtt, MSS)).toBe(0);
    expect(p.wait(1000, MSS, cwnd, srtt, MSS)).toBeGreaterThan(1000);
  });

  it('on a fast path the bucket holds a millisecond at the rate', () => {
    const p = new Pacer();
    // A 1 MiB window over 0.1 ms: about 21 MB per ms; one millisecond of it leaves at once.
    let sent = 0;
    while (p.wait(0, MSS, 1 << 20, 0.1, MSS) === 0) sent += MSS;
    expect(sent).toBeGreaterThan(20e6 - 2 * MSS);
    expect(sent).toBeLessThan(21e6);
  });

  it("at a controller's rate, a sender woken 4 ms late each time still sends at that rate", () => {
    // BBR at 40 Mbit/s (5,000 bytes per ms); the event loop of a busy host wakes the sender 4 ms
    // after the pacer asked. With a bucket of one quantum (1 ms) it sent 5 KB per wake-up: a
    // quarter of the rate, which BBR then measured as the path's and paced at.
    const p = new Pacer();
    const rate = 5000;
    let now = 0;
    let sent = 0;
    while (now < 1000) {
      let at = p.wait(now, MSS, 100 * MSS, 60, MSS, rate);
      while (at === 0) {
        sent += MSS;
        at = p.wait(now, MSS, 100 * MSS, 60, MSS, rate);
      }
      now = at + 4;
    }
    expect(sent / now).toBeGreaterThan(0.95 * rate);
    expect(sent / now).toBeLessThan(1.05 * rate);
  });
});
