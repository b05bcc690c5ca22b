// The HAG's access control (no open proxy, no SSRF): which clients may use it (subscriber
// prefixes) and which destinations it refuses to connect to. Destinations are judged as the
// addresses actually dialled, after DNS resolution, so a name cannot smuggle in a forbidden one.
import { formatIp, matchPrefix, type Prefix, parsePrefix, unmap } from './addr.js';

function prefixes(list: readonly string[]): Prefix[] {
  return list.map((s) => {
    const p = parsePrefix(s);
    if (!p) throw new TypeError(`not a prefix: ${s}`); // validated by the config schema first
    return p;
  });
}

/**
 * Special-purpose ranges never dialled: RFC 6890 "this network", loopback (RFC 1122 3.2.1.3),
 * link-local (RFC 3927, RFC 4291 2.5.6), multicast (RFC 1112, RFC 4291 2.7), limited broadcast and
 * the reserved 240/4 (RFC 1112 4), the unspecified and loopback IPv6 addresses (RFC 4291 2.5.2,
 * 2.5.3). IPv4-mapped addresses are unwrapped first.
 */
const ALWAYS_FORBIDDEN: readonly [string, string][] = [
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
];

export type DestinationVerdict = { ok: true } | { ok: false; reason: string };

export class DestinationPolicy {
  private readonly special: { p: Prefix; why: string }[];
  private readonly internal: Prefix[];
  private readonly own: Set<string>;

  /**
   * @param internal configured internal networks (never reachable through the HAG)
   * @param ownAddresses the HAG's own addresses (service, egress, every local interface)
   */
  constructor(internal: readonly string[], ownAddresses: Iterable<string>) {
    this.special = ALWAYS_FORBIDDEN.map(([s, why]) => ({ p: parsePrefix(s)!, why }));
    this.internal = prefixes(internal);
    this.own = new Set();
    for (const a of ownAddresses) {
      const p = parsePrefix(a);
      if (p) this.own.add(formatIp(p.bytes));
    }
  }

  check(addr: Uint8Array): DestinationVerdict {
    const a = unmap(addr);
    for (const { p, why } of this.special) {
      if (matchPrefix(a, [p])) return { ok: false, reason: why };
    }
    if (this.own.has(formatIp(a))) return { ok: false, reason: 'hag-address' };
    const net = matchPrefix(a, this.internal);
    if (net) return { ok: false, reason: `internal-network ${net.text}` };
    return { ok: true };
  }
}

/** Clients allowed to use the HAG: the subscriber prefixes. */
export class SubscriberPolicy {
  private readonly allowed: Prefix[];
  constructor(list: readonly string[]) {
    this.allowed = prefixes(list);
  }

  allows(client: Uint8Array): boolean {
    return matchPrefix(client, this.allowed) !== undefined;
  }
}

/**
 * Where MP_JOINs (RFC 8684 3.2) may come from: by default only from subscriber prefixes, as
 * initial subflows; 'any' opens joins to every address (a join proves with HMACs that it belongs
 * to a connection a subscriber opened, so this admits no new client).
 */
export class JoinPolicy {
  constructor(
    private readonly rule: 'subscribers' | 'any',
    private readonly subscribers: SubscriberPolicy,
  ) {}

  allows(client: Uint8Array): boolean {
    return this.rule === 'any' || this.subscribers.allows(client);
  }
}
