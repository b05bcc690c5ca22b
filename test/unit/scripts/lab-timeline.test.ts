// The lab benchmark's short-flow timeline (scripts/bench/lab-timeline.ts) from tcpdump lines as
// `tcpdump -i any -nn -tt` prints them in the client, CPE and HAG namespaces, and the page load's
// fixed object list (scripts/bench/lab-page.ts).
import { describe, expect, it } from 'vitest';
import { pageSizes, pageTimeline } from '../../../scripts/bench/lab-page.js';
import { medianTimeline, timelines } from '../../../scripts/bench/lab-timeline.js';
import { percentile } from '../../../scripts/bench/lab-workloads.js';

const T = 1796191000;
/** One tcpdump line at `ms` after T. */
const line = (ms: number, dev: string, dir: 'In' | 'Out', rest: string) =>
  `${(T + ms / 1000).toFixed(6)} ${dev}  ${dir} IP ${rest}`;

/** One download through our CPE and HAG, starting at `t0` ms, LAN port `p`. */
function download(t0: number, p: number) {
  const lan = `198.18.1.2.${p} > 198.18.30.2.8000`;
  const back = `198.18.30.2.8000 > 198.18.1.2.${p}`;
  const up = `198.18.10.2.4${p} > 198.18.100.1.5124`;
  const down = `198.18.100.1.5124 > 198.18.10.2.4${p}`;
  const srv = `198.18.30.1.5${p} > 198.18.30.2.8000`;
  const srvBack = `198.18.30.2.8000 > 198.18.30.1.5${p}`;
  return {
    client: [
      line(t0, 'eth0', 'Out', `${lan}: Flags [S], seq 1, win 64240, options [mss 1460], length 0`),
      line(t0 + 0.1, 'eth0', 'In', `${back}: Flags [S.], seq 9, ack 2, win 65160, length 0`),
      line(t0 + 0.3, 'eth0', 'Out', `${lan}: Flags [P.], seq 1:85, ack 1, win 63, length 84`),
      line(t0 + 25, 'eth0', 'In', `${back}: Flags [P.], seq 1:1425, ack 85, win 64, length 1424`),
      line(t0 + 80, 'eth0', 'In', `${back}: Flags [P.], seq 98577:100001, ack 85, win 64, length 1424`),
      line(t0 + 81, 'eth0', 'In', `${back}: Flags [F.], seq 100001, ack 85, win 64, length 0`),
    ],
    cpe: [
      // A probe of the HAG (plain TCP, no MPTCP) is not the connection's SYN.
      line(t0 + 0.5, 'dsl0', 'Out', `${up}: Flags [S], seq 5, win 64240, options [mss 1460], length 0`),
      line(
        t0 + 1,
        'dsl0',
        'Out',
        `${up}: Flags [S], seq 7:123, win 65535, options [tfo cookie 11,mptcp 4 capable v1], length 116`,
      ),
      line(t0 + 12, 'dsl0', 'In', `${down}: Flags [P.], seq 1:5, ack 1, win 32768, length 4`),
      line(t0 + 24, 'dsl0', 'In', `${down}: Flags [.], seq 5:1429, ack 1, win 32768, length 1424`),
      line(
        t0 + 30,
        'lte0',
        'Out',
        `${up}: Flags [S], seq 3, win 65535, options [mptcp 12 join id 2], length 0`,
      ),
      line(t0 + 70, 'lte0', 'In', `${down}: Flags [.], seq 1:1001, ack 1, win 32768, length 1000`),
    ],
    hag: [
      line(t0 + 11, 'srv0', 'Out', `${srv}: Flags [S], seq 1, win 64240, length 0`),
      line(t0 + 11.1, 'srv0', 'In', `${srvBack}: Flags [S.], seq 1, ack 2, win 65160, length 0`),
      line(t0 + 11.5, 'srv0', 'Out', `${srv}: Flags [P.], seq 1:85, ack 1, win 63, length 84`),
      line(t0 + 13, 'srv0', 'In', `${srvBack}: Flags [P.], seq 1:205, ack 85, win 64, length 204`),
    ],
  };
}

describe('timelines', () => {
  it("cuts sequential downloads into one timeline each, with the SYN's data and LTE's bytes", () => {
    const a = download(0, 1001);
    const b = download(200, 1002);
    const cap = {
      client: [...a.client, ...b.client],
      cpe: [...a.cpe, ...b.cpe],
      hag: [...a.hag, ...b.hag, 'not a tcpdump line'],
    };
    const ts = timelines(cap, { port: 8000, hagPort: 5124, replyLen: 4 });
    expect(ts).toHaveLength(2);
    for (const t of ts) {
      expect(t.at.lanSynAck).toBeCloseTo(0.1, 3);
      expect(t.at.lanRequest).toBeCloseTo(0.3, 3);
      expect(t.at.cpeSyn).toBeCloseTo(1, 3); // the MPTCP SYN, not the probe before it
      expect(t.at.joinSyn).toBeCloseTo(30, 3);
      expect(t.at.hagSyn).toBeCloseTo(11, 3);
      expect(t.at.serverSynAck).toBeCloseTo(11.1, 3);
      expect(t.at.serverRequest).toBeCloseTo(11.5, 3);
      expect(t.at.hagFirstByte).toBeCloseTo(13, 3);
      expect(t.at.cpeFirstByte).toBeCloseTo(24, 3); // after the 4-byte Convert reply
      expect(t.at.lanFirstByte).toBeCloseTo(25, 3);
      expect(t.at.lanLastByte).toBeCloseTo(80, 3);
      expect(t.synData).toBe(116);
      expect(t.lteBytes).toBe(1000);
    }
    const m = medianTimeline(ts, percentile);
    expect(m.at.lanLastByte).toBeCloseTo(80, 3);
    // Without a reply length the HAG's own reply counts as the first byte at the CPE.
    expect(timelines(cap, { port: 8000, hagPort: 5124 })[0].at.cpeFirstByte).toBeCloseTo(12, 3);
  });
});

describe('pageSizes', () => {
  it('is a fixed list of 30 objects of 5-200 KB', () => {
    const s = pageSizes();
    expect(s).toHaveLength(30);
    expect(pageSizes()).toEqual(s);
    for (const n of s) {
      expect(n).toBeGreaterThanOrEqual(5 * 1024);
      expect(n).toBeLessThanOrEqual(200 * 1024);
    }
  });
});

describe('pageTimeline', () => {
  it('sums up where each load went: setup, waits, big transfers, the connection that finished last', () => {
    const K = 1024;
    // Two connections; connection 1 finishes last, with two objects.
    const load = [
      { size: 10 * K, conn: 0, sent: 3, first: 23, last: 25 },
      { size: 160 * K, conn: 1, sent: 5, first: 35, last: 95 },
      { size: 20 * K, conn: 0, sent: 25, first: 45, last: 50 },
      { size: 200 * K, conn: 1, sent: 95, first: 115, last: 215 },
    ];
    const t = pageTimeline([load, load, load], percentile);
    expect(t.connReady).toBe(3); // [3, 5] three times: the lower median (percentile)
    expect(t.wait).toBe(20); // waits 20, 30, 20, 20
    expect(t.bigTransfer).toBe(60); // 60 and 100, three times
    expect(t.lastConnObjects).toBe(2);
    expect(t.lastConnWait).toBe(50);
    expect(t.lastConnTransfer).toBe(160);
  });
});
