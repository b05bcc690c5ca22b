// IPv6 header (RFC 8200): a zero-copy view and a plain-object form with parse and emit. Extension
// headers are not part of the plain form; upperLayer() walks past the common ones on receive.
import { copyOut, setU16, u16, u32 } from './bytes.js';
import { WireError } from './error.js';

export const IPV6_HEADER = 40;

const HOP_BY_HOP = 0;
const ROUTING = 43;
const FRAGMENT = 44;
const DEST_OPTS = 60;

export class Ipv6Packet {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  /** Header plus payload length as declared. */
  len = 0;

  /** Checks version 6 and that the declared payload length fits the buffer (RFC 8200 section 3). */
  wrap(buf: Uint8Array, off = 0, avail = buf.length - off): WireError | undefined {
    if (avail < IPV6_HEADER) return new WireError('truncated', `IPv6 header needs 40 bytes, have ${avail}`);
    if (buf[off] >> 4 !== 6) return new WireError('bad-version', `IP version ${buf[off] >> 4}, expected 6`);
    const plen = u16(buf, off + 4);
    if (IPV6_HEADER + plen > avail) {
      return new WireError(
        'truncated',
        `payload length ${plen} exceeds the ${avail - IPV6_HEADER} bytes received`,
      );
    }
    this.buf = buf;
    this.off = off;
    this.len = IPV6_HEADER + plen;
    return undefined;
  }

  get trafficClass(): number {
    return (u16(this.buf, this.off) >> 4) & 0xff;
  }
  get flowLabel(): number {
    return u32(this.buf, this.off) & 0xfffff;
  }
  get payloadLen(): number {
    return this.len - IPV6_HEADER;
  }
  get nextHeader(): number {
    return this.buf[this.off + 6];
  }
  get hopLimit(): number {
    return this.buf[this.off + 7];
  }
  get srcOff(): number {
    return this.off + 8;
  }
  get dstOff(): number {
    return this.off + 24;
  }
  get payloadOff(): number {
    return this.off + IPV6_HEADER;
  }

  /**
   * Walks hop-by-hop, routing, destination-options and fragment headers and returns the
   * upper-layer protocol and its offset, or an error when a header runs past the packet.
   * `out` is reused to avoid allocation: out[0] = protocol, out[1] = offset.
   */
  upperLayer(out: Int32Array): WireError | undefined {
    let nh = this.nextHeader;
    let o = this.payloadOff;
    const end = this.off + this.len;
    while (nh === HOP_BY_HOP || nh === ROUTING || nh === DEST_OPTS || nh === FRAGMENT) {
      if (o + 8 > end) return new WireError('truncated', 'IPv6 extension header past the end');
      const hlen = nh === FRAGMENT ? 8 : (this.buf[o + 1] + 1) * 8;
      if (o + hlen > end) return new WireError('truncated', 'IPv6 extension header past the end');
      nh = this.buf[o];
      o += hlen;
    }
    out[0] = nh;
    out[1] = o;
    return undefined;
  }
}

export interface Ipv6Repr {
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
}

export function ipv6ReprFrom(p: Ipv6Packet): Ipv6Repr {
  return {
    src: copyOut(p.buf, p.srcOff, 16),
    dst: copyOut(p.buf, p.dstOff, 16),
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
    payloadLen: p.payloadLen,
  };
}

export function parseIpv6(buf: Uint8Array, off = 0, avail = buf.length - off): Ipv6Repr | WireError {
  const p = new Ipv6Packet();
  return p.wrap(buf, off, avail) ?? ipv6ReprFrom(p);
}

/** Writes the 40-byte header at buf[off] and returns 40. */
export function emitIpv6(r: Ipv6Repr, buf: Uint8Array, off = 0): number {
  const w0 = (6 << 28) | ((r.trafficClass & 0xff) << 20) | (r.flowLabel & 0xfffff);
  buf[off] = w0 >>> 24;
  buf[off + 1] = w0 >>> 16;
  buf[off + 2] = w0 >>> 8;
  buf[off + 3] = w0;
  setU16(buf, off + 4, r.payloadLen);
  buf[off + 6] = r.nextHeader;
  buf[off + 7] = r.hopLimit;
  buf.set(r.src, off + 8);
  buf.set(r.dst, off + 24);
  return IPV6_HEADER;
}
