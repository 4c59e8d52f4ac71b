import { negativeRelation, relationInvalid, solverNotConverged, type DenseMatrix, type JsonSchema } from '@weightshare/framework';
import type { KrylovResult } from '../krylov.js';

/** Options of every method that solves a linear system iteratively. */
export const solverOptions: Record<string, JsonSchema> = {
  tol: { type: 'number', exclusiveMinimum: 0, default: 1e-6, description: 'Relative residual ‖b − Ax‖/‖b‖ to reach (float32: not much below 1e-7).' },
  maxIterations: { type: 'integer', minimum: 1, default: 1000, description: 'Krylov iterations at most; more is an error.' },
};

/** Throws SOLVER_NOT_CONVERGED unless the solve converged; returns its diagnostics. */
export function checkConverged(res: KrylovResult, what: string, tol: number, fix: string, context: Record<string, unknown>): Record<string, unknown> {
  if (!res.converged) {
    res.x.dispose();
    throw solverNotConverged(what, res.iterations, res.residual, tol, fix, context);
  }
  return { solver: { iterations: res.iterations, residual: res.residual } };
}

/** A's off-diagonal part as weights of a graph, after checking it is one (symmetric, non-negative). */
export function graphWeights(A: DenseMatrix, method: string): Float32Array {
  const T = A.rows;
  const W = new Float32Array(T * T);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      if (i === j) continue;
      const v = A.data[i * T + j]!;
      if (v < 0) throw negativeRelation(method, i, j, v);
      if (Math.abs(v - A.data[j * T + i]!) > 1e-12 * Math.max(1, Math.abs(v)))
        throw relationInvalid(`${method} needs a symmetric relation, but A[${i + 1}][${j + 1}] ≠ A[${j + 1}][${i + 1}]. Make the matrix symmetric.`);
      W[i * T + j] = v;
    }
  return W;
}
