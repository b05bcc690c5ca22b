// A source NAT (NAPT, RFC 3022) like the carrier-grade NAT of an LTE path: two middleboxes, one
// per link direction. `outbound` rewrites the source address and port of TCP and UDP packets to
// the public address and a mapped port; `inbound` rewrites the destination of packets sent to a
// mapped public port back to the inside endpoint and drops those that match no mapping (so a peer
// outside cannot open a connection toward the inside, as with a real CGN). Checksums are fixed.
//
// Mapping is endpoint-independent (RFC 4787 section 4.1: one public port per inside address and
// port, whatever the remote); filtering is endpoint-independent by default or, on request,
// address-and-port-dependent (RFC 4787 section 5). Idle mappings expire after `idleTimeout`.

import { parseIp } from '../wire/addr.js';
import { copyOut, setU16, u16 } from '../wire/bytes.js';
import { IPPROTO_TCP, IPPROTO_UDP, type PacketView } from '../wire/packet.js';
import { fixIpv4HeaderChecksum, fixTransportChecksum, type Middlebox, transportRange } from './middlebox.js';
import type { Rng } from './rng.js';

export interface NatOptions {
  /** The public address; only packets of its IP version are translated, others pass untouched. */
  publicAddress: string;
  /** Public ports handed out (default 1024 to 65535). */
  portMin?: number;
  portMax?: number;
  /** 'sequential' (default) or 'random' (from the link's seeded stream) port choice. */
  portAllocation?: 'sequential' | 'random';
  /** A mapping unused for this long (ms) expires (default never). */
  idleTimeout?: number;
  /** Which remotes may send to a mapped port (default 'endpoint-independent'). */
  filtering?: 'endpoint-independent' | 'address-port-dependent';
}

interface Mapping {
  proto: number;
  insideAddr: Uint8Array;
  insidePort: number;
  publicPort: number;
  lastUsed: number;
  /** Remotes the inside endpoint has sent to (address-port-dependent filtering only). */
  remotes: Set<string> | undefined;
  outKey: string;
}

export class NatStats {
  /** Packets translated on the way out and on the way in. */
  translatedOut = 0;
  translatedIn = 0;
  /** Mappings created so far. */
  mappingsCreated = 0;
  /** Inbound packets to the public address that no mapping (or filter) admits. */
  droppedInbound = 0;
  /** Outbound packets that cannot be translated (not TCP/UDP, or no free port). */
  droppedOutbound = 0;
}

function addrKey(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[off + i]);
  return s;
}

function addrOffsets(v: PacketView): [src: number, dst: number, len: number] {
  return v.version === 4 ? [v.v4.srcOff, v.v4.dstOff, 4] : [v.v6.srcOff, v.v6.dstOff, 16];
}

export class Nat {
  readonly stats = new NatStats();
  /** Rewrites the source of packets leaving the inside (put it on the link toward the outside). */
  readonly outbound: Middlebox;
  /** Rewrites the destination of packets coming back (put it on the link toward the inside). */
  readonly inbound: Middlebox;
  private readonly pub: Uint8Array;
  private readonly portMin: number;
  private readonly portMax: number;
  private nextPort: number;
  private readonly byOut = new Map<string, Mapping>();
  /** Keyed by protocol * 65536 + public port. */
  private readonly byPublic = new Map<number, Mapping>();
  private readonly range = new Int32Array(2);

  constructor(private readonly opts: NatOptions) {
    this.pub = parseIp(opts.publicAddress);
    this.portMin = opts.portMin ?? 1024;
    this.portMax = opts.portMax ?? 65535;
    if (!(this.portMin >= 1 && this.portMin <= this.portMax && this.portMax <= 65535)) {
      throw new RangeError(`NAT port range ${this.portMin}-${this.portMax}`);
    }
    this.nextPort = this.portMin;
    this.outbound = (_packet, ctx) => this.out(ctx.now, ctx.view(), ctx.rng);
    this.inbound = (_packet, ctx) => this.in(ctx.now, ctx.view());
  }

  /** Live mappings (expired ones may linger until touched). */
  get mappings(): number {
    return this.byOut.size;
  }

  /** The public port of an inside endpoint, if mapped (for tests). */
  publicPortOf(proto: number, insideAddress: string, insidePort: number): number | undefined {
    const a = parseIp(insideAddress);
    return this.byOut.get(`${proto}|${addrKey(a, 0, a.length)}|${insidePort}`)?.publicPort;
  }

  private expired(m: Mapping, now: number): boolean {
    return this.opts.idleTimeout !== undefined && now - m.lastUsed > this.opts.idleTimeout;
  }

  private remove(m: Mapping): void {
    this.byOut.delete(m.outKey);
    this.byPublic.delete(m.proto * 65536 + m.publicPort);
  }

  private out(now: number, v: PacketView | undefined, rng: Rng): 'deliver' | 'drop' {
    if (!v) return 'deliver';
    const [srcOff, dstOff, alen] = addrOffsets(v);
    if (alen !== this.pub.length) return 'deliver';
    const proto = v.protocol;
    if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) || !transportRange(v, this.range)) {
      this.stats.droppedOutbound++;
      return 'drop';
    }
    const b = v.version === 4 ? v.v4.buf : v.v6.buf;
    const l4 = this.range[0];
    const sport = u16(b, l4);
    const key = `${proto}|${addrKey(b, srcOff, alen)}|${sport}`;
    let m = this.byOut.get(key);
    if (m && this.expired(m, now)) {
      this.remove(m);
      m = undefined;
    }
    if (!m) {
      const port = this.allocate(proto, now, rng);
      if (port < 0) {
        this.stats.droppedOutbound++;
        return 'drop';
      }
      m = {
        proto,
        insideAddr: copyOut(b, srcOff, alen),
        insidePort: sport,
        publicPort: port,
        lastUsed: now,
        remotes: this.opts.filtering === 'address-port-dependent' ? new Set() : undefined,
        outKey: key,
      };
      this.byOut.set(key, m);
      this.byPublic.set(proto * 65536 + port, m);
      this.stats.mappingsCreated++;
    }
    m.lastUsed = now;
    m.remotes?.add(`${addrKey(b, dstOff, alen)}|${u16(b, l4 + 2)}`);
    b.set(this.pub, srcOff);
    setU16(b, l4, m.publicPort);
    fixIpv4HeaderChecksum(v);
    fixTransportChecksum(v);
    this.stats.translatedOut++;
    return 'deliver';
  }

  private in(now: number, v: PacketView | undefined): 'deliver' | 'drop' {
    if (!v) return 'deliver';
    const [srcOff, dstOff, alen] = addrOffsets(v);
    if (alen !== this.pub.length) return 'deliver';
    const b = v.version === 4 ? v.v4.buf : v.v6.buf;
    for (let i = 0; i < alen; i++) if (b[dstOff + i] !== this.pub[i]) return 'deliver';
    const proto = v.protocol;
    if ((proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) || !transportRange(v, this.range)) {
      this.stats.droppedInbound++;
      return 'drop';
    }
    const l4 = this.range[0];
    const m = this.byPublic.get(proto * 65536 + u16(b, l4 + 2));
    if (!m || this.expired(m, now)) {
      if (m) this.remove(m);
      this.stats.droppedInbound++;
      return 'drop';
    }
    if (m.remotes && !m.remotes.has(`${addrKey(b, srcOff, alen)}|${u16(b, l4)}`)) {
      this.stats.droppedInbound++;
      return 'drop';
    }
    m.lastUsed = now;
    b.set(m.insideAddr, dstOff);
    setU16(b, l4 + 2, m.insidePort);
    fixIpv4HeaderChecksum(v);
    fixTransportChecksum(v);
    this.stats.translatedIn++;
    return 'deliver';
  }

  /** A free public port for `proto`, or -1 when the range is exhausted. */
  private allocate(proto: number, now: number, rng: Rng): number {
    const n = this.portMax - this.portMin + 1;
    const free = (port: number): boolean => {
      const m = this.byPublic.get(proto * 65536 + port);
      if (!m) return true;
      if (!this.expired(m, now)) return false;
      this.remove(m);
      return true;
    };
    if (this.opts.portAllocation === 'random') {
      for (let tries = 0; tries < 16; tries++) {
        const p = this.portMin + rng.int(n);
        if (free(p)) return p;
      }
    }
    for (let i = 0; i < n; i++) {
      const p = this.nextPort;
      this.nextPort = p === this.portMax ? this.portMin : p + 1;
      if (free(p)) return p;
    }
    return -1;
  }
}
