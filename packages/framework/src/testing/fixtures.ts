/** Small fixed problems of the conformance kit, generated from fixed seeds (so every plugin sees the same numbers). */
import type { DenseMatrix } from '../math/dense.js';
import type { LossName, TaskData } from '../plugin/types.js';
import { Rng } from '../random.js';

export interface Fixture {
  T: number;
  d: number;
  /** Symmetric, non-negative, some zeros, diagonally dominant: fine for solve, laplacian and ppr alike. */
  relation: DenseMatrix;
  /** B (T×d). */
  weights: DenseMatrix;
  sizes: number[];
  tasks: TaskData[];
  loss: LossName;
}

/** A problem of T tasks, d − 1 features plus a bias column, n rows per task. */
export function makeFixture(seed: number, loss: LossName = 'squared', T = 5, d = 4, n = 25): Fixture {
  const rng = new Rng(seed);
  const A = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    A[i * T + i] = 2;
    for (let j = i + 1; j < T; j++) {
      const v = rng.next() < 0.3 ? 0 : Math.round(rng.next() * 40) / 100;
      A[i * T + j] = A[j * T + i] = v;
    }
  }
  const B = new Float64Array(T * d);
  for (let i = 0; i < B.length; i++) B[i] = rng.normal();
  const shared = Array.from({ length: d }, () => rng.normal());
  const tasks: TaskData[] = [];
  for (let t = 0; t < T; t++) {
    const w = shared.map((v) => v + 0.3 * rng.normal());
    const X = new Float64Array(n * d);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let z = 0;
      for (let j = 0; j < d; j++) {
        const x = j === d - 1 ? 1 : rng.normal();
        X[i * d + j] = x;
        z += x * w[j]!;
      }
      y[i] = loss === 'squared' ? z + 0.5 * rng.normal() : rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
    tasks.push({ id: `task-${t + 1}`, index: t, X: { rows: n, cols: d, data: X }, y, biasColumn: d - 1 });
  }
  return { T, d, relation: { rows: T, cols: T, data: A }, weights: { rows: T, cols: d, data: B }, sizes: tasks.map((t) => t.y.length), tasks, loss };
}
