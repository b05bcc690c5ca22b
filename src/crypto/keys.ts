// MPTCP key derivations (RFC 8684 section 3.1 and 3.2, HMAC-SHA256 as flag H selects): the token
// is the most significant 32 bits of SHA-256 over the 64-bit key, the initial data sequence number
// the least significant 64 bits. Keys travel as 8 bytes in network order.
import { createHash, randomFillSync } from 'node:crypto';

export const KEY_LEN = 8;

export interface Idsn {
  high: number;
  low: number;
}

function sha256(key: Uint8Array): Buffer {
  if (key.length !== KEY_LEN) throw new RangeError(`MPTCP key must be ${KEY_LEN} bytes, got ${key.length}`);
  return createHash('sha256').update(key).digest();
}

/** The connection token: top 32 bits of SHA-256(key). */
export function keyToken(key: Uint8Array): number {
  return sha256(key).readUInt32BE(0);
}

/** The initial data sequence number: low 64 bits of SHA-256(key), as two 32-bit halves. */
export function keyIdsn(key: Uint8Array): Idsn {
  const h = sha256(key);
  return { high: h.readUInt32BE(24), low: h.readUInt32BE(28) };
}

/** Both derivations from one hash. */
export function keyDerive(key: Uint8Array): { token: number; idsn: Idsn } {
  const h = sha256(key);
  return { token: h.readUInt32BE(0), idsn: { high: h.readUInt32BE(24), low: h.readUInt32BE(28) } };
}

/** A fresh random key (the caller draws again if its token collides, RFC 8684 section 3.1). */
export function randomKey(): Uint8Array {
  return randomFillSync(new Uint8Array(KEY_LEN));
}

/** Random bytes drawn in bulk for randomKeyInto: one system call per POOL_LEN / KEY_LEN keys. */
const POOL_LEN = 4096;
const pool = new Uint8Array(POOL_LEN);
let poolAt = POOL_LEN;

/**
 * A fresh random key written into `out` (KEY_LEN bytes), allocating nothing: for the key of
 * every SYN-cookie SYN/ACK of a flood. Each pool byte is handed out once.
 */
export function randomKeyInto(out: Uint8Array): Uint8Array {
  if (poolAt + KEY_LEN > POOL_LEN) {
    randomFillSync(pool);
    poolAt = 0;
  }
  for (let i = 0; i < KEY_LEN; i++) out[i] = pool[poolAt + i];
  pool.fill(0, poolAt, poolAt + KEY_LEN);
  poolAt += KEY_LEN;
  return out;
}
