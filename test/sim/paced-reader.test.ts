// A download the receiving application reads slower than the paths bring it (the lab's stall:
// `curl --limit-rate 1M` through the CPE, DSL 20 Mbit/s 10 ms + LTE 40 Mbit/s 30 ms one-way,
// min-RTT): the CPE's connection-level receive buffer fills and opens only as the reader takes
// bytes, so the window the HAG is given moves by what one subflow brings while another's
// advertisement is older. Every byte must arrive, intact, at the reader's pace.
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import { BulkApp, mptcpConn } from '../../src/sim/bulk.js';
import { hybridNet, paceReads, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 20e6, delay: 10 };
const LTE: UplinkSpec = { name: 'lte', rate: 40e6, delay: 30 };
const HAG = Uint8Array.of(198, 19, 0, 1);
const MB = 1_000_000;

/** Downloads `bytes` read at `readRate` bit/s; returns the reader and the CPE's counters. */
function pacedDownload(seed: number, recvBuffer: number, bytes: number, readRate: number) {
  const { net, cpe, hag, pm } = hybridNet([DSL, LTE], { seed, recvBuffer });
  let server: BulkApp | undefined;
  hag.listen(443, (c: MptcpConnection) => {
    server = new BulkApp(mptcpConn(hag, c), bytes, 2, () => net.now);
  });
  const conn = pm.connect(0, HAG, 443);
  if (!conn) throw new Error('no usable uplink');
  const app = new BulkApp(mptcpConn(cpe, conn), 0, 1, () => net.now);
  app.expectFrom(2);
  paceReads(net, app, readRate);
  // Twice the time the reader needs, and the handshake.
  const limit = 1000 + (2 * bytes * 8 * 1000) / readRate;
  net.runUntil(() => app.received >= bytes, limit);
  return { app, server, mib: cpe.mib, now: net.now };
}

describe('a receiver-paced download (the reader takes 1 MB/s)', () => {
  for (const recvBuffer of [2 * 1024 * 1024, 512 * 1024]) {
    it(`${recvBuffer / 1024} KB connection buffer, seeds 1-8: all 16 MB arrive, intact`, () => {
      for (let seed = 1; seed <= 8; seed++) {
        const r = pacedDownload(seed, recvBuffer, 16 * MB, 8 * MB);
        const m = r.mib;
        console.log(
          `seed ${seed}, ${recvBuffer / 1024} KB: ${r.app.received} bytes by ${r.now} ms, ` +
            `DSSNoMatchTCP ${m.DSSNoMatchTCP}, NoDSSInWindow ${m.NoDSSInWindow}`,
        );
        expect(r.app.received, `seed ${seed}`).toBe(16 * MB);
        expect(r.app.mismatches, `seed ${seed}`).toBe(0);
        // The HAG was never offered more than the CPE's connection could take.
        expect(m.NoDSSInWindow, `seed ${seed}`).toBe(0);
      }
    });
  }
});
