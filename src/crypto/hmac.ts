// HMAC-SHA256 of MPTCP (RFC 8684 sections 3.2 and 3.4.1). The HMAC key is the two 64-bit keys
// concatenated, the sender's own key first: for MP_JOIN the message is the two nonces (the
// sender's first); for ADD_ADDR it is the address ID, the address and the port (two zero bytes
// when no port is sent).
import { createHmac } from 'node:crypto';
import { KEY_LEN } from './keys.js';

export function mptcpHmac(keyLocal: Uint8Array, keyRemote: Uint8Array, msg: Uint8Array): Buffer {
  if (keyLocal.length !== KEY_LEN || keyRemote.length !== KEY_LEN) {
    throw new RangeError(`MPTCP keys must be ${KEY_LEN} bytes`);
  }
  const key = Buffer.allocUnsafe(16);
  key.set(keyLocal, 0);
  key.set(keyRemote, 8);
  return createHmac('sha256', key).update(msg).digest();
}

function nonces(first: number, second: number): Buffer {
  const m = Buffer.allocUnsafe(8);
  m.writeUInt32BE(first >>> 0, 0);
  m.writeUInt32BE(second >>> 0, 4);
  return m;
}

/** The full 32-byte HMAC a host sends in MP_JOIN: its key first, its nonce first. */
export function joinHmac(
  keyLocal: Uint8Array,
  keyRemote: Uint8Array,
  nonceLocal: number,
  nonceRemote: number,
): Buffer {
  return mptcpHmac(keyLocal, keyRemote, nonces(nonceLocal, nonceRemote));
}

/** MP_JOIN SYN/ACK: the leftmost 64 bits of the responder's HMAC (RFC 8684 section 3.2). */
export function joinSynAckHmac(
  keyLocal: Uint8Array,
  keyRemote: Uint8Array,
  nonceLocal: number,
  nonceRemote: number,
): Buffer {
  return joinHmac(keyLocal, keyRemote, nonceLocal, nonceRemote).subarray(0, 8);
}

/** MP_JOIN third ACK: the leftmost 160 bits of the initiator's HMAC (RFC 8684 section 3.2). */
export function joinAckHmac(
  keyLocal: Uint8Array,
  keyRemote: Uint8Array,
  nonceLocal: number,
  nonceRemote: number,
): Buffer {
  return joinHmac(keyLocal, keyRemote, nonceLocal, nonceRemote).subarray(0, 20);
}

/** ADD_ADDR: the rightmost 64 bits of the HMAC over ID, address and port (RFC 8684 section 3.4.1). */
export function addAddrHmac(
  keyLocal: Uint8Array,
  keyRemote: Uint8Array,
  addressId: number,
  address: Uint8Array,
  port = 0,
): Buffer {
  const msg = Buffer.allocUnsafe(1 + address.length + 2);
  msg[0] = addressId;
  msg.set(address, 1);
  msg.writeUInt16BE(port, 1 + address.length);
  return mptcpHmac(keyLocal, keyRemote, msg).subarray(24, 32);
}

/** Constant-time comparison of a received (truncated) HMAC with the expected one. */
export function hmacEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
