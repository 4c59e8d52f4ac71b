import type { OptimizeInput, OptimizeOutput, StageMethod } from '@weightshare/framework';
import { commonOptions, iterativeOptions } from './optimize-common.js';
import { optimizeLoop } from './optimize-loop.js';

/** Mini-batch SGD, all tasks batched; each task's rows shuffled by its own seeded stream; step lr/(1 + decay·k). */
export const optimizeSgd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Mini-batch SGD with seeded shuffling and a decaying step, all tasks batched.',
  losses: ['squared', 'logistic'],
  options: {
    ...commonOptions,
    ...iterativeOptions({ epochs: 100, tol: 1e-6 }),
    batchSize: { type: 'integer', minimum: 1, default: 32, description: 'Rows per mini-batch.' },
    lr: { type: 'number', exclusiveMinimum: 0, description: 'Initial step size; default 1/L.' },
    decay: { type: 'number', minimum: 0, default: 0.05, description: 'Step decay per epoch.' },
  },
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
