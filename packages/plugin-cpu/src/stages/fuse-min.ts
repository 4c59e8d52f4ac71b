import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise minimum. */
export const fuseMin: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'Element-wise minimum of the propagated weights.',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'min', (v) => {
      let m = Infinity;
      for (let i = 0; i < v.length; i++) if (v[i]! < m) m = v[i]!;
      return m;
    });
  },
};
