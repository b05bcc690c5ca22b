// The kernel's ECMP over the workers' TUNs (DESIGN.md "The HAG beyond one core and one machine"):
// each service address is routed to a resilient nexthop group (Linux 5.13, ip-nexthop(8)) whose
// members are the TUNs of the live workers, hashed on the 5-tuple (HASH_SYSCTLS),
// so that every packet of a flow reaches one worker. A resilient group keeps its buckets when a
// member leaves or comes back: only the flows of a dead worker move, those of the others stay (a
// plain multipath route would rehash them all). A worker's TUN going away takes its nexthop out of
// the group in the kernel at once; sync() puts the group back together from the live workers.
// What keeps a flow on its worker when the group changes (Documentation/networking/
// nexthop-group-resilient.rst, net/ipv4/nexthop.c; measured in namespaces, README): a replace of
// the group keeps every bucket whose member stays, and moves a bucket of an overweight member to
// a joining one only once the bucket has been idle for idle_timer (or never used since its last
// migration); unbalanced_timer 0 never forces a busy one over. A bucket is marked used only when
// the kernel picks a path by it, which it does not do for a group of one (fib_select_path with
// one path): every bucket of a lone worker looked idle, and the second worker's join took half
// of the first one's flows. So each worker is in the group twice, with two nexthops on its TUN.
// The plans are lists of commands (src/daemon/command-plan.ts), built here and run by the caller.
import { isIPv6 } from 'node:net';
import type { Cmd } from '../../src/daemon/command-plan.js';

/**
 * Nexthop IDs of this HAG: BASE + 100 * family (0: IPv4, 1: IPv6) + worker, and + 200 for the
 * worker's second nexthop; the group's BASE + 100 * family + 99.
 */
export const NEXTHOP_ID_BASE = 4_841_000;
/** Buckets of a resilient group: fine enough that 64 workers (128 members) share them evenly. */
export const BUCKETS = 256;
/**
 * Seconds a bucket must go unused before it may move to a joining worker: a connection quiet for
 * longer than this while the group is unbalanced can move (and break). Long, as TCP keepalive
 * (2 h) is; the price is that a returning worker gets back at once only the buckets nobody used
 * while it was away, and the rest as they fall idle.
 */
export const IDLE_TIMER_S = 3600;

const fams = (addresses: readonly string[]) =>
  [0, 1].filter((f) => addresses.some((a) => isIPv6(a) === (f === 1)));
const nhId = (fam: number, worker: number, twin = 0) => NEXTHOP_ID_BASE + 200 * twin + 100 * fam + worker;
const groupId = (fam: number) => NEXTHOP_ID_BASE + 100 * fam + 99;
const ip = (fam: number, ...args: string[]) => (fam === 1 ? ['ip', '-6', ...args] : ['ip', ...args]);
const prefix = (a: string) => (isIPv6(a) ? `${a}/128` : `${a}/32`);

export interface LiveWorker {
  index: number;
  tun: string;
}

/**
 * Routes `addresses` over the TUNs of `live` (in order of index). With none live the routes and
 * groups go (a packet to the service address then finds no route, as with no HAG at all).
 */
export function syncPlan(addresses: readonly string[], live: readonly LiveWorker[]): Cmd[] {
  const cmds: Cmd[] = [];
  for (const fam of fams(addresses)) {
    const mine = addresses.filter((a) => isIPv6(a) === (fam === 1));
    if (live.length === 0) {
      for (const a of mine) cmds.push({ argv: ip(fam, 'route', 'del', prefix(a)), mayFail: true });
      cmds.push({ argv: ip(fam, 'nexthop', 'del', 'id', String(groupId(fam))), mayFail: true });
      continue;
    }
    for (const w of live)
      for (const twin of [0, 1])
        cmds.push({
          argv: ip(fam, 'nexthop', 'replace', 'id', String(nhId(fam, w.index, twin)), 'dev', w.tun),
        });
    const members = live.flatMap((w) => [nhId(fam, w.index), nhId(fam, w.index, 1)]).join('/');
    const group = [
      'id',
      String(groupId(fam)),
      'group',
      members,
      'type',
      'resilient',
      'buckets',
      String(BUCKETS),
      'idle_timer',
      String(IDLE_TIMER_S),
      'unbalanced_timer',
      '0',
    ];
    // A group has no family of its own: Linux refuses one ("Invalid family for group"), so no -6.
    cmds.push({ argv: ['ip', 'nexthop', 'replace', ...group] });
    for (const a of mine)
      cmds.push({ argv: ip(fam, 'route', 'replace', prefix(a), 'nhid', String(groupId(fam))) });
  }
  return cmds;
}

/** Removes the routes, the groups and the nexthops of `workers` workers (each may be gone). */
export function teardownPlan(addresses: readonly string[], workers: number): Cmd[] {
  const cmds = syncPlan(addresses, []);
  for (const fam of fams(addresses))
    for (let i = 0; i < workers; i++)
      for (const twin of [0, 1])
        cmds.push({ argv: ip(fam, 'nexthop', 'del', 'id', String(nhId(fam, i, twin))), mayFail: true });
  return cmds;
}

/**
 * The multipath hash of both families: policy 3 (Linux 5.12) hashes the fields named in
 * fib_multipath_hash_fields, here addresses, protocol and ports (0x37), dissected from each packet.
 * Policy 1 (L4) takes a packet's own hash instead when it has one (skb->l4_hash, Linux
 * fib_multipath_hash): a sender one veth away hands over its socket's hash, which Linux draws
 * again at a retransmission timeout (net.core.txrehash), so a flow could move to another worker
 * mid-connection. Older kernels get policy 1.
 */
export const HASH_SYSCTLS = {
  policy: ['/proc/sys/net/ipv4/fib_multipath_hash_policy', '/proc/sys/net/ipv6/fib_multipath_hash_policy'],
  fields: ['/proc/sys/net/ipv4/fib_multipath_hash_fields', '/proc/sys/net/ipv6/fib_multipath_hash_fields'],
};
export const HASH_FIELDS = '0x0037';
