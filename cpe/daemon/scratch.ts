// Memory workaround: every MPTCP subflow allocates its own 64 KB receive scratch buffer
// (src/mptcp/subflow.ts `tmp`), which it only uses inside one synchronous call (read from the
// subflow socket, verify, copy into the connection). With 1,000 connections over two uplinks that
// is 128 MB of the router's memory for nothing. Until the core shares one scratch buffer itself
// (asked for in the CPE report), the daemon points every subflow at one shared buffer as soon as
// the subflow appears. Safe because the core is single-threaded and never keeps `tmp` across calls.
import type { MptcpEndpoint } from '../../src/mptcp/endpoint.js';
import type { MptcpEvent } from '../../src/mptcp/events.js';

const SHARED = new Uint8Array(64 * 1024);

export function shareSubflowScratch(ep: MptcpEndpoint): void {
  ep.on((e: MptcpEvent) => {
    if (e.type === 'closed') return;
    for (const sf of e.conn.subflows) {
      const s = sf as unknown as { tmp?: Uint8Array };
      if (s.tmp instanceof Uint8Array && s.tmp !== SHARED && s.tmp.length === SHARED.length) s.tmp = SHARED;
    }
  });
}
