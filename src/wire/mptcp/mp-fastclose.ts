// MP_FASTCLOSE (RFC 8684 section 3.5): abrupt close of the whole connection, proven by the
// receiver's 64-bit key.
import { copyOut, NO_BYTES } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export const MP_FASTCLOSE_LEN = 12;

export class MpFastcloseView {
  b: Uint8Array = NO_BYTES;
  o = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n !== MP_FASTCLOSE_LEN) return new WireError('bad-option-length', `MP_FASTCLOSE length ${n}`);
    this.b = b;
    this.o = o;
    return undefined;
  }
  get keyOff(): number {
    return this.o + 4;
  }
}

export interface MpFastclose {
  type: 'mp_fastclose';
  receiverKey: Uint8Array;
}

export function mpFastcloseFrom(v: MpFastcloseView): MpFastclose {
  return { type: 'mp_fastclose', receiverKey: copyOut(v.b, v.keyOff, 8) };
}

export function emitMpFastclose(r: MpFastclose, b: Uint8Array, off: number): number {
  if (r.receiverKey.length !== 8) throw new RangeError('MP_FASTCLOSE: key must be 8 bytes');
  putHead(b, off, MP_FASTCLOSE_LEN, MPTCP_SUBTYPE.mpFastclose, 0);
  b[off + 3] = 0;
  b.set(r.receiverKey, off + 4);
  return MP_FASTCLOSE_LEN;
}
