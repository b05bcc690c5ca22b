// The source a TCP stack or an MPTCP endpoint draws its secrets and nonces from (ISN and SYN-cookie
// secrets, the first ephemeral port, congestion-control seeds, MPTCP keys and join nonces): the system's CSPRNG unless the
// owner passes another, as a simulation does with a stream from its seed so that its runs repeat.
import { randomFillSync } from 'node:crypto';

/** Fills `out` with random bytes and returns it. */
export type RandomFill = (out: Uint8Array) => Uint8Array;

/** The system's cryptographically secure generator. */
export const systemRandom: RandomFill = (out) => randomFillSync(out);

const u32Scratch = new Uint8Array(4);

/** A uniform unsigned 32-bit integer from `fill`. */
export function randomU32(fill: RandomFill): number {
  const b = fill(u32Scratch);
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}
