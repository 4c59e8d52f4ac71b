/**
 * The one seeded pseudo-random number generator of weightshare.
 *
 * Algorithm: **xoshiro128\*\*** (Blackman & Vigna, 2018; 128-bit state, period 2^128−1), its state filled from the
 * seed by **SplitMix32** (golden-ratio increment 0x9e3779b9, MurmurHash3 fmix32 finaliser). Uniform doubles take 53 bits from two outputs; normals use the Box–Muller transform
 * (both values of each pair are used, in order). Everything random in a run — splits, synthetic data, SGD shuffling,
 * initialisation — draws from a stream forked off the run's root generator by a label, so adding randomness to one
 * part never shifts the numbers another part sees, and per-task streams do not depend on execution order.
 * The platform's unseeded generator is never used.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;
  /** The seed this stream was created from (for records). */
  readonly seed: number;

  /** @param seed any integer; only its low 32 bits matter. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    let x = this.seed;
    const sm = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = sm();
    this.s1 = sm();
    this.s2 = sm();
    this.s3 = sm();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). Unbiased (rejection sampling). */
  int(n: number): number {
    if (n <= 0 || !Number.isInteger(n)) throw new RangeError(`Rng.int: n must be a positive integer, got ${n}`);
    if (n === 1) return 0;
    const limit = Math.floor(4294967296 / n) * n;
    let v: number;
    do v = this.nextUint32();
    while (v >= limit);
    return v % n;
  }

  /** Standard normal deviate (Box–Muller). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * A Poisson(mean) draw: Knuth's product of uniforms, in pieces of mean ≤ 16 (a sum of independent Poisson draws is
   * Poisson with the summed mean), so it is exact for any mean and never underflows e^−mean.
   */
  poisson(mean: number): number {
    if (!(mean >= 0) || !Number.isFinite(mean)) throw new RangeError(`Poisson mean must be finite and ≥ 0, got ${mean}`);
    let k = 0;
    let left = mean;
    while (left > 0) {
      const part = Math.min(left, 16);
      left -= part;
      const limit = Math.exp(-part);
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
    }
    return k;
  }

  /**
   * An independent stream identified by `label` (e.g. `split`, `sgd/round-2/task-17`). The child depends only on
   * this stream's seed and the label, not on how many numbers were drawn, so forks are order-independent.
   */
  fork(label: string): Rng {
    return new Rng(hashString(label, this.seed));
  }

  /** The seed of `fork(label)` without making the stream (for work items that travel to other threads). */
  forkSeed(label: string): number {
    return hashString(label, this.seed);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** FNV-1a over the UTF-16 code units of `s`, mixed with `seed` through a SplitMix32 finaliser. */
export function hashString(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
