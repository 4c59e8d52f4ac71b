import { tf } from '../tf.js';
import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise minimum. */
export const fuseMin: StageMethod<FuseInput, FuseOutput> = {
  description: 'Element-wise minimum of the propagated weights.',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'min', (x) => tf.min(x, 0));
  },
};
