// Big-endian field access on byte arrays, without DataView or allocation. Callers check bounds
// once per structure (in the view's wrap) and then read fields freely.

export function u16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** Copies `src` into `b` at `o` and returns the offset after it. */
export function put(b: Uint8Array, o: number, src: Uint8Array): number {
  b.set(src, o);
  return o + src.length;
}

/**
 * A copy of `len` bytes at `o` as a plain Uint8Array (for plain-object forms, which must not alias
 * the packet). Not `b.slice()`: on a Node Buffer that is a view into the same memory, which a
 * driver reuses for the next batch of packets.
 */
export function copyOut(b: Uint8Array, o: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(b.subarray(o, o + len));
  return out;
}

/** Whether two byte strings are equal (addresses, keys). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `a` equals the bytes of `buf` at `off` (an address in a packet, without copying it). */
export function bytesEqualAt(a: Uint8Array, buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}

/** The one empty byte array: what an unwrapped view or an unallocated buffer points at, so each
 * per-connection object does not carry an empty array (and its ArrayBuffer) of its own. */
export const NO_BYTES = new Uint8Array(0);
