// Congestion controllers by name (config: `congestionControl`).
import { Bbr } from './bbr.js';
import type { CongestionController } from './congestion.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export type { CongestionController, PathEstimate, RttView } from './congestion.js';
export type CongestionControlName = 'cubic' | 'newreno' | 'bbr';

/** The names, for configuration schemas. */
export const CONGESTION_CONTROL_NAMES: readonly CongestionControlName[] = ['cubic', 'newreno', 'bbr'];

/** `seed` starts the random stream of a controller that draws random numbers (BBR's probe timing). */
export function createCongestionController(
  name: CongestionControlName,
  mss: number,
  seed: number,
): CongestionController {
  switch (name) {
    case 'cubic':
      return new Cubic(mss);
    case 'newreno':
      return new NewReno(mss);
    case 'bbr':
      return new Bbr(mss, seed);
    default:
      throw new Error(`unknown congestion control "${name}" (cubic, newreno, bbr)`);
  }
}
