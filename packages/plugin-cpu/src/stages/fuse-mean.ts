import { outputMatrix, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** E = mean of C's rows (global), or of each task's neighbours' rows (per-task). With propagate identity and
 * optimize this is mean-regularized multi-task learning (Evgeniou & Pontil 2004). */
export const fuseMean: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'Element-wise mean of the propagated weights (global, or over each task\'s neighbours).',
  options: scopeOption,
  run(input, options) {
    if (options.scope === 'global') return globalMean(input);
    return reduceFuse(input, options.scope as string, 'mean', (v) => {
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]!;
      return s / v.length;
    });
  },
};

/**
 * The global mean in one pass over C's rows (contiguous) instead of a gather per column: every column's sum still adds
 * the tasks in order, so the numbers are those of the per-column reduction, bit for bit.
 */
function globalMean(input: FuseInput): FuseOutput {
  const { rows: T, cols: d, data: C } = input.propagated;
  const e = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    const o = t * d;
    for (let j = 0; j < d; j++) e[j]! += C[o + j]!;
  }
  for (let j = 0; j < d; j++) e[j]! /= T;
  const targets = outputMatrix(input.out, T, d);
  for (let t = 0; t < T; t++) targets.data.set(e, t * d);
  return { targets, penaltyWeights: new Float64Array(T).fill(1) };
}
