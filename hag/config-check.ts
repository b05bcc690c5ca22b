// The HAG configuration's checks across settings and against the host, which a schema cannot
// express: a config that would start but run wrong is refused at start and by `--check`, each
// problem with the file and line of the setting. No open proxy by accident, no subscriber range
// that is also refused as a destination or holds the service address, no address the host lacks.
import { isIP } from 'node:net';
import { type ConfigIssue, type ConfigResult, type HostFacts, lineFinder } from '../src/config/index.js';
import { formatIp, inPrefix, type Prefix, parseIp, parsePrefix } from './addr.js';
import type { HagConfig } from './config.js';
import { refusedByDefaultHolding } from './policy.js';
import { joinCapacity } from './workers/plan.js';

/**
 * Subscriber prefixes shorter than these take in a good part of the internet: with a service that
 * asks for no credentials that is an open proxy. A /8 is as wide as one operator's pool gets.
 */
const OPEN_PROXY_LEN = { 4: 8, 16: 16 } as Record<number, number>;

/** Whether two prefixes share an address (the shorter holds the longer's network). */
function overlaps(a: Prefix, b: Prefix): boolean {
  return a.len <= b.len ? inPrefix(b.bytes, a) : inPrefix(a.bytes, b);
}

const text = (p: Prefix) => `${formatIp(p.bytes)}/${p.len}`;

export function crossCheck(
  file: string,
  yaml: string,
  c: HagConfig,
  host: HostFacts,
): ConfigResult<HagConfig> {
  const issues: ConfigIssue[] = [];
  const where = lineFinder(yaml);
  const add = (path: string, message: string) => issues.push({ file, line: where(path), path, message });
  const { convert, socks, transparent } = c.service;
  if (!convert && !socks && !transparent)
    add('service', 'enable at least one of convert, socks and transparent');
  if (transparent && !c.tun.forwarding)
    add('tun.forwarding', 'service.transparent needs it: the traffic not diverted is forwarded');
  transparent?.interfaces.forEach((name, i) => {
    const at = `service.transparent.interfaces[${i}]`;
    if (name === c.tun.name)
      add(at, `${name} is the HAG's TUN; name the interfaces the subscribers arrive on`);
  });
  if (convert && socks && convert.port === socks.port)
    add('service.socks.port', `must differ from service.convert.port (both ${socks.port})`);
  const inbound = c.service.inbound;
  if (inbound && (inbound.port === convert?.port || inbound.port === socks?.port))
    add('service.inbound.port', `must differ from the convert and socks ports (${inbound.port})`);

  // The TUN is created at start; a name already taken would fail there (or be someone else's).
  if (c.tun.name !== host.ownTun && host.interfaceExists(c.tun.name))
    add('tun.name', `an interface named ${c.tun.name} exists already; the HAG creates its own TUN`);

  // Egress sources are bound before each connect: an address not on the host fails every one.
  const local = new Set<string>();
  for (const a of host.addresses()) {
    const b = parseIp(a);
    if (b) local.add(formatIp(b));
  }
  for (const [key, fam] of [
    ['source4', 4],
    ['source6', 6],
  ] as const) {
    const a = c.egress[key];
    if (a === undefined) continue;
    if (isIP(a) !== fam) add(`egress.${key}`, `expected an IPv${fam} address, got ${a}`);
    else if (!local.has(formatIp(parseIp(a)!))) add(`egress.${key}`, `${a} is not an address of this host`);
  }

  // Inbound: the public ports are opened on addresses of this host (kernel listeners), never on
  // the service addresses (the core's, in the TUN); each allowed prefix is a subscriber's.
  inbound?.listen.forEach((a, i) => {
    const at = `service.inbound.listen[${i}]`;
    if (c.service.addresses.some((s) => formatIp(parseIp(s)!) === formatIp(parseIp(a)!)))
      add(at, `${a} is a service address (the core's); name an address of this host`);
    else if (!local.has(formatIp(parseIp(a)!))) add(at, `${a} is not an address of this host`);
  });
  inbound?.allow.forEach((r, i) => {
    r.subscribers.forEach((s, j) => {
      const p = parsePrefix(s)!;
      if (
        !c.access.subscribers.some((q) => inPrefix(p.bytes, parsePrefix(q)!) && parsePrefix(q)!.len <= p.len)
      )
        add(`service.inbound.allow[${i}].subscribers[${j}]`, `${s} is not inside access.subscribers`);
    });
  });
  const subs = c.access.subscribers.map((s) => parsePrefix(s)!);
  const internal = c.access.internalNetworks.map((s) => parsePrefix(s)!);
  const unauthenticated = [
    socks && socks.users.length === 0 ? 'service.socks has no users' : '',
    convert && convert.cookies.length === 0 ? 'service.convert has no cookies' : '',
    transparent ? 'service.transparent asks for none' : '',
  ].filter(Boolean);
  subs.forEach((p, i) => {
    const path = `access.subscribers[${i}]`;
    if (unauthenticated.length > 0 && !c.access.openProxy && p.len < OPEN_PROXY_LEN[p.bytes.length])
      add(
        path,
        `${c.access.subscribers[i]} lets nearly anyone on the internet in while ${unauthenticated.join(' and ')}: ` +
          `an open proxy. Narrow it to the subscribers' ranges (/${OPEN_PROXY_LEN[p.bytes.length]} or longer), ` +
          'require credentials, or set access.openProxy: true',
      );
    internal.forEach((q, j) => {
      if (overlaps(p, q))
        add(
          path,
          `${text(p)} overlaps access.internalNetworks[${j}] ${text(q)}: subscribers are not internal`,
        );
    });
    for (const a of c.service.addresses)
      if (inPrefix(parsePrefix(a)!.bytes, p)) add(path, `${text(p)} holds the service address ${a}`);
  });

  // Join addresses (hag/workers/): unicast per worker, never a service address, enough per family.
  const service = new Set(c.service.addresses.map((a) => formatIp(parseIp(a)!)));
  const joinSeen = new Set<string>();
  c.service.joinAddresses.forEach((a, i) => {
    const at = `service.joinAddresses[${i}]`;
    const t = formatIp(parseIp(a)!);
    if (service.has(t)) add(at, `${a} is a service address; a join address is a worker's own`);
    else if (joinSeen.has(t)) add(at, `${a} is listed twice`);
    joinSeen.add(t);
  });
  if (c.workers > 1 && c.service.joinAddresses.length === 0)
    add(
      'workers',
      `${c.workers} workers need service.joinAddresses: a join must reach the worker holding its connection`,
    );
  else if (c.workers > joinCapacity(c.service.joinAddresses))
    add('workers', `${c.workers} workers need ${c.workers} service.joinAddresses of each family configured`);
  if (c.workers > 1 && transparent) add('workers', 'service.transparent runs one worker');
  if (c.workers > 1 && c.tun.name.length + 1 + String(c.workers - 1).length > 15)
    add('tun.name', `${c.tun.name}-${c.workers - 1} (a worker's TUN) is longer than 15 characters`);

  // Uplink names count a client under the first prefix that holds it: two would be ambiguous.
  const seen: { p: Prefix; at: string }[] = [];
  c.uplinks.forEach((u, i) => {
    u.prefixes.forEach((s, j) => {
      const p = parsePrefix(s)!;
      const at = `uplinks[${i}].prefixes[${j}]`;
      const other = seen.find((o) => overlaps(o.p, p));
      if (other) add(at, `${text(p)} overlaps ${other.at} ${text(other.p)}`);
      seen.push({ p, at });
    });
  });

  c.access.allowDestinations.forEach((s, i) => {
    const p = parsePrefix(s)!;
    if (!refusedByDefaultHolding(p))
      add(
        `access.allowDestinations[${i}]`,
        `${text(p)} is not inside a range refused by default (private, shared-address-space, benchmarking, documentation, unique-local, ...); nothing to open`,
      );
  });
  return issues.length ? { ok: false, issues } : { ok: true, value: c };
}
