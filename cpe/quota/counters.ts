// The byte counters of a network interface as the kernel keeps them (what the carrier meters:
// every frame the interface sent or received, headers, retransmissions, NATed and direct traffic
// included), read from sysfs with the interface's index and the boot's id, which together say
// whether the counters are the ones seen before (a reboot or a recreated interface restarts them).
import { readFileSync } from 'node:fs';

export interface InterfaceCounters {
  rx: number;
  tx: number;
  /** `${boot id}/${ifindex}`: counters with another key started again from zero. */
  key: string;
}

let bootId: string | undefined;

function readBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = 'unknown';
    }
  }
  return bootId;
}

/** The counters of interface `name`, or a string saying why they cannot be read (no such interface). */
export function readInterfaceCounters(name: string, sys = '/sys/class/net'): InterfaceCounters | string {
  try {
    const dir = `${sys}/${name}`;
    const rx = Number(readFileSync(`${dir}/statistics/rx_bytes`, 'utf8'));
    const tx = Number(readFileSync(`${dir}/statistics/tx_bytes`, 'utf8'));
    const index = readFileSync(`${dir}/ifindex`, 'utf8').trim();
    return { rx, tx, key: `${readBootId()}/${index}` };
  } catch (e) {
    return `cannot read the counters of ${name}: ${(e as Error).message}`;
  }
}
