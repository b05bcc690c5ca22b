// The HAG's packet plumbing in the kernel: the TUN device, a host route per service address into
// it (the kernel then hands the core every packet for those addresses), and IP forwarding so the
// core's replies leave through the kernel's routing (in transparent mode without reverse-path
// filtering on the TUN). Everything added is removed by `teardown()` (the TUN's own settings go
// with it).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { configureLink, Tun } from '../src/io/tun-tap/index.js';

export interface TunPlumbing {
  tun: Tun;
  /** Removes the routes and closes the TUN (which deletes the interface). Safe to call twice. */
  teardown(): void;
  /** Reverse-path filtering was turned off on the TUN (reversePathFilter: false). */
  rpFilterOff: boolean;
}

function ip(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (e as Error).message}`);
  }
}

/** Writes a sysctl (a /proc/sys path) when it differs; returns its old value, undefined when it cannot. */
export function sysctl(path: string, value: string): string | undefined {
  try {
    const old = readFileSync(path, 'utf8').trim();
    if (old !== value) writeFileSync(path, value);
    return old;
  } catch {
    return undefined;
  }
}

export function setupTun(opts: {
  name: string;
  mtu: number;
  addresses: readonly string[];
  forwarding: boolean;
  offload?: 'auto' | 'off';
  /**
   * false: no reverse-path filtering of what the core sends (transparent mode: its replies come
   * from the servers' addresses, which no route through the TUN holds, and a TUN without an IPv4
   * address fails even the loose check, Linux __fib_validate_source). The kernel applies the
   * larger of this and net.ipv4.conf.all.rp_filter. Returns whether it was set.
   */
  reversePathFilter?: boolean;
}): TunPlumbing {
  const tun = Tun.open({ name: opts.name, mtu: opts.mtu, offload: opts.offload });
  const routes: string[][] = [];
  let closed = false;
  let rpFilterOff = false;
  const teardown = () => {
    if (closed) return;
    closed = true;
    for (const r of routes.reverse()) {
      try {
        ip(['route', 'del', ...r]);
      } catch {
        /* gone with the interface */
      }
    }
    tun.close();
  };
  try {
    configureLink(tun.name, { mtu: opts.mtu, up: true, txQueueLen: 1000 });
    for (const a of opts.addresses) {
      const r = isIPv6(a) ? ['-6', `${a}/128`, 'dev', tun.name] : [`${a}/32`, 'dev', tun.name];
      const args = r[0] === '-6' ? ['-6', 'route', 'replace', ...r.slice(1)] : ['route', 'replace', ...r];
      ip(args);
      routes.push(r[0] === '-6' ? r.slice(1) : r);
    }
    if (opts.reversePathFilter === false)
      rpFilterOff = sysctl(`/proc/sys/net/ipv4/conf/${tun.name}/rp_filter`, '0') !== undefined;
    if (opts.forwarding) {
      sysctl('/proc/sys/net/ipv4/ip_forward', '1');
      if (opts.addresses.some((a) => isIPv6(a))) sysctl('/proc/sys/net/ipv6/conf/all/forwarding', '1');
    }
  } catch (e) {
    teardown();
    throw e;
  }
  return { tun, teardown, rpFilterOff };
}
