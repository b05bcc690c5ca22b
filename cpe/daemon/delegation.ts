// The LAN's prefix from DHCPv6 prefix delegation (uplinks[].delegation; RFC 8415 6.3): the first
// /64 of the delegated prefix is the LAN's (RFC 7084 L-2), the CPE's address ::1 there; the LAN's
// router advertisements carry it in place of the configured prefixes while the lease lasts, with
// lifetimes no longer than the lease's remaining ones (RFC 9096 3.1); a prefix whose lease ended,
// or that a new delegation replaced, is advertised deprecated (preferred and valid lifetime 0,
// RFC 9096 3.5; hosts keep at most 2 hours of it, RFC 4862 5.5.3 e) for 2 hours. Pure state: the
// daemon puts the address on the LAN interface and hands the prefixes to the advertiser.
import { formatIp, parsePrefix } from '../../src/wire/addr.js';
import type { IaPrefix } from '../dhcp6/wire.js';
import type { RaPrefix } from '../ra/wire.js';

/** How long a withdrawn prefix is still advertised, deprecated (RFC 4862 5.5.3 e: the 2-hour rule). */
export const DEPRECATED_FOR_MS = 2 * 3600_000;

export interface Delegated {
  uplink: string;
  /** The delegated prefix as the server gave it ("2001:db8:30:100::/56"). */
  delegated: string;
  /** The LAN's /64 in it and the CPE's address there (CIDR). */
  lanPrefix: string;
  lanAddress: string;
  /** ms (the client's clock, Date.now based) when the lifetimes end. */
  preferredUntil: number;
  validUntil: number;
}

/** The first /64 of a delegated prefix (subnet id 0) and the CPE's ::1 in it. */
export function lanPrefixOf(p: IaPrefix): { prefix: string; address: string } {
  const b = parsePrefix(`${p.prefix}/${Math.min(p.length, 64)}`).bytes;
  const net = formatIp(b);
  b[15] = 1;
  return { prefix: `${net}/64`, address: `${formatIp(b)}/64` };
}

export class LanDelegation {
  current: Delegated | undefined;
  /** Withdrawn LAN prefixes, advertised deprecated until `until`. */
  readonly deprecated: { lanPrefix: string; until: number }[] = [];
  /** Delegations taken and lost so far (status, metrics). */
  readonly stats = { delegated: 0, lost: 0 };

  /** A lease's prefix (bound or renewed); `at`: when its lifetimes began (ms). Returns the previous one when it changed. */
  set(uplink: string, p: IaPrefix, at: number): Delegated | undefined {
    const lan = lanPrefixOf(p);
    const sec = (s: number) => (s === 0xffffffff ? Number.POSITIVE_INFINITY : s * 1000);
    const next: Delegated = {
      uplink,
      delegated: `${p.prefix}/${p.length}`,
      lanPrefix: lan.prefix,
      lanAddress: lan.address,
      preferredUntil: at + sec(p.preferred),
      validUntil: at + sec(p.valid),
    };
    const prev = this.current;
    this.current = next;
    const i = this.deprecated.findIndex((d) => d.lanPrefix === next.lanPrefix);
    if (i >= 0) this.deprecated.splice(i, 1);
    if (prev && prev.lanPrefix === next.lanPrefix) return undefined;
    this.stats.delegated++;
    if (prev) this.withdraw(prev, at);
    return prev;
  }

  /** The lease ended (expired, refused, released): its prefix is deprecated. */
  lost(now: number): Delegated | undefined {
    const prev = this.current;
    if (!prev) return undefined;
    this.current = undefined;
    this.stats.lost++;
    this.withdraw(prev, now);
    return prev;
  }

  private withdraw(d: Delegated, now: number): void {
    this.deprecated.push({ lanPrefix: d.lanPrefix, until: now + DEPRECATED_FOR_MS });
  }

  /**
   * The prefixes of the LAN's RAs at `now`: the delegated /64 (lan.ra's lifetimes, `limits`, in
   * seconds, capped by the lease's remaining ones) in place of `configured`, else `configured`;
   * then the withdrawn ones at 0.
   */
  raPrefixes(
    now: number,
    configured: RaPrefix[],
    limits: { validLifetime: number; preferredLifetime: number },
  ): RaPrefix[] {
    while (this.deprecated.length && this.deprecated[0].until <= now) this.deprecated.shift();
    const d = this.current;
    const left = (until: number) => Math.min(0xffffffff, Math.max(0, Math.floor((until - now) / 1000)));
    const out: RaPrefix[] = [];
    if (d) {
      const valid = Math.min(limits.validLifetime, left(d.validUntil));
      out.push({
        prefix: formatIp(parsePrefix(d.lanPrefix).bytes),
        length: 64,
        onLink: true,
        autonomous: true,
        validLifetime: valid,
        // RFC 4862 5.5.3 c: a preferred lifetime above the valid one makes hosts ignore the prefix.
        preferredLifetime: Math.min(limits.preferredLifetime, left(d.preferredUntil), valid),
      });
    } else out.push(...configured);
    for (const w of this.deprecated) {
      const p = parsePrefix(w.lanPrefix);
      const prefix = formatIp(p.bytes);
      if (out.some((x) => x.prefix === prefix)) continue;
      out.push({
        prefix,
        length: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 0,
        preferredLifetime: 0,
      });
    }
    return out;
  }
}
