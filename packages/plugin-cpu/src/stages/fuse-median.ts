import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise median (mean of the two middle values for an even count). */
export const fuseMedian: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'Element-wise median of the propagated weights (robust to outlying tasks).',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'median', (v) => {
      const s = Float64Array.from(v).sort();
      const m = s.length >> 1;
      return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    });
  },
};
