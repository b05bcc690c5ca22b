// The DHCP server's lease table: which address belongs to which client (by hardware address), in
// which state and until when. Pure: every call takes `now` (ms); no clock, no I/O. The address choice
// follows RFC 2131 4.3.1; persistence is snapshot()/restore() (see lease-file.ts).
import { intToIp, ipToInt } from './wire.js';

export type LeaseState = 'offered' | 'bound' | 'released' | 'expired' | 'declined';

export interface Lease {
  address: string;
  /** Client hardware address; null for a declined (quarantined) address. */
  mac: string | null;
  state: LeaseState;
  /** ms since the epoch: end of the binding, of the offer hold, or of the quarantine. */
  expiresAt: number;
  hostname?: string;
}

export interface AddressRange {
  start: string;
  end: string;
}

export interface StaticLease {
  mac: string;
  address: string;
}

export interface PoolConfig {
  /** The LAN's subnet, CIDR ("198.18.5.0/24"). */
  subnet: string;
  /** The server's own address (RFC 2131 option 54 value); never leased. */
  serverId: string;
  ranges: readonly AddressRange[];
  statics?: readonly StaticLease[];
}

export type Availability = { ok: true } | { ok: false; reason: string };

/** Lower-case, colon-separated form of a MAC address. */
export function normMac(mac: string): string {
  return mac
    .toLowerCase()
    .replace(/-/g, ':')
    .split(':')
    .map((p) => p.padStart(2, '0'))
    .join(':');
}

export class LeaseTable {
  readonly #net: number;
  readonly #mask: number;
  readonly #serverId: number;
  readonly #ranges: [number, number][];
  /** static address by MAC, and MAC by static address */
  readonly #staticByMac = new Map<string, string>();
  readonly #staticByAddr = new Map<string, string>();
  readonly #byAddr = new Map<string, Lease>();

  constructor(cfg: PoolConfig) {
    const [net, len] = cfg.subnet.split('/');
    const prefix = Number(len);
    if (!Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
      throw new RangeError(`subnet ${cfg.subnet}: prefix must be /8../30`);
    }
    this.#mask = (0xffffffff << (32 - prefix)) >>> 0;
    this.#net = (ipToInt(net) & this.#mask) >>> 0;
    this.#serverId = ipToInt(cfg.serverId);
    if (!this.inSubnet(cfg.serverId))
      throw new RangeError(`server id ${cfg.serverId} is outside ${cfg.subnet}`);
    this.#ranges = cfg.ranges.map((r) => {
      const a = ipToInt(r.start);
      const b = ipToInt(r.end);
      if (a > b || !this.inSubnet(r.start) || !this.inSubnet(r.end)) {
        throw new RangeError(`range ${r.start}-${r.end} is empty or outside ${cfg.subnet}`);
      }
      return [a, b];
    });
    for (let i = 0; i < this.#ranges.length; i++) {
      for (let j = i + 1; j < this.#ranges.length; j++) {
        const [a, b] = this.#ranges[i];
        const [c, d] = this.#ranges[j];
        if (a <= d && c <= b) throw new RangeError(`ranges ${i} and ${j} overlap`);
      }
    }
    for (const s of cfg.statics ?? []) {
      const mac = normMac(s.mac);
      if (!this.inSubnet(s.address))
        throw new RangeError(`static ${s.address} for ${mac} is outside ${cfg.subnet}`);
      if (this.#staticByAddr.has(s.address)) throw new RangeError(`static address ${s.address} given twice`);
      this.#staticByMac.set(mac, s.address);
      this.#staticByAddr.set(s.address, mac);
    }
  }

  inSubnet(ip: string): boolean {
    return (ipToInt(ip) & this.#mask) >>> 0 === this.#net;
  }

  get prefixLength(): number {
    let p = 0;
    while (p < 32 && this.#mask & (0x80000000 >>> p)) p++;
    return p;
  }

  get broadcast(): string {
    return intToIp((this.#net | ~this.#mask) >>> 0);
  }

  staticFor(mac: string): string | undefined {
    return this.#staticByMac.get(mac);
  }

  get(address: string): Lease | undefined {
    return this.#byAddr.get(address);
  }

  /** The record of `mac` that still holds or last held an address (newest state wins). */
  leaseOf(mac: string): Lease | undefined {
    let best: Lease | undefined;
    for (const l of this.#byAddr.values()) {
      if (l.mac === mac && (best === undefined || l.expiresAt > best.expiresAt)) best = l;
    }
    return best;
  }

  all(): Lease[] {
    return [...this.#byAddr.values()];
  }

  /** Whether `address` may be given to `mac` now, and if not, why. */
  availableFor(address: string, mac: string, now: number): Availability {
    const n = ipToInt(address);
    if (!this.inSubnet(address)) return { ok: false, reason: `${address} is outside the LAN subnet` };
    if (n === this.#serverId) return { ok: false, reason: `${address} is the server's own address` };
    if (n === this.#net || n === (this.#net | ~this.#mask) >>> 0) {
      return { ok: false, reason: `${address} is the subnet's network or broadcast address` };
    }
    const owner = this.#staticByAddr.get(address);
    if (owner !== undefined && owner !== mac) {
      return { ok: false, reason: `${address} is reserved for ${owner}` };
    }
    if (owner === undefined && !this.#ranges.some(([a, b]) => n >= a && n <= b)) {
      return { ok: false, reason: `${address} is in no range and not reserved for this client` };
    }
    const l = this.#byAddr.get(address);
    if (l !== undefined && l.expiresAt > now) {
      if (l.state === 'declined') return { ok: false, reason: `${address} is quarantined after a DECLINE` };
      if ((l.state === 'bound' || l.state === 'offered') && l.mac !== mac) {
        return { ok: false, reason: `${address} is leased to ${l.mac}` };
      }
    }
    return { ok: true };
  }

  /**
   * RFC 2131 4.3.1: the address to offer, in this order: the client's static address; its current
   * binding; the address it had before (released or expired) if still free; the requested address
   * (option 50) if free; a free address from the ranges. Undefined when the pool is exhausted.
   */
  choose(mac: string, requested: string | undefined, now: number): string | undefined {
    const st = this.#staticByMac.get(mac);
    if (st !== undefined) return this.availableFor(st, mac, now).ok ? st : undefined;
    const prev = this.leaseOf(mac);
    if (prev !== undefined && this.availableFor(prev.address, mac, now).ok) return prev.address;
    if (requested !== undefined && this.availableFor(requested, mac, now).ok) return requested;
    // Never-used addresses first, then the ones whose former owner is gone longest.
    let reuse: Lease | undefined;
    for (const [a, b] of this.#ranges) {
      for (let n = a; n <= b; n++) {
        const ip = intToIp(n);
        if (!this.availableFor(ip, mac, now).ok) continue;
        const l = this.#byAddr.get(ip);
        if (l === undefined) return ip;
        if (reuse === undefined || l.expiresAt < reuse.expiresAt) reuse = l;
      }
    }
    return reuse?.address;
  }

  #set(lease: Lease): Lease {
    // One record per client: an older record of the same MAC on another address goes.
    if (lease.mac !== null) {
      for (const [addr, l] of this.#byAddr) {
        if (l.mac === lease.mac && addr !== lease.address) this.#byAddr.delete(addr);
      }
    }
    this.#byAddr.set(lease.address, lease);
    return lease;
  }

  offer(mac: string, address: string, until: number): Lease {
    return this.#set({ address, mac, state: 'offered', expiresAt: until });
  }

  bind(mac: string, address: string, until: number, hostname?: string): Lease {
    return this.#set({ address, mac, state: 'bound', expiresAt: until, ...(hostname ? { hostname } : {}) });
  }

  /** RFC 2131 4.3.4: the address is free again; the record keeps the MAC so the client gets it back. */
  release(address: string, now: number): void {
    const l = this.#byAddr.get(address);
    if (l !== undefined) this.#byAddr.set(address, { ...l, state: 'released', expiresAt: now });
  }

  /** RFC 2131 4.3.3: the address is in use by someone else on the link; nobody gets it until `until`. */
  decline(address: string, until: number): void {
    this.#byAddr.set(address, { address, mac: null, state: 'declined', expiresAt: until });
  }

  /** Ends offers, bindings and quarantines whose time is over; returns the records that changed. */
  expire(now: number): Lease[] {
    const changed: Lease[] = [];
    for (const [addr, l] of this.#byAddr) {
      if (l.expiresAt > now) continue;
      if (l.state === 'declined') {
        this.#byAddr.delete(addr);
        changed.push(l);
      } else if (l.state === 'bound' || l.state === 'offered') {
        const e: Lease = { ...l, state: 'expired' };
        this.#byAddr.set(addr, e);
        changed.push(e);
      }
    }
    return changed;
  }

  /** The earliest time at which expire() has something to do, or undefined. */
  nextExpiry(): number | undefined {
    let t: number | undefined;
    for (const l of this.#byAddr.values()) {
      if (l.state === 'released' || l.state === 'expired') continue;
      if (t === undefined || l.expiresAt < t) t = l.expiresAt;
    }
    return t;
  }

  snapshot(): Lease[] {
    return this.all().map((l) => ({ ...l }));
  }

  /** Loads records saved by snapshot(); those outside the subnet are returned as rejected. */
  restore(leases: readonly Lease[]): Lease[] {
    const rejected: Lease[] = [];
    for (const l of leases) {
      if (!this.inSubnet(l.address)) rejected.push(l);
      else this.#byAddr.set(l.address, { ...l });
    }
    return rejected;
  }
}
