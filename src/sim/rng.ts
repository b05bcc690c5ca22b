// Seeded deterministic pseudo-random numbers for the simulator: xoshiro128** (Blackman and Vigna,
// "Scrambled linear pseudorandom number generators", 2018) on 32-bit integers, seeded through
// splitmix32 so that any 32-bit seed (0 included) gives a well-mixed state. No Math.random, no
// bigint: the same seed gives the same sequence on every run and machine.
//
// Streams are derived by label (derive/fork), so every link and every random feature of a link
// draws from its own stream: switching jitter on does not change which packets a loss model drops.

const TWO_POW_MINUS_32 = 2.3283064365386963e-10;

/** splitmix32 step: a 32-bit mixer (a variant of Stafford's "Mix13" finaliser). */
function splitmix32(state: Uint32Array): number {
  state[0] = (state[0] + 0x9e3779b9) | 0;
  let z = state[0];
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of a label, mixed with a seed. */
function hashLabel(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** The seed this generator was built from (for logs and reproduction). */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed ${seed} is not a finite number`);
    this.seed = seed >>> 0;
    const sm = new Uint32Array([this.seed]);
    this.s0 = splitmix32(sm);
    this.s1 = splitmix32(sm);
    this.s2 = splitmix32(sm);
    this.s3 = splitmix32(sm);
    // The all-zero state is the one xoshiro cannot leave; splitmix32 practically never gives it.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A generator with the given raw state words (for reference vectors). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = new Rng(0);
    r.s0 = s0 | 0;
    r.s1 = s1 | 0;
    r.s2 = s2 | 0;
    r.s3 = s3 | 0;
    return r;
  }

  /** A generator for the stream named `label` under `seed`. */
  static derive(seed: number, label: string): Rng {
    return new Rng(hashLabel(seed >>> 0, label));
  }

  /** An independent generator named `label`, derived from this one's seed (not its position). */
  fork(label: string): Rng {
    return Rng.derive(this.seed, label);
  }

  /** The next 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    // result = rotl(s1 * 5, 7) * 9
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    const t = s1 << 9;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    this.s1 = s1 ^ n2;
    this.s0 = s0 ^ n3;
    this.s2 = n2 ^ t;
    this.s3 = (n3 << 11) | (n3 >>> 21);
    return result;
  }

  /** Fills `out` with bytes of the stream and returns it (a RandomFill for seeded secrets). */
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i += 4) {
      const v = this.nextU32();
      for (let k = 0; k < 4 && i + k < out.length; k++) out[i + k] = v >>> (24 - 8 * k);
    }
    return out;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextU32() * TWO_POW_MINUS_32;
  }

  /** True with probability p (p <= 0: never draws a number and returns false). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), for n up to 2^32. */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}
