/**
 * Sparse symmetric systems: a CSR matrix and Jacobi-preconditioned conjugate gradients over many right-hand sides.
 * Relation graphs are usually sparse (kNN, thresholded similarities), and for T in the thousands a dense O(T³)
 * factorization costs orders of magnitude more than a few dozen sparse products. Each column of the right-hand side
 * runs its own CG (own step sizes, own stopping test), so splitting the columns into chunks — over worker threads or
 * not — gives bit-identical results. With WebAssembly SIMD the iterations run in the framework's kernels on the same
 * numbers (two columns per instruction, the same operations in the same order).
 */
import { simd } from '@weightshare/framework';
type Kernels = simd.Kernels;
const { kernels, reserve, scratchBase } = simd;

/** A square matrix in compressed sparse row form. */
export interface Csr {
  n: number;
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float64Array;
}

/** Number of nonzero entries of the n×n row-major matrix `a`. */
export function countNonzeros(a: Float64Array): number {
  let nnz = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) nnz++;
  return nnz;
}

/**
 * The n×n matrix with entries `entry(i, j, a[i*n+j])` over the pattern of `a` plus the diagonal, as CSR. `entry`
 * sees every stored position (off-diagonal nonzeros of `a` and every diagonal position).
 */
export function csrFromPattern(a: Float64Array, n: number, entry: (i: number, j: number, aij: number) => number): Csr {
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    const r = i * n;
    for (let j = 0; j < n; j++) if (i === j || a[r + j] !== 0) nnz++;
  }
  const rowPtr = new Int32Array(n + 1);
  const col = new Int32Array(nnz);
  const val = new Float64Array(nnz);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const r = i * n;
    for (let j = 0; j < n; j++) {
      const v = a[r + j]!;
      if (i !== j && v === 0) continue;
      col[k] = j;
      val[k++] = entry(i, j, v);
    }
    rowPtr[i + 1] = k;
  }
  return { n, rowPtr, col, val };
}

/**
 * Y = M X for X n×m row-major. Four nonzeros of a row are applied per pass over its output row (a quarter of the
 * loads and stores of Y), which roughly halves the time in V8.
 */
export function csrMultiply(M: Csr, x: Float64Array, m: number, y: Float64Array): void {
  const { n, rowPtr, col, val } = M;
  for (let i = 0; i < n; i++) {
    const yi = i * m;
    const end = rowPtr[i + 1]!;
    let p = rowPtr[i]!;
    let c = 0;
    if (p + 3 < end) {
      const v0 = val[p]!, v1 = val[p + 1]!, v2 = val[p + 2]!, v3 = val[p + 3]!;
      const x0 = col[p]! * m, x1 = col[p + 1]! * m, x2 = col[p + 2]! * m, x3 = col[p + 3]! * m;
      for (c = 0; c < m; c++) y[yi + c] = v0 * x[x0 + c]! + v1 * x[x1 + c]! + v2 * x[x2 + c]! + v3 * x[x3 + c]!;
      p += 4;
    } else for (c = 0; c < m; c++) y[yi + c] = 0;
    for (; p + 3 < end; p += 4) {
      const v0 = val[p]!, v1 = val[p + 1]!, v2 = val[p + 2]!, v3 = val[p + 3]!;
      const x0 = col[p]! * m, x1 = col[p + 1]! * m, x2 = col[p + 2]! * m, x3 = col[p + 3]! * m;
      for (c = 0; c < m; c++) y[yi + c]! += v0 * x[x0 + c]! + v1 * x[x1 + c]! + v2 * x[x2 + c]! + v3 * x[x3 + c]!;
    }
    for (; p < end; p++) {
      const v = val[p]!;
      const xj = col[p]! * m;
      for (c = 0; c < m; c++) y[yi + c]! += v * x[xj + c]!;
    }
  }
}

/** What {@link conjugateGradient} reached. */
export interface CgResult {
  /** The solution, n×m row-major. */
  x: Float64Array;
  /** Largest iteration count over the columns. */
  iterations: number;
  /** Largest relative residual ‖b − Mx‖/‖b‖ over the columns. */
  residual: number;
  /** False when some column missed `tol` within `maxIterations`, or M showed it is not positive definite. */
  converged: boolean;
  /** True when pᵀMp ≤ 0 was met: M is not positive definite and CG does not apply. */
  indefinite: boolean;
}

/**
 * Solves M X = B (M symmetric positive definite, B n×m row-major) by Jacobi-preconditioned conjugate gradients, one
 * independent iteration per column, each stopping when ‖b − Mx‖ ≤ tol·‖b‖.
 */
export function conjugateGradient(M: Csr, b: Float64Array, m: number, tol: number, maxIterations: number): CgResult {
  const k = kernels();
  if (k && m % 2 === 0 && m > 0) return conjugateGradientSimd(k, M, b, m, tol, maxIterations);
  const n = M.n;
  const dinv = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) if (M.col[p] === i) dinv[i] = M.val[p]! > 0 ? 1 / M.val[p]! : 0;
  const size = n * m;
  const x = new Float64Array(size);
  const r = new Float64Array(b);
  const z = new Float64Array(size);
  const p = new Float64Array(size);
  const q = new Float64Array(size);
  for (let i = 0; i < n; i++) {
    const di = dinv[i]! || 1;
    for (let c = 0; c < m; c++) z[i * m + c] = r[i * m + c]! * di;
  }
  p.set(z);
  const cols = new CgColumns(columnDots(r, r, n, m), columnDots(r, z, n, m), new Float64Array(m), new Float64Array(m));
  const { alpha, beta } = cols;
  for (let it = 1; it <= maxIterations && cols.left > 0; it++) {
    csrMultiply(M, p, m, q);
    cols.stepLengths(columnDots(p, q, n, m), it);
    // x += αp, r −= αq, z = D⁻¹r, and the new rᵀr and rᵀz, in one pass
    const rr = new Float64Array(m);
    const rzNew = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const o = i * m;
      const di = dinv[i]! || 1;
      for (let c = 0; c < m; c++) {
        const a = alpha[c]!;
        x[o + c]! += a * p[o + c]!;
        const rv = (r[o + c]! -= a * q[o + c]!);
        const zv = (z[o + c] = rv * di);
        rr[c]! += rv * rv;
        rzNew[c]! += rv * zv;
      }
    }
    cols.directions(rr, rzNew, tol);
    for (let i = 0; i < n; i++) {
      const o = i * m;
      for (let c = 0; c < m; c++) p[o + c] = z[o + c]! + beta[c]! * p[o + c]!; // β = 0 (p = z) on stopped columns: unused
    }
  }
  // the true residual, for the report
  csrMultiply(M, x, m, q);
  for (let k = 0; k < size; k++) q[k] = b[k]! - q[k]!;
  return cols.result(x, columnDots(q, q, n, m));
}

/**
 * {@link conjugateGradient} with the SIMD kernels (m even): the matrix and every block live in the kernel's memory for
 * the whole solve, and the products (`csrMul`), the updates (`cgStep`, `cgDirection`) and the column dots (`colDots`)
 * do the same operations in the same order as the loops above, two columns per instruction: the same bits.
 */
function conjugateGradientSimd(k: Kernels, M: Csr, b: Float64Array, m: number, tol: number, maxIterations: number): CgResult {
  const n = M.n;
  const nnz = M.val.length;
  // the layout in float64s, every part on a 16-byte boundary: row pointers and columns (int32), values, D⁻¹, x, r, z,
  // p, q (n×m each), then α, β, rᵀr, rᵀz, pᵀq (m each)
  const even = (v: number): number => v + (v & 1);
  const rpAt = 0;
  const ciAt = rpAt + even(Math.ceil((n + 1) / 2));
  const vaAt = ciAt + even(Math.ceil(nnz / 2));
  const dAt = vaAt + even(nnz);
  const size = n * m;
  const xAt = dAt + even(n);
  const rAt = xAt + size;
  const zAt = rAt + size;
  const pAt = zAt + size;
  const qAt = pAt + size;
  const alphaAt = qAt + size;
  const betaAt = alphaAt + m;
  const rrAt = betaAt + m;
  const rzAt = rrAt + m;
  const pqAt = rzAt + m;
  const mem = reserve(k, pqAt + m); // the only call that may grow the memory: the views below stay valid
  const base = scratchBase();
  const at = (floats: number): number => base + floats * 8;
  new Int32Array(mem.buffer, at(rpAt), n + 1).set(M.rowPtr);
  new Int32Array(mem.buffer, at(ciAt), nnz).set(M.col);
  mem.set(M.val, vaAt);
  const dinv = mem.subarray(dAt, dAt + n);
  dinv.fill(0);
  for (let i = 0; i < n; i++)
    for (let q = M.rowPtr[i]!; q < M.rowPtr[i + 1]!; q++) if (M.col[q] === i) dinv[i] = M.val[q]! > 0 ? 1 / M.val[q]! : 0;
  for (let i = 0; i < n; i++) dinv[i] ||= 1; // as the loops' `dinv[i] || 1`
  const x = mem.subarray(xAt, xAt + size);
  const r = mem.subarray(rAt, rAt + size);
  const z = mem.subarray(zAt, zAt + size);
  const p = mem.subarray(pAt, pAt + size);
  const q = mem.subarray(qAt, qAt + size);
  const alpha = mem.subarray(alphaAt, alphaAt + m);
  const beta = mem.subarray(betaAt, betaAt + m);
  const rr = mem.subarray(rrAt, rrAt + m);
  const rzNew = mem.subarray(rzAt, rzAt + m);
  const pq = mem.subarray(pqAt, pqAt + m);
  const dots = (a: number, bb: number, out: Float64Array, outAt: number): Float64Array => {
    out.fill(0);
    k.colDots(at(a), at(bb), n, m, at(outAt));
    return out;
  };
  x.fill(0);
  r.set(b);
  for (let i = 0; i < n; i++) {
    const di = dinv[i]!;
    for (let c = 0; c < m; c++) z[i * m + c] = r[i * m + c]! * di;
  }
  p.set(z);
  const cols = new CgColumns(Float64Array.from(dots(rAt, rAt, rr, rrAt)), Float64Array.from(dots(rAt, zAt, rzNew, rzAt)), alpha, beta);
  for (let it = 1; it <= maxIterations && cols.left > 0; it++) {
    k.csrMul(at(rpAt), at(ciAt), at(vaAt), n, at(pAt), m, at(qAt));
    cols.stepLengths(dots(pAt, qAt, pq, pqAt), it);
    rr.fill(0);
    rzNew.fill(0);
    k.cgStep(at(xAt), at(rAt), at(zAt), at(pAt), at(qAt), at(dAt), at(alphaAt), n, m, at(rrAt), at(rzAt));
    cols.directions(rr, rzNew, tol);
    k.cgDirection(at(pAt), at(zAt), at(betaAt), n, m);
  }
  // the true residual, for the report
  k.csrMul(at(rpAt), at(ciAt), at(vaAt), n, at(xAt), m, at(qAt));
  for (let i = 0; i < size; i++) q[i] = b[i]! - q[i]!;
  return cols.result(x.slice(), dots(qAt, qAt, pq, pqAt));
}

/**
 * The per-column state of {@link conjugateGradient}'s independent iterations (both paths): which columns still run,
 * their rᵀz, the step lengths α and the direction weights β (arrays the caller's updates read).
 */
class CgColumns {
  readonly bnorm: Float64Array;
  readonly active: Uint8Array;
  readonly iters: Int32Array;
  left: number;
  indefinite = false;
  /** @param bb each column's bᵀb (as rᵀr at the start); `rz` its rᵀz, kept here from now on */
  constructor(
    bb: Float64Array,
    private readonly rz: Float64Array,
    readonly alpha: Float64Array,
    readonly beta: Float64Array,
  ) {
    this.bnorm = bb.map(Math.sqrt);
    this.active = Uint8Array.from(this.bnorm, (v) => (v > 0 ? 1 : 0));
    this.iters = new Int32Array(bb.length);
    this.left = this.active.reduce((s, v) => s + v, 0);
  }

  /** α = rᵀz / pᵀq of every running column (0 on the others); a column with pᵀq ≤ 0 stops: M is not positive definite. */
  stepLengths(pq: Float64Array, it: number): void {
    const { alpha, active, rz } = this;
    for (let c = 0; c < alpha.length; c++) {
      alpha[c] = 0;
      if (!active[c]) continue;
      if (!(pq[c]! > 0)) {
        this.indefinite = true;
        active[c] = 0;
        this.left--;
        continue;
      }
      alpha[c] = rz[c]! / pq[c]!;
      this.iters[c] = it;
    }
  }

  /** β = rᵀz_new / rᵀz of every running column (0 on the others); a column whose ‖r‖ ≤ tol·‖b‖ stops. */
  directions(rr: Float64Array, rzNew: Float64Array, tol: number): void {
    const { beta, active, rz, bnorm } = this;
    for (let c = 0; c < beta.length; c++) {
      beta[c] = 0;
      if (!active[c]) continue;
      if (Math.sqrt(rr[c]!) <= tol * bnorm[c]!) {
        active[c] = 0;
        this.left--;
        continue;
      }
      beta[c] = rzNew[c]! / rz[c]!;
      rz[c] = rzNew[c]!;
    }
  }

  /** The outcome, given the solution and each column's ‖b − Mx‖². */
  result(x: Float64Array, res: Float64Array): CgResult {
    let residual = 0;
    for (let c = 0; c < res.length; c++) if (this.bnorm[c]! > 0) residual = Math.max(residual, Math.sqrt(res[c]!) / this.bnorm[c]!);
    let iterations = 0;
    for (const v of this.iters) iterations = Math.max(iterations, v);
    return { x, iterations, residual, converged: !this.indefinite && this.left === 0, indefinite: this.indefinite };
  }
}

function columnDots(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  const out = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    const o = i * m;
    for (let c = 0; c < m; c++) out[c]! += a[o + c]! * b[o + c]!;
  }
  return out;
}

/** One chunk of right-hand-side columns: the worker-thread entry of {@link conjugateGradient}. */
export interface CgChunk {
  M: Csr;
  b: Float64Array;
  m: number;
  tol: number;
  maxIterations: number;
}

/** Runs {@link conjugateGradient} on one chunk (called as fn(chunk, index) in process or on a worker thread). */
export function cgChunk(chunk: CgChunk): CgResult {
  return conjugateGradient(chunk.M, chunk.b, chunk.m, chunk.tol, chunk.maxIterations);
}
