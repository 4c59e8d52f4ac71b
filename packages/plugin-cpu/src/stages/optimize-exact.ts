import { linearSystemSingular, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskySolve } from '../linalg.js';
import { computeStats, perTask, statsBack, statsFor, type TaskItem, type TaskResult, type TaskStats } from './optimize-common.js';

function factor(item: TaskItem, G: Float64Array, d: number): Float64Array {
  const H = new Float64Array(G);
  const mask = item.ref.model.layout.penalized;
  for (let j = 0; j < d; j++) H[j * d + j]! += item.pulls[j]! + (mask[j] ? item.ridge : 0);
  const L = cholesky(H, d);
  if (!L)
    throw linearSystemSingular(`the normal equations of task "${item.task.id}" (${item.stats?.n ?? item.task.X.rows} rows, ${d} features)`, Infinity, 1e12, 'Set stages.optimize.ridge > 0 (or λ > 0), or use fewer features.', {
      task: item.task.id,
      round: item.round,
    });
  return L;
}

/** One task: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e by Cholesky. The worker-thread entry (called as fn(item, index)). */
export function solveExact(item: TaskItem): TaskResult {
  const stats = statsFor(item);
  const r = solveWith(item, stats, factor(item, stats.G, stats.d));
  return { ...r, ...statsBack(item, stats) };
}

/** The report of every exact solve (shared: one object less per task per round). */
const EXACT: TaskResult['report'] = Object.freeze({ epochs: 1, converged: true });
/** Right-hand-side scratch, reused across solves on this thread (choleskySolve copies it). */
let scratch = new Float64Array(0);

function solveWith(item: TaskItem, stats: TaskStats, L: Float64Array): TaskResult {
  const { d, b } = stats;
  if (scratch.length !== d) scratch = new Float64Array(d);
  const rhs = scratch;
  for (let j = 0; j < d; j++) rhs[j] = b[j]! + item.pulls[j]! * item.e[j]!;
  return { w: choleskySolve(L, d, rhs, 1), report: EXACT };
}

/**
 * The exact minimizer for squared loss: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e, solved by Cholesky from the cached
 * sufficient statistics. In process, each task's factor is kept across rounds (H depends only on the task, λc_t, ρ).
 */
export const optimizeExact: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Exact solution of the normal equations (squared loss only; Cholesky).',
  blockLambdas: true,
  losses: ['squared'],
  models: ['linear'],
  options: standardOptions.optimizeOptions,
  run(input, options, ctx) {
    if (input.loss.name !== 'squared' || !input.model.layout.linear || input.model.layout.outputs !== 1)
      throw new Error('the exact optimizer needs the squared loss and a one-output linear model; use lbfgs, newton, gd, sgd or adam');
    let factors = ctx.cache.get('plugin-cpu/exact-factors') as WeakMap<object, Map<number, Map<number, Float64Array>>> | undefined;
    if (!factors) ctx.cache.set('plugin-cpu/exact-factors', (factors = new WeakMap()));
    const byIndex = new Map(input.tasks.map((t) => [t.index, t]));
    const inProcess = (item: TaskItem): TaskResult => {
      const stats = item.stats ?? computeStats(item.task);
      const task = byIndex.get(item.task.index)!;
      let byParams = factors.get(task);
      if (!byParams) factors.set(task, (byParams = new Map()));
      // the factor depends on the task, ρ and the pulls: cached by λc when all λ_j agree (else not cached)
      let byRidge = Number.isNaN(item.pull) ? undefined : byParams.get(item.pull);
      if (!byRidge && !Number.isNaN(item.pull)) byParams.set(item.pull, (byRidge = new Map()));
      let L = byRidge?.get(item.ridge);
      if (!L) {
        L = factor(item, stats.G, stats.d);
        byRidge?.set(item.ridge, L);
      }
      const r = solveWith(item, stats, L);
      return item.stats ? r : { ...r, stats };
    };
    return perTask('optimize/exact', input, options, ctx, { module: import.meta.url, export: 'solveExact' }, inProcess, false);
  },
};
