/**
 * Test metrics. Regression: MSE, RMSE, MAE, R² = 1 − SSE/SST and explained variance = 1 − Var(y − ŷ)/Var(y) (the two
 * differ when the residuals do not have mean zero; scikit-learn's `r2_score` and `explained_variance_score`), pooled
 * over all test rows and, for R² and explained variance, also per task weighted by the task's test size (the
 * convention of the School benchmark literature, where R² is called "explained variance"). Classification: accuracy
 * and mean log-loss.
 */
import { type DenseMatrix, matVec, row } from '../math/dense.js';
import type { LossName, TaskData } from '../plugin/types.js';

export interface RegressionMetrics {
  mse: number;
  /** √MSE. */
  rmse: number;
  /** Mean absolute error. */
  mae: number;
  /** R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² over all test rows (ȳ the pooled mean). */
  r2: number;
  /** 1 − Var(y − ŷ) / Var(y) over all test rows. */
  explainedVariance: number;
  /** Σ_t n_t·R²_t / Σ_t n_t over the tasks whose R² is defined (R²_t = 1 − MSE_t / Var_t, task t's own mean). */
  r2TaskWeighted: number;
  /** Σ_t n_t·EV_t / Σ_t n_t over the tasks whose explained variance is defined. */
  explainedVarianceTaskWeighted: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  logLoss: number;
}

export type Metrics = RegressionMetrics | ClassificationMetrics;

/** One task's metrics: a metric that is undefined for the task is null, and `undefined` says why. */
export interface TaskMetrics {
  id: string;
  rows: number;
  metrics: Metrics;
  undefined?: Record<string, string>;
}

/** Metrics of one model on a set of tasks; `undefined` names the overall metrics that are undefined (null) and why. */
export interface Evaluation {
  overall: Metrics;
  perTask: TaskMetrics[];
  undefined?: Record<string, string>;
}

/** Evaluates weights W (T×d, or one row for all tasks when `shared` is true) on tasks. */
export function evaluate(W: DenseMatrix, tasks: readonly TaskData[], loss: LossName, shared = false): Evaluation {
  const preds = predictAll(W, tasks, shared);
  return loss === 'squared' ? regression(tasks, preds) : classification(tasks, preds);
}

/** The linear predictor X_t w_t of every task (w the one row of W when `shared`). */
export function predictAll(W: DenseMatrix, tasks: readonly TaskData[], shared = false): Float64Array[] {
  return tasks.map((t) => matVec(t.X, row(W, shared ? 0 : t.index)));
}

/** The rows a metric needs: each task's id and targets. */
type Scored = Pick<TaskData, 'id' | 'y'>;

/** Metrics of given predictions (one array per task, in the order of `tasks`), the same computation as {@link evaluate}. */
export function scorePredictions(tasks: readonly Scored[], preds: Float64Array[], loss: LossName): Evaluation {
  return loss === 'squared' ? regression(tasks, preds) : classification(tasks, preds);
}

function regression(tasks: readonly Scored[], preds: Float64Array[]): Evaluation {
  let n = 0;
  let sum = 0;
  let esum = 0;
  for (const [k, t] of tasks.entries())
    for (let i = 0; i < t.y.length; i++) {
      sum += t.y[i]!;
      esum += t.y[i]! - preds[k]![i]!;
      n++;
    }
  const mean = sum / n;
  const emean = esum / n;
  let sse = 0;
  let sst = 0;
  let sae = 0;
  let sev = 0;
  const weighted = { r2: 0, r2n: 0, ev: 0, evn: 0 };
  const perTask: TaskMetrics[] = [];
  tasks.forEach((t, k) => {
    const p = preds[k]!;
    const m = t.y.length;
    let tm = 0;
    let te = 0;
    for (let i = 0; i < m; i++) {
      tm += t.y[i]!;
      te += t.y[i]! - p[i]!;
    }
    tm /= m;
    te /= m;
    let tsse = 0;
    let tsst = 0;
    let tsae = 0;
    let tsev = 0;
    for (let i = 0; i < m; i++) {
      const e = t.y[i]! - p[i]!;
      tsse += e * e;
      tsae += Math.abs(e);
      tsev += (e - te) ** 2;
      tsst += (t.y[i]! - tm) ** 2;
      sst += (t.y[i]! - mean) ** 2;
      sev += (e - emean) ** 2;
    }
    sse += tsse;
    sae += tsae;
    const metrics: RegressionMetrics = {
      mse: tsse / m,
      rmse: Math.sqrt(tsse / m),
      mae: tsae / m,
      r2: NaN,
      explainedVariance: NaN,
      r2TaskWeighted: NaN,
      explainedVarianceTaskWeighted: NaN,
    };
    const entry: TaskMetrics = { id: t.id, rows: m, metrics };
    if (tsst > 0) {
      metrics.r2 = metrics.r2TaskWeighted = 1 - tsse / tsst;
      metrics.explainedVariance = metrics.explainedVarianceTaskWeighted = 1 - tsev / tsst;
      weighted.r2 += m * metrics.r2;
      weighted.r2n += m;
      weighted.ev += m * metrics.explainedVariance;
      weighted.evn += m;
    } else {
      const why = m === 1 ? 'the task has a single test row, so its test targets have no variance' : `the task's ${m} test targets are all equal (${t.y[0]}), so they have no variance`;
      entry.undefined = { r2: why, explainedVariance: why, r2TaskWeighted: why, explainedVarianceTaskWeighted: why };
    }
    perTask.push(entry);
  });
  const overall: RegressionMetrics = {
    mse: sse / n,
    rmse: Math.sqrt(sse / n),
    mae: sae / n,
    r2: 1 - sse / sst,
    explainedVariance: 1 - sev / sst,
    r2TaskWeighted: weighted.r2n ? weighted.r2 / weighted.r2n : NaN,
    explainedVarianceTaskWeighted: weighted.evn ? weighted.ev / weighted.evn : NaN,
  };
  const why: Record<string, string> = {};
  if (!(sst > 0)) why.r2 = why.explainedVariance = `all ${n} test targets are equal, so they have no variance`;
  if (!weighted.r2n) why.r2TaskWeighted = why.explainedVarianceTaskWeighted = "no task's test targets vary (each task has a single test row, or equal targets)";
  return { overall, perTask, ...(Object.keys(why).length ? { undefined: why } : {}) };
}

function classification(tasks: readonly Scored[], preds: Float64Array[]): { overall: ClassificationMetrics; perTask: TaskMetrics[] } {
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
