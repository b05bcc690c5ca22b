// A consumer access router ("NAT box") as a lab namespace has it: its LAN port 192.168.1.1/24
// hands out 192.168.1.100-199 with gateway 192.168.1.1 by DHCP (dnsmasq, the same range on every
// box, as every box of one make has) and masquerades to its ISP side. Shared by the lab's natboxes
// profile (scripts/lab-impl/lab.ts: the dsl and lte namespaces become two such boxes) and
// test/system/cpe-natboxes.test.ts.

export const NATBOX = {
  /** The box's address on its LAN port, the gateway it hands out. */
  gateway: '192.168.1.1',
  prefixLen: 24,
  subnet: '192.168.1.0/24',
  range: { start: '192.168.1.100', end: '192.168.1.199' },
  leaseSeconds: 600,
} as const;

/**
 * dnsmasq as the box's DHCP server on `lanIf` (no DNS, in the foreground, so that its namespace's
 * owner can stop it), its pid and leases in `dir` as <name>.pid and <name>.leases.
 */
export function natboxDhcpArgv(lanIf: string, dir: string, name: string): string[] {
  return [
    'dnsmasq',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${lanIf}`,
    '--bind-interfaces',
    '--dhcp-authoritative',
    '--user=root',
    `--pid-file=${dir}/${name}.pid`,
    `--dhcp-leasefile=${dir}/${name}.leases`,
    `--dhcp-range=${NATBOX.range.start},${NATBOX.range.end},255.255.255.0,${NATBOX.leaseSeconds}`,
    `--dhcp-option=option:router,${NATBOX.gateway}`,
    '--log-dhcp',
  ];
}
