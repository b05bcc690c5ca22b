// MP_TCPRST (RFC 8684 section 3.6): why a subflow was reset. Flags U, V, W (reserved) and T
// (transient: the sender may accept the subflow again later), and a reason code.

import { NO_BYTES } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export const MP_TCPRST_LEN = 4;

/** Reason codes (RFC 8684 section 3.6). */
export const TCPRST_REASON = {
  unspecified: 0x00,
  mptcpError: 0x01,
  lackOfResources: 0x02,
  administrativelyProhibited: 0x03,
  tooMuchOutstandingData: 0x04,
  unacceptablePerformance: 0x05,
  middleboxInterference: 0x06,
} as const;

/** T flag: the error is transient. */
export const TCPRST_TRANSIENT = 0x01;

export class MpTcprstView {
  b: Uint8Array = NO_BYTES;
  o = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n !== MP_TCPRST_LEN) return new WireError('bad-option-length', `MP_TCPRST length ${n}`);
    this.b = b;
    this.o = o;
    return undefined;
  }
  /** U, V, W, T in the low nibble of byte 2. */
  get flags(): number {
    return this.b[this.o + 2] & 0x0f;
  }
  get transient(): boolean {
    return (this.flags & TCPRST_TRANSIENT) !== 0;
  }
  get reason(): number {
    return this.b[this.o + 3];
  }
}

export interface MpTcprst {
  type: 'mp_tcprst';
  flags: number;
  reason: number;
}

export function mpTcprstFrom(v: MpTcprstView): MpTcprst {
  return { type: 'mp_tcprst', flags: v.flags, reason: v.reason };
}

export function emitMpTcprst(r: MpTcprst, b: Uint8Array, off: number): number {
  putHead(b, off, MP_TCPRST_LEN, MPTCP_SUBTYPE.mpTcprst, r.flags);
  b[off + 3] = r.reason;
  return MP_TCPRST_LEN;
}
