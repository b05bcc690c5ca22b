// Transparent mode's kernel plumbing (a HAG on the path of the subscribers' uplinks): which packets
// the forwarding kernel hands to the HAG's TUN instead of routing them on. An nftables table marks
// every TCP SYN that carries the MPTCP option (RFC 8684 3.1 MP_CAPABLE, 3.2 MP_JOIN; option kind
// 30) to an address not of this host, and stores the mark in its conntrack entry; each later
// packet of that flow in the same direction gets the mark back from conntrack. A policy rule sends
// marked packets to a routing table whose default route is the TUN. The core's replies come out of
// the TUN and are routed by the main table (not marked: they are the flow's reply direction); the
// TUN takes them without reverse-path filtering (tun-setup.ts, reversePathFilter).
// Plain TCP, UDP and the rest are never marked and are forwarded unchanged. Why this and not
// TPROXY or NFQUEUE: the core takes packets, not sockets, and must see the SYN's own options;
// one mark per flow in conntrack costs the kernel one lookup it does anyway, and
// `tcp option mptcp exists`, `ct mark` and `fib daddr type` are in nftables 0.9 and Linux 5.x
// (Debian 12: nftables 1.0.6, Linux 6.1).
import type { Cmd } from '../src/daemon/command-plan.js';

export interface DivertConfig {
  /** The HAG's TUN. */
  tun: string;
  /** Interfaces the subscribers arrive on; empty: every interface but the TUN. */
  interfaces: readonly string[];
  mark: number;
  table: number;
  rulePriority: number;
  /** Also IPv6 (an IPv6 rule and route; nftables' inet table covers both anyway). */
  ipv6: boolean;
}

export const DIVERT_TABLE = 'hybrid_access_hag';

const hex = (n: number) => `0x${n.toString(16)}`;

/** The nftables table of transparent mode (replaces one left by a crash: delete, then add). */
export function divertRules(c: DivertConfig): string {
  const mark = hex(c.mark);
  const only =
    c.interfaces.length === 0
      ? []
      : [`    iifname != { ${c.interfaces.map((i) => JSON.stringify(i)).join(', ')} } return`];
  return [
    `table inet ${DIVERT_TABLE} {`,
    '  chain prerouting {',
    // After conntrack (priority -200): each packet has its entry, and its mark.
    '    type filter hook prerouting priority mangle; policy accept;',
    // The core's own packets (replies, its side of the flows) are routed as they are.
    `    iifname ${JSON.stringify(c.tun)} return`,
    ...only,
    // The rest of a diverted flow, client to server: its conntrack entry carries the mark.
    `    ct direction original ct mark ${mark} meta mark set ${mark} return`,
    // A SYN (no ACK) with an MPTCP option to an address this host does not own: to the core.
    `    tcp flags & (syn | ack) == syn tcp option mptcp exists fib daddr type != local ct mark set ${mark} meta mark set ${mark}`,
    '  }',
    '}',
  ].join('\n');
}

/** The commands that set transparent mode up (after leftovers are removed: see divertTeardown). */
export function divertSetup(c: DivertConfig): Cmd[] {
  const families = c.ipv6 ? ['-4', '-6'] : ['-4'];
  const rule = ['fwmark', hex(c.mark), 'lookup', String(c.table), 'pref', String(c.rulePriority)];
  return [
    ...divertTeardown(c),
    ...families.flatMap((f) => [
      { argv: ['ip', f, 'route', 'replace', 'default', 'dev', c.tun, 'table', String(c.table)] },
      { argv: ['ip', f, 'rule', 'add', ...rule] },
    ]),
    { argv: ['nft', '-f', '-'], stdin: `${divertRules(c)}\n` },
  ];
}

/** Removes what divertSetup adds; each step may find it gone (never set up, or a crash). */
export function divertTeardown(c: DivertConfig): Cmd[] {
  const families = c.ipv6 ? ['-4', '-6'] : ['-4'];
  const rule = ['fwmark', hex(c.mark), 'lookup', String(c.table), 'pref', String(c.rulePriority)];
  return [
    { argv: ['nft', 'delete', 'table', 'inet', DIVERT_TABLE], mayFail: true },
    ...families.flatMap((f) => [
      { argv: ['ip', f, 'rule', 'del', ...rule], mayFail: true, repeat: true },
      { argv: ['ip', f, 'route', 'flush', 'table', String(c.table)], mayFail: true },
    ]),
  ];
}
