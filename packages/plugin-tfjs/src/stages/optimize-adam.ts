import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { TENSOR_LOSSES, TENSOR_MODELS } from './optimize-common.js';
import { optimizeLoop } from './optimize-loop.js';

/** Adam with bias correction for all tasks at once; full-batch unless `batchSize` is set. */
export const optimizeAdam: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Adam (full-batch by default, or mini-batches with seeded shuffling), all tasks batched.',
  losses: TENSOR_LOSSES,
  blockLambdas: true,
  models: TENSOR_MODELS,
  options: standardOptions.adamOptions({ epochs: 2000, tol: 1e-6 }),
  run(input, options, ctx) {
    return optimizeLoop(input, options, ctx, {
      kind: 'adam',
      epochs: options.epochs as number,
      tol: options.tol as number,
      ridge: options.ridge as number,
      lr: options.lr as number,
      beta1: options.beta1 as number,
      beta2: options.beta2 as number,
      epsilon: options.epsilon as number,
      batchSize: options.batchSize as number | undefined,
      fix: 'Lower stages.optimize.lr.',
    });
  },
};
