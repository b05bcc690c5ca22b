// Which scheduler a new connection gets (the bonding policy in the config): the first rule whose
// destination ports and prefixes and source (LAN host) prefixes match wins, else the default. For
// example: DNS and games redundant, bulk HTTPS min-RTT, the games console always redundant,
// everything else primary-first to spare LTE volume.
import { type Prefix, parsePrefix, prefixMatches } from '../../wire/addr.js';
import type { SchedulerName } from './scheduler.js';

export interface SchedulingRule {
  /** Destination ports (any when absent or empty). */
  ports?: readonly number[];
  /** Destination prefixes, "ADDR/LEN" (any when absent or empty), IPv4 or IPv6. */
  prefixes?: readonly string[];
  /** Source prefixes: the LAN hosts the rule is for (any when absent or empty). */
  sources?: readonly string[];
  scheduler: SchedulerName;
}

interface Compiled {
  ports: Set<number> | undefined;
  prefixes: Prefix[];
  sources: Prefix[];
  scheduler: SchedulerName;
}

function inAny(list: Prefix[], addr: Uint8Array | undefined): boolean {
  if (list.length === 0) return true;
  if (!addr) return false;
  return list.some((p) => p.bytes.length === addr.length && prefixMatches(p, addr, 0));
}

export class SchedulingRules {
  private readonly rules: Compiled[];

  /** Throws a RangeError naming the bad prefix (config validation reports it before this). */
  constructor(
    rules: readonly SchedulingRule[],
    readonly fallback: SchedulerName = 'min-rtt',
  ) {
    this.rules = rules.map((r) => ({
      ports: r.ports?.length ? new Set(r.ports) : undefined,
      prefixes: (r.prefixes ?? []).map(prefix),
      sources: (r.sources ?? []).map(prefix),
      scheduler: r.scheduler,
    }));
  }

  /** The scheduler for a connection to `addr` (4 or 16 bytes) port `port`, from LAN host `src`. */
  pick(addr: Uint8Array, port: number, src?: Uint8Array): SchedulerName {
    for (const r of this.rules) {
      if (r.ports && !r.ports.has(port)) continue;
      if (!inAny(r.prefixes, addr) || !inAny(r.sources, src)) continue;
      return r.scheduler;
    }
    return this.fallback;
  }
}

function prefix(s: string): Prefix {
  try {
    return parsePrefix(s);
  } catch {
    throw new RangeError(`bad prefix "${s}"`);
  }
}
