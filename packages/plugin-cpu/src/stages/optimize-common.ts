/**
 * The per-task problem every optimize method solves:
 *   f(θ) = Σ_i L(y_i, f(x_i, θ)) + Σ_j λ_j·c·(θ_j − e_j)² + ρ Σ_j m_j θ_j²
 * (L any loss, f any model, m the model's ridge mask, e the task's fused target, c its penalty weight). One-output
 * linear models with a built-in row loss take a fused loop; squared loss works from the sufficient statistics XᵀX,
 * Xᵀy, yᵀy (cached per run), so a gradient costs O(d²) instead of O(nd); everything else goes through the loss's and
 * the model's own value, gradient and backward pass.
 */
import {
  BUILTIN_LOSSES,
  fromRef,
  nonFiniteLoss,
  refOf,
  type ComponentRef,
  type LossComponent,
  type ModelComponent,
  type ModelLayout,
  type OptimizeInput,
  type OptimizeOutput,
  type StageContext,
  type TaskData,
  type TaskOptimizeReport,
  TaskFailure,
} from '@weightshare/framework';
import { gramAndXty, largestEigenvalue } from '../linalg.js';
import { simd } from '@weightshare/framework';
const { kernels, reserve, residentBlock, residentProduct, scratchBase } = simd;
type Kernels = simd.Kernels;
import { outputMatrix, Rng } from '@weightshare/framework';


/** Sufficient statistics of one task. */
export interface TaskStats {
  n: number;
  d: number;
  /** XᵀX, d×d row-major. */
  G: Float64Array;
  /** Xᵀy. */
  b: Float64Array;
  yy: number;
  /** Largest eigenvalue of XᵀX: NaN until a solver needs it (see {@link largestOf}; the exact solver never does). */
  lmax: number;
}

/**
 * Sufficient statistics by task data, for as long as the data lives: a pure function of a task's rows, so runs on
 * the same in-memory data (the exact and gd fits of one dataset, a λ grid) compute XᵀX once. Keyed by the row
 * buffer and checked against the target buffer; task data is immutable once prepared (worker threads share it).
 */
const statsByRows = new WeakMap<Float64Array, { y: Float64Array; stats: TaskStats }>();

const statsCache = {
  get(task: TaskData): TaskStats | undefined {
    const hit = statsByRows.get(task.X.data);
    return hit && hit.y === task.y && hit.stats.n === task.X.rows && hit.stats.d === task.X.cols ? hit.stats : undefined;
  },
  has(task: TaskData): boolean {
    return this.get(task) !== undefined;
  },
  set(task: TaskData, stats: TaskStats): void {
    statsByRows.set(task.X.data, { y: task.y, stats });
  },
};

/** XᵀX, Xᵀy, yᵀy and the largest eigenvalue of XᵀX: the sufficient statistics of squared loss. */
export function computeStats(task: TaskData): TaskStats {
  const { rows: n, cols: d, data: X } = task.X;
  let yy = 0;
  for (let i = 0; i < n; i++) yy += task.y[i]! * task.y[i]!;
  const { G, b } = gramAndXty(X, task.y, n, d);
  return { n, d, G, b, yy, lmax: NaN };
}

/**
 * The sufficient statistics of every task: the cached ones, the rest computed through the executor (on worker threads
 * under --threads: O(nd²) each) and cached for as long as the task data lives.
 */
export async function statsOfTasks(tasks: readonly TaskData[], ctx: StageContext, name: string): Promise<TaskStats[]> {
  const out: TaskStats[] = new Array(tasks.length);
  const missing: number[] = [];
  for (let k = 0; k < tasks.length; k++) {
    const hit = statsCache.get(tasks[k]!);
    if (hit) out[k] = hit;
    else missing.push(k);
  }
  if (!missing.length) return out;
  let got: TaskStats[];
  try {
    got = await ctx.executor.map(
      missing.map((k) => tasks[k]!),
      { name, run: computeStats, entry: { module: import.meta.url, export: 'computeStats' } },
    );
  } catch (e) {
    throw e instanceof TaskFailure ? new TaskFailure(missing[e.index]!, name, e.cause) : e;
  }
  got.forEach((s, i) => {
    const k = missing[i]!;
    out[k] = s;
    statsCache.set(tasks[k]!, s);
  });
  return out;
}

/** The loss as a solver sees it: its name and options, and its implementation (resolved on the solver's thread). */
export interface SolverLoss {
  name: string;
  options: Record<string, unknown>;
  component: LossComponent;
}

/** The model as a solver sees it. */
export interface SolverModel {
  name: string;
  options: Record<string, unknown>;
  component: ModelComponent;
  layout: ModelLayout;
}

/** One task's problem: f(θ) = Σ L(y, f(X, θ)) + Σ_j pull_j (θ_j − e_j)² + ρ Σ_j m_j θ_j². */
export interface TaskProblem {
  task: TaskData;
  loss: SolverLoss;
  model: SolverModel;
  /** Sufficient statistics of linear models (XᵀX, its largest eigenvalue; Xᵀy, yᵀy for squared loss). */
  stats: TaskStats;
  e: Float64Array;
  /** λ_j·c_t per parameter. */
  pulls: Float64Array;
  ridge: number;
  /** Which scalar row loss the fused one-output linear loop computes, or -1 for the generic path. */
  fast: number;
  /** Scratch of the generic path: outputs Z and ∂L/∂Z (n×k). */
  Z?: Float64Array;
  dZ?: Float64Array;
  /** The joint objective of tasks with tied blocks (see {@link jointSolve}): replaces the per-task formula. */
  joint?: (w: Float64Array, g: Float64Array) => number;
}

/**
 * One task's work item: everything its solver needs, as plain data, so it can run on another thread (built-in
 * losses and models are looked up there by name; a plugin's components travel only in process). The task's rows
 * travel only when the solver needs them (not for squared loss solved from cached statistics).
 */
export interface TaskItem {
  task: TaskData;
  stats?: TaskStats;
  /** What a worker thread needs to find the loss and model. */
  ref: ComponentRef;
  /** The components themselves, in process only (functions do not survive cloning). */
  components?: { loss: LossComponent; model: ModelComponent };
  e: Float64Array;
  pulls: Float64Array;
  ridge: number;
  w0: Float64Array;
  options: Record<string, unknown>;
  round: number;
  purpose: StageContext['purpose'];
  /** Seed of this task's random stream (ctx.rng forked by `task/<id>`). */
  rngSeed: number;
  /** λ·c_t when every λ_j is the same (the common case), for the solvers' factor caches. */
  pull: number;
  /** A ready problem (in process only): the joint problem of tied blocks. */
  problem?: TaskProblem;
  /**
   * The task stays where the item runs, the same object in every call (a resident executor: `run --executor`): the
   * statistics are cached there, by the task, and not sent back.
   */
  resident?: boolean;
}

/** What a task's solver returns. */
export interface TaskResult {
  w: Float64Array;
  report: TaskOptimizeReport;
  /** Statistics the solver had to compute, for the run's cache. */
  stats?: TaskStats;
}

/** Row losses the fused one-output linear loop knows (plugin losses take the generic path). */
const FAST: Record<string, number> = { squared: 0, logistic: 1, huber: 2, poisson: 3 };

/** The problem of an item (computing the statistics if they did not come with it). */
export function problemOf(item: TaskItem): TaskProblem {
  if (item.problem) return item.problem;
  const c = item.components ?? fromRef(item.ref);
  const loss: SolverLoss = { name: item.ref.loss.name, options: item.ref.loss.options, component: c.loss };
  const model: SolverModel = { name: item.ref.model.name, options: item.ref.model.options, component: c.model, layout: item.ref.model.layout };
  const { layout } = model;
  const builtin = BUILTIN_LOSSES[loss.name] === c.loss;
  const fast = layout.linear && layout.outputs === 1 && builtin && loss.name in FAST ? FAST[loss.name]! : -1;
  const stats = layout.linear ? statsFor(item) : (item.stats ?? emptyStats(item.task));
  return { task: item.task, loss, model, stats, e: item.e, pulls: item.pulls, ridge: item.ridge, fast };
}

/**
 * The statistics of an item's task: those it carries, else the ones cached for this task object, else computed (and,
 * for a resident task, cached here: it is the same object in the next round).
 */
export function statsFor(item: TaskItem): TaskStats {
  if (item.stats) return item.stats;
  const hit = statsCache.get(item.task);
  if (hit) return hit;
  const stats = computeStats(item.task);
  if (item.resident) statsCache.set(item.task, stats);
  return stats;
}

/** The statistics a result carries back: those the solver computed, unless the item had them or stays resident. */
export function statsBack(item: TaskItem, stats: TaskStats): { stats?: TaskStats } {
  return item.stats || item.resident || !stats.G.length ? {} : { stats };
}

/** Statistics of a non-linear model: sizes only. */
function emptyStats(task: TaskData): TaskStats {
  return { n: task.X.rows, d: task.X.cols, G: new Float64Array(0), b: new Float64Array(0), yy: 0, lmax: NaN };
}

/** A solver's context on any thread: the round, why it runs, and its own random stream. */
export function contextOf(item: TaskItem): Pick<StageContext, 'round' | 'purpose'> & { rng: Rng } {
  return { round: item.round, purpose: item.purpose, rng: new Rng(item.rngSeed) };
}

/** The largest pull. */
function maxPull(p: TaskProblem): number {
  let m = 0;
  for (let j = 0; j < p.pulls.length; j++) if (p.pulls[j]! > m) m = p.pulls[j]!;
  return m;
}

/**
 * Lipschitz constant of ∇f (for the automatic step size 1/L): the loss's curvature bound times the largest eigenvalue
 * of XᵀX for linear models; Infinity when the loss's curvature is unbounded (Poisson) or the model is not linear —
 * then the solvers search the step instead.
 */
export function lipschitz(p: TaskProblem): number {
  const bound = p.loss.component.curvatureBound?.(p.loss.options) ?? Infinity;
  if (!p.model.layout.linear || !Number.isFinite(bound)) return Infinity;
  return bound * largestOf(p.stats) + 2 * p.ridge + 2 * maxPull(p) || 1;
}

/** The largest eigenvalue of a task's XᵀX, computed (power iteration) the first time it is asked for and kept. */
export function largestOf(stats: TaskStats): number {
  if (Number.isNaN(stats.lmax) && stats.G.length) stats.lmax = largestEigenvalue(stats.G, stats.d);
  return stats.lmax;
}

/** The loss of the row {@link rowCoef} last saw (a module variable, so the hot loop allocates nothing). */
let rowLoss = 0;

/**
 * One row's loss derivative ∂L/∂z at the prediction z (and its loss, left in `rowLoss`), for the row losses of
 * {@link FAST}. Logistic: one exp per row, log(1 + e^m) = max(m, 0) + log1p(e^−|z|) and σ(z) from the same e^−|z|,
 * both stable for any z. The same formulas as the framework's reference components.
 */
function rowCoef(kind: number, z: number, yi: number, delta: number): number {
  if (kind === 0) {
    const res = z - yi;
    rowLoss = res * res;
    return 2 * res;
  }
  if (kind === 1) {
    const e = Math.exp(-Math.abs(z));
    const m = yi === 1 ? -z : z;
    rowLoss = (m > 0 ? m : 0) + Math.log1p(e);
    return (z >= 0 ? 1 / (1 + e) : e / (1 + e)) - yi;
  }
  if (kind === 2) {
    const r = z - yi;
    const a = Math.abs(r);
    if (a <= delta) {
      rowLoss = r * r;
      return 2 * r;
    }
    rowLoss = delta * (2 * a - delta);
    return r > 0 ? 2 * delta : -2 * delta;
  }
  const mu = Math.exp(z);
  rowLoss = mu - yi * z;
  return mu - yi;
}

/**
 * f(θ) and ∇f(θ) on all rows (or on `rows`, scaled by n/|rows| to estimate the full sum). Writes the gradient into
 * `g` and returns f (the data part estimated when `rows` is given).
 */
export function valueAndGradient(p: TaskProblem, w: Float64Array, g: Float64Array, rows?: Int32Array | number[]): number {
  if (p.joint) return p.joint(w, g);
  const P = p.model.layout.size;
  let f = 0;
  let kernel: Kernels | null;
  if (p.fast === 0 && !rows) {
    const { G, b, yy, d } = p.stats;
    // Gw: in the kernel, with G resident while the task's epochs run, from d = 32; else row by row here
    const Gw = d >= 32 && (kernel = kernels()) !== null ? residentProduct(kernel, G, d, w) : undefined;
    let wGw = 0;
    let bw = 0;
    for (let j = 0; j < d; j++) {
      let s = 0;
      if (Gw) s = Gw[j]!;
      else {
        const rj = j * d;
        for (let k = 0; k < d; k++) s += G[rj + k]! * w[k]!;
      }
      g[j] = 2 * (s - b[j]!);
      wGw += w[j]! * s;
      bw += b[j]! * w[j]!;
    }
    f = yy - 2 * bw + wGw;
  } else if (p.fast >= 0 && !rows && (kernel = linearKernel(p)) !== null) {
    f = kernelValueAndGradient(kernel, p, w, g);
  } else if (p.fast >= 0) {
    const { d } = p.stats;
    g.fill(0);
    const X = p.task.X.data;
    const y = p.task.y;
    const count = rows ? rows.length : p.stats.n;
    const scale = rows ? p.stats.n / rows.length : 1;
    const kind = p.fast;
    const delta = (p.loss.options.delta as number | undefined) ?? 1;
    // four rows at a time: four independent dot-product chains sharing the loads of w, and one pass over g for
    // their four axpys (~1.7× the speed of one row at a time in V8)
    let r = 0;
    for (; r + 3 < count; r += 4) {
      const i0 = rows ? rows[r]! : r;
      const i1 = rows ? rows[r + 1]! : r + 1;
      const i2 = rows ? rows[r + 2]! : r + 2;
      const i3 = rows ? rows[r + 3]! : r + 3;
      const o0 = i0 * d, o1 = i1 * d, o2 = i2 * d, o3 = i3 * d;
      let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
      for (let j = 0; j < d; j++) {
        const wj = w[j]!;
        z0 += X[o0 + j]! * wj;
        z1 += X[o1 + j]! * wj;
        z2 += X[o2 + j]! * wj;
        z3 += X[o3 + j]! * wj;
      }
      const c0 = rowCoef(kind, z0, y[i0]!, delta);
      f += rowLoss;
      const c1 = rowCoef(kind, z1, y[i1]!, delta);
      f += rowLoss;
      const c2 = rowCoef(kind, z2, y[i2]!, delta);
      f += rowLoss;
      const c3 = rowCoef(kind, z3, y[i3]!, delta);
      f += rowLoss;
      for (let j = 0; j < d; j++) g[j]! += c0 * X[o0 + j]! + c1 * X[o1 + j]! + c2 * X[o2 + j]! + c3 * X[o3 + j]!;
    }
    for (; r < count; r++) {
      const i = rows ? rows[r]! : r;
      const o = i * d;
      let z = 0;
      for (let j = 0; j < d; j++) z += X[o + j]! * w[j]!;
      const coef = rowCoef(kind, z, y[i]!, delta);
      f += rowLoss;
      for (let j = 0; j < d; j++) g[j]! += coef * X[o + j]!;
    }
    if (scale !== 1) {
      f *= scale;
      for (let j = 0; j < d; j++) g[j]! *= scale;
    }
  } else f = genericValueAndGradient(p, w, g, rows);
  const mask = p.model.layout.penalized;
  for (let j = 0; j < P; j++) {
    const diff = w[j]! - p.e[j]!;
    const pull = p.pulls[j]!;
    f += pull * diff * diff;
    g[j]! += 2 * pull * diff;
    if (mask[j]) {
      f += p.ridge * w[j]! * w[j]!;
      g[j]! += 2 * p.ridge * w[j]!;
    }
  }
  return f;
}


/** Rows × features from which the fused linear loop runs in the SIMD kernel, and up to which (float64s). */
const KERNEL_ROWS_MIN = 4096;
const KERNEL_ROWS_MAX = 1 << 25;

/** The kernels, when the item's rows are worth copying into their memory (a full pass, once per task per call). */
function linearKernel(p: TaskProblem): Kernels | null {
  const size = p.task.X.rows * p.task.X.cols;
  return size >= KERNEL_ROWS_MIN && size <= KERNEL_ROWS_MAX ? kernels() : null;
}

/**
 * The fused one-output linear loop in the kernel: the task's rows stay in the kernel's memory (copied on the first
 * evaluation, then reused by every later one while the same task is being fitted), z = Xw in one call, each row's
 * loss and derivative here (one exp per row for logistic), ∇ = Xᵀc in a second call.
 */
function kernelValueAndGradient(k: Kernels, p: TaskProblem, w: Float64Array, g: Float64Array): number {
  const { rows: n, cols: d, data: X } = p.task.X;
  const y = p.task.y;
  const at = residentBlock(k, X, 0, X);
  const mem = reserve(k, 2 * n + 2 * d); // z, c, w, ∇
  const base = scratchBase();
  mem.set(w, 2 * n);
  k.xw(at, n, d, base + 16 * n, base);
  const kind = p.fast;
  const delta = (p.loss.options.delta as number | undefined) ?? 1;
  let f = 0;
  for (let i = 0; i < n; i++) {
    mem[n + i] = rowCoef(kind, mem[i]!, y[i]!, delta);
    f += rowLoss;
  }
  const gAt = 2 * n + d;
  mem.fill(0, gAt, gAt + d);
  k.xty(at, n, d, base + 8 * n, base + 8 * gAt);
  for (let j = 0; j < d; j++) g[j] = mem[gAt + j]!;
  return f;
}

/** Any loss and model through their components: Z = f(X, θ), L and ∂L/∂Z, then ∇θ by the model's backward pass. */
function genericValueAndGradient(p: TaskProblem, w: Float64Array, g: Float64Array, rows?: Int32Array | number[]): number {
  const { layout, component: model, options: mo } = p.model;
  const k = layout.outputs;
  const X = p.task.X;
  let Xs = X.data;
  let y = p.task.y;
  let n = X.rows;
  if (rows) {
    n = rows.length;
    const d = X.cols;
    Xs = new Float64Array(n * d);
    y = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      Xs.set(X.data.subarray(rows[r]! * d, rows[r]! * d + d), r * d);
      y[r] = p.task.y[rows[r]!]!;
    }
  }
  if (!p.Z || p.Z.length !== n * k) {
    p.Z = new Float64Array(n * k);
    p.dZ = new Float64Array(n * k);
  }
  const tape = model.forward(layout, w, Xs, n, p.Z, mo);
  let f = p.loss.component.value(y, p.Z, k, p.dZ!, p.loss.options);
  model.backward(layout, w, Xs, n, tape, p.dZ!, g, mo);
  if (rows) {
    const scale = p.stats.n / rows.length;
    f *= scale;
    for (let j = 0; j < g.length; j++) g[j]! *= scale;
  }
  return f;
}

/**
 * A backtracking (Armijo) step along −g from w, where f = f(w): the largest of step, step/2, … with
 * f(w − s·g) ≤ f − s/2·‖g‖², a non-finite trial value counting as too far (robust to an overflowing loss). Leaves the
 * new point in `next` and its gradient in `gNext`; returns the step and the new value, or step 0 when even a tiny step
 * does not decrease f (w is then optimal to machine precision).
 */
export function backtrack(p: TaskProblem, w: Float64Array, g: Float64Array, f: number, step: number, next: Float64Array, gNext: Float64Array): { step: number; f: number } {
  let gg = 0;
  for (let j = 0; j < g.length; j++) gg += g[j]! * g[j]!;
  for (let tries = 0; tries < 80; tries++, step /= 2) {
    for (let j = 0; j < w.length; j++) next[j] = w[j]! - step * g[j]!;
    const fn = valueAndGradient(p, next, gNext);
    if (Number.isFinite(fn) && fn <= f - 0.5 * step * gg) return { step, f: fn };
  }
  next.set(w);
  return { step: 0, f: valueAndGradient(p, w, gNext) };
}

export function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** ‖∇f(0)‖, the scale of the relative stopping rule. */
export function gradientScale(p: TaskProblem): number {
  const P = p.model.layout.size;
  const g = new Float64Array(P);
  valueAndGradient(p, new Float64Array(P), g);
  return norm(g) || 1;
}

/**
 * The training curve of a task, for models that are not linear: f(θ) after each epoch (the data loss plus the pull
 * and the ridge, on all rows); undefined for linear models, whose convex fits need no curve.
 */
export function curveFor(p: TaskProblem): number[] | undefined {
  return p.model.layout.linear ? undefined : [];
}

/** Throws NON_FINITE_LOSS naming the task, round and epoch. */
export function checkFinite(f: number, p: TaskProblem, ctx: Pick<StageContext, 'round' | 'purpose'>, epoch: number, fix: string): void {
  if (!Number.isFinite(f)) throw nonFiniteLoss(p.task.id, ctx.round, epoch, fix, ctx.purpose);
}

/**
 * Runs a solver on every task through the executor — on worker threads when the executor has them, via `entry` (the
 * solver's module and export name) — and stacks the results into W. `needsRows`: whether the solver reads the rows
 * (else only the cached statistics travel).
 */
export async function perTask(
  name: string,
  input: OptimizeInput,
  options: Record<string, unknown>,
  ctx: StageContext,
  entry: { module: string; export: string },
  solve: (item: TaskItem) => TaskResult,
  needsRows: boolean,
): Promise<OptimizeOutput> {
  const P = input.targets.cols;
  const T = input.targets.rows;
  const cache = statsCache;
  // a plugin's loss or model cannot be looked up on a worker thread (no ref): such runs solve in process
  const ref = refOf(input.loss, input.model);
  const items = taskItems(input, options, ctx, needsRows);
  const results = await ctx.executor.map(items, { name, run: solve, ...(ref ? { entry } : {}) });
  const W = outputMatrix(input.out, T, P).data;
  const reports: TaskOptimizeReport[] = new Array(T);
  results.forEach((r, k) => {
    const task = input.tasks[k]!;
    W.set(r.w, task.index * P);
    reports[task.index] = r.report;
    if (r.stats && r.stats.G.length && !cache.has(task)) cache.set(task, r.stats);
  });
  return { weights: { rows: T, cols: P, data: W }, perTask: reports };
}

/** The work item of every task of an optimize call. */
function taskItems(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext, needsRows: boolean): TaskItem[] {
  const P = input.targets.cols;
  const cache = statsCache;
  const ref = refOf(input.loss, input.model);
  // a plugin's loss or model cannot be looked up on a worker thread: such runs solve in process
  const components = ref ? undefined : { loss: input.loss.component, model: input.model.component };
  const travel: ComponentRef = ref ?? { loss: { name: input.loss.name, options: input.loss.options }, model: { name: input.model.name, options: input.model.options, layout: input.model.layout } };
  const lambdas = input.lambdas;
  let uniform = true;
  for (let j = 1; j < P && uniform; j++) if (lambdas[j] !== lambdas[0]) uniform = false;
  const resident = ctx.executor.resident === true;
  return input.tasks.map((task) => {
    const stats = resident ? undefined : cache.get(task);
    const c = input.penaltyWeights[task.index]!;
    const pulls = new Float64Array(P);
    for (let j = 0; j < P; j++) pulls[j] = lambdas[j]! * c;
    return {
      // a resident executor holds the task where the item runs: it travels as a reference, never its rows
      task: needsRows || !stats || resident ? task : withoutRows(task),
      stats,
      ref: travel,
      ...(components ? { components } : {}),
      e: input.targets.data.slice(task.index * P, task.index * P + P),
      pulls,
      pull: uniform ? (lambdas[0] ?? 0) * c : NaN,
      ridge: options.ridge as number,
      w0: input.start.data.slice(task.index * P, task.index * P + P),
      options,
      round: ctx.round,
      purpose: ctx.purpose,
      rngSeed: ctx.rng.forkSeed(`task/${task.id}`),
      ...(resident ? { resident } : {}),
    };
  });
}

/**
 * Tasks with tied blocks (`input.tied`: one copy of those entries for all tasks, i.e. hard sharing) are one problem:
 * θ = (each task's free entries, then the tied entries once), f(θ) = Σ_t f_t(θ_t) with the tied entries' ridge
 * counted once, so the tied entries move on the sum of the tasks' gradients (the pooled gradient). `solve` — gd,
 * adam or lbfgs, full batch — runs on it in process as on one task; each task's report is the joint one.
 */
export function jointSolve(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext, solve: (item: TaskItem) => TaskResult): OptimizeOutput {
  const tied = input.tied!;
  const T = input.tasks.length;
  const P = input.targets.cols;
  const free: number[] = [];
  const shared: number[] = [];
  for (let j = 0; j < P; j++) (tied[j] ? shared : free).push(j);
  const u = free.length;
  const J = T * u + shared.length;
  const items = taskItems(input, options, ctx, true);
  const problems = items.map(problemOf);
  const mask = input.model.layout.penalized;
  const ridge = options.ridge as number;
  const w0 = new Float64Array(J);
  items.forEach((it, t) => free.forEach((j, i) => (w0[t * u + i] = it.w0[j]!)));
  shared.forEach((j, i) => {
    let s = 0;
    for (const it of items) s += it.w0[j]!;
    w0[T * u + i] = s / T;
  });
  const theta = new Float64Array(P);
  const gt = new Float64Array(P);
  const joint = (w: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let f = 0;
    shared.forEach((j, i) => (theta[j] = w[T * u + i]!));
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < u; i++) theta[free[i]!] = w[t * u + i]!;
      f += valueAndGradient(problems[t]!, theta, gt);
      for (let i = 0; i < u; i++) g[t * u + i] = gt[free[i]!]!;
      for (let i = 0; i < shared.length; i++) g[T * u + i]! += gt[shared[i]!]!;
    }
    // each task's f_t counted the tied entries' ridge; they are one vector, penalized once
    for (let i = 0; i < shared.length; i++) {
      const j = shared[i]!;
      if (!mask[j]) continue;
      const v = w[T * u + i]!;
      f -= (T - 1) * ridge * v * v;
      g[T * u + i]! -= 2 * (T - 1) * ridge * v;
    }
    return f;
  };
  const first = problems[0]!;
  const layout: ModelLayout = { features: 0, outputs: 1, size: J, blocks: [], penalized: new Uint8Array(J), linear: false };
  const problem: TaskProblem = {
    ...first,
    task: { ...first.task, id: `${T} tasks sharing blocks` },
    model: { ...first.model, layout },
    stats: { n: 1, d: 0, G: new Float64Array(0), b: new Float64Array(0), yy: 0, lmax: NaN },
    fast: -1,
    joint,
  };
  const r = solve({ ...items[0]!, stats: undefined, w0, problem, rngSeed: ctx.rng.forkSeed('joint') });
  const W = outputMatrix(input.out, T, P).data;
  input.tasks.forEach((task, t) => {
    const row = W.subarray(task.index * P, task.index * P + P);
    for (let i = 0; i < u; i++) row[free[i]!] = r.w[t * u + i]!;
    for (let i = 0; i < shared.length; i++) row[shared[i]!] = r.w[T * u + i]!;
  });
  const reports: TaskOptimizeReport[] = new Array(T);
  input.tasks.forEach((task) => (reports[task.index] = r.report));
  return { weights: { rows: T, cols: P, data: W }, perTask: reports, diagnostics: { joint: { parameters: J, shared: shared.length } } };
}

/** Whether a solver needs the task's rows: all but the squared loss of a one-output linear model. */
export function rowsNeeded(input: OptimizeInput): boolean {
  const l = input.model.layout;
  return !(input.loss.name === 'squared' && l.linear && l.outputs === 1 && BUILTIN_LOSSES.squared === input.loss.component);
}

const rowless = new WeakMap<TaskData, TaskData>();

/** The task without its rows (what travels to a worker when the cached statistics suffice), made once per task. */
function withoutRows(task: TaskData): TaskData {
  let t = rowless.get(task);
  if (!t) rowless.set(task, (t = { ...task, X: { rows: 0, cols: task.X.cols, data: new Float64Array(0) }, y: new Float64Array(0) }));
  return t;
}
