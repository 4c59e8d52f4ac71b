import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { backtrack, checkFinite, contextOf, curveFor, gradientScale, lipschitz, norm, perTask, problemOf, valueAndGradient, statsBack, type TaskItem, type TaskResult } from './optimize-common.js';

/** The first step where 1/L is unknown: a backtracking search on the full batch at the start. */
function searchedStep(p: ReturnType<typeof problemOf>, w0: Float64Array): number {
  const P = w0.length;
  const g = new Float64Array(P);
  const f = valueAndGradient(p, w0, g);
  if (!Number.isFinite(f)) return 1e-3;
  return backtrack(p, w0, g, f, 1, new Float64Array(P), new Float64Array(P)).step || 1e-3;
}

/** One task of mini-batch SGD, its rows shuffled every epoch by the task's own stream. Runs on any thread. */
export function solveSgd(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const { epochs, tol, batchSize: batch, decay } = item.options as { epochs: number; tol: number; batchSize: number; decay: number };
  const w = new Float64Array(item.w0);
  const L = lipschitz(p);
  const lr0 = (item.options.lr as number | undefined) ?? (Number.isFinite(L) ? 1 / L : searchedStep(p, w));
  const g = new Float64Array(p.model.layout.size);
  const stop = tol * gradientScale(p);
  const n = p.stats.n;
  const curve = curveFor(p);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged, ...(curve ? { curve } : {}) }, ...statsBack(item, p.stats) });
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = ctx.rng.permutation(n);
    const lr = lr0 / (1 + decay * (epoch - 1));
    for (let start = 0; start < n; start += batch) {
      const rows = order.subarray(start, Math.min(n, start + batch));
      const f = valueAndGradient(p, w, g, rows);
      checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
      for (let j = 0; j < w.length; j++) w[j]! -= lr * g[j]!;
    }
    const f = valueAndGradient(p, w, g);
    checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
    curve?.push(f);
    if (norm(g) <= stop) return done(epoch, true);
  }
  return done(epochs, false);
}

/**
 * Mini-batch stochastic gradient descent. Each task shuffles its rows every epoch with its own stream of the run's
 * seeded generator (forked by task id), so results do not depend on the order or thread tasks run in.
 * Step size lr_k = lr / (1 + decay·k) at epoch k.
 */
export const optimizeSgd: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: 'Mini-batch SGD with seeded shuffling and a decaying step.',
  blockLambdas: true,
  losses: 'any',
  models: 'any',
  options: standardOptions.sgdOptions({ epochs: 100, tol: 1e-6 }),
  run(input, options, ctx) {
    return perTask('optimize/sgd', input, options, ctx, { module: import.meta.url, export: 'solveSgd' }, solveSgd, true);
  },
};
