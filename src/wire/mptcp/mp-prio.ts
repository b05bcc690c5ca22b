// MP_PRIO (RFC 8684 section 3.3.8): change the backup priority of the subflow it is sent on.
// Length 3 in v1; the v0 form (RFC 6824) with an address ID, length 4, is accepted too.

import { NO_BYTES } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export class MpPrioView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n !== 3 && n !== 4) return new WireError('bad-option-length', `MP_PRIO length ${n}`);
    this.b = b;
    this.o = o;
    this.n = n;
    return undefined;
  }
  get backup(): boolean {
    return (this.b[this.o + 2] & 0x01) !== 0;
  }
  get hasAddressId(): boolean {
    return this.n === 4;
  }
  get addressId(): number {
    return this.b[this.o + 3];
  }
}

export interface MpPrio {
  type: 'mp_prio';
  backup: boolean;
  /** Only in the RFC 6824 form. */
  addressId?: number;
}

export function mpPrioFrom(v: MpPrioView): MpPrio {
  const r: MpPrio = { type: 'mp_prio', backup: v.backup };
  if (v.hasAddressId) r.addressId = v.addressId;
  return r;
}

export function mpPrioLen(r: MpPrio): number {
  return r.addressId !== undefined ? 4 : 3;
}

export function emitMpPrio(r: MpPrio, b: Uint8Array, off: number): number {
  const len = mpPrioLen(r);
  putHead(b, off, len, MPTCP_SUBTYPE.mpPrio, r.backup ? 1 : 0);
  if (r.addressId !== undefined) b[off + 3] = r.addressId;
  return len;
}
