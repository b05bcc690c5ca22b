// Policy rules the daemon owns besides cpe/net's: source routing for the CPE's own direct
// connections (a socket bound to an uplink's address leaves by that uplink: "from ADDR lookup
// TABLE", whatever the main table says; used when the HAG is unreachable), one per uplink with a
// known address, replaced when a DHCP lease changes it; and the route of what the LAN sends that is
// not intercepted (non-TCP, bypasses): "iif LAN lookup TABLE" of the uplink that carries it now
// (replaced when failover moves it), where cpe/net masquerades it. The caller orders the source
// rules (two uplinks may share an address). All removed at stop.
import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import type { Logger } from 'pino';

export class SourceRules {
  /** uplink name (or a fixed rule's key) -> the rule's spec (after `ip [-6] rule add|del`). */
  private readonly rules = new Map<string, { v6: boolean; spec: string[] }>();

  constructor(
    private readonly priority: number,
    private readonly log: Logger,
  ) {}

  /** Makes `address` (or nothing) the source rule of uplink `name` at priority offset `i`. */
  set(name: string, i: number, address: string | undefined, table: number): void {
    const old = this.rules.get(name);
    if (old && address && old.spec[1] === address && old.spec[5] === String(this.priority + i)) return;
    if (old) this.del(old);
    this.rules.delete(name);
    if (!address) return;
    const r = {
      v6: isIP(address) === 6,
      spec: ['from', address, 'lookup', String(table), 'priority', String(this.priority + i)],
    };
    // A leftover from a crashed run would duplicate it: remove first.
    this.del(r);
    try {
      execFileSync('ip', [...(r.v6 ? ['-6'] : []), 'rule', 'add', ...r.spec], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      this.rules.set(name, r);
    } catch (e) {
      this.log.error(
        { event: 'source-rule-failed', uplink: name, err: e },
        `cannot add source rule for ${name}`,
      );
    }
  }

  private del(r: { v6: boolean; spec: string[] }): void {
    for (let i = 0; i < 16; i++) {
      try {
        execFileSync('ip', [...(r.v6 ? ['-6'] : []), 'rule', 'del', ...r.spec], { stdio: 'ignore' });
      } catch {
        return;
      }
    }
  }

  /** Adds a rule (IPv4 and IPv6) under `key` at priority offset `i`, replacing the key's earlier one. */
  fixed(key: string, spec: string[], i: number): void {
    for (const v6 of [false, true]) {
      const r = { v6, spec: [...spec, 'priority', String(this.priority + i)] };
      const old = this.rules.get(`${key}/${v6 ? 6 : 4}`);
      if (old) this.del(old);
      this.del(r);
      try {
        execFileSync('ip', [...(v6 ? ['-6'] : []), 'rule', 'add', ...r.spec], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        this.rules.set(`${key}/${v6 ? 6 : 4}`, r);
      } catch (e) {
        this.log.error({ event: 'rule-failed', rule: r.spec.join(' '), err: e }, `cannot add rule ${key}`);
      }
    }
  }

  clear(): void {
    for (const r of this.rules.values()) this.del(r);
    this.rules.clear();
  }
}
