// One scheduler pass per input (issue 21): over a bonded bulk transfer, every packet an endpoint
// takes runs the MPTCP scheduler at most once (MptcpMib.MPTCPSchedPasses), however many things the
// segment told its subflow (its ACK, DATA_ACK, window, mapping, DATA_FIN) and whatever the
// application did from the callbacks it ran (writing more once the DATA_ACK freed room).
import { describe, expect, it } from 'vitest';
import type { MptcpConnection } from '../../src/mptcp/connection.js';
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import { BulkApp } from '../../src/sim/bulk.js';
import { hybridNet } from '../../src/sim/hybrid.js';

const HAG = Uint8Array.of(198, 19, 0, 1);
const DSL = { name: 'dsl', rate: 20e6, delay: 10 };
const LTE = { name: 'lte', rate: 40e6, delay: 30 };
const BIG = 2 ** 40;

/** Counts, for every packet `ep` takes, the scheduler passes that packet ran. */
function countPasses(ep: MptcpEndpoint) {
  const seen = { inputs: 0, passes: 0, max: 0, over: 0 };
  const input = ep.input.bind(ep);
  ep.input = (now, packet, verified) => {
    const before = ep.mib.MPTCPSchedPasses;
    input(now, packet, verified);
    const n = ep.mib.MPTCPSchedPasses - before;
    seen.inputs++;
    seen.passes += n;
    if (n > 1) seen.over++;
    seen.max = Math.max(seen.max, n);
  };
  return seen;
}

describe('one scheduler pass per input', () => {
  it.each(['down', 'up'] as const)('bonded DSL + LTE bulk transfer (%s)', (dir) => {
    const { net, cpe, hag, pm } = hybridNet([DSL, LTE]);
    let server: MptcpConnection | undefined;
    hag.listen(443, (c) => {
      server = c;
      new BulkApp(
        { conn: c, wake: () => hag.wake(c), canClose: () => false },
        dir === 'down' ? BIG : 0,
        2,
        () => net.now,
      );
    });
    const conn = pm.connect(0, HAG, 443);
    if (!conn) throw new Error('no usable uplink');
    new BulkApp(
      { conn, wake: () => cpe.wake(conn), canClose: () => false },
      dir === 'up' ? BIG : 0,
      1,
      () => net.now,
    );
    const atCpe = countPasses(cpe);
    const atHag = countPasses(hag);
    net.run(6000);
    const sender = dir === 'down' ? server! : conn;
    // Bonded: both subflows carried data.
    expect(sender.subflows.length).toBe(2);
    for (const sf of sender.subflows) expect(sf.socket.stats.bytesOut).toBeGreaterThan(1_000_000);
    for (const [name, s] of [
      ['cpe', atCpe],
      ['hag', atHag],
    ] as const) {
      console.log(
        `${dir}, ${name}: ${s.inputs} inputs, ${s.passes} scheduler passes in them, ` +
          `${s.over} with more than one, at most ${s.max}`,
      );
      expect(s.inputs).toBeGreaterThan(5000);
      expect(s.max).toBeLessThanOrEqual(1);
    }
  });
});
