// An uplink that configures itself from router advertisements (`addressing: slaac`, RFC 4862):
// the kernel does SLAAC on the interface once accept_ra is 2 (the CPE forwards, and a forwarding
// interface ignores RAs otherwise, Linux ip-sysctl.rst) and autoconf is on; the daemon reads what
// the kernel made of them: the interface's global address and the default router the RA gave.
// Pure parsing of `ip -j` output, plus the commands; the caller runs them.
import { execFileSync } from 'node:child_process';
import type { Cmd } from './plan.js';

export interface SlaacState {
  /** The interface's global IPv6 address (without prefix length) and its prefix length. */
  address: string | undefined;
  prefixLength: number | undefined;
  /** The default router of the interface (usually link-local), from the RA. */
  router: string | undefined;
}

/**
 * The sysctls that make the kernel take RAs on a forwarding interface (its default router) and,
 * with `autoconf`, configure an address from them (a dhcpv6 uplink's address is its lease's).
 */
export function slaacSysctls(ifname: string, autoconf = true): Cmd {
  return {
    argv: [
      'sysctl',
      '-qw',
      `net.ipv6.conf.${ifname}.accept_ra=2`,
      `net.ipv6.conf.${ifname}.autoconf=${autoconf ? 1 : 0}`,
    ],
  };
}

interface IpAddrJson {
  addr_info?: {
    family?: string;
    local?: string;
    prefixlen?: number;
    scope?: string;
    tentative?: boolean;
    dadfailed?: boolean;
    deprecated?: boolean;
  }[];
}

/**
 * What `ip -6 -j addr show dev IF scope global` and `ip -6 -j route show default dev IF` say: the
 * first global address that is usable (not tentative, not failed DAD, not deprecated) and the
 * default route's gateway; a string when the output is not what ip prints.
 */
export function parseSlaac(addrJson: string, routeJson: string): SlaacState | string {
  let addrs: IpAddrJson[];
  let routes: { dst?: string; gateway?: string }[];
  try {
    addrs = JSON.parse(addrJson || '[]');
    routes = JSON.parse(routeJson || '[]');
  } catch (e) {
    return `cannot read ip's output: ${(e as Error).message}`;
  }
  if (!Array.isArray(addrs) || !Array.isArray(routes)) return "ip's output is not a list";
  const a = addrs
    .flatMap((x) => x.addr_info ?? [])
    .find(
      (i) => i.family === 'inet6' && i.scope === 'global' && !i.tentative && !i.dadfailed && !i.deprecated,
    );
  const r = routes.find((x) => x.dst === 'default' && x.gateway);
  return { address: a?.local, prefixLength: a?.prefixlen, router: r?.gateway };
}

/** Reads the interface's SLAAC state from the kernel (ip -j). */
export function readSlaac(ifname: string): SlaacState | string {
  const ip = (...args: string[]) =>
    execFileSync('ip', ['-6', '-j', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
    });
  try {
    return parseSlaac(
      ip('addr', 'show', 'dev', ifname, 'scope', 'global'),
      ip('route', 'show', 'default', 'dev', ifname),
    );
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return String(err.stderr ?? '').trim() || err.message;
  }
}
