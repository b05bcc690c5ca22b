// Which scheduler a new connection gets (the bonding policy in the config): the first rule whose
// destination ports and prefixes match wins, else the default. For example: DNS and games
// redundant, bulk HTTPS min-RTT, everything else primary-first to spare LTE volume.
import { type Prefix, parsePrefix, prefixMatches } from '../../wire/addr.js';
import type { SchedulerName } from './scheduler.js';

export interface SchedulingRule {
  /** Destination ports (any when absent or empty). */
  ports?: readonly number[];
  /** Destination prefixes, "ADDR/LEN" (any when absent or empty), IPv4 or IPv6. */
  prefixes?: readonly string[];
  scheduler: SchedulerName;
}

interface Compiled {
  ports: Set<number> | undefined;
  prefixes: Prefix[];
  scheduler: SchedulerName;
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
      scheduler: r.scheduler,
    }));
  }

  /** The scheduler for a connection to `addr` (4 or 16 bytes) port `port`. */
  pick(addr: Uint8Array, port: number): SchedulerName {
    for (const r of this.rules) {
      if (r.ports && !r.ports.has(port)) continue;
      if (
        r.prefixes.length &&
        !r.prefixes.some((p) => p.bytes.length === addr.length && prefixMatches(p, addr, 0))
      )
        continue;
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
