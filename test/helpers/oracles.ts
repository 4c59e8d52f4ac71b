/**
 * Closed-form solutions computed independently of the plugins (ml-matrix, float64): the correctness oracles.
 */
import { Matrix, solve, inverse } from 'ml-matrix';
import type { TaskData } from '@weightshare/framework';

const X = (t: TaskData): Matrix => new Matrix(Array.from({ length: t.X.rows }, (_, i) => Array.from(t.X.data.subarray(i * t.X.cols, (i + 1) * t.X.cols))));
const Y = (t: TaskData): Matrix => Matrix.columnVector(Array.from(t.y));

function ridgeP(d: number, bias: number, rho: number): Matrix {
  const P = Matrix.zeros(d, d);
  for (let j = 0; j < d; j++) if (j !== bias) P.set(j, j, rho);
  return P;
}

/**
 * Mean-regularized MTL (Evgeniou & Pontil 2004), squared loss:
 * min Σ_t ‖y_t − X_t w_t‖² + ρ‖P w_t‖² + λ‖w_t − w̄‖². With H_t = X_tᵀX_t + ρP + λI:
 * (I − (λ/T) Σ H_t⁻¹) E = (1/T) Σ H_t⁻¹ X_tᵀ y_t, then w_t = H_t⁻¹ (X_tᵀ y_t + λE).
 */
export function meanRegularized(tasks: readonly TaskData[], lambda: number, rho: number): number[][] {
  const T = tasks.length;
  const d = tasks[0]!.X.cols;
  const Hinv = tasks.map((t) => {
    const x = X(t);
    return inverse(x.transpose().mmul(x).add(ridgeP(d, t.biasColumn, rho)).add(Matrix.eye(d).mul(lambda)));
  });
  const xty = tasks.map((t) => X(t).transpose().mmul(Y(t)));
  const M = Matrix.eye(d);
  const rhs = Matrix.zeros(d, 1);
  for (let t = 0; t < T; t++) {
    M.sub(Hinv[t]!.clone().mul(lambda / T));
    rhs.add(Hinv[t]!.mmul(xty[t]!).mul(1 / T));
  }
  const E = solve(M, rhs);
  return tasks.map((_, t) => Hinv[t]!.mmul(xty[t]!.clone().add(E.clone().mul(lambda))).to1DArray());
}

/**
 * Graph-regularized MTL: min Σ_t ‖y_t − X_t w_t‖² + ρ‖P w_t‖² + λ Σ_{s<t} a_st ‖w_s − w_t‖², i.e.
 * (blockdiag(X_tᵀX_t + ρP) + λ (L ⊗ I)) vec W = vec(X_tᵀ y_t), L = D − A.
 */
export function graphRegularized(tasks: readonly TaskData[], A: number[][], lambda: number, rho: number): number[][] {
  const T = tasks.length;
  const d = tasks[0]!.X.cols;
  const K = Matrix.zeros(T * d, T * d);
  const rhs = Matrix.zeros(T * d, 1);
  for (let t = 0; t < T; t++) {
    const x = X(tasks[t]!);
    const G = x.transpose().mmul(x).add(ridgeP(d, tasks[t]!.biasColumn, rho));
    const b = x.transpose().mmul(Y(tasks[t]!));
    for (let i = 0; i < d; i++) {
      rhs.set(t * d + i, 0, b.get(i, 0));
      for (let j = 0; j < d; j++) K.set(t * d + i, t * d + j, G.get(i, j));
    }
    let deg = 0;
    for (let s = 0; s < T; s++) if (s !== t) deg += A[t]![s]!;
    for (let s = 0; s < T; s++) {
      const l = s === t ? deg : -A[t]![s]!;
      if (l === 0) continue;
      for (let i = 0; i < d; i++) K.set(t * d + i, s * d + i, K.get(t * d + i, s * d + i) + lambda * l);
    }
  }
  const w = solve(K, rhs).to1DArray();
  return Array.from({ length: T }, (_, t) => w.slice(t * d, (t + 1) * d));
}

/** Largest relative error max|a − b| / max|b| over two matrices given as rows. */
export function relativeError(a: ArrayLike<number>[] | Float64Array, b: number[][], cols?: number): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++)
    for (let j = 0; j < b[i]!.length; j++) {
      const av = a instanceof Float64Array ? a[i * cols! + j]! : (a[i] as ArrayLike<number>)[j]!;
      num = Math.max(num, Math.abs(av - b[i]![j]!));
      den = Math.max(den, Math.abs(b[i]![j]!));
    }
  return num / den;
}

/**
 * Weighted mean-regularized MTL: min Σ_t ‖y_t − X_t w_t‖² + ρ‖P w_t‖² + λ Σ_t c_t ‖w_t − E‖² over W and E.
 * With H_t = X_tᵀX_t + ρP + λc_t I and S = Σ c_t: (I − (λ/S) Σ c_t² H_t⁻¹) E = (1/S) Σ c_t H_t⁻¹ X_tᵀ y_t.
 */
export function weightedMeanRegularized(tasks: readonly TaskData[], c: number[], lambda: number, rho: number): number[][] {
  const d = tasks[0]!.X.cols;
  const S = c.reduce((a, b) => a + b, 0);
  const Hinv = tasks.map((t, k) => {
    const x = X(t);
    return inverse(x.transpose().mmul(x).add(ridgeP(d, t.biasColumn, rho)).add(Matrix.eye(d).mul(lambda * c[k]!)));
  });
  const xty = tasks.map((t) => X(t).transpose().mmul(Y(t)));
  const M = Matrix.eye(d);
  const rhs = Matrix.zeros(d, 1);
  tasks.forEach((_, t) => {
    M.sub(Hinv[t]!.clone().mul((lambda * c[t]! * c[t]!) / S));
    rhs.add(Hinv[t]!.mmul(xty[t]!).mul(c[t]! / S));
  });
  const E = solve(M, rhs);
  return tasks.map((_, t) => Hinv[t]!.mmul(xty[t]!.clone().add(E.clone().mul(lambda * c[t]!))).to1DArray());
}
