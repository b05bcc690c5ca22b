// A download slower than the bond, paced by the server's application (an offered load, as
// mptcpBulk's `load`) or by the client's (a LAN device reading at 12 Mbit/s), over DSL 20 Mbit/s
// + LTE 40 Mbit/s, with the client half-closed (its DATA_FIN, RFC 8684 3.3.3) from the start:
// data keeps moving, at the data level (the HAG's DATA_ACK, 3.3.2) and to the reading application,
// with no pause of more than a few round trips. A 2 s pause here is a frozen video at home.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet, mptcpBulk, paceReads, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 20 };
const LTE: UplinkSpec = { name: 'lte', rate: 40e6, delay: 5, jitter: 2 };
const HAG = Uint8Array.of(198, 19, 0, 1);
const RATE = 12e6;
/** The longest pause allowed after the first second: a few of DSL's 40 ms round trips. */
const MAX_GAP_MS = 300;

describe('a 12 Mbit/s download over DSL 20 Mbit/s + LTE 40 Mbit/s, the client half-closed', () => {
  it('offered by the HAG at 12 Mbit/s (mptcpBulk load), seeds 1-3: no pause over 300 ms', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = mptcpBulk([DSL, LTE], 'down', {
        seed,
        scheduler: 'min-rtt',
        load: RATE,
        warmupMs: 1000,
        endMs: 6000,
      });
      console.log(
        `seed ${seed}: ${(r.goodput / 1e6).toFixed(2)} Mbit/s, longest pause ${r.rx.maxGap.toFixed(0)} ms at ${r.rx.maxGapAt.toFixed(0)} ms`,
      );
      expect(r.hagConn!.remoteFinDone, `seed ${seed}: the client's DATA_FIN`).toBe(true);
      expect(r.rx.maxGap, `seed ${seed}`).toBeLessThanOrEqual(MAX_GAP_MS);
      expect(r.goodput, `seed ${seed}`).toBeGreaterThan(0.97 * RATE);
    }
  });

  it('read by the client at 12 Mbit/s, seeds 1-3: the DATA_ACK never stands still over 300 ms', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const { net, cpe, hag, pm } = hybridNet([DSL, LTE], { seed });
      let server: MptcpConnection | undefined;
      hag.listen(443, (c) => {
        server = c;
        new BulkApp(mptcpConn(hag, c), 2 ** 40, 2, () => net.now);
      });
      const conn = pm.connect(0, HAG, 443);
      if (!conn) throw new Error('no usable uplink');
      const app = new BulkApp(mptcpConn(cpe, conn), 0, 1, () => net.now);
      app.expectFrom(2);
      net.runUntil(() => !!server, 5000);
      paceReads(net, app, RATE);
      // The longest time the HAG's DATA_ACK stood still after the first second, sampled every ms.
      let una = 0;
      let movedAt = net.now;
      let gap = 0;
      const sample = (now: number) => {
        if (server!.sndUna !== una) {
          if (now > 1000) gap = Math.max(gap, now - movedAt);
          una = server!.sndUna;
          movedAt = now;
        }
        net.at(now + 1, sample);
      };
      sample(net.now);
      net.run(6000);
      gap = Math.max(gap, net.now - movedAt);
      console.log(
        `seed ${seed}: ${app.received} bytes read by ${net.now} ms, DATA_ACK still at most ${gap} ms, ` +
          `reader's longest pause ${app.maxGap.toFixed(0)} ms, NoDSSInWindow ${cpe.mib.NoDSSInWindow}`,
      );
      expect(server!.remoteFinDone, `seed ${seed}: the client's DATA_FIN`).toBe(true);
      expect(gap, `seed ${seed}`).toBeLessThanOrEqual(MAX_GAP_MS);
      expect(app.maxGap, `seed ${seed}`).toBeLessThanOrEqual(MAX_GAP_MS);
      expect(app.mismatches, `seed ${seed}`).toBe(0);
      // The reader's pace, less a round trip or two: nothing waited on a retransmission.
      expect(app.received, `seed ${seed}`).toBeGreaterThan(0.95 * (RATE / 8) * ((net.now - 1000) / 1000));
      // The CPE never advertised room it did not have (RFC 8684 3.3.4/3.3.5).
      expect(cpe.mib.NoDSSInWindow, `seed ${seed}`).toBe(0);
    }
  });
});
