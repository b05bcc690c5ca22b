// What the configuration checks need to know of the machine they run on: the addresses on its
// interfaces and whether an interface exists, so that `--check` refuses a config that names an
// address the host does not have or a TUN name already taken. Injected in tests.
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

export interface HostFacts {
  /** The addresses on this host's interfaces, as text. */
  addresses(): string[];
  /** Whether a network interface of this name exists (/sys/class/net/NAME). */
  interfaceExists(name: string): boolean;
  /** The TUN the running daemon made: at a reload it exists, and it is the daemon's own. */
  ownTun?: string;
}

export const thisHost: HostFacts = {
  addresses: () => Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)),
  interfaceExists: (name) => existsSync(`/sys/class/net/${name}`),
};
