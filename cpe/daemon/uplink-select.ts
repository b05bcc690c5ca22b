// Which uplink carries what the CPE does not bond: the LAN's non-TCP traffic (UDP, ICMP: DNS,
// calls, games, QUIC), bypassed destinations and direct connections. The first usable uplink by
// role (primary, then overflow, then backup; config order within a role). When the active uplink
// becomes unusable the best usable one takes over at once; a better-ranked uplink that comes back
// takes over only after it has stayed usable for the hold-down (so a flapping line does not move
// the home's flows back and forth). With no uplink usable the active one stays. Pure: the caller
// gives the time and which uplinks are usable, and acts on the switch it returns.

export type Role = 'primary' | 'overflow' | 'backup';

const RANK: Record<Role, number> = { primary: 0, overflow: 1, backup: 2 };

export interface Switch {
  from: number;
  to: number;
  /** 'failover': the active uplink became unusable; 'return': a better one outlasted the hold-down. */
  why: 'failover' | 'return';
}

export class UplinkSelector {
  /** Uplink indices, best first. */
  private readonly order: number[];
  /** Index of the active uplink. */
  active: number;
  /** The better uplink waiting out the hold-down, and since when it has been usable. */
  private waiting = -1;
  private since = 0;

  constructor(
    roles: readonly Role[],
    public holdDownMs: number,
  ) {
    if (roles.length === 0) throw new RangeError('no uplinks to select from');
    this.order = roles.map((_, i) => i).sort((a, b) => RANK[roles[a]] - RANK[roles[b]] || a - b);
    this.active = this.order[0];
  }

  /** When the uplink waiting to take over may do so (undefined: none is waiting). */
  get returnAt(): number | undefined {
    return this.waiting < 0 ? undefined : this.since + this.holdDownMs;
  }

  /** Re-evaluates at `now`; `usable[i]` says whether uplink i can carry traffic. */
  step(now: number, usable: readonly boolean[]): Switch | undefined {
    const best = this.order.find((i) => usable[i]);
    if (best === undefined) {
      this.waiting = -1;
      return undefined;
    }
    if (!usable[this.active]) return this.move(best, 'failover');
    if (this.rank(best) >= this.rank(this.active)) {
      this.waiting = -1;
      return undefined;
    }
    if (this.waiting !== best) {
      this.waiting = best;
      this.since = now;
    }
    return now - this.since >= this.holdDownMs ? this.move(best, 'return') : undefined;
  }

  private rank(i: number): number {
    return this.order.indexOf(i);
  }

  private move(to: number, why: Switch['why']): Switch {
    const from = this.active;
    this.active = to;
    this.waiting = -1;
    return { from, to, why };
  }
}
