// REMOVE_ADDR (RFC 8684 section 3.4.2): a list of one or more address IDs, one byte each.

import { NO_BYTES } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export class RemoveAddrView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n < 4) return new WireError('bad-option-length', `REMOVE_ADDR length ${n} lists no address ID`);
    this.b = b;
    this.o = o;
    this.n = n;
    return undefined;
  }
  get count(): number {
    return this.n - 3;
  }
  addressId(i: number): number {
    return this.b[this.o + 3 + i];
  }
}

export interface RemoveAddr {
  type: 'remove_addr';
  addressIds: number[];
}

export function removeAddrFrom(v: RemoveAddrView): RemoveAddr {
  const ids: number[] = [];
  for (let i = 0; i < v.count; i++) ids.push(v.addressId(i));
  return { type: 'remove_addr', addressIds: ids };
}

export function removeAddrLen(r: RemoveAddr): number {
  return 3 + r.addressIds.length;
}

export function emitRemoveAddr(r: RemoveAddr, b: Uint8Array, off: number): number {
  if (r.addressIds.length === 0 || r.addressIds.length > 37) {
    throw new RangeError('REMOVE_ADDR: 1 to 37 address IDs');
  }
  const len = removeAddrLen(r);
  const o = putHead(b, off, len, MPTCP_SUBTYPE.removeAddr, 0);
  for (let i = 0; i < r.addressIds.length; i++) b[o + i] = r.addressIds[i];
  return len;
}
