import type { OptimizeInput, OptimizeOutput, StageMethod } from '@weightshare/framework';
import { commonOptions, iterativeOptions } from './optimize-common.js';
import { optimizeLoop } from './optimize-loop.js';

/** Adam with bias correction for all tasks at once; full-batch unless `batchSize` is set. */
export const optimizeAdam: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Adam (full-batch by default, or mini-batches with seeded shuffling), all tasks batched.',
  losses: ['squared', 'logistic'],
  options: {
    ...commonOptions,
    ...iterativeOptions({ epochs: 2000, tol: 1e-6 }),
    lr: { type: 'number', exclusiveMinimum: 0, default: 0.01, description: 'Step size.' },
    beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'Decay of the first-moment estimate.' },
    beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.999, description: 'Decay of the second-moment estimate.' },
    epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-8, description: 'Added to the denominator.' },
    batchSize: { type: 'integer', minimum: 1, description: 'Rows per mini-batch; default: all rows (full batch).' },
  },
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
