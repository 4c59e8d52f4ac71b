/**
 * Iterative linear solvers written with tfjs ops (tfjs has no linear solve). Each solves A X = B for all columns of B
 * at once: every column runs its own Krylov recurrence, with the scalars of the recurrences as a row vector, so one
 * matMul per iteration serves all columns. Stops when every column's relative residual ‖b − Ax‖/‖b‖ ≤ tol.
 *   cg        conjugate gradient, for symmetric positive definite A (I + αL, I − (1−α)S, normal equations)
 *   bicgstab  BiCGSTAB (van der Vorst 1992), for general non-singular A
 * Both take A as a function, so batched systems (one per task) work the same way with 3-D tensors.
 */
import { tf } from './tf.js';

export interface KrylovResult {
  x: tf.Tensor;
  iterations: number;
  /** Largest relative residual over the columns at the end. */
  residual: number;
  /** Relative residual of each column (or of each system of a batch). */
  residuals: Float32Array;
  converged: boolean;
}

/** Reduction axis of the "dot products": rows of a 2-D block, or the middle axis of a batch of column vectors. */
const axisOf = (t: tf.Tensor): number => (t.rank === 2 ? 0 : 1);
const dot = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.sum(tf.mul(a, b), axisOf(a), true);
/** a / b, 0 where b is 0 (a column that has converged exactly). */
const safeDiv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.where(tf.equal(b, 0), tf.zerosLike(a), tf.div(a, tf.where(tf.equal(b, 0), tf.onesLike(b), b)));

function relativeResidual(r: tf.Tensor, bNorm: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.div(tf.sqrt(dot(r, r)), bNorm)).dataSync()[0]!);
}

function residualsOf(r: tf.Tensor, bNorm: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.div(tf.sqrt(dot(r, r)), bNorm).dataSync() as Float32Array);
}

/**
 * Conjugate gradient for SPD A, Jacobi-preconditioned when `precond` (the inverse of A's diagonal, broadcastable to b:
 * T×1 for a 2-D block) is given. `x0` defaults to zero. When pᵀAp ≤ 0 shows A is not positive definite, stops at once
 * with `indefinite` set. The caller owns the returned `x`.
 */
export function cg(
  applyA: (x: tf.Tensor) => tf.Tensor,
  b: tf.Tensor,
  tol: number,
  maxIterations: number,
  x0?: tf.Tensor,
  precond?: tf.Tensor,
): KrylovResult & { indefinite?: boolean } {
  const M = (r: tf.Tensor): tf.Tensor => (precond ? tf.mul(precond, r) : r);
  const bNorm = tf.tidy(() => tf.maximum(tf.sqrt(dot(b, b)), 1e-30));
  let x = x0 ? x0.clone() : tf.zerosLike(b);
  let r = x0 ? tf.tidy(() => tf.sub(b, applyA(x))) : b.clone();
  let p = tf.tidy(() => M(r).clone());
  let rz = tf.tidy(() => dot(r, p));
  let residual = relativeResidual(r, bNorm);
  let indefinite = false;
  let it = 0;
  for (; it < maxIterations && residual > tol; it++) {
    const next = tf.tidy(() => {
      const Ap = applyA(p);
      const pAp = dot(p, Ap);
      const alpha = safeDiv(rz, pAp);
      const x1 = tf.add(x, tf.mul(alpha, p));
      const r1 = tf.sub(r, tf.mul(alpha, Ap));
      const z1 = M(r1);
      const rz1 = dot(r1, z1);
      const p1 = tf.add(z1, tf.mul(safeDiv(rz1, rz), p));
      // pᵀAp ≤ 0 with p ≠ 0 means A is not positive definite (a column solved exactly has p = 0)
      const bad = tf.any(tf.logicalAnd(tf.lessEqual(pAp, 0), tf.greater(dot(p, p), 0)));
      return [x1, r1, rz1, p1, bad] as const;
    });
    const bad = next[4].dataSync()[0]!;
    next[4].dispose();
    tf.dispose([x, r, rz, p]);
    [x, r, rz, p] = [next[0], next[1], next[2], next[3]];
    if (bad) {
      indefinite = true;
      it++;
      break;
    }
    residual = relativeResidual(r, bNorm);
  }
  const residuals = residualsOf(r, bNorm);
  tf.dispose([r, p, rz, bNorm]);
  return { x, iterations: it, residual, residuals, converged: !indefinite && residual <= tol, ...(indefinite ? { indefinite } : {}) };
}

/** BiCGSTAB for general non-singular A. The caller owns the returned `x`. */
export function bicgstab(applyA: (x: tf.Tensor) => tf.Tensor, b: tf.Tensor, tol: number, maxIterations: number): KrylovResult {
  const bNorm = tf.tidy(() => tf.maximum(tf.sqrt(dot(b, b)), 1e-30));
  const rHat = b.clone();
  let x = tf.zerosLike(b);
  let r = b.clone();
  let p = tf.zerosLike(b);
  let v = tf.zerosLike(b);
  let rho = tf.tidy(() => tf.onesLike(dot(b, b)));
  let alpha = rho.clone();
  let omega = rho.clone();
  let residual = relativeResidual(r, bNorm);
  let it = 0;
  for (; it < maxIterations && residual > tol; it++) {
    const next = tf.tidy(() => {
      const rho1 = dot(rHat, r);
      const beta = tf.mul(safeDiv(rho1, rho), safeDiv(alpha, omega));
      const p1 = tf.add(r, tf.mul(beta, tf.sub(p, tf.mul(omega, v))));
      const v1 = applyA(p1);
      const alpha1 = safeDiv(rho1, dot(rHat, v1));
      const s = tf.sub(r, tf.mul(alpha1, v1));
      const t = applyA(s);
      const omega1 = safeDiv(dot(t, s), dot(t, t));
      const x1 = tf.add(x, tf.add(tf.mul(alpha1, p1), tf.mul(omega1, s)));
      const r1 = tf.sub(s, tf.mul(omega1, t));
      return [x1, r1, p1, v1, rho1, alpha1, omega1] as const;
    });
    tf.dispose([x, r, p, v, rho, alpha, omega]);
    [x, r, p, v, rho, alpha, omega] = next;
    residual = relativeResidual(r, bNorm);
  }
  const residuals = residualsOf(r, bNorm);
  tf.dispose([r, p, v, rho, alpha, omega, rHat, bNorm]);
  return { x, iterations: it, residual, residuals, converged: residual <= tol };
}
