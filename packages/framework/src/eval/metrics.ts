/**
 * Test metrics. Regression: MSE and explained variance (R² = 1 − SSE/SST), both pooled over all test rows and per
 * task weighted by the task's test size (the convention of the School benchmark literature). Classification:
 * accuracy and mean log-loss.
 */
import { type DenseMatrix, matVec, row } from '../math/dense.js';
import type { LossName, TaskData } from '../plugin/types.js';

export interface RegressionMetrics {
  mse: number;
  /** √MSE. */
  rmse: number;
  /** 1 − Σ(y − ŷ)² / Σ(y − ȳ)² over all test rows (ȳ the pooled mean). */
  explainedVariance: number;
  /** Σ_t n_t·EV_t / Σ_t n_t, EV_t = 1 − MSE_t / Var_t (task t's own mean). */
  explainedVarianceTaskWeighted: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  logLoss: number;
}

export type Metrics = RegressionMetrics | ClassificationMetrics;

export interface TaskMetrics {
  id: string;
  rows: number;
  metrics: Metrics;
}

/** Evaluates weights W (T×d, or one row for all tasks when `shared` is true) on tasks. */
export function evaluate(W: DenseMatrix, tasks: readonly TaskData[], loss: LossName, shared = false): { overall: Metrics; perTask: TaskMetrics[] } {
  const preds = tasks.map((t) => matVec(t.X, row(W, shared ? 0 : t.index)));
  return loss === 'squared' ? regression(tasks, preds) : classification(tasks, preds);
}

function regression(tasks: readonly TaskData[], preds: Float64Array[]): { overall: RegressionMetrics; perTask: TaskMetrics[] } {
  let n = 0;
  let sum = 0;
  for (const t of tasks) for (let i = 0; i < t.y.length; i++) sum += t.y[i]!, n++;
  const mean = sum / n;
  let sse = 0;
  let sst = 0;
  let evWeighted = 0;
  const perTask: TaskMetrics[] = [];
  tasks.forEach((t, k) => {
    const p = preds[k]!;
    const m = t.y.length;
    let tm = 0;
    for (let i = 0; i < m; i++) tm += t.y[i]!;
    tm /= m;
    let tsse = 0;
    let tsst = 0;
    for (let i = 0; i < m; i++) {
      const e = t.y[i]! - p[i]!;
      tsse += e * e;
      tsst += (t.y[i]! - tm) ** 2;
      sst += (t.y[i]! - mean) ** 2;
    }
    sse += tsse;
    const ev = tsst > 0 ? 1 - tsse / tsst : tsse === 0 ? 1 : -Infinity;
    evWeighted += m * (Number.isFinite(ev) ? ev : 0);
    perTask.push({ id: t.id, rows: m, metrics: { mse: tsse / m, rmse: Math.sqrt(tsse / m), explainedVariance: ev, explainedVarianceTaskWeighted: ev } });
  });
  return { overall: { mse: sse / n, rmse: Math.sqrt(sse / n), explainedVariance: 1 - sse / sst, explainedVarianceTaskWeighted: evWeighted / n }, perTask };
}

function classification(tasks: readonly TaskData[], preds: Float64Array[]): { overall: ClassificationMetrics; perTask: TaskMetrics[] } {
  let n = 0;
  let correct = 0;
  let ll = 0;
  const perTask: TaskMetrics[] = [];
  tasks.forEach((t, k) => {
    const p = preds[k]!;
    let c = 0;
    let l = 0;
    for (let i = 0; i < t.y.length; i++) {
      const z = p[i]!;
      const y = t.y[i]!;
      if ((z > 0 ? 1 : 0) === y) c++;
      l += logistic(z, y);
    }
    n += t.y.length;
    correct += c;
    ll += l;
    perTask.push({ id: t.id, rows: t.y.length, metrics: { accuracy: c / t.y.length, logLoss: l / t.y.length } });
  });
  return { overall: { accuracy: correct / n, logLoss: ll / n }, perTask };
}

/** log(1 + exp(−s·z)) with s = ±1 from y ∈ {0,1}, computed without overflow. */
export function logistic(z: number, y: number): number {
  const m = y === 1 ? -z : z;
  return m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
}

/** {@link taskLoss} as a work item (the worker-thread entry the engine uses for the objective). */
export function taskLossItem(item: { task: TaskData; w: Float64Array; loss: LossName }): number {
  return taskLoss(item.task, item.w, item.loss);
}

/** Sum over rows of the loss of one task at weights w. */
export function taskLoss(t: TaskData, w: ArrayLike<number>, loss: LossName): number {
  // one fused pass, no prediction vector (the engine calls this for every task after every round); four rows at a
  // time, four independent dot products sharing the loads of w
  const { rows: n, cols: d, data: X } = t.X;
  const y = t.y;
  const squared = loss === 'squared';
  const term = (z: number, yi: number): number => (squared ? (yi - z) ** 2 : logistic(z, yi));
  let s = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let j = 0; j < d; j++) {
      const wj = w[j]!;
      z0 += X[o0 + j]! * wj;
      z1 += X[o1 + j]! * wj;
      z2 += X[o2 + j]! * wj;
      z3 += X[o3 + j]! * wj;
    }
    s += term(z0, y[i]!) + term(z1, y[i + 1]!) + term(z2, y[i + 2]!) + term(z3, y[i + 3]!);
  }
  for (; i < n; i++) {
    const o = i * d;
    let z = 0;
    for (let j = 0; j < d; j++) z += X[o + j]! * w[j]!;
    s += term(z, y[i]!);
  }
  return s;
}

/**
 * The objective the rounds minimize, computed by the framework in float64 whatever backend ran:
 * Σ_t [ L_t(w_t) + ρ‖P w_t‖² + λ c_t ‖w_t − E_t‖² ]. `losses`: each task's L_t(w_t), in `tasks` order, when already
 * computed (the engine computes them through the executor).
 */
export function objective(
  W: DenseMatrix,
  tasks: readonly TaskData[],
  loss: LossName,
  E: DenseMatrix,
  c: ArrayLike<number>,
  lambda: number,
  ridge: number,
  losses?: ArrayLike<number>,
): { total: number; loss: number; penalty: number; ridge: number } {
  let L = 0;
  let P = 0;
  let R = 0;
  for (const [k, t] of tasks.entries()) {
    const w = row(W, t.index);
    const e = row(E, t.index);
    L += losses ? losses[k]! : taskLoss(t, w, loss);
    let pen = 0;
    let rid = 0;
    for (let j = 0; j < w.length; j++) {
      pen += (w[j]! - e[j]!) ** 2;
      if (j !== t.biasColumn) rid += w[j]! ** 2;
    }
    P += lambda * c[t.index]! * pen;
    R += ridge * rid;
  }
  return { total: L + P + R, loss: L, penalty: P, ridge: R };
}
