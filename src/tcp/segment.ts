// One TCP segment at the edge of the socket: the fields and options of a received segment read
// once into a reusable record (no allocation per packet), and the writer of outgoing segments
// with their IP header, options and checksum.
import { setU16, setU32 } from '../wire/bytes.js';
import { finish, pseudoSumV4, pseudoSumV6, sumWords } from '../wire/checksum.js';
import type { WireError } from '../wire/error.js';
import { IPPROTO_TCP, type PacketView } from '../wire/packet.js';
import { TCPOPT, TcpOptionCursor } from '../wire/tcp-options.js';

/** Fields of a received segment. Reused: valid until the next segment is read. */
export class SegmentIn {
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  /** Payload length (not counting SYN/FIN). */
  len = 0;
  payloadOff = 0;
  buf: Uint8Array = new Uint8Array(0);
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  hasTs = false;
  tsval = 0;
  tsecr = 0;
  /** Offsets of the SACK blocks' bytes (left edge of block 0) and the block count. */
  sackOff = 0;
  sackCount = 0;
  /** The Fast Open option (RFC 7413): offset of its cookie bytes and their count (0: a cookie request), or -1. */
  tfoOff = 0;
  tfoLen = -1;
  /** Offsets of MPTCP options in `buf`, for the MPTCP layer (up to 4). */
  readonly mptcpOff = new Int32Array(4);
  readonly mptcpLen = new Int32Array(4);
  mptcpCount = 0;
  private readonly cursor = new TcpOptionCursor();

  /** Reads the TCP segment of a wrapped packet; returns an error for malformed options. */
  read(p: PacketView): WireError | undefined {
    const t = p.tcp;
    this.buf = t.buf;
    this.seq = t.seq;
    this.ack = t.ack;
    this.flags = t.flags;
    this.window = t.window;
    this.len = t.payloadLen;
    this.payloadOff = t.payloadOff;
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.hasTs = false;
    this.sackCount = 0;
    this.tfoLen = -1;
    this.mptcpCount = 0;
    const c = this.cursor.reset(t.buf, t.optionsOff, t.optionsLen);
    while (c.next()) {
      switch (c.kind) {
        case TCPOPT.mss:
          this.mss = c.mss;
          break;
        case TCPOPT.windowScale:
          this.wscale = c.windowShift;
          break;
        case TCPOPT.sackPermitted:
          this.sackPermitted = true;
          break;
        case TCPOPT.timestamp:
          this.hasTs = true;
          this.tsval = c.tsval;
          this.tsecr = c.tsecr;
          break;
        case TCPOPT.sack:
          this.sackOff = c.o + 2;
          this.sackCount = c.sackBlocks;
          break;
        case TCPOPT.fastOpen:
          this.tfoOff = c.o + 2;
          this.tfoLen = c.n - 2;
          break;
        case TCPOPT.mptcp:
          if (this.mptcpCount < 4) {
            this.mptcpOff[this.mptcpCount] = c.o;
            this.mptcpLen[this.mptcpCount++] = c.n;
          }
          break;
      }
    }
    return c.error;
  }

  /** Sequence space the segment occupies (payload plus SYN and FIN). */
  get seqLen(): number {
    return this.len + (this.flags & 0x02 ? 1 : 0) + (this.flags & 0x01 ? 1 : 0);
  }
}

/** Addresses and ports of a connection, as the socket and the stack see them. */
export interface FourTuple {
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
}

let ipIdent = 0;

/**
 * Writes the IP header for a TCP segment of `tcpLen` bytes from `src` to `dst` (4 or 16 bytes)
 * and returns the header length; the TCP segment follows it.
 */
export function writeIpHeader(buf: Uint8Array, src: Uint8Array, dst: Uint8Array, tcpLen: number): number {
  if (src.length === 4) {
    buf[0] = 0x45;
    buf[1] = 0;
    setU16(buf, 2, 20 + tcpLen);
    ipIdent = (ipIdent + 1) & 0xffff;
    setU16(buf, 4, ipIdent);
    setU16(buf, 6, 0x4000); // DF
    buf[8] = 64;
    buf[9] = IPPROTO_TCP;
    setU16(buf, 10, 0);
    buf.set(src, 12);
    buf.set(dst, 16);
    setU16(buf, 10, finish(sumWords(buf, 0, 20)));
    return 20;
  }
  setU32(buf, 0, 0x60000000);
  setU16(buf, 4, tcpLen);
  buf[6] = IPPROTO_TCP;
  buf[7] = 64;
  buf.set(src, 8);
  buf.set(dst, 24);
  return 40;
}

/** Fills the TCP checksum of the segment at buf[off, off+len). */
export function fillTcpChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  dst: Uint8Array,
): void {
  const ps =
    src.length === 4
      ? pseudoSumV4(src, 0, dst, 0, IPPROTO_TCP, len)
      : pseudoSumV6(src, 0, dst, 0, IPPROTO_TCP, len);
  setU16(buf, off + 16, 0);
  setU16(buf, off + 16, finish(sumWords(buf, off, len, ps)));
}

/** Writes the fixed TCP header fields at buf[off] (checksum zero); returns off + 20. */
export function writeTcpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  seq: number,
  ack: number,
  headerLen: number,
  flags: number,
  window: number,
): number {
  setU16(buf, off, srcPort);
  setU16(buf, off + 2, dstPort);
  setU32(buf, off + 4, seq);
  setU32(buf, off + 8, ack);
  buf[off + 12] = (headerLen >> 2) << 4;
  buf[off + 13] = flags;
  setU16(buf, off + 14, window);
  setU32(buf, off + 16, 0);
  return off + 20;
}

/**
 * SYN and SYN/ACK options in Linux's order: MSS, SACK-permitted, timestamps, NOP, window scale
 * (`wscale` -1: none). Returns the offset after them.
 */
export function writeSynOptionList(
  buf: Uint8Array,
  off: number,
  mss: number,
  sack: boolean,
  ts: boolean,
  tsval: number,
  tsecr: number,
  wscale: number,
): number {
  let o = off;
  buf[o] = TCPOPT.mss;
  buf[o + 1] = 4;
  setU16(buf, o + 2, mss);
  o += 4;
  if (sack && ts) {
    buf[o] = TCPOPT.sackPermitted;
    buf[o + 1] = 2;
    o += 2;
  } else if (ts) {
    buf[o] = 1;
    buf[o + 1] = 1;
    o += 2;
  } else if (sack) {
    buf[o] = 1;
    buf[o + 1] = 1;
    buf[o + 2] = TCPOPT.sackPermitted;
    buf[o + 3] = 2;
    o += 4;
  }
  if (ts) {
    buf[o] = TCPOPT.timestamp;
    buf[o + 1] = 10;
    setU32(buf, o + 2, tsval >>> 0);
    setU32(buf, o + 6, tsecr >>> 0);
    o += 10;
  }
  if (wscale >= 0) {
    buf[o] = 1;
    buf[o + 1] = TCPOPT.windowScale;
    buf[o + 2] = 3;
    buf[o + 3] = wscale;
    o += 4;
  }
  return o;
}

/** Milliseconds as the 32-bit timestamp clock (RFC 7323 section 5.4: 1 ms ticks). */
export function tsClock(now: number, offset: number): number {
  return (Math.floor(now) + offset) >>> 0;
}

/** Writes the timestamps option (RFC 7323 3.2: kind 8, length 10) at buf[off]; returns off + 10. */
export function writeTimestamps(buf: Uint8Array, off: number, tsval: number, tsecr: number): number {
  buf[off] = 8;
  buf[off + 1] = 10;
  setU32(buf, off + 2, tsval);
  setU32(buf, off + 6, tsecr);
  return off + 10;
}
