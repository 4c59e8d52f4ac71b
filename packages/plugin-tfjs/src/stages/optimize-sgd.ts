import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { TENSOR_LOSSES, TENSOR_MODELS } from './optimize-common.js';
import { optimizeLoop } from './optimize-loop.js';

/**
 * Mini-batch SGD, all tasks batched; each task's rows shuffled by its own seeded stream; step lr/(1 + decay·k), lr
 * 1/L by default (searched once at the start where L is unbounded).
 */
export const optimizeSgd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Mini-batch SGD with seeded shuffling and a decaying step, all tasks batched.',
  losses: TENSOR_LOSSES,
  blockLambdas: true,
  models: TENSOR_MODELS,
  options: standardOptions.sgdOptions({ epochs: 100, tol: 1e-6 }),
  run(input, options, ctx) {
    return optimizeLoop(input, options, ctx, {
      kind: 'sgd',
      epochs: options.epochs as number,
      tol: options.tol as number,
      ridge: options.ridge as number,
      lr: options.lr as number | undefined,
      decay: options.decay as number,
      batchSize: options.batchSize as number,
      fix: 'Lower stages.optimize.lr.',
    });
  },
};
