// The lab around one HAG that its system tests share, in namespaces of the caller's Netns:
//   c (a Linux kernel MPTCP client with two uplinks, c1 and c2, and a `subflow` endpoint on c2)
//   ── h (the HAG, forwarding toward s) ── s (an HTTP server on port 8000 serving a folder).
// IPv4 nets are 198.18.N.0/24, IPv6 ones 2001:db8:N::/64 (N from `nets`: c1, c2, the server's
// link); the client's address is .2 / ::2 on each, h's .1 / ::1. Each test keeps its own HAG
// config and checks; hagLab() builds the namespaces and the server, startHag() the daemon.
import { join } from 'node:path';
import type { Netns } from './netns.js';
import { type Lines, lines, once } from './proc.js';

export const ROOT = join(import.meta.dirname, '../../..');
/** The environment of a daemon or tool run from a compiled tree: the TUN addon of this checkout. */
export const TUN_ENV = {
  ...process.env,
  HYBRID_ACCESS_TUN_ADDON: join(ROOT, 'src/io/tun-tap/build/Release/tun_tap.node'),
};

export interface HagLabOptions {
  family: 4 | 6;
  /** N of the client's first and second uplink nets and of the server's net. */
  nets: [number, number, number];
  /** The folder the server serves. */
  serve: string;
  /** Each access link's download direction shaped (tbf, rates in Mbit/s, ~50 ms of queue), so that no one subflow can carry a download alone. */
  shape?: [number, number];
  /** `ip mptcp limits` add_addr_accepted of the client (announced addresses it may join). */
  addAddrAccepted?: number;
}

/** Creates namespaces c, h and s with their links, addresses and routes, and starts the server. */
export async function hagLab(ns: Netns, o: HagLabOptions): Promise<void> {
  const v6 = o.family === 6;
  const addr = (n: number, host: number) => (v6 ? `2001:db8:${n}::${host}` : `198.18.${n}.${host}`);
  const len = v6 ? 64 : 24;
  const ip = v6 ? 'ip -6' : 'ip';
  const add = v6
    ? (a: string, dev: string) => `ip -6 addr add ${a}/${len} dev ${dev} nodad`
    : (a: string, dev: string) => `ip addr add ${a}/${len} dev ${dev}`;
  const [n1, n2, n3] = o.nets;
  const c1 = addr(n1, 2);
  const c2 = addr(n2, 2);
  const server = addr(n3, 2);
  for (const n of ['c', 'h', 's']) ns.add(n);
  ns.veth('c', 'c1', 'h', 'h1');
  ns.veth('c', 'c2', 'h', 'h2');
  ns.veth('h', 'hs', 's', 's0');
  ns.sh(
    'c',
    [
      'sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.mptcp.enabled=1',
      add(c1, 'c1'),
      add(c2, 'c2'),
      `${ip} route add default via ${addr(n1, 1)}`,
      // The second uplink's subflow leaves by c2.
      `${ip} rule add from ${c2} table 102`,
      `${ip} route add default via ${addr(n2, 1)} dev c2 table 102`,
      `ip mptcp limits set subflows 2${o.addAddrAccepted ? ` add_addr_accepted ${o.addAddrAccepted}` : ''}`,
      `ip mptcp endpoint add ${c2} dev c2 subflow`,
    ].join(' && '),
  );
  const shape = o.shape
    ? o.shape.map((mbit, i) => {
        // ~50 ms of queue at the rate.
        const limit = Math.round((mbit * 1e6 * 0.05) / 8);
        return `tc qdisc add dev h${i + 1} root tbf rate ${mbit}mbit burst 15000 limit ${limit}`;
      })
    : [];
  ns.sh(
    'h',
    [
      v6 ? 'sysctl -qw net.ipv6.conf.all.forwarding=1' : 'sysctl -qw net.ipv4.ip_forward=1',
      add(addr(n1, 1), 'h1'),
      add(addr(n2, 1), 'h2'),
      add(addr(n3, 1), 'hs'),
      ...shape,
    ].join(' && '),
  );
  ns.sh('s', `${add(server, 's0')} && ${ip} route add default via ${addr(n3, 1)}`);
  const url = `http://${v6 ? `[${server}]` : server}:8000/`;
  ns.spawn('s', [
    'python3',
    '-m',
    'http.server',
    '8000',
    '--bind',
    v6 ? '::' : server,
    '--directory',
    o.serve,
  ]);
  ns.sh('s', `for i in $(seq 100); do curl -s -o /dev/null "${url}" && exit 0; sleep 0.1; done; exit 1`);
}

/**
 * Starts the HAG of the compiled tree `dist` in namespace h with the config file `config`, and
 * waits for its start line (`ready`, by default any `start`); throws on `start-failed`.
 */
export async function startHag(
  ns: Netns,
  dist: string,
  config: string,
  ready: (l: Record<string, unknown>) => boolean = (l) => l.event === 'start',
  timeoutMs = 20_000,
): Promise<{ hag: Lines; pid: number }> {
  const p = ns.spawn('h', ['node', join(dist, 'src/cli.js'), 'hag', '--config', config], {
    cwd: ROOT,
    env: TUN_ENV,
  });
  const hag = lines(p);
  await once(hag, (l) => ready(l) || l.event === 'start-failed', timeoutMs);
  if (hag.seen.some((l) => l.event === 'start-failed')) throw new Error(JSON.stringify(hag.seen));
  return { hag, pid: p.pid! };
}

/** Runs `cmd` in namespace `n`; its stdout and exit code (never throws on the command's failure). */
export function runIn(ns: Netns, n: string, cmd: string, timeoutMs = 90_000): { out: string; rc: number } {
  const o = ns.sh(n, `${cmd}; echo "rc=$?"`, timeoutMs);
  const m = /rc=(\d+)\s*$/.exec(o);
  return { out: o.replace(/rc=\d+\s*$/, ''), rc: m ? Number(m[1]) : -1 };
}
