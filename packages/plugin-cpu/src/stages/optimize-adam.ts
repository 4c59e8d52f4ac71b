import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { jointSolve, checkFinite, contextOf, curveFor, gradientScale, norm, perTask, problemOf, rowsNeeded, valueAndGradient, statsBack, type TaskItem, type TaskResult } from './optimize-common.js';

/** One task of Adam; full-batch unless `batchSize` is set (then shuffled by the task's own stream). Any thread. */
export function solveAdam(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const { epochs, tol, lr, beta1: b1, beta2: b2, epsilon: eps } = item.options as { epochs: number; tol: number; lr: number; beta1: number; beta2: number; epsilon: number };
  const d = p.model.layout.size;
  const n = p.stats.n;
  const batch = Math.min((item.options.batchSize as number | undefined) ?? n, n);
  const w = new Float64Array(item.w0);
  const m = new Float64Array(d);
  const v = new Float64Array(d);
  const g = new Float64Array(d);
  const stop = tol * gradientScale(p);
  const curve = curveFor(p);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged, ...(curve ? { curve } : {}) }, ...statsBack(item, p.stats) });
  let step = 0;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = batch < n ? ctx.rng.permutation(n) : undefined;
    for (let start = 0; start < n; start += batch) {
      const f = valueAndGradient(p, w, g, order?.subarray(start, Math.min(n, start + batch)));
      checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
      if (!order) curve?.push(f); // full batch: f at the start of the epoch, which the step needs anyway
      if (!order && norm(g) <= stop) return done(epoch - 1, true);
      step++;
      const c1 = 1 - b1 ** step;
      const c2 = 1 - b2 ** step;
      for (let j = 0; j < d; j++) {
        m[j] = b1 * m[j]! + (1 - b1) * g[j]!;
        v[j] = b2 * v[j]! + (1 - b2) * g[j]! * g[j]!;
        w[j]! -= (lr * (m[j]! / c1)) / (Math.sqrt(v[j]! / c2) + eps);
      }
    }
    if (order) {
      const f = valueAndGradient(p, w, g);
      checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
      curve?.push(f);
      if (norm(g) <= stop) return done(epoch, true);
    }
  }
  valueAndGradient(p, w, g);
  return done(epochs, norm(g) <= stop);
}

/**
 * Adam (Kingma & Ba 2015) with bias correction; full-batch unless `batchSize` is set (then rows are shuffled with
 * the task's own seeded stream).
 */
export const optimizeAdam: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: 'Adam (full-batch by default, or mini-batches with seeded shuffling).',
  blockLambdas: true,
  tiedBlocks: true,
  losses: 'any',
  models: 'any',
  options: standardOptions.adamOptions({ epochs: 2000, tol: 1e-9 }),
  run(input, options, ctx) {
    if (input.tied) return jointSolve(input, options, ctx, solveAdam);
    const needsRows = rowsNeeded(input) || options.batchSize !== undefined;
    return perTask('optimize/adam', input, options, ctx, { module: import.meta.url, export: 'solveAdam' }, solveAdam, needsRows);
  },
};
