// Bytes per uplink of one connection through the CPE, for its close log line: its subflows' own
// counts, each under the uplink its local address belongs to (the path manager's address id).
// Shared by the intercepted LAN connections (intercept.ts) and the inbound ones (inbound.ts).
import type { ClientPathManager } from '../../src/mptcp/pm/client.js';
import type { Subflow } from '../../src/mptcp/subflow.js';
import type { Uplinks } from './uplinks.js';

export type UplinkBytes = Record<string, { bytesIn: number; bytesOut: number }>;

/** One entry of `out` per uplink name, created at the first use. */
export function uplinkEntry(out: UplinkBytes, name: string): { bytesIn: number; bytesOut: number } {
  out[name] ??= { bytesIn: 0, bytesOut: 0 };
  return out[name];
}

/** Adds the bytes of `subflows` to `out`, per uplink. */
export function subflowBytes(
  subflows: Iterable<Subflow>,
  pm: ClientPathManager,
  uplinks: Uplinks,
  out: UplinkBytes = {},
): UplinkBytes {
  for (const sf of subflows) {
    const u = uplinks.byId(pm.addressOf(sf) ?? -1);
    if (!u) continue;
    const e = uplinkEntry(out, u.name);
    e.bytesIn += sf.socket.stats.bytesIn;
    e.bytesOut += sf.socket.stats.bytesOut;
  }
  return out;
}
