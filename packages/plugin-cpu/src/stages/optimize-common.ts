/**
 * The per-task problem every optimize method solves:
 *   f(w) = L(y, Xw) + ρ‖Pw‖² + λ·c·‖w − e‖²
 * (L the sum of squared errors or of logistic losses, P zeroing the bias, e the task's fused target, c its penalty
 * weight). Squared loss works from the sufficient statistics XᵀX, Xᵀy, yᵀy (cached per run), so a gradient costs
 * O(d²) instead of O(nd).
 */
import {
  nonFiniteLoss,
  type LossName,
  type OptimizeInput,
  type OptimizeOutput,
  type StageContext,
  type TaskData,
  type TaskOptimizeReport,
} from '@weightshare/framework';
import { largestEigenvalue } from '../linalg.js';


/** Sufficient statistics of one task. */
export interface TaskStats {
  n: number;
  d: number;
  /** XᵀX, d×d row-major. */
  G: Float64Array;
  /** Xᵀy. */
  b: Float64Array;
  yy: number;
  /** Largest eigenvalue of XᵀX. */
  lmax: number;
}

/** XᵀX and friends of a task, computed once per run. */
export function taskStats(ctx: StageContext, task: TaskData): TaskStats {
  let cache = ctx.cache.get('plugin-cpu/stats') as WeakMap<TaskData, TaskStats> | undefined;
  if (!cache) {
    cache = new WeakMap();
    ctx.cache.set('plugin-cpu/stats', cache);
  }
  let s = cache.get(task);
  if (!s) {
    const { rows: n, cols: d, data: X } = task.X;
    const G = new Float64Array(d * d);
    const b = new Float64Array(d);
    let yy = 0;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      const yi = task.y[i]!;
      yy += yi * yi;
      for (let j = 0; j < d; j++) {
        const xj = X[o + j]!;
        if (xj === 0) continue;
        b[j]! += xj * yi;
        const rj = j * d;
        for (let k = j; k < d; k++) G[rj + k]! += xj * X[o + k]!;
      }
    }
    for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) G[j * d + k] = G[k * d + j]!;
    s = { n, d, G, b, yy, lmax: largestEigenvalue(G, d) };
    cache.set(task, s);
  }
  return s;
}

/** One task's problem. */
export interface TaskProblem {
  task: TaskData;
  loss: LossName;
  stats: TaskStats;
  e: Float64Array;
  /** λ·c_t */
  pull: number;
  ridge: number;
}

export function problems(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext): TaskProblem[] {
  const lambda = options.lambda as number;
  const ridge = options.ridge as number;
  const d = input.targets.cols;
  return input.tasks.map((task) => ({
    task,
    loss: input.loss,
    stats: taskStats(ctx, task),
    e: input.targets.data.subarray(task.index * d, task.index * d + d),
    pull: lambda * input.penaltyWeights[task.index]!,
    ridge,
  }));
}

/** Lipschitz constant of ∇f (for the automatic step size 1/L). */
export function lipschitz(p: TaskProblem): number {
  const curvature = p.loss === 'squared' ? 2 * p.stats.lmax : p.stats.lmax / 4;
  return curvature + 2 * p.ridge + 2 * p.pull || 1;
}

/**
 * f(w) and ∇f(w) on all rows (or on `rows`, scaled by n/|rows| to estimate the full sum). Writes the gradient into
 * `g` and returns f (the data part estimated when `rows` is given).
 */
export function valueAndGradient(p: TaskProblem, w: Float64Array, g: Float64Array, rows?: Int32Array | number[]): number {
  const { d } = p.stats;
  let f = 0;
  if (p.loss === 'squared' && !rows) {
    const { G, b, yy } = p.stats;
    let wGw = 0;
    let bw = 0;
    for (let j = 0; j < d; j++) {
      let s = 0;
      const rj = j * d;
      for (let k = 0; k < d; k++) s += G[rj + k]! * w[k]!;
      g[j] = 2 * (s - b[j]!);
      wGw += w[j]! * s;
      bw += b[j]! * w[j]!;
    }
    f = yy - 2 * bw + wGw;
  } else {
    g.fill(0);
    const X = p.task.X.data;
    const y = p.task.y;
    const count = rows ? rows.length : p.stats.n;
    const scale = rows ? p.stats.n / rows.length : 1;
    for (let r = 0; r < count; r++) {
      const i = rows ? rows[r]! : r;
      const o = i * d;
      let z = 0;
      for (let j = 0; j < d; j++) z += X[o + j]! * w[j]!;
      let coef: number;
      if (p.loss === 'squared') {
        const res = z - y[i]!;
        f += res * res;
        coef = 2 * res;
      } else {
        const yi = y[i]!;
        const m = yi === 1 ? -z : z;
        f += m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
        coef = 1 / (1 + Math.exp(-z)) - yi;
      }
      if (coef === 0) continue;
      for (let j = 0; j < d; j++) g[j]! += coef * X[o + j]!;
    }
    if (scale !== 1) {
      f *= scale;
      for (let j = 0; j < d; j++) g[j]! *= scale;
    }
  }
  const bias = p.task.biasColumn;
  for (let j = 0; j < d; j++) {
    const diff = w[j]! - p.e[j]!;
    f += p.pull * diff * diff;
    g[j]! += 2 * p.pull * diff;
    if (j !== bias) {
      f += p.ridge * w[j]! * w[j]!;
      g[j]! += 2 * p.ridge * w[j]!;
    }
  }
  return f;
}

export function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** ‖∇f(0)‖, the scale of the relative stopping rule. */
export function gradientScale(p: TaskProblem): number {
  const g = new Float64Array(p.stats.d);
  valueAndGradient(p, new Float64Array(p.stats.d), g);
  return norm(g) || 1;
}

/** Throws NON_FINITE_LOSS naming the task, round and epoch. */
export function checkFinite(f: number, p: TaskProblem, ctx: StageContext, epoch: number, fix: string): void {
  if (!Number.isFinite(f)) throw nonFiniteLoss(p.task.id, ctx.round, epoch, fix, ctx.purpose);
}

/** Runs `solve` on every task through the executor and stacks the results into W. */
export async function perTask(
  name: string,
  input: OptimizeInput,
  options: Record<string, unknown>,
  ctx: StageContext,
  solve: (p: TaskProblem, w0: Float64Array) => { w: Float64Array; report: TaskOptimizeReport },
): Promise<OptimizeOutput> {
  const d = input.targets.cols;
  const T = input.targets.rows;
  const ps = problems(input, options, ctx);
  const results = await ctx.executor.map(ps, {
    name,
    run: (p) => solve(p, new Float64Array(input.start.data.subarray(p.task.index * d, p.task.index * d + d))),
  });
  const W = new Float64Array(T * d);
  const reports: TaskOptimizeReport[] = new Array(T);
  results.forEach((r, k) => {
    const t = ps[k]!.task.index;
    W.set(r.w, t * d);
    reports[t] = r.report;
  });
  return { weights: { rows: T, cols: d, data: W }, perTask: reports };
}
