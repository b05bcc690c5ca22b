// Congestion controllers by name (config: `congestionControl`).
import type { CongestionController } from './congestion.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export type { CongestionController, RttView } from './congestion.js';
export type CongestionControlName = 'cubic' | 'newreno';

export function createCongestionController(name: CongestionControlName, mss: number): CongestionController {
  switch (name) {
    case 'cubic':
      return new Cubic(mss);
    case 'newreno':
      return new NewReno(mss);
    default:
      throw new Error(`unknown congestion control "${name}" (cubic, newreno)`);
  }
}
