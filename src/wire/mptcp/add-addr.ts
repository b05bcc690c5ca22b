// ADD_ADDR (RFC 8684 section 3.4.1): the echo flag E, an address ID, an IPv4 or IPv6 address, an
// optional port, and (when not an echo) the truncated HMAC of 64 bits. The address family and the
// presence of port and HMAC follow from the length: 8/10/16/18 for IPv4, 20/22/28/30 for IPv6.
import { copyOut, NO_BYTES, u16 } from '../bytes.js';
import { WireError } from '../error.js';
import { MPTCP_SUBTYPE, putHead } from './subtype.js';

interface Layout {
  addrLen: 4 | 16;
  port: boolean;
  hmac: boolean;
}

const LAYOUTS = new Map<number, Layout>([
  [8, { addrLen: 4, port: false, hmac: false }],
  [10, { addrLen: 4, port: true, hmac: false }],
  [16, { addrLen: 4, port: false, hmac: true }],
  [18, { addrLen: 4, port: true, hmac: true }],
  [20, { addrLen: 16, port: false, hmac: false }],
  [22, { addrLen: 16, port: true, hmac: false }],
  [28, { addrLen: 16, port: false, hmac: true }],
  [30, { addrLen: 16, port: true, hmac: true }],
]);

export class AddAddrView {
  b: Uint8Array = NO_BYTES;
  o = 0;
  n = 0;
  private layout: Layout = LAYOUTS.get(8)!;

  wrap(b: Uint8Array, o: number, n: number): WireError | undefined {
    const layout = LAYOUTS.get(n);
    if (!layout) return new WireError('bad-option-length', `ADD_ADDR length ${n}`);
    this.b = b;
    this.o = o;
    this.n = n;
    this.layout = layout;
    return undefined;
  }
  get echo(): boolean {
    return (this.b[this.o + 2] & 0x01) !== 0;
  }
  get addressId(): number {
    return this.b[this.o + 3];
  }
  get addrOff(): number {
    return this.o + 4;
  }
  get addrLen(): 4 | 16 {
    return this.layout.addrLen;
  }
  get hasPort(): boolean {
    return this.layout.port;
  }
  get port(): number {
    return u16(this.b, this.o + 4 + this.layout.addrLen);
  }
  get hasHmac(): boolean {
    return this.layout.hmac;
  }
  get hmacOff(): number {
    return this.o + this.n - 8;
  }
}

export interface AddAddr {
  type: 'add_addr';
  echo: boolean;
  addressId: number;
  /** 4 bytes (IPv4) or 16 (IPv6). */
  address: Uint8Array;
  port?: number;
  /** The truncated HMAC, 8 bytes (RFC 8684: absent on an echo). */
  hmac?: Uint8Array;
}

export function addAddrFrom(v: AddAddrView): AddAddr {
  const r: AddAddr = {
    type: 'add_addr',
    echo: v.echo,
    addressId: v.addressId,
    address: copyOut(v.b, v.addrOff, v.addrLen),
  };
  if (v.hasPort) r.port = v.port;
  if (v.hasHmac) r.hmac = copyOut(v.b, v.hmacOff, 8);
  return r;
}

export function addAddrLen(r: AddAddr): number {
  return 4 + r.address.length + (r.port !== undefined ? 2 : 0) + (r.hmac ? 8 : 0);
}

export function emitAddAddr(r: AddAddr, b: Uint8Array, off: number): number {
  if (r.address.length !== 4 && r.address.length !== 16)
    throw new RangeError('ADD_ADDR: address must be 4 or 16 bytes');
  if (r.hmac && r.hmac.length !== 8) throw new RangeError('ADD_ADDR: HMAC must be 8 bytes');
  const len = addAddrLen(r);
  let o = putHead(b, off, len, MPTCP_SUBTYPE.addAddr, r.echo ? 1 : 0);
  b[o++] = r.addressId;
  b.set(r.address, o);
  o += r.address.length;
  if (r.port !== undefined) {
    b[o++] = r.port >>> 8;
    b[o++] = r.port;
  }
  if (r.hmac) b.set(r.hmac, o);
  return len;
}
