// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash
// for short inputs, computed on 32-bit halves of its 64-bit words in a fixed state array, so a
// call allocates nothing (no Buffer, no bigint). The SYN-cookie MAC uses it for every SYN of a
// flood (src/tcp/syncookie.ts).

/** A 128-bit key as four 32-bit words: k0 low, k0 high, k1 low, k1 high (bytes little-endian). */
export type SipKey = Uint32Array;

/** The key from the first 16 bytes of `bytes`, read little-endian as the reference code does. */
export function sipKey(bytes: Uint8Array): SipKey {
  if (bytes.length < 16) throw new RangeError('a SipHash key is 16 bytes');
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) k[i] = readLe32(bytes, 4 * i);
  return k;
}

/** v0..v3 as (low, high) pairs: v[0] v0 low, v[1] v0 high, ... v[7] v3 high. */
const v = new Uint32Array(8);

/** The last result's 64 bits: [0] low half, [1] high half. */
export const sipOut = new Uint32Array(2);

function readLe32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** v[a] += v[b] (64-bit, mod 2^64). */
function add(a: number, b: number): void {
  const lo = (v[a] + v[b]) >>> 0;
  v[a + 1] = v[a + 1] + v[b + 1] + (lo < v[a] ? 1 : 0);
  v[a] = lo;
}

/** v[a] = (v[a] <<< n) ^ v[b], for 0 < n < 32. */
function rotXor(a: number, n: number, b: number): void {
  const lo = v[a];
  const hi = v[a + 1];
  v[a] = ((lo << n) | (hi >>> (32 - n))) ^ v[b];
  v[a + 1] = ((hi << n) | (lo >>> (32 - n))) ^ v[b + 1];
}

/** v[a] <<< 32. */
function swap(a: number): void {
  const lo = v[a];
  v[a] = v[a + 1];
  v[a + 1] = lo;
}

function sipRound(): void {
  add(0, 2);
  rotXor(2, 13, 0);
  swap(0);
  add(4, 6);
  rotXor(6, 16, 4);
  add(0, 6);
  rotXor(6, 21, 0);
  add(4, 2);
  rotXor(2, 17, 4);
  swap(4);
}

/** One message word (ml, mh): two compression rounds. */
function compress(ml: number, mh: number): void {
  v[6] ^= ml;
  v[7] ^= mh;
  sipRound();
  sipRound();
  v[0] ^= ml;
  v[1] ^= mh;
}

/**
 * SipHash-2-4 of msg[off, off + len) under `key`. The 64 bits are left in sipOut; the high half
 * is returned for callers that take 32 bits.
 */
export function sipHash24(key: SipKey, msg: Uint8Array, off: number, len: number): number {
  // v0..v3 = k0, k1, k0, k1 xor "somepseudorandomlygeneratedbytes"
  v[0] = key[0] ^ 0x70736575;
  v[1] = key[1] ^ 0x736f6d65;
  v[2] = key[2] ^ 0x6e646f6d;
  v[3] = key[3] ^ 0x646f7261;
  v[4] = key[0] ^ 0x6e657261;
  v[5] = key[1] ^ 0x6c796765;
  v[6] = key[2] ^ 0x79746573;
  v[7] = key[3] ^ 0x74656462;
  const full = off + (len & ~7);
  let p = off;
  for (; p < full; p += 8) compress(readLe32(msg, p), readLe32(msg, p + 4));
  // The last word: the remaining bytes, and the length's low byte in its top byte.
  let ml = 0;
  let mh = (len & 0xff) << 24;
  for (let i = 0; p + i < off + len; i++) {
    if (i < 4) ml |= msg[p + i] << (8 * i);
    else mh |= msg[p + i] << (8 * (i - 4));
  }
  compress(ml >>> 0, mh >>> 0);
  v[4] ^= 0xff;
  for (let r = 0; r < 4; r++) sipRound();
  sipOut[0] = v[0] ^ v[2] ^ v[4] ^ v[6];
  sipOut[1] = v[1] ^ v[3] ^ v[5] ^ v[7];
  return sipOut[1];
}
