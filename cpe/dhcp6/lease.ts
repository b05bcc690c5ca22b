// ip(8) commands for a DHCPv6 lease on an uplink: the IA_NA address as a /128 (RFC 8415 21.6: the
// lease says nothing of the link's prefix; DHCPv6 gives no on-link route) with the lease's
// lifetimes, so the kernel deprecates and removes it by itself if the daemon cannot; noprefixroute,
// like a DHCP uplink's (the uplink's table holds its routes); nodad, so the address is a source at
// once (RFC 8415 18.2.10.1 has the client check it; a duplicate shows as a server's misconfiguration,
// not probed for here). The caller runs them.
import type { Dhcp6Lease } from './client.js';
import type { IaAddress } from './wire.js';

const lft = (s: number) => (s === 0xffffffff ? 'forever' : String(s));

/** Puts the lease's address on the interface, removing the previous lease's when it changed. */
export function applyLease6Commands(ifname: string, lease: Dhcp6Lease, previous?: Dhcp6Lease): string[][] {
  const cmds: string[][] = [];
  const a = lease.address;
  const was = previous?.address;
  if (was && was.address !== a?.address) cmds.push(delCmd(ifname, was));
  if (a)
    cmds.push([
      'ip',
      '-6',
      'addr',
      'replace',
      `${a.address}/128`,
      'dev',
      ifname,
      'valid_lft',
      lft(a.valid),
      'preferred_lft',
      lft(a.preferred),
      'noprefixroute',
      'nodad',
    ]);
  return cmds;
}

/** Removes a lost lease's address. */
export function removeLease6Commands(ifname: string, lease: Dhcp6Lease): string[][] {
  return lease.address ? [delCmd(ifname, lease.address)] : [];
}

function delCmd(ifname: string, a: IaAddress): string[] {
  return ['ip', '-6', 'addr', 'del', `${a.address}/128`, 'dev', ifname];
}
