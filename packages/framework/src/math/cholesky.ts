/**
 * Many small symmetric positive definite systems at once, in plain float64 loops: the per-task normal equations that an
 * exact optimizer factorizes once per run and solves every round. Factors are stored "mirrored" — L on and below the
 * diagonal, Lᵀ above it — so that the forward sweep (with L) and the backward sweep (with Lᵀ) both read contiguous
 * rows. Backends with faster kernels (plugin-cpu's WebAssembly) keep this layout, so either can solve with the other's
 * factors.
 */

/** Σ_{q < len} a[ia + q]·b[ib + q], in four partial sums (independent chains, so the adds overlap). */
export function dotAt(a: Float64Array, ia: number, b: Float64Array, ib: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let q = 0;
  for (; q + 3 < len; q += 4) {
    s0 += a[ia + q]! * b[ib + q]!;
    s1 += a[ia + q + 1]! * b[ib + q + 1]!;
    s2 += a[ia + q + 2]! * b[ib + q + 2]!;
    s3 += a[ia + q + 3]! * b[ib + q + 3]!;
  }
  for (; q < len; q++) s0 += a[ia + q]! * b[ib + q]!;
  return s0 + s1 + (s2 + s3);
}

/**
 * Factorizes the symmetric n×n matrix at `at` in `m` in place (Cholesky–Banachiewicz, row by row: L[i][j] =
 * (A[i][j] − L[i][0..j)·L[j][0..j)) / L[j][j]; only the lower triangle of A is read) and mirrors Lᵀ into the upper
 * triangle. Returns false when A is not positive definite (a pivot not > 0 or not finite; `m` is then part-way).
 */
export function choleskyMirrored(m: Float64Array, at: number, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const ri = at + i * n;
    for (let j = 0; j < i; j++) {
      const rj = at + j * n;
      m[ri + j] = (m[ri + j]! - dotAt(m, ri, m, rj, j)) / m[rj + j]!;
    }
    const dii = m[ri + i]! - dotAt(m, ri, m, ri, i);
    if (!(dii > 0) || !Number.isFinite(dii)) return false;
    m[ri + i] = Math.sqrt(dii);
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[at + i * n + j] = m[at + j * n + i]!;
  return true;
}

/**
 * Solves (L Lᵀ) w = r with the mirrored factor at `at` in `m`: the forward sweep overwrites r (n values at `ro`) with
 * L⁻¹r, the backward sweep writes w (n values at `wo` in `w`).
 */
export function choleskySolveMirrored(m: Float64Array, at: number, n: number, r: Float64Array, ro: number, w: Float64Array, wo: number): void {
  for (let i = 0; i < n; i++) {
    const ri = at + i * n;
    r[ro + i] = (r[ro + i]! - dotAt(m, ri, r, ro, i)) / m[ri + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    const ri = at + i * n;
    w[wo + i] = (r[ro + i]! - dotAt(m, ri + i + 1, w, wo + i + 1, n - i - 1)) / m[ri + i]!;
  }
}
