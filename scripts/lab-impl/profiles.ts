// Lab link profiles: reads config/lab/profiles.yaml (or another file) and validates it into
// LinkProfile objects (rate per direction, one-way delay, jitter, loss). Errors name the file, the
// line and what is wrong, e.g. `config/lab/profiles.yaml:12: profiles.rural.dsl.delay: "15" has no unit`.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';

export const LINK_NAMES = ['dsl', 'lte'] as const;
export type LinkName = (typeof LINK_NAMES)[number];

/** One direction of an access link. */
export interface DirectionProfile {
  /** Line rate in bit/s (tbf). */
  rateBps: number;
  /** One-way delay in ms (delay line). */
  delayMs: number;
  /** Each packet's delay varies uniformly within ±jitterMs. */
  jitterMs: number;
  /** Random loss, 0..100 percent. */
  lossPercent: number;
}

export interface LinkProfile {
  /** Towards the HAG (CPE → HAG). */
  up: DirectionProfile;
  /** Towards the CPE (HAG → CPE). */
  down: DirectionProfile;
  /** Jitter may reorder packets (otherwise each packet leaves no earlier than the one before it). */
  reorder: boolean;
  /** The IP families the link carries (`families`, default both): an IPv6-only LTE has ipv4 false. */
  ipv4: boolean;
  ipv6: boolean;
  /** `ra: true`: the link's router advertises its IPv6 prefix (dnsmasq) and the CPE's side has no static IPv6 address (SLAAC). */
  ra: boolean;
  /**
   * `dhcpv6: true`: as `ra`, and the link's router runs a DHCPv6 server (ISC dhcpd -6) that hands the
   * CPE its address (IA_NA) and delegates it a prefix (IA_PD); the CPE's side has no static IPv6 address.
   */
  dhcpv6: boolean;
}

export interface LabProfile {
  name: string;
  seed: number;
  links: Record<LinkName, LinkProfile>;
  /**
   * The access links end in two consumer routers (scripts/lab-impl/natbox.ts) that hand the CPE's
   * uplinks the same subnet and gateway by DHCP behind their own NAT, instead of fixed addresses.
   */
  natboxes: boolean;
  /**
   * The daemons run in transparent mode: the HAG namespace, the only way from either access link
   * to the server, diverts MPTCP SYNs to any destination into its core (HAG service.transparent),
   * and the CPE opens its MPTCP connections to the LAN hosts' destinations (hag.method transparent).
   */
  transparent: boolean;
  /** The CPE daemon's config in config/lab/ (`cpeConfig`; default cpe.yaml, cpe-natboxes.yaml with natboxes). */
  cpeConfig?: string;
  /**
   * `lanSlaac: true`: the LAN host has no static IPv6 address; it configures itself (SLAAC,
   * RDNSS) from the router advertisements of the CPE daemon, whose config gets `lan.ra` on.
   */
  lanSlaac: boolean;
  /**
   * `inbound: true`: the CPE config gets the port forwards of config/lab/cpe-inbound.yaml (issue 18;
   * the HAG's config/lab/hag.yaml allows them), with the LAN host's web server as their target.
   */
  inbound: boolean;
  /**
   * HAG hosts (`hagHosts`, 1 or 2): with 2 the HAG namespace is the operator's router, with an
   * ECMP route of the service addresses to two HAG namespaces (hag1, hag2) that each run a HAG
   * with join addresses of their own (scripts/lab-impl/lab.ts HAG_HOSTS).
   */
  hagHosts: 1 | 2;
}

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
}

const LINK_KEYS = new Set(['rate', 'delay', 'jitter', 'loss', 'reorder', 'families', 'ra', 'dhcpv6']);
const PROFILE_KEYS = new Set([
  'seed',
  'natboxes',
  'transparent',
  'cpeConfig',
  'lanSlaac',
  'inbound',
  'hagHosts',
  ...LINK_NAMES,
]);

/** Parses and validates every profile of a profiles file (text given, file name for messages). */
export function parseProfiles(text: string, file: string): Map<string, LabProfile> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const where = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? file : `${file}:${lineCounter.linePos(offset).line}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lineCounter.linePos(e.pos[0]).line;
    throw new ProfileError(`${file}:${line}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const fail = (node: Node | null | undefined, path: string, what: string): never => {
    throw new ProfileError(`${where(node)}: ${path}: ${what}`);
  };

  const root = doc.contents;
  if (!isMap(root)) fail(root, '(top level)', 'expected a mapping with a `profiles` key');
  const profilesNode = (root as YAMLMap).get('profiles', true) as Node | undefined;
  if (!isMap(profilesNode)) {
    fail(profilesNode ?? root, 'profiles', 'expected a mapping of profile names to profiles');
  }

  const out = new Map<string, LabProfile>();
  for (const pair of (profilesNode as YAMLMap).items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const path = `profiles.${name}`;
    const pnode = pair.value as Node | null;
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      fail(pair.key as Node, path, 'profile names use letters, digits, - and _');
    if (!isMap(pnode)) fail(pnode ?? (pair.key as Node), path, 'expected a mapping with `dsl` and `lte`');
    const pmap = pnode as YAMLMap;
    for (const item of pmap.items) {
      const key = String(isScalar(item.key) ? item.key.value : item.key);
      if (!PROFILE_KEYS.has(key)) {
        fail(
          item.key as Node,
          `${path}.${key}`,
          `unknown key (expected one of: ${[...PROFILE_KEYS].join(', ')})`,
        );
      }
    }
    let seed = 1;
    const seedNode = pmap.get('seed', true) as Node | undefined;
    if (seedNode !== undefined) {
      const v = isScalar(seedNode) ? seedNode.value : undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        fail(seedNode, `${path}.seed`, 'expected an integer 0..4294967295');
      }
      seed = v as number;
    }
    const natNode = pmap.get('natboxes', true) as Node | undefined;
    const natboxes = natNode === undefined ? false : isScalar(natNode) ? natNode.value : undefined;
    if (typeof natboxes !== 'boolean') fail(natNode, `${path}.natboxes`, 'expected true or false');
    const tNode = pmap.get('transparent', true) as Node | undefined;
    const transparent = tNode === undefined ? false : isScalar(tNode) ? tNode.value : undefined;
    if (typeof transparent !== 'boolean') fail(tNode, `${path}.transparent`, 'expected true or false');
    const lsNode = pmap.get('lanSlaac', true) as Node | undefined;
    const lanSlaac = lsNode === undefined ? false : isScalar(lsNode) ? lsNode.value : undefined;
    if (typeof lanSlaac !== 'boolean') fail(lsNode, `${path}.lanSlaac`, 'expected true or false');
    const ibNode = pmap.get('inbound', true) as Node | undefined;
    const inbound = ibNode === undefined ? false : isScalar(ibNode) ? ibNode.value : undefined;
    if (typeof inbound !== 'boolean') fail(ibNode, `${path}.inbound`, 'expected true or false');
    const cpeNode = pmap.get('cpeConfig', true) as Node | undefined;
    const cpeConfig = cpeNode === undefined ? undefined : isScalar(cpeNode) ? cpeNode.value : null;
    if (
      cpeConfig !== undefined &&
      (typeof cpeConfig !== 'string' || !/^[A-Za-z0-9_.-]+\.yaml$/.test(cpeConfig))
    )
      fail(cpeNode, `${path}.cpeConfig`, 'expected a file name in config/lab/ ending in .yaml');
    const hostsNode = pmap.get('hagHosts', true) as Node | undefined;
    const hagHosts = hostsNode === undefined ? 1 : isScalar(hostsNode) ? hostsNode.value : undefined;
    if (hagHosts !== 1 && hagHosts !== 2) fail(hostsNode, `${path}.hagHosts`, 'expected 1 or 2');
    if (hagHosts === 2 && (natboxes || transparent))
      fail(hostsNode, `${path}.hagHosts`, 'two HAG hosts go with neither natboxes nor transparent');
    const links = {} as Record<LinkName, LinkProfile>;
    for (const link of LINK_NAMES) {
      const lnode = pmap.get(link, true) as Node | undefined;
      if (lnode === undefined)
        fail(pnode, `${path}.${link}`, 'missing (every profile describes dsl and lte)');
      links[link] = parseLink(lnode as Node, `${path}.${link}`, fail);
    }
    out.set(name, {
      name,
      seed,
      links,
      natboxes: natboxes as boolean,
      transparent: transparent as boolean,
      lanSlaac: lanSlaac as boolean,
      inbound: inbound as boolean,
      hagHosts: hagHosts as 1 | 2,
      ...(cpeConfig === undefined ? {} : { cpeConfig: cpeConfig as string }),
    });
  }
  if (out.size === 0) fail(profilesNode, 'profiles', 'no profiles defined');
  return out;
}

type Fail = (node: Node | null | undefined, path: string, what: string) => never;

function parseLink(node: Node, path: string, fail: Fail): LinkProfile {
  if (!isMap(node)) fail(node, path, 'expected a mapping with rate and delay');
  const map = node as YAMLMap;
  for (const item of map.items) {
    const key = String(isScalar(item.key) ? item.key.value : item.key);
    if (!LINK_KEYS.has(key)) {
      fail(item.key as Node, `${path}.${key}`, `unknown key (expected one of: ${[...LINK_KEYS].join(', ')})`);
    }
  }
  const rateNode = map.get('rate', true) as Node | undefined;
  if (rateNode === undefined) fail(node, `${path}.rate`, 'missing (e.g. rate: 20mbit)');
  let up: number;
  let down: number;
  if (isMap(rateNode)) {
    const r = rateNode as YAMLMap;
    for (const item of r.items) {
      const key = String(isScalar(item.key) ? item.key.value : item.key);
      if (key !== 'up' && key !== 'down')
        fail(item.key as Node, `${path}.rate.${key}`, 'expected up or down');
    }
    const upNode = r.get('up', true) as Node | undefined;
    const downNode = r.get('down', true) as Node | undefined;
    if (upNode === undefined) fail(rateNode, `${path}.rate.up`, 'missing');
    if (downNode === undefined) fail(rateNode, `${path}.rate.down`, 'missing');
    up = parseRate(upNode as Node, `${path}.rate.up`, fail);
    down = parseRate(downNode as Node, `${path}.rate.down`, fail);
  } else {
    up = down = parseRate(rateNode as Node, `${path}.rate`, fail);
  }
  const delayNode = map.get('delay', true) as Node | undefined;
  if (delayNode === undefined) fail(node, `${path}.delay`, 'missing (e.g. delay: 10ms)');
  const delayMs = parseDuration(delayNode as Node, `${path}.delay`, fail);
  const jitterNode = map.get('jitter', true) as Node | undefined;
  const jitterMs = jitterNode === undefined ? 0 : parseDuration(jitterNode, `${path}.jitter`, fail);
  if (jitterMs > delayMs)
    fail(jitterNode, `${path}.jitter`, `${jitterMs} ms is more than the delay (${delayMs} ms)`);
  const lossNode = map.get('loss', true) as Node | undefined;
  const lossPercent = lossNode === undefined ? 0 : parseLoss(lossNode, `${path}.loss`, fail);
  const reorderNode = map.get('reorder', true) as Node | undefined;
  let reorder = false;
  if (reorderNode !== undefined) {
    const v = isScalar(reorderNode) ? reorderNode.value : undefined;
    if (typeof v !== 'boolean') fail(reorderNode, `${path}.reorder`, 'expected true or false');
    reorder = v as boolean;
  }
  const famNode = map.get('families', true) as Node | undefined;
  let families = ['ipv4', 'ipv6'];
  if (famNode !== undefined) {
    const v = (famNode as { toJSON?: () => unknown }).toJSON?.();
    if (!Array.isArray(v) || v.length === 0 || v.some((f) => f !== 'ipv4' && f !== 'ipv6'))
      fail(famNode, `${path}.families`, 'expected a list of ipv4 and/or ipv6');
    families = v as string[];
  }
  const raNode = map.get('ra', true) as Node | undefined;
  const ra = raNode === undefined ? false : isScalar(raNode) ? raNode.value : undefined;
  if (typeof ra !== 'boolean') fail(raNode, `${path}.ra`, 'expected true or false');
  if (ra && !families.includes('ipv6'))
    fail(raNode, `${path}.ra`, 'router advertisements need ipv6 in families');
  const d6Node = map.get('dhcpv6', true) as Node | undefined;
  const dhcpv6 = d6Node === undefined ? false : isScalar(d6Node) ? d6Node.value : undefined;
  if (typeof dhcpv6 !== 'boolean') fail(d6Node, `${path}.dhcpv6`, 'expected true or false');
  if (dhcpv6 && !families.includes('ipv6')) fail(d6Node, `${path}.dhcpv6`, 'DHCPv6 needs ipv6 in families');
  const dir = (rateBps: number): DirectionProfile => ({ rateBps, delayMs, jitterMs, lossPercent });
  return {
    ra: ra as boolean,
    dhcpv6: dhcpv6 as boolean,
    up: dir(up),
    down: dir(down),
    reorder,
    ipv4: families.includes('ipv4'),
    ipv6: families.includes('ipv6'),
  };
}

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

function scalarText(node: Node, path: string, fail: Fail): string {
  if (!isScalar(node) || (typeof node.value !== 'string' && typeof node.value !== 'number')) {
    fail(node, path, 'expected a single value');
  }
  return String((node as { value: unknown }).value).trim();
}

function parseRate(node: Node, path: string, fail: Fail): number {
  const text = scalarText(node, path, fail);
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text);
  if (!m) fail(node, path, `"${text}" is not a rate (e.g. 20mbit, 512kbit)`);
  const unit = RATE_UNITS[m![2].toLowerCase()];
  if (unit === undefined) fail(node, path, `unknown rate unit "${m![2]}" (use bit, kbit, mbit or gbit)`);
  const bps = Number(m![1]) * unit;
  if (bps < 8_000 || bps > 10e9) fail(node, path, `${text} is outside 8kbit..10gbit`);
  return bps;
}

function parseDuration(node: Node, path: string, fail: Fail): number {
  const text = scalarText(node, path, fail);
  const m = /^(\d+(?:\.\d+)?)\s*(us|ms|s)?$/.exec(text);
  if (!m) fail(node, path, `"${text}" is not a duration (e.g. 10ms, 0.5ms, 1s)`);
  if (m![2] === undefined) fail(node, path, `"${text}" has no unit (write e.g. ${text}ms)`);
  const ms = Number(m![1]) * (m![2] === 's' ? 1000 : m![2] === 'us' ? 0.001 : 1);
  if (ms > 10_000) fail(node, path, `${text} is more than 10 s`);
  return ms;
}

function parseLoss(node: Node, path: string, fail: Fail): number {
  const text = scalarText(node, path, fail);
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (!m) fail(node, path, `"${text}" is not a percentage (e.g. 1%, 0.5%)`);
  const p = Number(m![1]);
  if (p > 100) fail(node, path, `${text} is more than 100%`);
  return p;
}

/** Reads a profiles file and returns the named profile; the error lists the known names. */
export function loadProfile(file: string, name: string): LabProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProfileError(`${file}: cannot read the profiles file: ${(e as Error).message}`);
  }
  const profiles = parseProfiles(text, file);
  const p = profiles.get(name);
  if (p === undefined) {
    throw new ProfileError(`${file}: no profile "${name}" (known: ${[...profiles.keys()].join(', ')})`);
  }
  return p;
}

/** "20mbit"-style text for a rate in bit/s (as tc takes it). */
export function formatRate(bps: number): string {
  if (bps % 1e6 === 0) return `${bps / 1e6}mbit`;
  if (bps % 1e3 === 0) return `${bps / 1e3}kbit`;
  return `${Math.round(bps)}bit`;
}
