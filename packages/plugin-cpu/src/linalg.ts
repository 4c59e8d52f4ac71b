/**
 * Dense float64 linear algebra on row-major Float64Arrays: LU with partial pivoting (with Hager's 1-norm condition
 * estimate), Cholesky, and triangular solves. Plain typed-array loops: several times faster than ml-matrix here.
 */

import { choleskyMirrored } from '@weightshare/framework';
import { addRows, mirrorUpper } from './gram-parts.js';
import { simd } from '@weightshare/framework';
const { gemmSub, gramSimd, kernels, reserve, residentProduct, scratchBase, statsSimd } = simd;

/** An LU factorization PA = LU, stored in place (unit lower L below the diagonal, U on and above). */
export interface LU {
  n: number;
  lu: Float64Array;
  perm: Int32Array;
  /** True when a pivot was exactly zero. */
  singular: boolean;
}

/** Columns per panel of the blocked LU. */
const LU_PANEL = 32;

/**
 * Order from which the factorizations and solves below run their trailing updates in the SIMD kernel (`gemmSub`),
 * with the matrices copied into the kernel's memory; smaller ones stay in plain arrays (the copies would cost more
 * than the kernel saves).
 */
export const KERNEL_MIN_ORDER = 64;

/**
 * Factorizes a copy of the n×n matrix `a` with partial pivoting, blocked (LAPACK getrf's order): a panel of 32
 * columns is factorized with row swaps across whole rows, then the rows of U to its right (a unit-lower triangular
 * solve) and the trailing matrix (A22 −= L21·U12, a matrix product: the SIMD kernel's 4×4 blocks from order
 * {@link KERNEL_MIN_ORDER}, else four rows of U12 per pass over a trailing row) are updated once per panel. The pivots
 * are the unblocked algorithm's.
 */
export function luFactor(a: Float64Array, n: number): LU {
  const k = n >= KERNEL_MIN_ORDER ? kernels() : null;
  if (!k) return luFactorIn(new Float64Array(a), n, (lu, k0, k1) => {
    for (let i = k1; i < n; i++) subtractRowsFrom(lu, i * n + k1, n - k1, lu, n, k1, lu, i * n, 1, k0, k1);
  });
  const scratch = n * n;
  const mem = reserve(k, scratch + 4 * LU_PANEL);
  mem.set(a.subarray(0, n * n), 0);
  const f = luFactorIn(mem.subarray(0, n * n), n, (_lu, k0, k1) => gemmSub(k, k1 * n + k1, n, k1 * n + k0, n, 1, k0 * n + k1, n, n - k1, n - k1, k1 - k0, scratch));
  return { ...f, lu: mem.slice(0, n * n) };
}

/** The blocked LU in place on `lu`; `trailing(lu, k0, k1)` applies A22 −= L21·U12 for the panel k0..k1. */
function luFactorIn(lu: Float64Array, n: number, trailing: (lu: Float64Array, k0: number, k1: number) => void): LU {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  let singular = false;
  for (let k0 = 0; k0 < n; k0 += LU_PANEL) {
    const k1 = Math.min(n, k0 + LU_PANEL);
    // the panel: columns k0..k1, rows k..n, updated only within the panel
    for (let k = k0; k < k1; k++) {
      let p = k;
      let max = Math.abs(lu[k * n + k]!);
      for (let i = k + 1; i < n; i++) {
        const v = Math.abs(lu[i * n + k]!);
        if (v > max) {
          max = v;
          p = i;
        }
      }
      if (p !== k) {
        for (let j = 0; j < n; j++) {
          const t = lu[k * n + j]!;
          lu[k * n + j] = lu[p * n + j]!;
          lu[p * n + j] = t;
        }
        const t = perm[k]!;
        perm[k] = perm[p]!;
        perm[p] = t;
      }
      const pivot = lu[k * n + k]!;
      if (pivot === 0) {
        singular = true; // the whole column below is zero too (pivot is its largest): nothing to eliminate
        continue;
      }
      const rk = k * n;
      for (let i = k + 1; i < n; i++) {
        const ri = i * n;
        const f = (lu[ri + k]! /= pivot);
        if (f === 0) continue;
        for (let j = k + 1; j < k1; j++) lu[ri + j]! -= f * lu[rk + j]!;
      }
    }
    if (k1 === n) break;
    const w = n - k1;
    // U12 = L11⁻¹ A12 (rows k0..k1, columns k1..n)
    for (let r = k0 + 1; r < k1; r++) subtractRowsFrom(lu, r * n + k1, w, lu, n, k1, lu, r * n, 1, k0, r);
    // A22 −= L21 U12
    trailing(lu, k0, k1);
  }
  return { n, lu, perm, singular };
}

/**
 * dst[o + j] −= Σ_{k0 ≤ k < k1} c[base + k·stride] · src[k·srcStride + srcCol + j] for 0 ≤ j < len: a row minus a
 * combination of rows, four rows of src per pass over dst (a quarter of its loads and stores). The triangular solves,
 * and the panel updates of the blocked LU and Cholesky, are all this.
 */
function subtractRowsFrom(dst: Float64Array, o: number, len: number, src: Float64Array, srcStride: number, srcCol: number, c: Float64Array, base: number, stride: number, k0: number, k1: number): void {
  let k = k0;
  for (; k + 3 < k1; k += 4) {
    const q = base + k * stride;
    const v0 = c[q]!, v1 = c[q + stride]!, v2 = c[q + 2 * stride]!, v3 = c[q + 3 * stride]!;
    if (v0 === 0 && v1 === 0 && v2 === 0 && v3 === 0) continue;
    const r0 = k * srcStride + srcCol, r1 = r0 + srcStride, r2 = r1 + srcStride, r3 = r2 + srcStride;
    for (let j = 0; j < len; j++) dst[o + j]! -= v0 * src[r0 + j]! + v1 * src[r1 + j]! + v2 * src[r2 + j]! + v3 * src[r3 + j]!;
  }
  for (; k < k1; k++) {
    const v = c[base + k * stride]!;
    if (v === 0) continue;
    const rk = k * srcStride + srcCol;
    for (let j = 0; j < len; j++) dst[o + j]! -= v * src[rk + j]!;
  }
}

/** Rows per block of the blocked triangular solves. */
const SOLVE_BLOCK = 32;

/** Solves A X = B for an n×m right-hand side B (row-major), returning X. */
export function luSolve(f: LU, b: Float64Array, m: number): Float64Array {
  const { n, lu, perm } = f;
  const k = n >= KERNEL_MIN_ORDER && m > 1 ? kernels() : null;
  if (!k) {
    const x = new Float64Array(n * m);
    for (let i = 0; i < n; i++) x.set(b.subarray(perm[i]! * m, perm[i]! * m + m), i * m);
    for (let i = 0; i < n; i++) subtractRowsFrom(x, i * m, m, x, m, 0, lu, i * n, 1, 0, i);
    for (let i = n - 1; i >= 0; i--) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, lu, i * n, 1, i + 1, n);
      const d = lu[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    return x;
  }
  // L, U and X in the kernel's memory; blocks of rows solved in turn, each block's effect on the rest one product
  const xo = n * n;
  const scratch = xo + n * m;
  const mem = reserve(k, scratch + 4 * SOLVE_BLOCK);
  mem.set(lu.subarray(0, n * n), 0);
  for (let i = 0; i < n; i++) mem.set(b.subarray(perm[i]! * m, perm[i]! * m + m), xo + i * m);
  const L = mem.subarray(0, n * n);
  const x = mem.subarray(xo, xo + n * m);
  for (let i0 = 0; i0 < n; i0 += SOLVE_BLOCK) {
    const i1 = Math.min(n, i0 + SOLVE_BLOCK);
    for (let i = i0 + 1; i < i1; i++) subtractRowsFrom(x, i * m, m, x, m, 0, L, i * n, 1, i0, i);
    gemmSub(k, xo + i1 * m, m, i1 * n + i0, n, 1, xo + i0 * m, m, n - i1, m, i1 - i0, scratch);
  }
  for (let i1 = n; i1 > 0; i1 -= SOLVE_BLOCK) {
    const i0 = Math.max(0, i1 - SOLVE_BLOCK);
    for (let i = i1 - 1; i >= i0; i--) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, L, i * n, 1, i + 1, i1);
      const d = L[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    gemmSub(k, xo, m, i0, n, 1, xo + i0 * m, m, i0, m, i1 - i0, scratch);
  }
  return x.slice();
}

/** Solves Aᵀ x = b for one vector. */
function luSolveTransposed(f: LU, b: Float64Array): Float64Array {
  const { n, lu, perm } = f;
  const z = new Float64Array(b);
  // Uᵀ z = b
  for (let i = 0; i < n; i++) {
    let s = z[i]!;
    for (let k = 0; k < i; k++) s -= lu[k * n + i]! * z[k]!;
    z[i] = s / lu[i * n + i]!;
  }
  // Lᵀ y = z
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < n; k++) s -= lu[k * n + i]! * z[k]!;
    z[i] = s;
  }
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[perm[i]!] = z[i]!;
  return x;
}

/** ‖A‖₁ (largest absolute column sum). */
export function norm1(a: Float64Array, n: number): number {
  let best = 0;
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(a[i * n + j]!);
    if (s > best) best = s;
  }
  return best;
}

/**
 * Estimate of the 1-norm condition number κ₁(A) = ‖A‖₁‖A⁻¹‖₁ by Hager's method (Higham 1988, LAPACK xLACON):
 * a few solves with the LU factors instead of forming A⁻¹. Infinite when the factorization is singular.
 */
export function conditionEstimate(a: Float64Array, f: LU): number {
  const n = f.n;
  if (f.singular) return Infinity;
  let x = new Float64Array(n).fill(1 / n);
  let est = 0;
  for (let iter = 0; iter < 5; iter++) {
    const y = luSolve(f, x, 1);
    let ny = 0;
    for (let i = 0; i < n; i++) ny += Math.abs(y[i]!);
    if (!Number.isFinite(ny)) return Infinity;
    if (iter > 0 && ny <= est) break;
    est = ny;
    const xi = new Float64Array(n);
    for (let i = 0; i < n; i++) xi[i] = y[i]! >= 0 ? 1 : -1;
    const z = luSolveTransposed(f, xi);
    let jmax = 0;
    let zmax = -1;
    let ztx = 0;
    for (let i = 0; i < n; i++) {
      if (Math.abs(z[i]!) > zmax) {
        zmax = Math.abs(z[i]!);
        jmax = i;
      }
      ztx += z[i]! * x[i]!;
    }
    if (zmax <= ztx) break;
    x = new Float64Array(n);
    x[jmax] = 1;
  }
  // Higham's extra test vector guards against underestimates on special matrices.
  const alt = new Float64Array(n);
  for (let i = 0; i < n; i++) alt[i] = (i % 2 ? -1 : 1) * (1 + i / Math.max(1, n - 1));
  const y = luSolve(f, alt, 1);
  let ny = 0;
  for (let i = 0; i < n; i++) ny += Math.abs(y[i]!);
  est = Math.max(est, (2 * ny) / (3 * n));
  return est * norm1(a, n);
}

/**
 * The lower Cholesky factor L (A = LLᵀ) of the symmetric n×n `a`, or null when `a` is not positive definite. Blocked
 * like {@link luFactor}: a panel of 32 columns is factorized, then the trailing lower triangle is updated once per
 * panel (A22 −= L21·L21ᵀ, from a transposed copy of the panel: the SIMD kernel's 4×4 blocks that reach the diagonal
 * from order {@link KERNEL_MIN_ORDER}, else four panel columns per pass over a trailing row).
 */
export function cholesky(a: Float64Array, n: number): Float64Array | null {
  if (n <= LU_PANEL) {
    // one panel: row by row (dot products of contiguous rows), in the kernel where WebAssembly SIMD runs
    const k = kernels();
    let l: Float64Array;
    if (k) {
      const mem = reserve(k, n * n);
      mem.set(a.subarray(0, n * n));
      if (k.cholFactors(scratchBase(), 1, n)) return null;
      l = mem.slice(0, n * n);
    } else {
      l = a.slice(0, n * n);
      if (!choleskyMirrored(l, 0, n)) return null;
    }
    for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, (i + 1) * n);
    return l;
  }
  const nb = LU_PANEL;
  const k = n >= KERNEL_MIN_ORDER ? kernels() : null;
  if (!k) {
    const t = new Float64Array(nb * n); // the panel's L21, transposed: row p holds column k0 + p
    return choleskyIn(new Float64Array(a), n, t, (l, k0, k1) => {
      for (let i = k1; i < n; i++) subtractRowsFrom(l, i * n + k1, i - k1 + 1, t, n, k1, l, i * n + k0, 1, 0, k1 - k0);
    });
  }
  const to = n * n;
  const scratch = to + nb * n;
  const mem = reserve(k, scratch + 4 * nb);
  mem.set(a.subarray(0, n * n), 0);
  const l = choleskyIn(mem.subarray(0, n * n), n, mem.subarray(to, to + nb * n), (_l, k0, k1) =>
    gemmSub(k, k1 * n + k1, n, k1 * n + k0, n, 1, to + k1, n, n - k1, n - k1, k1 - k0, scratch, true),
  );
  return l ? l.slice() : null;
}

/** The blocked Cholesky in place on `l`, with `t` (32×n) for the transposed panel; `trailing(l, k0, k1)` updates A22. */
function choleskyIn(l: Float64Array, n: number, t: Float64Array, trailing: (l: Float64Array, k0: number, k1: number) => void): Float64Array | null {
  const nb = LU_PANEL;
  for (let k0 = 0; k0 < n; k0 += nb) {
    const k1 = Math.min(n, k0 + nb);
    for (let k = k0; k < k1; k++) {
      const rk = k * n;
      const dkk = l[rk + k]!;
      if (!(dkk > 0) || !Number.isFinite(dkk)) return null;
      const lkk = Math.sqrt(dkk);
      l[rk + k] = lkk;
      for (let i = k + 1; i < n; i++) l[i * n + k]! /= lkk;
      // within the panel: columns k+1..k1 of rows below
      for (let i = k + 1; i < n; i++) {
        const ri = i * n;
        const f = l[ri + k]!;
        if (f === 0) continue;
        const jEnd = Math.min(k1, i + 1);
        for (let j = k + 1; j < jEnd; j++) l[ri + j]! -= f * l[j * n + k]!;
      }
    }
    if (k1 === n) break;
    const kb = k1 - k0;
    for (let p = 0; p < kb; p++) for (let j = k1; j < n; j++) t[p * n + j] = l[j * n + k0 + p]!;
    trailing(l, k0, k1);
  }
  for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, (i + 1) * n);
  return l;
}

/** Solves (L Lᵀ) X = B for an n×m right-hand side, in place on a copy of B. */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, m: number): Float64Array {
  if (m === 1) return choleskySolveVector(l, n, b);
  const k = n >= KERNEL_MIN_ORDER ? kernels() : null;
  if (!k) {
    const x = new Float64Array(b);
    for (let i = 0; i < n; i++) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, l, i * n, 1, 0, i);
      const d = l[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    for (let i = n - 1; i >= 0; i--) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, l, i, n, i + 1, n);
      const d = l[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    return x;
  }
  // as luSolve: blocks of rows, each block's effect on the rest one product (Lᵀ as a transposed view of L)
  const xo = n * n;
  const scratch = xo + n * m;
  const mem = reserve(k, scratch + 4 * SOLVE_BLOCK);
  mem.set(l.subarray(0, n * n), 0);
  mem.set(b.subarray(0, n * m), xo);
  const L = mem.subarray(0, n * n);
  const x = mem.subarray(xo, xo + n * m);
  for (let i0 = 0; i0 < n; i0 += SOLVE_BLOCK) {
    const i1 = Math.min(n, i0 + SOLVE_BLOCK);
    for (let i = i0; i < i1; i++) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, L, i * n, 1, i0, i);
      const d = L[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    gemmSub(k, xo + i1 * m, m, i1 * n + i0, n, 1, xo + i0 * m, m, n - i1, m, i1 - i0, scratch);
  }
  for (let i1 = n; i1 > 0; i1 -= SOLVE_BLOCK) {
    const i0 = Math.max(0, i1 - SOLVE_BLOCK);
    for (let i = i1 - 1; i >= i0; i--) {
      const ri = i * m;
      subtractRowsFrom(x, ri, m, x, m, 0, L, i, n, i + 1, i1);
      const d = L[i * n + i]!;
      for (let j = 0; j < m; j++) x[ri + j]! /= d;
    }
    // rows above: X[0:i0] −= Lᵀ[0:i0, i0:i1] · X[i0:i1], with Lᵀ[i][p] = L[i0 + p][i]
    gemmSub(k, xo, m, i0 * n, 1, n, xo + i0 * m, m, i0, m, i1 - i0, scratch);
  }
  return x.slice();
}

/** {@link choleskySolve} for one right-hand side: row-wise dot products (the per-task solves of every round). */
function choleskySolveVector(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[ri + k]! * x[k]!;
    x[i] = s / l[ri + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** Ratio of the largest to the smallest diagonal entry of a Cholesky factor, squared: a cheap lower bound on κ₂. */
export function choleskyConditionBound(l: Float64Array, n: number): number {
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    const v = l[i * n + i]!;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return (hi / lo) ** 2;
}

/** C = A B for row-major A (n×k) and B (k×m). */
export function matMul(a: Float64Array, n: number, k: number, b: Float64Array, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const ri = i * m;
    for (let p = 0; p < k; p++) {
      const v = a[i * k + p]!;
      if (v === 0) continue;
      const rp = p * m;
      for (let j = 0; j < m; j++) c[ri + j]! += v * b[rp + j]!;
    }
  }
  return c;
}

/** Largest eigenvalue of a symmetric positive semidefinite matrix by power iteration (an upper-biased estimate). */
export function largestEigenvalue(a: Float64Array, n: number, iterations = 100): number {
  let v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = 1 / Math.sqrt(n) + (i % 7) * 1e-3; // fixed start: deterministic
  let lambda = 0;
  // A·v in the kernel (A resident for the iterations) from order 32
  const k = n >= 32 ? kernels() : null;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(n);
    if (k) w.set(residentProduct(k, a, n, v));
    else
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j]! * v[j]!;
        w[i] = s;
      }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += w[i]! * w[i]!;
    norm = Math.sqrt(norm);
    if (norm === 0) return 0;
    const next = norm;
    for (let i = 0; i < n; i++) w[i]! /= norm;
    v = w;
    if (Math.abs(next - lambda) <= 1e-10 * next) {
      lambda = next;
      break;
    }
    lambda = next;
  }
  return lambda;
}

/**
 * XᵀX (d×d, symmetric) of the n×d row-major X: by the WebAssembly SIMD kernel (~16 GFLOP/s per core here, counting
 * the upper triangle), or in JavaScript. Register-blocked: four rows of X at a time update four rows of G's
 * upper triangle in one pass, 16 multiply-adds per 4 loads of X and 4 loads and stores of G (~6× the speed of the
 * plain rank-1 loop in V8; ~5 GFLOP/s per core here); the kernel does the same with two f64x2 lanes.
 */
export function gram(X: Float64Array, n: number, d: number): Float64Array {
  // the kernel for big products only: measured on logistic-many (1,000 products of 200×100), calling it from the
  // worker threads made their later JavaScript (the gradient loops) ~20% slower, more than the kernel saved (cause
  // not found; --no-liftoff does not change it)
  const k = n * d * d >= GRAM_SIMD_MIN ? kernels() : null;
  return k ? gramSimd(k, X, n, d) : gramJs(X, n, d);
}

/**
 * XᵀX and Xᵀy of the n×d row-major X and the n-vector y, in one pass over X where the kernel runs: at every size (the
 * sufficient statistics of squared loss, computed once per task and data set; unlike {@link gram}'s many small
 * products in a gradient method, nothing runs after them in the thread). Small tasks gain most in a fresh process,
 * where the JavaScript loop runs unoptimized at first: the bench's school-sweep (School's 139 tasks of ~80 × 29, ten
 * splits) spent 0.20 s in its ten first initial fits with the loop, 0.07–0.09 s with the kernel (their solves included).
 */
export function gramAndXty(X: Float64Array, y: Float64Array, n: number, d: number): { G: Float64Array; b: Float64Array } {
  const k = kernels();
  if (k) return statsSimd(k, X, y, n, d);
  const b = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const yi = y[i]!;
    if (yi !== 0) for (let j = 0; j < d; j++) b[j]! += X[o + j]! * yi;
  }
  return { G: gramJs(X, n, d), b };
}

/** Multiply-adds (n·d²) from which {@link gram} uses the WebAssembly kernel. */
export const GRAM_SIMD_MIN = 5e7;

/** {@link gram} in JavaScript (the fallback where WebAssembly SIMD is missing, and for small problems). */
export function gramJs(X: Float64Array, n: number, d: number): Float64Array {
  const G = new Float64Array(d * d);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
    let j = 0;
    for (; j + 3 < d; j += 4) {
      const a0 = X[o0 + j]!, a1 = X[o1 + j]!, a2 = X[o2 + j]!, a3 = X[o3 + j]!;
      const b0 = X[o0 + j + 1]!, b1 = X[o1 + j + 1]!, b2 = X[o2 + j + 1]!, b3 = X[o3 + j + 1]!;
      const c0 = X[o0 + j + 2]!, c1 = X[o1 + j + 2]!, c2 = X[o2 + j + 2]!, c3 = X[o3 + j + 2]!;
      const e0 = X[o0 + j + 3]!, e1 = X[o1 + j + 3]!, e2 = X[o2 + j + 3]!, e3 = X[o3 + j + 3]!;
      const ra = j * d, rb = ra + d, rc = rb + d, re = rc + d;
      // the upper triangle of the 4×4 diagonal block
      for (let k = j; k < j + 4; k++) {
        const x0 = X[o0 + k]!, x1 = X[o1 + k]!, x2 = X[o2 + k]!, x3 = X[o3 + k]!;
        G[ra + k]! += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        if (k > j) G[rb + k]! += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3;
        if (k > j + 1) G[rc + k]! += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
        if (k > j + 2) G[re + k]! += e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3;
      }
      for (let k = j + 4; k < d; k++) {
        const x0 = X[o0 + k]!, x1 = X[o1 + k]!, x2 = X[o2 + k]!, x3 = X[o3 + k]!;
        G[ra + k]! += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
        G[rb + k]! += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3;
        G[rc + k]! += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
        G[re + k]! += e0 * x0 + e1 * x1 + e2 * x2 + e3 * x3;
      }
    }
    for (; j < d; j++) {
      const a0 = X[o0 + j]!, a1 = X[o1 + j]!, a2 = X[o2 + j]!, a3 = X[o3 + j]!;
      const rj = j * d;
      for (let k = j; k < d; k++) G[rj + k]! += a0 * X[o0 + k]! + a1 * X[o1 + k]! + a2 * X[o2 + k]! + a3 * X[o3 + k]!;
    }
  }
  addRows(G, X, i, n, d);
  mirrorUpper(G, d);
  return G;
}
