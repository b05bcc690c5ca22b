// The internet checksum (RFC 1071) over byte ranges, the TCP/UDP pseudo-headers of IPv4
// (RFC 9293 section 3.1) and IPv6 (RFC 8200 section 8.1), and the MPTCP DSS checksum
// (RFC 8684 section 3.3.1). Sums are kept unfolded in a double (exact up to 2^53) and folded once.

/** Adds the 16-bit big-endian words of b[off, off+len) to `sum`; an odd last byte is padded with zero. */
export function sumWords(b: Uint8Array, off: number, len: number, sum = 0): number {
  let s = sum;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i === end) s += b[i] << 8;
  return s;
}

/** Folds an unfolded sum to 16 bits and complements it: the value to put in a checksum field. */
export function finish(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** The checksum of a range; a range that includes a correct checksum field gives 0. */
export function internetChecksum(b: Uint8Array, off: number, len: number): number {
  return finish(sumWords(b, off, len));
}

/** Pseudo-header sum for IPv4: source, destination, zero, protocol, upper-layer length. */
export function pseudoSumV4(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  proto: number,
  len: number,
): number {
  return sumWords(src, srcOff, 4, sumWords(dst, dstOff, 4)) + proto + len;
}

/** Pseudo-header sum for IPv6: source, destination, 32-bit length, zeros, next header. */
export function pseudoSumV6(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  proto: number,
  len: number,
): number {
  return (
    sumWords(src, srcOff, 16, sumWords(dst, dstOff, 16)) + Math.floor(len / 0x10000) + (len & 0xffff) + proto
  );
}

/**
 * RFC 8684 section 3.3.1: the DSS checksum covers the payload of the mapping and a pseudo-header of
 * the 64-bit data sequence number, the 32-bit subflow sequence number (relative to the subflow ISN),
 * the 16-bit data-level length and 16 zero bits, and it includes the checksum field itself (pass 0
 * when computing, the received value when verifying: a valid mapping then gives 0).
 */
export function dssChecksum(
  dsnHigh: number,
  dsnLow: number,
  ssn: number,
  dataLen: number,
  checksumField: number,
  payloadSum: number,
): number {
  const s =
    payloadSum +
    (dsnHigh >>> 16) +
    (dsnHigh & 0xffff) +
    (dsnLow >>> 16) +
    (dsnLow & 0xffff) +
    (ssn >>> 16) +
    (ssn & 0xffff) +
    dataLen +
    checksumField;
  return finish(s);
}
