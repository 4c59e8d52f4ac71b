import { tf } from '../tf.js';
import { standardOptions, type DenseMatrix, type JsonSchema, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { bicgstab, cg } from '../krylov.js';
import { checkConverged, solverOptions } from './common.js';
import { relationProduct, type RelationProduct } from '../sparse.js';

export const solveOptions: Record<string, JsonSchema> = {
  ...solverOptions,
  ...standardOptions.onSingularOptions(
    'When BiCGSTAB does not converge (A singular or badly conditioned): stop with an error; solve the regularized normal equations (AᵀA + εI)C = AᵀB by CG (the pseudo-inverse solution as ε → 0); or solve (A + εI)C = B.',
  ),
};

/**
 * Solves A X = B with BiCGSTAB, falling back as the options say. `B` null means the identity (for the literal
 * inverse). Returns X as a tensor the caller owns, and diagnostics.
 */
export function solveRelation(
  A: tf.Tensor2D,
  B: tf.Tensor2D,
  options: Record<string, unknown>,
  method: string,
  spdCandidate?: Float32Array,
  product?: RelationProduct,
): { X: tf.Tensor; diagnostics: Record<string, unknown> } {
  const applyA = (x: tf.Tensor): tf.Tensor => (product ? product.apply(x) : tf.matMul(A, x as tf.Tensor2D));
  const tol = options.tol as number;
  const maxIterations = options.maxIterations as number;
  let cgFailed: string | undefined;
  if (spdCandidate) {
    // symmetric with a positive diagonal: Jacobi-preconditioned CG, one product per iteration (BiCGSTAB takes two);
    // it stops at once if A shows it is not positive definite, and BiCGSTAB takes over
    const precond = tf.tensor2d(spdCandidate.map((v) => 1 / v), [spdCandidate.length, 1]);
    const res = cg(applyA, B, tol, maxIterations, undefined, precond);
    precond.dispose();
    if (res.converged) return { X: res.x, diagnostics: { solver: { method: 'cg', iterations: res.iterations, residual: res.residual }, fallback: null } };
    res.x.dispose();
    cgFailed = res.indefinite ? 'A is not positive definite' : `CG reached residual ${res.residual.toExponential(2)} in ${res.iterations} iterations`;
  }
  const first = bicgstab(applyA, B, tol, maxIterations);
  if (first.converged)
    return { X: first.x, diagnostics: { solver: { method: 'bicgstab', iterations: first.iterations, residual: first.residual }, fallback: null, ...(cgFailed ? { cgFailed } : {}) } };
  first.x.dispose();
  const fix = 'A may be singular or badly conditioned: use a better-conditioned relation, set stages.propagate.onSingular to ridge or pinv, or raise maxIterations.';
  if (options.onSingular === 'error') checkConverged(first, `BiCGSTAB on the relation matrix A of propagate ${method} (tfjs)`, tol, fix, { stage: 'propagate', method });
  const eps = tf.tidy(() => tf.max(tf.sum(tf.abs(A), 0)).dataSync()[0]!) * (options.epsilon as number);
  if (options.onSingular === 'ridge') {
    const shifted = tf.tidy(() => tf.add(A, tf.mul(tf.eye(A.shape[0]), eps)));
    const res = bicgstab((x) => tf.matMul(shifted, x as tf.Tensor2D), B, tol, maxIterations);
    shifted.dispose();
    const diag = checkConverged(res, `BiCGSTAB on A + εI (ε = ${eps.toExponential(2)})`, tol, 'Increase stages.propagate.epsilon.', { stage: 'propagate', method });
    return { X: res.x, diagnostics: { ...diag, fallback: 'ridge', epsilon: eps, firstResidual: first.residual } };
  }
  const rhs = tf.tidy(() => tf.matMul(A, B, true, false));
  const res = cg((x) => tf.add(tf.matMul(A, tf.matMul(A, x as tf.Tensor2D), true, false), tf.mul(x, eps * eps)), rhs, tol, maxIterations * 4);
  rhs.dispose();
  const diag = checkConverged(res, 'CG on the regularized normal equations', tol, 'Increase stages.propagate.epsilon.', { stage: 'propagate', method });
  return { X: res.x, diagnostics: { ...diag, fallback: 'pinv', epsilon: eps, firstResidual: first.residual } };
}

/** A's diagonal when A is symmetric with a positive diagonal (CG may then apply), else undefined. */
export function spdDiagonal(A: DenseMatrix): Float32Array | undefined {
  const T = A.rows;
  const diag = new Float32Array(T);
  for (let i = 0; i < T; i++) {
    const v = A.data[i * T + i]!;
    if (!(v > 0)) return undefined;
    diag[i] = v;
    for (let j = i + 1; j < T; j++) {
      const a = A.data[i * T + j]!;
      const b = A.data[j * T + i]!;
      if (a !== b && Math.abs(a - b) > 1e-12 * Math.max(Math.abs(a), Math.abs(b))) return undefined;
    }
  }
  return diag;
}

/** C = A⁻¹B by BiCGSTAB with tfjs ops (tfjs has no direct solver); no inverse is formed. */
export const propagateSolve: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = A⁻¹B by BiCGSTAB on all columns at once, or preconditioned CG when A is symmetric positive definite (no inverse formed).',
  options: solveOptions,
  run(input, options) {
    const A = toTensor(input.relation);
    const B = toTensor(input.weights);
    const product = relationProduct(Float32Array.from(input.relation.data), input.relation.rows);
    try {
      const { X, diagnostics } = solveRelation(A, B, options, 'solve', spdDiagonal(input.relation), product);
      const data = Float64Array.from(X.dataSync());
      X.dispose();
      return { propagated: { rows: input.weights.rows, cols: input.weights.cols, data }, diagnostics: { ...diagnostics, product: product.sparse ? 'sparse (host)' : 'dense' } };
    } finally {
      product.dispose();
      tf.dispose([A, B]);
    }
  },
};
