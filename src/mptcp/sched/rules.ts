// Which scheduler a new connection gets (the bonding policy in the config): the first rule whose
// destination ports and prefixes match wins, else the default. For example: DNS and games
// redundant, bulk HTTPS min-RTT, everything else primary-first to spare LTE volume.
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
  prefixes: { addr: Uint8Array; len: number }[];
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
      prefixes: (r.prefixes ?? []).map(parsePrefix),
      scheduler: r.scheduler,
    }));
  }

  /** The scheduler for a connection to `addr` (4 or 16 bytes) port `port`. */
  pick(addr: Uint8Array, port: number): SchedulerName {
    for (const r of this.rules) {
      if (r.ports && !r.ports.has(port)) continue;
      if (r.prefixes.length && !r.prefixes.some((p) => inPrefix(addr, p))) continue;
      return r.scheduler;
    }
    return this.fallback;
  }
}

function parsePrefix(s: string): { addr: Uint8Array; len: number } {
  const [a, l] = s.split('/');
  const addr = a.includes(':') ? parseV6(a) : parseV4(a);
  const len = l === undefined ? addr.length * 8 : Number(l);
  if (!addr.length || !Number.isInteger(len) || len < 0 || len > addr.length * 8)
    throw new RangeError(`bad prefix "${s}"`);
  return { addr, len };
}

function parseV4(s: string): Uint8Array {
  const p = s.split('.').map(Number);
  return p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x <= 255)
    ? Uint8Array.from(p)
    : new Uint8Array(0);
}

function parseV6(s: string): Uint8Array {
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  if (s.split('::').length > 2 || (tail === undefined && h.length !== 8)) return new Uint8Array(0);
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return new Uint8Array(0);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function inPrefix(addr: Uint8Array, p: { addr: Uint8Array; len: number }): boolean {
  if (addr.length !== p.addr.length) return false;
  let bits = p.len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i] & mask) !== (p.addr[i] & mask)) return false;
  }
  return true;
}
