// TCP header (RFC 9293 section 3.1): a zero-copy view and a plain-object form with parse and emit.
// The checksum covers a pseudo-header that only the IP layer knows, so it is filled in or verified
// with a pseudo-header sum from checksum.ts.
import { copyOut, setU16, setU32, u16, u32 } from './bytes.js';
import { finish, sumWords } from './checksum.js';
import { WireError } from './error.js';
import { emitTcpOptions, parseTcpOptions, type TcpOption, tcpOptionsLen } from './tcp-options.js';

export const TCP_MIN_HEADER = 20;

/** Control bits; AE (formerly NS, RFC 3540) is the low bit of byte 12. */
export const TCP_FLAG = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ece: 0x40,
  cwr: 0x80,
  ae: 0x100,
} as const;

export class TcpPacket {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;

  /** Checks the data offset: at least 5 words and within the segment (RFC 9293 section 3.1). */
  wrap(buf: Uint8Array, off: number, len: number): WireError | undefined {
    if (len < TCP_MIN_HEADER) return new WireError('truncated', `TCP header needs 20 bytes, have ${len}`);
    const hl = (buf[off + 12] >> 4) * 4;
    if (hl < TCP_MIN_HEADER)
      return new WireError('bad-header-length', `TCP data offset ${hl >> 2} is below 5`);
    if (hl > len)
      return new WireError('truncated', `TCP data offset ${hl >> 2} words exceeds the ${len}-byte segment`);
    this.buf = buf;
    this.off = off;
    this.len = len;
    return undefined;
  }

  get srcPort(): number {
    return u16(this.buf, this.off);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + 2);
  }
  get seq(): number {
    return u32(this.buf, this.off + 4);
  }
  get ack(): number {
    return u32(this.buf, this.off + 8);
  }
  get headerLen(): number {
    return (this.buf[this.off + 12] >> 4) * 4;
  }
  get flags(): number {
    return ((this.buf[this.off + 12] & 1) << 8) | this.buf[this.off + 13];
  }
  get window(): number {
    return u16(this.buf, this.off + 14);
  }
  get checksum(): number {
    return u16(this.buf, this.off + 16);
  }
  get urgent(): number {
    return u16(this.buf, this.off + 18);
  }
  get optionsOff(): number {
    return this.off + TCP_MIN_HEADER;
  }
  get optionsLen(): number {
    return this.headerLen - TCP_MIN_HEADER;
  }
  get payloadOff(): number {
    return this.off + this.headerLen;
  }
  get payloadLen(): number {
    return this.len - this.headerLen;
  }
  /** True when the checksum over the segment and the given pseudo-header sum is correct. */
  verifyChecksum(pseudoSum: number): boolean {
    return finish(sumWords(this.buf, this.off, this.len, pseudoSum)) === 0;
  }
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  payload: Uint8Array;
}

export function tcpReprFrom(p: TcpPacket): TcpRepr | WireError {
  const options = parseTcpOptions(p.buf, p.optionsOff, p.optionsLen);
  if (options instanceof WireError) return options;
  return {
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    window: p.window,
    urgent: p.urgent,
    options,
    payload: copyOut(p.buf, p.payloadOff, p.payloadLen),
  };
}

export function parseTcp(buf: Uint8Array, off = 0, len = buf.length - off): TcpRepr | WireError {
  const p = new TcpPacket();
  return p.wrap(buf, off, len) ?? tcpReprFrom(p);
}

export function tcpLen(r: TcpRepr): number {
  return TCP_MIN_HEADER + tcpOptionsLen(r.options) + r.payload.length;
}

/**
 * Writes header, options and payload at buf[off] and returns the segment length. With a
 * pseudo-header sum the checksum is filled in; without, the field is left zero (for callers that
 * fill it later, or offload it).
 */
export function emitTcp(r: TcpRepr, buf: Uint8Array, off = 0, pseudoSum?: number): number {
  const optLen = emitTcpOptions(r.options, buf, off + TCP_MIN_HEADER);
  const hl = TCP_MIN_HEADER + optLen;
  setU16(buf, off, r.srcPort);
  setU16(buf, off + 2, r.dstPort);
  setU32(buf, off + 4, r.seq);
  setU32(buf, off + 8, r.ack);
  buf[off + 12] = ((hl >> 2) << 4) | ((r.flags >> 8) & 1);
  buf[off + 13] = r.flags;
  setU16(buf, off + 14, r.window);
  setU16(buf, off + 16, 0);
  setU16(buf, off + 18, r.urgent);
  buf.set(r.payload, off + hl);
  const len = hl + r.payload.length;
  if (pseudoSum !== undefined) setU16(buf, off + 16, finish(sumWords(buf, off, len, pseudoSum)));
  return len;
}
