// Removes the conntrack entries of LAN flows masqueraded to an uplink that no longer carries them,
// so that their next packet is tracked anew and NATed to the uplink it now leaves by (a UDP flow or
// a ping keeps its entry, and with it the old source address, for as long as it keeps sending).
// Only entries whose original source is in the LAN: the core's subflows and the CPE's own sockets
// are left alone. conntrack(8) speaks ctnetlink for us; it exits 1 when nothing matched.
import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';

/** The conntrack(8) argument lists: LAN prefix `lan` (IPv4 CIDR) NATed to `address`, or without one its UDP and ICMP. */
export function flushArgs(lan: readonly string[], address: string | undefined): string[][] {
  const out: string[][] = [];
  for (const p of lan) {
    if (isIP(p.split('/')[0]) !== 4) continue; // IPv6 from the LAN is routed, not masqueraded
    if (address) out.push(['-D', '-f', 'ipv4', '--orig-src', p, '--reply-dst', address]);
    else for (const proto of ['udp', 'icmp']) out.push(['-D', '-f', 'ipv4', '--orig-src', p, '-p', proto]);
  }
  return out;
}

export type FlushResult = { ok: true; deleted: number } | { ok: false; error: string };

/** Runs the flush; the number of entries deleted, or why it could not run. */
export function flushNat(lan: readonly string[], address: string | undefined): FlushResult {
  let deleted = 0;
  for (const args of flushArgs(lan, address)) {
    const r = spawnSync('conntrack', args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.error) {
      const code = (r.error as NodeJS.ErrnoException).code;
      return { ok: false, error: code === 'ENOENT' ? 'conntrack(8) is not installed' : r.error.message };
    }
    // "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted." (exit 1 when 0)
    const n = /(\d+) flow entries have been deleted/.exec(r.stderr);
    if (!n) return { ok: false, error: r.stderr.trim() || `conntrack exited ${r.status}` };
    deleted += Number(n[1]);
  }
  return { ok: true, deleted };
}
