import { linearSystemSingular, negativeRelation, relationInvalid, solverNotConverged, standardOptions, type DenseMatrix, type JsonSchema, type StageContext } from '@weightshare/framework';
import { createRequire } from 'node:module';
import type * as MlMatrix from 'ml-matrix';

// ml-matrix (~40 ms to import) only for the pseudo-inverse of a singular relation: loaded then
let mlMatrix: typeof MlMatrix | undefined;
const loadMlMatrix = (): typeof MlMatrix => (mlMatrix ??= createRequire(import.meta.url)('ml-matrix') as typeof MlMatrix);
import { conditionEstimate, luFactor, luSolve, type LU } from '../linalg.js';
import { cgChunk, countNonzeros, type CgChunk, type CgResult, type Csr } from '../sparse.js';

/** Sparse relations: when to solve by conjugate gradients instead of a dense factorization. */
export const sparseSolverOptions: Record<string, JsonSchema> = {
  solver: {
    enum: ['auto', 'direct', 'cg'],
    default: 'auto',
    description:
      'direct: dense factorization, O(T³); cg: Jacobi-preconditioned conjugate gradients on the sparse matrix (symmetric positive definite only; solve then skips the condition estimate); auto: cg when T ≥ 500 and at most 5% of the matrix is nonzero, else direct, and direct whenever cg fails.',
  },
  tol: { type: 'number', exclusiveMinimum: 0, default: 1e-10, description: 'cg: relative residual ‖b − Mx‖/‖b‖ each column must reach.' },
  maxIterations: { type: 'integer', minimum: 1, default: 1000, description: 'cg: iterations at most (solver: cg stops with an error beyond; auto falls back to direct).' },
};

export interface SparseSolverOptions {
  solver: 'auto' | 'direct' | 'cg';
  tol: number;
  maxIterations: number;
}

/** Size and density from which `solver: auto` picks conjugate gradients. */
export const CG_MIN_SIZE = 500;
export const CG_MAX_DENSITY = 0.05;

/** Whether to solve with CG: `nnz` is the system matrix's nonzero count (or an upper bound). */
export function wantsCg(opts: SparseSolverOptions, T: number, nnz: number): boolean {
  if (opts.solver === 'direct') return false;
  if (opts.solver === 'cg') return true;
  return T >= CG_MIN_SIZE && nnz <= CG_MAX_DENSITY * T * T;
}

/** Nonzeros of a relation matrix with its diagonal counted as stored (what the system matrices keep). */
export function patternSize(A: DenseMatrix): number {
  let diagZeros = 0;
  for (let i = 0; i < A.rows; i++) if (A.data[i * A.rows + i] === 0) diagZeros++;
  return countNonzeros(A.data) + diagZeros;
}

/** Columns per CG work item: the columns are independent, so chunks run on the executor's threads. */
const CG_CHUNK = 64;

/**
 * Solves M X = B by CG, the columns of B split into chunks run through the executor (bit-identical however they are
 * split). Returns null when CG failed and `solver` is auto (the caller then solves directly); throws when it is cg.
 */
export async function solveByCg(
  M: Csr,
  B: DenseMatrix,
  opts: SparseSolverOptions,
  ctx: Pick<StageContext, 'executor'>,
  what: string,
  method: string,
): Promise<{ C: Float64Array; diagnostics: Record<string, unknown> } | { failed: string }> {
  const T = B.rows;
  const d = B.cols;
  const chunks: CgChunk[] = [];
  for (let c0 = 0; c0 < d; c0 += CG_CHUNK) {
    const m = Math.min(CG_CHUNK, d - c0);
    const b = new Float64Array(T * m);
    for (let i = 0; i < T; i++) b.set(B.data.subarray(i * d + c0, i * d + c0 + m), i * m);
    chunks.push({ M, b, m, tol: opts.tol, maxIterations: opts.maxIterations });
  }
  const results: CgResult[] = await ctx.executor.map(chunks, { name: `propagate/${method}/cg`, run: cgChunk, entry: { module: new URL('../sparse.js', import.meta.url).href, export: 'cgChunk' } });
  const iterations = Math.max(0, ...results.map((r) => r.iterations));
  const residual = Math.max(0, ...results.map((r) => r.residual));
  const bad = results.find((r) => !r.converged);
  if (bad) {
    const reason = bad.indefinite ? `${what} is not positive definite (CG met pᵀMp ≤ 0)` : `CG did not reach tol ${opts.tol} in ${opts.maxIterations} iterations (residual ${residual.toExponential(2)})`;
    if (opts.solver === 'auto') return { failed: reason };
    if (bad.indefinite) throw relationInvalid(`propagate ${method} with solver: cg needs ${what} symmetric positive definite, but ${what} is not positive definite (CG met pᵀMp ≤ 0). Use solver: direct (or auto).`);
    throw solverNotConverged(`CG on ${what} (propagate ${method})`, iterations, residual, opts.tol, 'Raise maxIterations, loosen tol, or use solver: direct.', { stage: 'propagate', method });
  }
  const C = new Float64Array(T * d);
  let c0 = 0;
  for (const [k, r] of results.entries()) {
    const m = chunks[k]!.m;
    for (let i = 0; i < T; i++) C.set(r.x.subarray(i * m, i * m + m), i * d + c0);
    c0 += m;
  }
  return { C, diagnostics: { solver: 'cg', iterations, residual } };
}

/** Options shared by the propagate methods that solve with A itself. */
export const singularOptions: Record<string, JsonSchema> = {
  maxCondition: { type: 'number', exclusiveMinimum: 1, default: 1e12, description: 'Largest acceptable 1-norm condition estimate of A.' },
  ...standardOptions.onSingularOptions('When A is singular or worse conditioned than maxCondition: stop with an error, use the pseudo-inverse, or solve (A + εI)C = B.'),
};

export interface SingularOptions {
  maxCondition: number;
  onSingular: 'error' | 'pinv' | 'ridge';
  epsilon: number;
}

/**
 * Solves A C = B (A T×T, B T×d) by LU, checking the condition estimate and applying the requested fallback.
 * Returns C and diagnostics (condition, fallback used).
 */
export function solveWithFallback(
  A: DenseMatrix,
  B: DenseMatrix,
  opts: SingularOptions,
  method: string,
  explicitInverse: boolean,
): { C: Float64Array; diagnostics: Record<string, unknown> } {
  const T = A.rows;
  const f = luFactor(A.data, T);
  const condition = conditionEstimate(A.data, f);
  if (condition <= opts.maxCondition) {
    const C = explicitInverse ? multiplyByInverse(f, B) : luSolve(f, B.data, B.cols);
    return { C, diagnostics: { condition, fallback: null } };
  }
  if (opts.onSingular === 'error')
    throw linearSystemSingular(
      `the relation matrix A (${T}×${T}) of propagate ${method}`,
      condition,
      opts.maxCondition,
      'Use a better-conditioned relation, or set stages.propagate.onSingular to pinv (pseudo-inverse) or ridge (solve (A + εI)C = B).',
      { stage: 'propagate', method },
    );
  if (opts.onSingular === 'pinv') {
    const { Matrix, pseudoInverse } = loadMlMatrix();
    const P = pseudoInverse(new Matrix(toRows(A)));
    const C = P.mmul(new Matrix(toRows(B)));
    return { C: Float64Array.from(C.to1DArray()), diagnostics: { condition, fallback: 'pinv' } };
  }
  let n1 = 0;
  for (let j = 0; j < T; j++) {
    let s = 0;
    for (let i = 0; i < T; i++) s += Math.abs(A.data[i * T + j]!);
    n1 = Math.max(n1, s);
  }
  const eps = opts.epsilon * (n1 || 1);
  const shifted = new Float64Array(A.data);
  for (let i = 0; i < T; i++) shifted[i * T + i]! += eps;
  const g = luFactor(shifted, T);
  const c2 = conditionEstimate(shifted, g);
  if (!Number.isFinite(c2))
    throw linearSystemSingular(`A + εI (ε = ${eps.toExponential(2)}) of propagate ${method}`, c2, opts.maxCondition, 'Increase stages.propagate.epsilon.', { stage: 'propagate', method });
  return { C: luSolve(g, B.data, B.cols), diagnostics: { condition, fallback: 'ridge', epsilon: eps, conditionAfterRidge: c2 } };
}

function multiplyByInverse(f: LU, B: DenseMatrix): Float64Array {
  const T = f.n;
  const I = new Float64Array(T * T);
  for (let i = 0; i < T; i++) I[i * T + i] = 1;
  const inv = luSolve(f, I, T); // the literal A⁻¹, as the `inverse` method promises
  const C = new Float64Array(T * B.cols);
  const d = B.cols;
  for (let i = 0; i < T; i++)
    for (let k = 0; k < T; k++) {
      const v = inv[i * T + k]!;
      if (v === 0) continue;
      for (let j = 0; j < d; j++) C[i * d + j]! += v * B.data[k * d + j]!;
    }
  return C;
}

function toRows(M: DenseMatrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < M.rows; i++) out.push(Array.from(M.data.subarray(i * M.cols, (i + 1) * M.cols)));
  return out;
}

/**
 * Checks that A can define a graph (symmetric, non-negative) and returns its off-diagonal part's degrees.
 * @throws WeightshareError RELATION_INVALID
 */
export function graphDegrees(A: DenseMatrix, method: string): Float64Array {
  const T = A.rows;
  const deg = new Float64Array(T);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      const v = A.data[i * T + j]!;
      if (i === j) continue;
      if (v < 0)
        throw negativeRelation(method, i, j, v);
      const w = A.data[j * T + i]!;
      if (Math.abs(v - w) > 1e-12 * Math.max(1, Math.abs(v)))
        throw relationInvalid(`${method} needs a symmetric relation, but A[${i + 1}][${j + 1}] = ${v} and A[${j + 1}][${i + 1}] = ${w}. Make the matrix symmetric.`);
      deg[i]! += v;
    }
  return deg;
}

/** Why CG cannot apply to A as it stands (not symmetric, or a diagonal entry ≤ 0), or null when it may. */
export function cgObstacle(A: DenseMatrix): string | null {
  const T = A.rows;
  for (let i = 0; i < T; i++) {
    if (!(A.data[i * T + i]! > 0)) return `A[${i + 1}][${i + 1}] = ${A.data[i * T + i]} is not positive`;
    for (let j = i + 1; j < T; j++) {
      const v = A.data[i * T + j]!;
      const w = A.data[j * T + i]!;
      if (v !== w && Math.abs(v - w) > 1e-12 * Math.max(Math.abs(v), Math.abs(w))) return `A[${i + 1}][${j + 1}] = ${v} but A[${j + 1}][${i + 1}] = ${w}`;
    }
  }
  return null;
}
