// Data sequence numbers (RFC 8684 section 3.3). On the wire a DSN or data ACK is 64 bits, or its
// low 32 bits; inside the core it is a plain number relative to the initial data sequence number
// (IDSN), which stays below 2^53 for any real connection (8 PB). This module converts between the
// two and expands truncated 32-bit values to the relative number nearest an expected one.
import type { Idsn } from '../crypto/keys.js';

const TWO32 = 0x1_0000_0000;

/** A 64-bit wire value as two 32-bit halves. */
export interface Wire64 {
  high: number;
  low: number;
}

/** The wire value of relative sequence number `rel` (IDSN + rel, modulo 2^64), also for rel < 0. */
export function toWire(idsn: Idsn, rel: number, out: Wire64 = { high: 0, low: 0 }): Wire64 {
  // rel may be a little below zero: TCP Fast Open data in a SYN lies just before IDSN + 1
  // (RFC 8684 appendix B.1). relLow is then taken in [0, 2^32) and relHigh one less.
  const relHigh = Math.floor(rel / TWO32);
  const relLow = rel - relHigh * TWO32;
  const low = idsn.low + relLow;
  out.low = low >>> 0;
  out.high = (idsn.high + relHigh + (low >= TWO32 ? 1 : 0)) >>> 0;
  return out;
}

/**
 * The relative number of a full 64-bit wire value, or -1 when it lies before the IDSN or 2^53 or
 * more after it (no real connection gets there: the value is bogus).
 */
export function fromWire(idsn: Idsn, high: number, low: number): number {
  let dLow = low - idsn.low;
  let borrow = 0;
  if (dLow < 0) {
    dLow += TWO32;
    borrow = 1;
  }
  const dHigh = (high - idsn.high - borrow + TWO32) % TWO32;
  if (dHigh >= 0x20_0000) return -1; // 2^53 / 2^32
  return dHigh * TWO32 + dLow;
}

/**
 * Expands the low 32 bits of a wire value (a 4-byte DSN or data ACK, RFC 8684 3.3.1: "the least
 * significant 4 octets") to the relative number closest to `near`, the value the receiver expects
 * (its next expected DSN, or the sender's snd.una); never below zero.
 */
export function expand32(idsn: Idsn, low32: number, near: number): number {
  const residue = (low32 - idsn.low + TWO32) % TWO32;
  // Candidates residue + k * 2^32; pick k nearest `near`.
  let k = Math.round((near - residue) / TWO32);
  if (k < 0) k = 0;
  return residue + k * TWO32;
}
