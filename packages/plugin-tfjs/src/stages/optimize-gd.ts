import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { TENSOR_LOSSES, TENSOR_MODELS } from './optimize-common.js';
import { optimizeLoop } from './optimize-loop.js';

/**
 * Full-batch gradient descent for all tasks at once, step 1/L per task unless `lr` is given; a backtracking search
 * where L is unbounded (Poisson).
 */
export const optimizeGd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Full-batch gradient descent (step 1/L by default, or a backtracking search when L is unbounded), all tasks batched.',
  losses: TENSOR_LOSSES,
  blockLambdas: true,
  models: TENSOR_MODELS,
  options: standardOptions.gdOptions({ epochs: 1000, tol: 1e-6 }),
  run(input, options, ctx) {
    return optimizeLoop(input, options, ctx, {
      kind: 'gd',
      epochs: options.epochs as number,
      tol: options.tol as number,
      ridge: options.ridge as number,
      lr: options.lr as number | undefined,
      fix: 'Lower stages.optimize.lr (or remove it to use the automatic step).',
    });
  },
};
