// The lab's `fast` profile in simulation: DSL 100 Mbit/s 8 ms and LTE 300 Mbit/s 20 ms one-way,
// a download with the default buffers (4 MiB per connection). The bond needs the sum of the rates
// times the longest round trip in the connection-level window, about 2 MB here; a subflow whose
// own TCP buffers stayed at TCP's 1 MiB advertised at most 1 MiB (the window field carries the
// connection-level window, RFC 8684 3.3.4) and held at most 1 MiB in flight: the bond then moved
// about 1 MiB per LTE round trip, 231 Mbit/s on the lab. The subflows now take the connection's
// buffers (src/mptcp/endpoint.ts).
import { describe, expect, it } from 'vitest';
import { mptcpBulk, type UplinkSpec } from '../../src/sim/hybrid.js';

const DSL: UplinkSpec = { name: 'dsl', rate: 100e6, delay: 8 };
const LTE: UplinkSpec = { name: 'lte', rate: 300e6, delay: 20 };
const M = 1e6;

describe('fast profile: DSL 100 Mbit/s 8 ms + LTE 300 Mbit/s 20 ms', () => {
  it('a download fills both links (no 1 MiB window on a subflow)', () => {
    const r = mptcpBulk([DSL, LTE], 'down', { warmupMs: 2_000, endMs: 4_000, tso: true });
    console.log(`fast profile download: ${(r.goodput / M).toFixed(1)} Mbit/s`);
    expect(r.goodput).toBeGreaterThan(0.9 * 400 * M);
  });

  it("subflows held to TCP's 1 MiB buffers: the window caps the bond", () => {
    const mib = 1 << 20;
    const r = mptcpBulk([DSL, LTE], 'down', {
      warmupMs: 2_000,
      endMs: 4_000,
      tso: true,
      tcp: { recvBuffer: mib, sendBuffer: mib },
    });
    console.log(`fast profile download, subflow buffers 1 MiB: ${(r.goodput / M).toFixed(1)} Mbit/s`);
    expect(r.goodput).toBeLessThan(0.8 * 400 * M);
  });
});
