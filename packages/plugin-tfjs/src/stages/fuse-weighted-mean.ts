import { tf } from '../tf.js';
import { dataInvalid, standardOptions, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { neighbourMask, output } from './fuse-common.js';

/**
 * Weighted mean with penalty weights that keep the rounds on one objective (same semantics as plugin-cpu):
 * global E = Σ v_t C_t / Σ v_t with c_t = v_t; per-task E_t = Σ_s u_ts C_s / Σ_s u_ts with u_ts = A[t][s]·v_s and
 * c_t = Σ_s u_ts. Task weights v (sizes, degree, given, or edges = 1) are scaled to mean 1.
 */
export const fuseWeightedMean: StageMethod<FuseInput, FuseOutput> = {
  description: 'Weighted mean (weights: task sizes, relation degree, given values, or edge weights only).',
  options: standardOptions.weightedMeanOptions,
  run(input, options) {
    const T = input.propagated.rows;
    const A = input.relation.data;
    let v: Float64Array;
    if (options.weights === 'sizes') v = Float64Array.from(input.taskSizes);
    else if (options.weights === 'degree') v = Float64Array.from({ length: T }, (_, t) => A.subarray(t * T, t * T + T).reduce((s, x, j) => s + (j === t ? 0 : x), 0));
    else if (options.weights === 'given') {
      const values = options.values as number[] | undefined;
      if (!values || values.length !== T)
        throw dataInvalid(`fuse weighted-mean with weights: given needs stages.fuse.values with one weight per task (${T}), got ${values?.length ?? 'none'}.`);
      v = Float64Array.from(values);
    } else v = new Float64Array(T).fill(1);
    if (options.weights !== 'edges') {
      const mean = v.reduce((s, x) => s + x, 0) / T;
      if (mean > 0) v = v.map((x) => x / mean);
    }
    if (options.scope === 'global') {
      const total = v.reduce((s, x) => s + x, 0);
      if (!(total > 0)) throw dataInvalid('fuse weighted-mean: the task weights sum to zero; give at least one positive weight.');
      const E = tf.tidy(() => tf.tile(tf.div(tf.matMul(tf.tensor2d(Float32Array.from(v), [1, T]), toTensor(input.propagated)), total), [T, 1]));
      return output(E, v);
    }
    const M = neighbourMask(input, 'weighted-mean');
    const U = new Float32Array(T * T);
    const c = new Float64Array(T);
    for (let t = 0; t < T; t++)
      for (let s = 0; s < T; s++)
        if (M[t * T + s]) {
          U[t * T + s] = A[t * T + s]! * v[s]!;
          c[t]! += A[t * T + s]! * v[s]!;
        }
    const E = tf.tidy(() => {
      const C = toTensor(input.propagated);
      const sums = tf.tensor2d(Float32Array.from(c), [T, 1]);
      const mean = tf.div(tf.matMul(tf.tensor2d(U, [T, T]), C), tf.where(tf.greater(sums, 0), sums, tf.onesLike(sums)));
      return tf.where(tf.greater(sums, 0), mean, C);
    });
    return output(E, c, { isolatedTasks: c.filter((x) => x === 0).length });
  },
};
