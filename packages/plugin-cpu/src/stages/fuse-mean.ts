import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** E = mean of C's rows (global), or of each task's neighbours' rows (per-task). With propagate identity and
 * optimize this is mean-regularized multi-task learning (Evgeniou & Pontil 2004). */
export const fuseMean: StageMethod<FuseInput, FuseOutput> = {
  description: 'Element-wise mean of the propagated weights (global, or over each task\'s neighbours).',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'mean', (v) => {
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]!;
      return s / v.length;
    });
  },
};
