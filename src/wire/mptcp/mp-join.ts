// MP_JOIN (RFC 8684 section 3.2): three forms told apart by length. SYN (12): backup bit, address
// ID, the receiver's token and the sender's nonce. SYN/ACK (16): backup bit, address ID, the
// leftmost 64 bits of the sender's HMAC and its nonce. ACK (24): the leftmost 160 bits of the HMAC.
import { copyOut, NO_BYTES, setU32, u32 } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

export const MP_JOIN_SYN_LEN = 12;
export const MP_JOIN_SYNACK_LEN = 16;
export const MP_JOIN_ACK_LEN = 24;

export class MpJoinView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    if (n !== MP_JOIN_SYN_LEN && n !== MP_JOIN_SYNACK_LEN && n !== MP_JOIN_ACK_LEN) {
      return new WireError('bad-option-length', `MP_JOIN length ${n}`);
    }
    this.b = b;
    this.o = o;
    this.n = n;
    return undefined;
  }
  get form(): 'syn' | 'synack' | 'ack' {
    return this.n === MP_JOIN_SYN_LEN ? 'syn' : this.n === MP_JOIN_SYNACK_LEN ? 'synack' : 'ack';
  }
  get backup(): boolean {
    return (this.b[this.o + 2] & 0x01) !== 0;
  }
  get addressId(): number {
    return this.b[this.o + 3];
  }
  /** SYN only. */
  get token(): number {
    return u32(this.b, this.o + 4);
  }
  /** SYN: bytes 8..11; SYN/ACK: bytes 12..15. */
  get nonce(): number {
    return u32(this.b, this.o + (this.n === MP_JOIN_SYN_LEN ? 8 : 12));
  }
  /** SYN/ACK: 8 bytes at 4; ACK: 20 bytes at 4. */
  get hmacOff(): number {
    return this.o + 4;
  }
  get hmacLen(): number {
    return this.n === MP_JOIN_SYNACK_LEN ? 8 : 20;
  }
}

export type MpJoin =
  | { type: 'mp_join'; form: 'syn'; backup: boolean; addressId: number; token: number; nonce: number }
  | { type: 'mp_join'; form: 'synack'; backup: boolean; addressId: number; hmac: Uint8Array; nonce: number }
  | { type: 'mp_join'; form: 'ack'; hmac: Uint8Array };

export function mpJoinFrom(v: MpJoinView): MpJoin {
  switch (v.form) {
    case 'syn':
      return {
        type: 'mp_join',
        form: 'syn',
        backup: v.backup,
        addressId: v.addressId,
        token: v.token,
        nonce: v.nonce,
      };
    case 'synack':
      return {
        type: 'mp_join',
        form: 'synack',
        backup: v.backup,
        addressId: v.addressId,
        hmac: copyOut(v.b, v.hmacOff, 8),
        nonce: v.nonce,
      };
    default:
      return { type: 'mp_join', form: 'ack', hmac: copyOut(v.b, v.hmacOff, 20) };
  }
}

export function mpJoinLen(r: MpJoin): number {
  return r.form === 'syn' ? MP_JOIN_SYN_LEN : r.form === 'synack' ? MP_JOIN_SYNACK_LEN : MP_JOIN_ACK_LEN;
}

export function emitMpJoin(r: MpJoin, b: Uint8Array, off: number): number {
  const len = mpJoinLen(r);
  if (r.form === 'ack') {
    if (r.hmac.length !== 20) throw new RangeError('MP_JOIN ACK: HMAC must be 20 bytes');
    putHead(b, off, len, MPTCP_SUBTYPE.mpJoin, 0);
    b[off + 3] = 0;
    b.set(r.hmac, off + 4);
    return len;
  }
  putHead(b, off, len, MPTCP_SUBTYPE.mpJoin, r.backup ? 1 : 0);
  b[off + 3] = r.addressId;
  if (r.form === 'syn') {
    setU32(b, off + 4, r.token);
    setU32(b, off + 8, r.nonce);
  } else {
    if (r.hmac.length !== 8) throw new RangeError('MP_JOIN SYN/ACK: HMAC must be 8 bytes');
    b.set(r.hmac, off + 4);
    setU32(b, off + 12, r.nonce);
  }
  return len;
}
