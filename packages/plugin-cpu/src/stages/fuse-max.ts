import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise maximum. */
export const fuseMax: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'Element-wise maximum of the propagated weights.',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'max', (v) => {
      let m = -Infinity;
      for (let i = 0; i < v.length; i++) if (v[i]! > m) m = v[i]!;
      return m;
    });
  },
};
