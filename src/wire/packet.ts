// A whole IP packet as it crosses the TUN: IPv4 or IPv6 by the version nibble, and the TCP segment
// inside it when there is one. PacketView is the receive path's reusable zero-copy view; the
// plain-object Packet form is for tests, tools and the slow path.
import { pseudoSumV4, pseudoSumV6 } from './checksum.js';
import { WireError } from './error.js';
import { emitIpv4, IPV4_MIN_HEADER, Ipv4Packet, type Ipv4Repr, ipv4ReprFrom } from './ipv4.js';
import { emitIpv6, IPV6_HEADER, Ipv6Packet, type Ipv6Repr, ipv6ReprFrom } from './ipv6.js';
import { emitTcp, TcpPacket, type TcpRepr, tcpLen, tcpReprFrom } from './tcp.js';

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

export class PacketView {
  readonly v4 = new Ipv4Packet();
  readonly v6 = new Ipv6Packet();
  readonly tcp = new TcpPacket();
  version: 4 | 6 = 4;
  /** Upper-layer protocol (after IPv6 extension headers). */
  protocol = 0;
  /** Whether `tcp` holds this packet's TCP segment. */
  isTcp = false;
  private readonly ul = new Int32Array(2);

  /**
   * Wraps an IP packet. A TCP segment that is not a first fragment, or whose header is malformed,
   * is an error; other protocols are fine (isTcp false).
   */
  wrap(buf: Uint8Array, off = 0, len = buf.length - off): WireError | undefined {
    this.isTcp = false;
    if (len < 1) return new WireError('truncated', 'empty packet');
    const version = buf[off] >> 4;
    let l4off: number;
    let l4len: number;
    if (version === 4) {
      const e = this.v4.wrap(buf, off, len);
      if (e) return e;
      this.version = 4;
      this.protocol = this.v4.protocol;
      if (this.protocol !== IPPROTO_TCP) return undefined;
      if (this.v4.fragOffset !== 0 || this.v4.moreFrags) {
        return new WireError('bad-field', 'fragmented TCP is not handled');
      }
      l4off = this.v4.payloadOff;
      l4len = this.v4.payloadLen;
    } else if (version === 6) {
      const e = this.v6.wrap(buf, off, len) ?? this.v6.upperLayer(this.ul);
      if (e) return e;
      this.version = 6;
      this.protocol = this.ul[0];
      if (this.protocol !== IPPROTO_TCP) return undefined;
      l4off = this.ul[1];
      l4len = this.v6.off + this.v6.len - l4off;
    } else {
      return new WireError('bad-version', `IP version ${version}`);
    }
    const e = this.tcp.wrap(buf, l4off, l4len);
    if (e) return e;
    this.isTcp = true;
    return undefined;
  }

  /** Pseudo-header sum for the upper-layer segment. */
  pseudoSum(): number {
    if (this.version === 4) {
      const p = this.v4;
      return pseudoSumV4(p.buf, p.srcOff, p.buf, p.dstOff, this.protocol, p.payloadLen);
    }
    const p = this.v6;
    return pseudoSumV6(p.buf, p.srcOff, p.buf, p.dstOff, this.protocol, this.tcp.len);
  }

  /** True when the TCP checksum verifies. */
  tcpChecksumOk(): boolean {
    return this.isTcp && this.tcp.verifyChecksum(this.pseudoSum());
  }
}

export type IpRepr = ({ version: 4 } & Ipv4Repr) | ({ version: 6 } & Ipv6Repr);

export interface Packet {
  ip: IpRepr;
  /** Present when the packet is TCP. */
  tcp?: TcpRepr;
}

/**
 * A plain IP header from `src` to `dst` (IPv4 or IPv6 by the addresses' length) with everyday
 * values: TTL / hop limit 64, DF, no options, lengths left to emitPacket. For tests and tools.
 */
export function ipReprOf(src: Uint8Array, dst: Uint8Array, protocol = IPPROTO_TCP): IpRepr {
  if (src.length === 16) {
    return {
      version: 6,
      src,
      dst,
      nextHeader: protocol,
      hopLimit: 64,
      trafficClass: 0,
      flowLabel: 0,
      payloadLen: 0,
    };
  }
  return {
    version: 4,
    src,
    dst,
    protocol,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 0,
    dontFrag: true,
    moreFrags: false,
    fragOffset: 0,
    options: new Uint8Array(0),
    payloadLen: 0,
  };
}

export function parsePacket(buf: Uint8Array, off = 0, len = buf.length - off): Packet | WireError {
  const v = new PacketView();
  const e = v.wrap(buf, off, len);
  if (e) return e;
  const ip: IpRepr =
    v.version === 4 ? { version: 4, ...ipv4ReprFrom(v.v4) } : { version: 6, ...ipv6ReprFrom(v.v6) };
  if (!v.isTcp) return { ip };
  const tcp = tcpReprFrom(v.tcp);
  if (tcp instanceof WireError) return tcp;
  return { ip, tcp };
}

/**
 * Writes the packet with consistent lengths and correct checksums: the IP payload length is taken
 * from the TCP segment when there is one. Returns the packet's length.
 */
export function emitPacket(p: Packet, buf: Uint8Array, off = 0): number {
  const ip = p.ip;
  const payloadLen = p.tcp ? tcpLen(p.tcp) : ip.payloadLen;
  if (ip.version === 4) {
    const hl = emitIpv4({ ...ip, payloadLen }, buf, off);
    if (p.tcp) emitTcp(p.tcp, buf, off + hl, pseudoSumV4(ip.src, 0, ip.dst, 0, ip.protocol, payloadLen));
    return hl + payloadLen;
  }
  emitIpv6({ ...ip, payloadLen }, buf, off);
  if (p.tcp)
    emitTcp(p.tcp, buf, off + IPV6_HEADER, pseudoSumV6(ip.src, 0, ip.dst, 0, ip.nextHeader, payloadLen));
  return IPV6_HEADER + payloadLen;
}

export function packetLen(p: Packet): number {
  const payloadLen = p.tcp ? tcpLen(p.tcp) : p.ip.payloadLen;
  return (p.ip.version === 4 ? IPV4_MIN_HEADER + p.ip.options.length : IPV6_HEADER) + payloadLen;
}
