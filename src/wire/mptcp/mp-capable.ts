// MP_CAPABLE (RFC 8684 section 3.1): version, flags A..H, and depending on the packet no key (SYN,
// length 4), the sender's key (SYN/ACK, 12), both keys (third ACK, 20), or both keys with the
// data-level length of the data it carries (22) and the DSS checksum (24).
import { copyOut, NO_BYTES } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

/** Flag bits of byte 3 (RFC 8684 section 3.1). */
export const MPC_FLAG = {
  /** A: checksum required. */
  checksum: 0x80,
  /** B: extensibility, must be 0 in v1. */
  extensibility: 0x40,
  /** C: do not establish new subflows to the source address. */
  noNewSubflowsToSource: 0x20,
  /** H: HMAC-SHA256. */
  hmacSha256: 0x01,
} as const;

const VALID_LENGTHS = [4, 12, 20, 22, 24];

export class MpCapableView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;

  /** `o` is the offset of the option's kind byte, `n` its length field. */
  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (!VALID_LENGTHS.includes(n)) return new WireError('bad-option-length', `MP_CAPABLE length ${n}`);
    this.b = b;
    this.o = o;
    this.n = n;
    return undefined;
  }
  get version(): number {
    return this.b[this.o + 2] & 0x0f;
  }
  get flags(): number {
    return this.b[this.o + 3];
  }
  get hasSenderKey(): boolean {
    return this.n >= 12;
  }
  get hasReceiverKey(): boolean {
    return this.n >= 20;
  }
  get hasDataLen(): boolean {
    return this.n >= 22;
  }
  get hasChecksum(): boolean {
    return this.n === 24;
  }
  /** Offset of the sender's key (8 bytes). */
  get senderKeyOff(): number {
    return this.o + 4;
  }
  get receiverKeyOff(): number {
    return this.o + 12;
  }
  get dataLen(): number {
    return (this.b[this.o + 20] << 8) | this.b[this.o + 21];
  }
  get checksum(): number {
    return (this.b[this.o + 22] << 8) | this.b[this.o + 23];
  }
}

export interface MpCapable {
  type: 'mp_capable';
  version: number;
  flags: number;
  senderKey?: Uint8Array;
  receiverKey?: Uint8Array;
  dataLen?: number;
  checksum?: number;
}

export function mpCapableFrom(v: MpCapableView): MpCapable {
  const r: MpCapable = { type: 'mp_capable', version: v.version, flags: v.flags };
  if (v.hasSenderKey) r.senderKey = copyOut(v.b, v.senderKeyOff, 8);
  if (v.hasReceiverKey) r.receiverKey = copyOut(v.b, v.receiverKeyOff, 8);
  if (v.hasDataLen) r.dataLen = v.dataLen;
  if (v.hasChecksum) r.checksum = v.checksum;
  return r;
}

export function mpCapableLen(r: MpCapable): number {
  if (r.checksum !== undefined) return 24;
  if (r.dataLen !== undefined) return 22;
  if (r.receiverKey) return 20;
  if (r.senderKey) return 12;
  return 4;
}

export function emitMpCapable(r: MpCapable, b: Uint8Array, off: number): number {
  const len = mpCapableLen(r);
  if ((len >= 12 && r.senderKey?.length !== 8) || (len >= 20 && r.receiverKey?.length !== 8)) {
    throw new RangeError('MP_CAPABLE: keys must be 8 bytes, and a receiver key needs a sender key');
  }
  let o = putHead(b, off, len, MPTCP_SUBTYPE.mpCapable, r.version);
  b[o++] = r.flags;
  if (len >= 12) b.set(r.senderKey!, o);
  if (len >= 20) b.set(r.receiverKey!, o + 8);
  o += len >= 20 ? 16 : len >= 12 ? 8 : 0;
  if (len >= 22) {
    b[o++] = r.dataLen! >>> 8;
    b[o++] = r.dataLen!;
  }
  if (len === 24) {
    b[o++] = r.checksum! >>> 8;
    b[o++] = r.checksum!;
  }
  return len;
}
