import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { jointSolve, backtrack, checkFinite, contextOf, curveFor, gradientScale, lipschitz, norm, perTask, problemOf, rowsNeeded, valueAndGradient, statsBack, type TaskItem, type TaskResult } from './optimize-common.js';

/**
 * One task of full-batch gradient descent. Runs on any thread. Step 1/L where the loss's curvature is bounded and
 * the model linear; else a backtracking (Armijo) search each epoch, starting from twice the last accepted step.
 */
export function solveGd(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const epochs = item.options.epochs as number;
  const P = p.model.layout.size;
  let w = new Float64Array(item.w0);
  const L = lipschitz(p);
  const fixed = (item.options.lr as number | undefined) ?? (Number.isFinite(L) ? 1 / L : undefined);
  let g = new Float64Array(P);
  let next = new Float64Array(P);
  let gNext = new Float64Array(P);
  const stop = (item.options.tol as number) * gradientScale(p);
  const curve = curveFor(p);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged, ...(curve ? { curve } : {}) }, ...statsBack(item, p.stats) });
  let f = valueAndGradient(p, w, g);
  let step = 1;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr (or remove it to use the automatic step).');
    if (norm(g) <= stop) return done(epoch - 1, true);
    if (fixed !== undefined) {
      for (let j = 0; j < P; j++) w[j]! -= fixed * g[j]!;
      f = valueAndGradient(p, w, g);
      curve?.push(f);
      continue;
    }
    const r = backtrack(p, w, g, f, 2 * step, next, gNext);
    if (r.step === 0) return done(epoch, true);
    step = r.step;
    f = r.f;
    curve?.push(f);
    [w, next] = [next, w];
    [g, gNext] = [gNext, g];
  }
  return done(epochs, norm(g) <= stop);
}

/**
 * Full-batch gradient descent: step 1/L (L the Lipschitz constant of ∇f) unless `lr` is given; a backtracking search
 * where the loss's curvature is unbounded (Poisson) or the model is not linear.
 */
export const optimizeGd: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: 'Full-batch gradient descent (step 1/L by default, or a backtracking search when L is unbounded).',
  blockLambdas: true,
  tiedBlocks: true,
  losses: 'any',
  models: 'any',
  options: standardOptions.gdOptions({ epochs: 1000, tol: 1e-9 }),
  run(input, options, ctx) {
    if (input.tied) return jointSolve(input, options, ctx, solveGd);
    return perTask('optimize/gd', input, options, ctx, { module: import.meta.url, export: 'solveGd' }, solveGd, rowsNeeded(input));
  },
};
