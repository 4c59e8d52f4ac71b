import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { checkFinite, contextOf, gradientScale, lipschitz, norm, perTask, problemOf, valueAndGradient, type TaskItem, type TaskResult } from './optimize-common.js';

/** One task of full-batch gradient descent. Runs on any thread. */
export function solveGd(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const epochs = item.options.epochs as number;
  const w = new Float64Array(item.w0);
  const step = (item.options.lr as number | undefined) ?? 1 / lipschitz(p);
  const g = new Float64Array(p.stats.d);
  const stop = (item.options.tol as number) * gradientScale(p);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged }, ...(item.stats ? {} : { stats: p.stats }) });
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const f = valueAndGradient(p, w, g);
    checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr (or remove it to use the automatic step).');
    if (norm(g) <= stop) return done(epoch - 1, true);
    for (let j = 0; j < w.length; j++) w[j]! -= step * g[j]!;
  }
  valueAndGradient(p, w, g);
  return done(epochs, norm(g) <= stop);
}

/** Full-batch gradient descent with step 1/L (L the Lipschitz constant of ∇f) unless `lr` is given. */
export const optimizeGd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Full-batch gradient descent (step 1/L by default).',
  losses: ['squared', 'logistic'],
  options: standardOptions.gdOptions({ epochs: 1000, tol: 1e-9 }),
  run(input, options, ctx) {
    return perTask('optimize/gd', input, options, ctx, { module: import.meta.url, export: 'solveGd' }, solveGd, input.loss !== 'squared');
  },
};
