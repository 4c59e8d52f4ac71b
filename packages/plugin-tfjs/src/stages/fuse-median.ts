import { tf } from '../tf.js';
import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { reduceFuse, scopeOption } from './fuse-common.js';

/** Element-wise median: the middle of tf.topk's sorted values (mean of the two middle ones for an even count). */
export const fuseMedian: StageMethod<FuseInput, FuseOutput> = {
  description: 'Element-wise median of the propagated weights (robust to outlying tasks).',
  options: scopeOption,
  run(input, options) {
    return reduceFuse(input, options.scope as string, 'median', (x) => {
      const k = x.shape[0];
      const sorted = tf.topk(tf.transpose(x), k).values; // d × k, descending
      const m = k >> 1;
      const hi = tf.squeeze(tf.slice(sorted, [0, m], [-1, 1]), [1]);
      if (k % 2) return hi as tf.Tensor1D;
      return tf.div(tf.add(hi, tf.squeeze(tf.slice(sorted, [0, m - 1], [-1, 1]), [1])), 2) as tf.Tensor1D;
    });
  },
};
