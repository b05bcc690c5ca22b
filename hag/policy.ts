// The HAG's access control (no open proxy, no SSRF): which clients may use it (subscriber
// prefixes) and which destinations it refuses to connect to. Destinations are judged as the
// addresses actually dialled, after DNS resolution, so a name cannot smuggle in a forbidden one;
// IPv6 forms that carry an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible) are judged on that
// address too, so a translator or relay on the path cannot be used to reach it.
import { formatIp, inPrefix, matchPrefix, type Prefix, parsePrefix, unmap } from './addr.js';

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

/**
 * Ranges that are not the public internet, refused unless `access.allowDestinations` opens them
 * (a prefix there inside one of these wins over it): private networks (RFC 1918 3), shared address
 * space of carrier-grade NAT (RFC 6598 7), IETF protocol assignments (RFC 6890 2.2.2), benchmarking
 * (RFC 2544 C.2.2, RFC 5180 8), documentation (RFC 5737 3, RFC 3849, RFC 9637), unique local
 * (RFC 4193 1), deprecated site-local (RFC 3879), discard-only (RFC 6666), IPv4-compatible IPv6
 * (deprecated, RFC 4291 2.5.5.1) and the local-use NAT64 prefix (RFC 8215: the operator's own
 * translator, its IPv4 side inside the operator's network).
 */
export const REFUSED_BY_DEFAULT: readonly [string, string][] = [
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'shared-address-space'],
  ['192.0.0.0/24', 'ietf-protocol-assignment'],
  ['198.18.0.0/15', 'benchmarking'],
  ['192.0.2.0/24', 'documentation'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['fc00::/7', 'unique-local'],
  ['fec0::/10', 'site-local'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['100::/64', 'discard-only'],
  ['::/96', 'ipv4-compatible'],
  ['64:ff9b:1::/48', 'nat64-local'],
];

/**
 * IPv6 forms that carry an IPv4 address, and where: NAT64 (RFC 6052 2.2, the /96 layout; also for
 * the local-use 64:ff9b:1::/48 of RFC 8215), 6to4 (RFC 3056 2: bits 16-47), Teredo (RFC 4380 4:
 * the server at bits 32-63, the client at bits 96-127 with every bit inverted) and IPv4-compatible
 * (RFC 4291 2.5.5.1: the last 32 bits).
 */
const EMBEDDING: readonly { prefix: string; form: string; at: number; inverted?: boolean }[] = [
  { prefix: '64:ff9b::/96', form: 'nat64', at: 12 },
  { prefix: '64:ff9b:1::/48', form: 'nat64', at: 12 },
  { prefix: '2002::/16', form: '6to4', at: 2 },
  { prefix: '2001::/32', form: 'teredo-server', at: 4 },
  { prefix: '2001::/32', form: 'teredo-client', at: 12, inverted: true },
  { prefix: '::/96', form: 'ipv4-compatible', at: 12 },
];

export type DestinationVerdict = { ok: true } | { ok: false; reason: string };

const OK: DestinationVerdict = { ok: true };

function table(list: readonly [string, string][]): { p: Prefix; why: string }[] {
  return list.map(([s, why]) => ({ p: parsePrefix(s)!, why }));
}

const SPECIAL = table(ALWAYS_FORBIDDEN);
const BY_DEFAULT = table(REFUSED_BY_DEFAULT);
const EMBEDDED = EMBEDDING.map((e) => ({ ...e, p: parsePrefix(e.prefix)! }));

/** The range refused by default that holds prefix `p` whole, if any (for the config's checks). */
export function refusedByDefaultHolding(p: Prefix): string | undefined {
  const r = BY_DEFAULT.find((d) => d.p.len <= p.len && inPrefix(p.bytes, d.p));
  return r && `${r.why} ${formatIp(r.p.bytes)}/${r.p.len}`;
}

export class DestinationPolicy {
  private readonly internal: Prefix[];
  private readonly allow: Prefix[];
  private readonly own: Set<string>;

  /**
   * @param internal configured internal networks (never reachable through the HAG)
   * @param ownAddresses the HAG's own addresses (service, egress, every local interface)
   * @param allow prefixes opened inside the ranges refused by default (access.allowDestinations)
   */
  constructor(internal: readonly string[], ownAddresses: Iterable<string>, allow: readonly string[] = []) {
    this.internal = prefixes(internal);
    this.allow = prefixes(allow);
    this.own = new Set();
    for (const a of ownAddresses) {
      const p = parsePrefix(a);
      if (p) this.own.add(formatIp(p.bytes));
    }
  }

  check(addr: Uint8Array): DestinationVerdict {
    const a = unmap(addr);
    const v = this.judge(a);
    if (!v.ok || a.length === 4) return v;
    // An IPv6 address that carries an IPv4 one is refused when that one would be.
    for (const e of EMBEDDED) {
      if (!inPrefix(a, e.p)) continue;
      const v4 = a.slice(e.at, e.at + 4);
      if (e.inverted) for (let i = 0; i < 4; i++) v4[i] ^= 0xff;
      const inner = this.judge(v4);
      if (!inner.ok) return { ok: false, reason: `${e.form} embedding ${formatIp(v4)}: ${inner.reason}` };
    }
    return OK;
  }

  /** The verdict on `a` itself (unmapped), without looking inside it. */
  private judge(a: Uint8Array): DestinationVerdict {
    for (const { p, why } of SPECIAL) if (inPrefix(a, p)) return { ok: false, reason: why };
    if (this.own.has(formatIp(a))) return { ok: false, reason: 'hag-address' };
    const net = matchPrefix(a, this.internal);
    if (net) return { ok: false, reason: `internal-network ${net.text}` };
    for (const { p, why } of BY_DEFAULT) {
      if (inPrefix(a, p) && !matchPrefix(a, this.allow))
        return { ok: false, reason: `${why} ${formatIp(p.bytes)}/${p.len}` };
    }
    return OK;
  }
}

export type SubscriberRefusal = 'not-subscriber' | 'v4-mapped-source';

/** Clients allowed to use the HAG: the subscriber prefixes. */
export class SubscriberPolicy {
  private readonly allowed: Prefix[];
  constructor(list: readonly string[]) {
    this.allowed = prefixes(list);
  }

  /** Why `client` (a packet's source address) may not use the HAG, or undefined when it may. */
  refusal(client: Uint8Array): SubscriberRefusal | undefined {
    // RFC 6890 2.2.3: an IPv4-mapped address is never a valid source on the wire; in an IPv6
    // header it is forged, and unwrapped it would pass as the IPv4 subscriber it names.
    if (unmap(client) !== client) return 'v4-mapped-source';
    return matchPrefix(client, this.allowed) ? undefined : 'not-subscriber';
  }

  allows(client: Uint8Array): boolean {
    return this.refusal(client) === undefined;
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

/**
 * Which public ports a subscriber may have forwarded to it (service.inbound.allow): the first rule
 * whose prefixes hold the control connection's source address decides, and a range must lie
 * inside one of that rule's port ranges. No rule: nothing is allowed.
 */
export class InboundPolicy {
  private readonly rules: { prefixes: Prefix[]; ports: readonly { first: number; last: number }[] }[];

  constructor(
    rules: readonly { subscribers: readonly string[]; ports: readonly { first: number; last: number }[] }[],
  ) {
    this.rules = rules.map((r) => ({ prefixes: prefixes(r.subscribers), ports: r.ports }));
  }

  allows(client: Uint8Array, range: { first: number; last: number }): boolean {
    const rule = this.rules.find((r) => matchPrefix(unmap(client), r.prefixes));
    return rule?.ports.some((p) => p.first <= range.first && range.last <= p.last) ?? false;
  }
}
