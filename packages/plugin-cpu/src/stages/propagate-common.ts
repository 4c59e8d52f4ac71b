import { linearSystemSingular, relationInvalid, standardOptions, type DenseMatrix, type JsonSchema } from '@weightshare/framework';
import { Matrix, pseudoInverse } from 'ml-matrix';
import { conditionEstimate, luFactor, luSolve, type LU } from '../linalg.js';

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
        throw relationInvalid(
          `${method} needs non-negative relation weights, but A[${i + 1}][${j + 1}] = ${v}. Use relation.negative: clip, or a relation without negative entries.`,
        );
      const w = A.data[j * T + i]!;
      if (Math.abs(v - w) > 1e-12 * Math.max(1, Math.abs(v)))
        throw relationInvalid(`${method} needs a symmetric relation, but A[${i + 1}][${j + 1}] = ${v} and A[${j + 1}][${i + 1}] = ${w}. Make the matrix symmetric.`);
      deg[i]! += v;
    }
  return deg;
}
