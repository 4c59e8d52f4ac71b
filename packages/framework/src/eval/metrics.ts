/**
 * Test metrics. Regression: MSE, RMSE, MAE, R² = 1 − SSE/SST and explained variance = 1 − Var(y − ŷ)/Var(y) (the two
 * differ when the residuals do not have mean zero; scikit-learn's `r2_score` and `explained_variance_score`), pooled
 * over all test rows and, for R² and explained variance, also per task weighted by the task's test size (the
 * convention of the School benchmark literature, where R² is called "explained variance"). Binary: accuracy, mean
 * log-loss, ROC AUC. Multi-class: accuracy, cross-entropy, macro-F1. Counts: mean Poisson deviance, MAE, MSE.
 */
import { type DenseMatrix, matVec, row } from '../math/dense.js';
import { BUILTIN_LOSSES, dataLoss, linearLayout, linearModel, outputsFor } from '../components/index.js';
import type { LossInfo, LossName, ModelInfo, TargetKind, TaskData } from '../plugin/types.js';

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
  /** Mean −log P(y) (binary: the log-loss). */
  logLoss: number;
  /** Binary: area under the ROC curve (ties count one half); undefined when the rows hold one label only. */
  rocAuc?: number;
}

export interface MulticlassMetrics {
  accuracy: number;
  /** Mean −log P(y). */
  crossEntropy: number;
  /** Unweighted mean over classes of F1 = 2TP / (2TP + FP + FN), over the classes that occur in y or the predictions. */
  macroF1: number;
}

export interface CountMetrics {
  /** Mean Poisson deviance 2·[y log(y/μ) − (y − μ)] (scikit-learn's `mean_poisson_deviance`). */
  poissonDeviance: number;
  mae: number;
  mse: number;
}

export type Metrics = RegressionMetrics | ClassificationMetrics | MulticlassMetrics | CountMetrics;

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

/** The metric names a target kind reports, and whether larger is better. */
export const METRICS_BY_KIND: Record<TargetKind, readonly { name: string; larger: boolean }[]> = {
  regression: [
    { name: 'mse', larger: false },
    { name: 'rmse', larger: false },
    { name: 'mae', larger: false },
    { name: 'r2', larger: true },
    { name: 'explainedVariance', larger: true },
    { name: 'r2TaskWeighted', larger: true },
    { name: 'explainedVarianceTaskWeighted', larger: true },
  ],
  binary: [
    { name: 'accuracy', larger: true },
    { name: 'logLoss', larger: false },
    { name: 'rocAuc', larger: true },
  ],
  multiclass: [
    { name: 'accuracy', larger: true },
    { name: 'crossEntropy', larger: false },
    { name: 'macroF1', larger: true },
  ],
  count: [
    { name: 'poissonDeviance', larger: false },
    { name: 'mae', larger: false },
    { name: 'mse', larger: false },
  ],
};

/** The model the metrics evaluate: the loss (its kind and inverse link) and the model family with its layout. */
export interface Evaluated {
  loss: Pick<LossInfo, 'name' | 'component' | 'options'>;
  model: Pick<ModelInfo, 'component' | 'layout' | 'options'>;
}

/** A linear one-output model with the squared loss: what programs that call {@link evaluate} with a loss name mean. */
function evaluatedOf(e: Evaluated | LossName, d: number): Evaluated {
  if (typeof e !== 'string') return e;
  const component = BUILTIN_LOSSES[e]!;
  return { loss: { name: e, component, options: {} }, model: { component: linearModel, layout: linearLayout(d, 1, -1), options: {} } };
}

/** Evaluates parameters W (T×p, or one row for all tasks when `shared` is true) on tasks. */
export function evaluate(W: DenseMatrix, tasks: readonly TaskData[], how: Evaluated | LossName, shared = false): Evaluation {
  const e = evaluatedOf(how, tasks[0]?.X.cols ?? 0);
  return scoreOutputs(tasks, outputsAll(W, tasks, e, shared), e);
}

/** The model's outputs Z_t = f(X_t, θ_t) of every task (θ the one row of W when `shared`). */
export function outputsAll(W: DenseMatrix, tasks: readonly TaskData[], e: Evaluated, shared = false): Float64Array[] {
  return tasks.map((t) => outputsFor(t, row(W, shared ? 0 : t.index), e.model));
}

/** The linear predictor X_t w_t of every task (w the one row of W when `shared`). */
export function predictAll(W: DenseMatrix, tasks: readonly TaskData[], shared = false): Float64Array[] {
  return tasks.map((t) => matVec(t.X, row(W, shared ? 0 : t.index)));
}

/** The rows a metric needs: each task's id and targets. */
type Scored = Pick<TaskData, 'id' | 'y'>;

/**
 * Metrics of given model outputs (one array of n×k per task, in the order of `tasks`), by the loss's target kind.
 * A loss name stands for that built-in loss with one output (outputs = the linear predictor).
 */
export function scoreOutputs(tasks: readonly Scored[], outputs: Float64Array[], how: Evaluated | LossName): Evaluation {
  const e = evaluatedOf(how, 1);
  const k = e.model.layout.outputs;
  const kind = e.loss.component.target;
  if (kind === 'binary') return classification(tasks, outputs, e);
  if (kind === 'multiclass') return multiclass(tasks, outputs, k, e);
  const means = outputs.map((Z) => {
    const out = new Float64Array(Z.length / k);
    e.loss.component.link(Z, k, out, e.loss.options);
    return out;
  });
  return kind === 'count' ? counts(tasks, means) : regression(tasks, means);
}

/** Metrics of given predictions (one array per task, in the order of `tasks`): linear predictors for a loss name. */
export function scorePredictions(tasks: readonly Scored[], preds: Float64Array[], loss: LossName | Evaluated): Evaluation {
  return scoreOutputs(tasks, preds, loss);
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

/** P(y = 1) of each row from one output: σ(z) for the logistic loss, else the loss's inverse link. */
function probabilities(Z: Float64Array, e: Evaluated): Float64Array {
  const p = new Float64Array(Z.length);
  e.loss.component.link(Z, 1, p, e.loss.options);
  return p;
}

/** −log P(y) of one binary row: exact in z for the logistic loss, else from the clipped probability. */
function binaryLogLoss(e: Evaluated, z: number, p: number, y: number): number {
  if (e.loss.name === 'logistic' && e.loss.component === BUILTIN_LOSSES.logistic) return logistic(z, y);
  const q = Math.min(Math.max(y === 1 ? p : 1 - p, 1e-15), 1);
  return -Math.log(q);
}

/** ROC AUC by ranks (Mann–Whitney U, ties one half); NaN when the rows hold one label only. */
export function rocAuc(y: ArrayLike<number>, score: ArrayLike<number>): number {
  const n = y.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[a]! - score[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && score[order[j + 1]!] === score[order[i]!]) j++;
    const rank = (i + j) / 2 + 1; // mean rank of the tie group, 1-based
    for (let k = i; k <= j; k++) if (y[order[k]!] === 1) {
      pos++;
      rankSum += rank;
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (!pos || !neg) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function classification(tasks: readonly Scored[], outputs: Float64Array[], e: Evaluated): Evaluation {
  let n = 0;
  let correct = 0;
  let ll = 0;
  const perTask: TaskMetrics[] = [];
  const allY: number[] = [];
  const allP: number[] = [];
  tasks.forEach((t, k) => {
    const Z = outputs[k]!;
    const P = probabilities(Z, e);
    const byZ = e.loss.name === 'logistic';
    let c = 0;
    let l = 0;
    for (let i = 0; i < t.y.length; i++) {
      const y = t.y[i]!;
      if (((byZ ? Z[i]! > 0 : P[i]! > 0.5) ? 1 : 0) === y) c++;
      l += binaryLogLoss(e, Z[i]!, P[i]!, y);
      allY.push(y);
      allP.push(P[i]!);
    }
    n += t.y.length;
    correct += c;
    ll += l;
    const auc = rocAuc(t.y, P);
    const metrics: ClassificationMetrics = { accuracy: c / t.y.length, logLoss: l / t.y.length, rocAuc: auc };
    perTask.push({ id: t.id, rows: t.y.length, metrics, ...(Number.isNaN(auc) ? { undefined: { rocAuc: `the task's ${t.y.length} test rows all have label ${t.y[0]}, so ROC AUC is undefined` } } : {}) });
  });
  const auc = rocAuc(allY, allP);
  return {
    overall: { accuracy: correct / n, logLoss: ll / n, rocAuc: auc },
    perTask,
    ...(Number.isNaN(auc) ? { undefined: { rocAuc: `all ${n} test rows have the same label, so ROC AUC is undefined` } } : {}),
  };
}

/** log Σ e^z of one row, shifted by its largest entry. */
function logSumExp(Z: Float64Array, o: number, k: number): number {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (Z[o + c]! > max) max = Z[o + c]!;
  let s = 0;
  for (let c = 0; c < k; c++) s += Math.exp(Z[o + c]! - max);
  return max + Math.log(s);
}

/** Macro-F1 over the classes that occur in the labels or the predictions. */
function macroF1(tp: Float64Array, fp: Float64Array, fn: Float64Array): number {
  let sum = 0;
  let count = 0;
  for (let c = 0; c < tp.length; c++) {
    if (tp[c]! + fp[c]! + fn[c]! === 0) continue;
    sum += (2 * tp[c]!) / (2 * tp[c]! + fp[c]! + fn[c]!);
    count++;
  }
  return count ? sum / count : NaN;
}

function multiclass(tasks: readonly Scored[], outputs: Float64Array[], k: number, e: Evaluated): Evaluation {
  const all = { tp: new Float64Array(k), fp: new Float64Array(k), fn: new Float64Array(k) };
  let n = 0;
  let correct = 0;
  let ce = 0;
  const P = new Float64Array(k);
  const builtin = e.loss.component === BUILTIN_LOSSES.softmax;
  const perTask: TaskMetrics[] = tasks.map((t, ti) => {
    const Z = outputs[ti]!;
    const own = { tp: new Float64Array(k), fp: new Float64Array(k), fn: new Float64Array(k) };
    let c = 0;
    let l = 0;
    for (let i = 0; i < t.y.length; i++) {
      const o = i * k;
      const y = t.y[i]!;
      let best = 0;
      for (let j = 1; j < k; j++) if (Z[o + j]! > Z[o + best]!) best = j;
      if (builtin) l += logSumExp(Z, o, k) - Z[o + y]!;
      else {
        e.loss.component.link(Z.subarray(o, o + k), k, P, e.loss.options);
        l -= Math.log(Math.min(Math.max(P[y]!, 1e-15), 1));
        best = 0;
        for (let j = 1; j < k; j++) if (P[j]! > P[best]!) best = j;
      }
      if (best === y) {
        c++;
        own.tp[y]!++;
        all.tp[y]!++;
      } else {
        own.fp[best]!++;
        own.fn[y]!++;
        all.fp[best]!++;
        all.fn[y]!++;
      }
    }
    n += t.y.length;
    correct += c;
    ce += l;
    return { id: t.id, rows: t.y.length, metrics: { accuracy: c / t.y.length, crossEntropy: l / t.y.length, macroF1: macroF1(own.tp, own.fp, own.fn) } };
  });
  return { overall: { accuracy: correct / n, crossEntropy: ce / n, macroF1: macroF1(all.tp, all.fp, all.fn) }, perTask };
}

/** y·log(y/μ) − (y − μ), with 0·log 0 = 0. */
function devianceTerm(y: number, mu: number): number {
  return (y > 0 ? y * Math.log(y / mu) : 0) - (y - mu);
}

function counts(tasks: readonly Scored[], means: Float64Array[]): Evaluation {
  let n = 0;
  let dev = 0;
  let ae = 0;
  let se = 0;
  const perTask: TaskMetrics[] = tasks.map((t, k) => {
    const mu = means[k]!;
    let d = 0;
    let a = 0;
    let s = 0;
    for (let i = 0; i < t.y.length; i++) {
      d += 2 * devianceTerm(t.y[i]!, mu[i]!);
      a += Math.abs(t.y[i]! - mu[i]!);
      s += (t.y[i]! - mu[i]!) ** 2;
    }
    n += t.y.length;
    dev += d;
    ae += a;
    se += s;
    return { id: t.id, rows: t.y.length, metrics: { poissonDeviance: d / t.y.length, mae: a / t.y.length, mse: s / t.y.length } };
  });
  return { overall: { poissonDeviance: dev / n, mae: ae / n, mse: se / n }, perTask };
}

/** log(1 + exp(−s·z)) with s = ±1 from y ∈ {0,1}, computed without overflow. */
export function logistic(z: number, y: number): number {
  const m = y === 1 ? -z : z;
  return m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
}

/** Sum over rows of the loss of one task at weights w: a one-output linear model with a built-in loss. */
export function taskLoss(t: TaskData, w: ArrayLike<number>, loss: LossName): number {
  return dataLoss(t, w, { name: loss, component: BUILTIN_LOSSES[loss]!, options: {} }, { component: linearModel, layout: linearLayout(t.X.cols, 1, -1), options: {} });
}
