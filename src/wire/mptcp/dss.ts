// DSS, the Data Sequence Signal (RFC 8684 section 3.3): an optional data ACK (4 or 8 bytes), an
// optional mapping (data sequence number of 4 or 8 bytes, relative subflow sequence number,
// data-level length, and the checksum when negotiated), and the DATA_FIN flag. This is the one
// suboption on every data segment, so the view reads fields in place.
import { NO_BYTES, setU16, setU32, u16, u32 } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

/** Flag bits of byte 3 (RFC 8684 section 3.3, figure 9). */
export const DSS_FLAG = {
  /** A: data ACK present. */
  dataAck: 0x01,
  /** a: data ACK is 8 octets. */
  dataAck8: 0x02,
  /** M: DSN, subflow sequence number, data-level length (and checksum) present. */
  mapping: 0x04,
  /** m: DSN is 8 octets. */
  dsn8: 0x08,
  /** F: DATA_FIN. */
  dataFin: 0x10,
} as const;

/** Length of a DSS with these flags (a and m count only with A and M), without the checksum. */
export function dssBaseLen(flags: number): number {
  let n = 4;
  if (flags & DSS_FLAG.dataAck) n += flags & DSS_FLAG.dataAck8 ? 8 : 4;
  if (flags & DSS_FLAG.mapping) n += (flags & DSS_FLAG.dsn8 ? 8 : 4) + 6;
  return n;
}

export class DssView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;
  flags = 0;
  private ackOff = 0;
  private mapOff = 0;

  /** The length must be exactly what the flags imply, or 2 more when a mapping carries a checksum. */
  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n < 4) return new WireError('bad-option-length', `DSS length ${n}`);
    const flags = b[o + 3];
    const base = dssBaseLen(flags);
    if (n !== base && !(flags & DSS_FLAG.mapping && n === base + 2)) {
      return new WireError(
        'bad-option-length',
        `DSS length ${n} does not match flags 0x${flags.toString(16)}`,
      );
    }
    this.b = b;
    this.o = o;
    this.n = n;
    this.flags = flags;
    this.ackOff = o + 4;
    this.mapOff = flags & DSS_FLAG.dataAck ? this.ackOff + (flags & DSS_FLAG.dataAck8 ? 8 : 4) : this.ackOff;
    return undefined;
  }

  get dataFin(): boolean {
    return (this.flags & DSS_FLAG.dataFin) !== 0;
  }
  get hasDataAck(): boolean {
    return (this.flags & DSS_FLAG.dataAck) !== 0;
  }
  get dataAck8(): boolean {
    return (this.flags & (DSS_FLAG.dataAck | DSS_FLAG.dataAck8)) === (DSS_FLAG.dataAck | DSS_FLAG.dataAck8);
  }
  /** High 32 bits of an 8-byte data ACK (0 for a 4-byte one). */
  get dataAckHigh(): number {
    return this.dataAck8 ? u32(this.b, this.ackOff) : 0;
  }
  /** Low 32 bits of the data ACK. */
  get dataAckLow(): number {
    return u32(this.b, this.dataAck8 ? this.ackOff + 4 : this.ackOff);
  }
  get hasMapping(): boolean {
    return (this.flags & DSS_FLAG.mapping) !== 0;
  }
  get dsn8(): boolean {
    return (this.flags & (DSS_FLAG.mapping | DSS_FLAG.dsn8)) === (DSS_FLAG.mapping | DSS_FLAG.dsn8);
  }
  get dsnHigh(): number {
    return this.dsn8 ? u32(this.b, this.mapOff) : 0;
  }
  get dsnLow(): number {
    return u32(this.b, this.dsn8 ? this.mapOff + 4 : this.mapOff);
  }
  private get afterDsn(): number {
    return this.mapOff + (this.dsn8 ? 8 : 4);
  }
  /** Subflow sequence number relative to the subflow's initial sequence number. */
  get ssn(): number {
    return u32(this.b, this.afterDsn);
  }
  get dataLen(): number {
    return u16(this.b, this.afterDsn + 4);
  }
  get hasChecksum(): boolean {
    return this.hasMapping && this.n === dssBaseLen(this.flags) + 2;
  }
  get checksum(): number {
    return u16(this.b, this.afterDsn + 6);
  }
}

export interface Dss {
  type: 'dss';
  dataFin: boolean;
  /** Low 32 bits of the data ACK; absent when the option carries none. */
  dataAck?: number;
  /** High 32 bits; present exactly when the data ACK is 8 bytes on the wire. */
  dataAckHigh?: number;
  /** Low 32 bits of the mapping's DSN; absent when there is no mapping. */
  dsn?: number;
  /** High 32 bits; present exactly when the DSN is 8 bytes on the wire. */
  dsnHigh?: number;
  ssn?: number;
  dataLen?: number;
  /** Present exactly when the DSS checksum is in use. */
  checksum?: number;
}

export function dssFrom(v: DssView): Dss {
  const r: Dss = { type: 'dss', dataFin: v.dataFin };
  if (v.hasDataAck) {
    r.dataAck = v.dataAckLow;
    if (v.dataAck8) r.dataAckHigh = v.dataAckHigh;
  }
  if (v.hasMapping) {
    r.dsn = v.dsnLow;
    if (v.dsn8) r.dsnHigh = v.dsnHigh;
    r.ssn = v.ssn;
    r.dataLen = v.dataLen;
    if (v.hasChecksum) r.checksum = v.checksum;
  }
  return r;
}

export function dssFlags(r: Dss): number {
  let f = r.dataFin ? DSS_FLAG.dataFin : 0;
  if (r.dataAck !== undefined) f |= DSS_FLAG.dataAck | (r.dataAckHigh !== undefined ? DSS_FLAG.dataAck8 : 0);
  if (r.dsn !== undefined) f |= DSS_FLAG.mapping | (r.dsnHigh !== undefined ? DSS_FLAG.dsn8 : 0);
  return f;
}

export function dssLen(r: Dss): number {
  return dssBaseLen(dssFlags(r)) + (r.dsn !== undefined && r.checksum !== undefined ? 2 : 0);
}

export function emitDss(r: Dss, b: Uint8Array, off: number): number {
  const flags = dssFlags(r);
  const len = dssLen(r);
  let o = putHead(b, off, len, MPTCP_SUBTYPE.dss, 0);
  b[o++] = flags;
  if (r.dataAck !== undefined) {
    if (r.dataAckHigh !== undefined) {
      setU32(b, o, r.dataAckHigh);
      o += 4;
    }
    setU32(b, o, r.dataAck);
    o += 4;
  }
  if (r.dsn !== undefined) {
    if (r.dsnHigh !== undefined) {
      setU32(b, o, r.dsnHigh);
      o += 4;
    }
    setU32(b, o, r.dsn);
    setU32(b, o + 4, r.ssn ?? 0);
    setU16(b, o + 8, r.dataLen ?? 0);
    o += 10;
    if (r.checksum !== undefined) setU16(b, o, r.checksum);
  }
  return len;
}
