// What OpenWrt's netifd says of a logical interface (`ubus call network.interface.NAME status`):
// whether it is up, its layer-3 device, its address and default gateways. An uplink with
// `addressing: netifd` takes these instead of running its own DHCP client; the LAN of a UCI config
// takes its device and addresses. The procd init script's interface trigger reloads the daemon
// when netifd reports a change (ifup, ifdown, ifupdate), and the reload reads the status again.
import { execFileSync } from 'node:child_process';
import type { NetifdFacts } from './uci-config.js';

export interface NetifdStatus {
  up: boolean;
  /** The layer-3 device ("eth1", "pppoe-wan"), also while down where its name is known. */
  device: string | undefined;
  /** The first IPv4 address (CIDR). */
  address: string | undefined;
  /** Every address (CIDR), IPv4 then IPv6. */
  addresses: string[];
  gateway: string | undefined;
  gateway6: string | undefined;
}

interface RawAddress {
  address?: unknown;
  mask?: unknown;
  ptpaddress?: unknown;
}
interface RawRoute {
  target?: unknown;
  mask?: unknown;
  nexthop?: unknown;
}

/** Protocols whose device netifd makes when the line connects, named PROTO-INTERFACE. */
const PPP_LIKE = new Set(['ppp', 'pppoe', 'pppoa', '3g', 'pptp', 'l2tp']);

const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The status JSON of interface `network` (as ubus prints it), or why it cannot be read. */
export function parseInterfaceStatus(json: string, network: string): NetifdStatus | string {
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(json);
  } catch {
    return `ubus status of ${network} is not JSON`;
  }
  if (typeof s !== 'object' || s === null) return `ubus status of ${network} is not an object`;
  const proto = text(s.proto);
  const device = text(s.l3_device) ?? (proto && PPP_LIKE.has(proto) ? `${proto}-${network}` : text(s.device));
  const cidr = (a: RawAddress) =>
    text(a.address) && typeof a.mask === 'number' ? `${a.address}/${a.mask}` : undefined;
  const v4 = list<RawAddress>(s['ipv4-address']);
  const v6 = list<RawAddress>(s['ipv6-address']);
  const addresses = [...v4, ...v6].map(cidr).filter((a): a is string => a !== undefined);
  const defaultVia = (target: string) => {
    const r = list<RawRoute>(s.route).find((x) => x.target === target && x.mask === 0);
    const hop = text(r?.nexthop);
    return hop === '0.0.0.0' || hop === '::' ? undefined : hop;
  };
  // A point-to-point link's default route has no next hop: its peer is the gateway.
  const gateway = defaultVia('0.0.0.0') ?? text(v4[0]?.ptpaddress);
  return {
    up: s.up === true,
    device,
    address: v4.length ? cidr(v4[0]) : undefined,
    addresses,
    gateway,
    gateway6: defaultVia('::'),
  };
}

/** Asks netifd through ubus; a string says why not (no ubus, no such interface). */
export function queryNetifd(network: string): NetifdStatus | string {
  let out: string;
  try {
    out = execFileSync('ubus', ['call', `network.interface.${network}`, 'status'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return `ubus call network.interface.${network} status: ${(err.stderr || err.message).trim()}`;
  }
  return parseInterfaceStatus(out, network);
}

/** The translator's view (cpe/openwrt/uci-config.ts): device and addresses, or nothing. */
export function netifdFacts(network: string): NetifdFacts | undefined {
  const s = queryNetifd(network);
  return typeof s === 'string' ? undefined : { device: s.device, addresses: s.addresses };
}
