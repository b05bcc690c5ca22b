// MP_FAIL (RFC 8684 section 3.7): a checksum failure at the given 64-bit data sequence number.
import { NO_BYTES, setU32, u32 } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export const MP_FAIL_LEN = 12;

export class MpFailView {
  b: Uint8Array = NO_BYTES;
  o = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n !== MP_FAIL_LEN) return new WireError('bad-option-length', `MP_FAIL length ${n}`);
    this.b = b;
    this.o = o;
    return undefined;
  }
  get dsnHigh(): number {
    return u32(this.b, this.o + 4);
  }
  get dsnLow(): number {
    return u32(this.b, this.o + 8);
  }
}

export interface MpFail {
  type: 'mp_fail';
  dsnHigh: number;
  dsn: number;
}

export function mpFailFrom(v: MpFailView): MpFail {
  return { type: 'mp_fail', dsnHigh: v.dsnHigh, dsn: v.dsnLow };
}

export function emitMpFail(r: MpFail, b: Uint8Array, off: number): number {
  putHead(b, off, MP_FAIL_LEN, MPTCP_SUBTYPE.mpFail, 0);
  b[off + 3] = 0;
  setU32(b, off + 4, r.dsnHigh);
  setU32(b, off + 8, r.dsn);
  return MP_FAIL_LEN;
}
