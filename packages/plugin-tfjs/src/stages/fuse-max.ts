import { tf } from '../tf.js';
import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise maximum. */
export const fuseMax: StageMethod<FuseInput, FuseOutput> = {
  description: 'Element-wise maximum of the propagated weights.',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'max', (x) => tf.max(x, 0));
  },
};
