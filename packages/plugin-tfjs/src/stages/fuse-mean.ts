import { tf } from '../tf.js';
import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { neighbourMask, output, scopeOption } from './fuse-common.js';

/** Element-wise mean, global or over each task's neighbours (one masked matMul). */
export const fuseMean: StageMethod<FuseInput, FuseOutput> = {
  description: "Element-wise mean of the propagated weights (global, or over each task's neighbours).",
  options: scopeOption,
  run(input, options) {
    const T = input.propagated.rows;
    if (options.scope === 'global') return output(tf.tidy(() => tf.tile(tf.mean(toTensor(input.propagated), 0, true), [T, 1])), new Float64Array(T).fill(1));
    const M = neighbourMask(input, 'mean');
    const counts = new Float64Array(T);
    for (let t = 0; t < T; t++) for (let s = 0; s < T; s++) counts[t]! += M[t * T + s]!;
    const E = tf.tidy(() => {
      const C = toTensor(input.propagated);
      const cnt = tf.tensor2d(Float32Array.from(counts), [T, 1]);
      const mean = tf.div(tf.matMul(tf.tensor2d(M, [T, T]), C), tf.maximum(cnt, 1));
      return tf.where(tf.greater(cnt, 0), mean, C); // a task without neighbours keeps its own row
    });
    return output(E, Float64Array.from(counts, (n) => (n > 0 ? 1 : 0)), { isolatedTasks: counts.filter((n) => n === 0).length });
  },
};
