// IPv4 header (RFC 791): a zero-copy view over received bytes, and a plain-object form with
// parse and emit. Options are carried as opaque bytes.
import { copyOut, setU16, u16, u32 } from './bytes.js';
import { internetChecksum } from './checksum.js';
import { WireError } from './error.js';

export const IPV4_MIN_HEADER = 20;

export class Ipv4Packet {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  /** Bytes of the packet as the header declares (total length), not the buffer's. */
  len = 0;

  /**
   * Points the view at buf[off, off+avail) and checks it: version 4, IHL of at least 5 words
   * (RFC 791 section 3.1), total length within the buffer and at least the header.
   */
  wrap(buf: Uint8Array, off = 0, avail = buf.length - off): WireError | undefined {
    if (avail < IPV4_MIN_HEADER)
      return new WireError('truncated', `IPv4 header needs 20 bytes, have ${avail}`);
    const vihl = buf[off];
    if (vihl >> 4 !== 4) return new WireError('bad-version', `IP version ${vihl >> 4}, expected 4`);
    const hl = (vihl & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER) return new WireError('bad-header-length', `IHL ${vihl & 0x0f} is below 5`);
    const total = u16(buf, off + 2);
    if (total < hl)
      return new WireError('bad-total-length', `total length ${total} is below header length ${hl}`);
    if (total > avail)
      return new WireError('truncated', `total length ${total} exceeds the ${avail} bytes received`);
    this.buf = buf;
    this.off = off;
    this.len = total;
    return undefined;
  }

  get headerLen(): number {
    return (this.buf[this.off] & 0x0f) * 4;
  }
  get dscp(): number {
    return this.buf[this.off + 1] >> 2;
  }
  get ecn(): number {
    return this.buf[this.off + 1] & 3;
  }
  get totalLength(): number {
    return this.len;
  }
  get ident(): number {
    return u16(this.buf, this.off + 4);
  }
  get dontFrag(): boolean {
    return (this.buf[this.off + 6] & 0x40) !== 0;
  }
  get moreFrags(): boolean {
    return (this.buf[this.off + 6] & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (u16(this.buf, this.off + 6) & 0x1fff) * 8;
  }
  get ttl(): number {
    return this.buf[this.off + 8];
  }
  get protocol(): number {
    return this.buf[this.off + 9];
  }
  get checksum(): number {
    return u16(this.buf, this.off + 10);
  }
  get srcOff(): number {
    return this.off + 12;
  }
  get dstOff(): number {
    return this.off + 16;
  }
  get src32(): number {
    return u32(this.buf, this.off + 12);
  }
  get dst32(): number {
    return u32(this.buf, this.off + 16);
  }
  get payloadOff(): number {
    return this.off + this.headerLen;
  }
  get payloadLen(): number {
    return this.len - this.headerLen;
  }
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.off, this.headerLen) === 0;
  }
}

export interface Ipv4Repr {
  src: Uint8Array;
  dst: Uint8Array;
  protocol: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  /** Options bytes, a multiple of 4 long, at most 40. */
  options: Uint8Array;
  payloadLen: number;
}

export function ipv4ReprFrom(p: Ipv4Packet): Ipv4Repr {
  return {
    src: copyOut(p.buf, p.srcOff, 4),
    dst: copyOut(p.buf, p.dstOff, 4),
    protocol: p.protocol,
    ttl: p.ttl,
    dscp: p.dscp,
    ecn: p.ecn,
    ident: p.ident,
    dontFrag: p.dontFrag,
    moreFrags: p.moreFrags,
    fragOffset: p.fragOffset,
    options: copyOut(p.buf, p.off + IPV4_MIN_HEADER, p.headerLen - IPV4_MIN_HEADER),
    payloadLen: p.payloadLen,
  };
}

export function parseIpv4(buf: Uint8Array, off = 0, avail = buf.length - off): Ipv4Repr | WireError {
  const p = new Ipv4Packet();
  return p.wrap(buf, off, avail) ?? ipv4ReprFrom(p);
}

export function ipv4HeaderLen(r: Ipv4Repr): number {
  return IPV4_MIN_HEADER + r.options.length;
}

/** Writes the header (checksum included) at buf[off] and returns its length. */
export function emitIpv4(r: Ipv4Repr, buf: Uint8Array, off = 0): number {
  if (r.options.length % 4 !== 0 || r.options.length > 40) {
    throw new RangeError(`IPv4 options must be a multiple of 4 bytes up to 40, got ${r.options.length}`);
  }
  const hl = ipv4HeaderLen(r);
  buf[off] = 0x40 | (hl >> 2);
  buf[off + 1] = (r.dscp << 2) | (r.ecn & 3);
  setU16(buf, off + 2, hl + r.payloadLen);
  setU16(buf, off + 4, r.ident);
  setU16(buf, off + 6, (r.dontFrag ? 0x4000 : 0) | (r.moreFrags ? 0x2000 : 0) | (r.fragOffset >> 3));
  buf[off + 8] = r.ttl;
  buf[off + 9] = r.protocol;
  setU16(buf, off + 10, 0);
  buf.set(r.src, off + 12);
  buf.set(r.dst, off + 16);
  buf.set(r.options, off + 20);
  setU16(buf, off + 10, internetChecksum(buf, off, hl));
  return hl;
}
