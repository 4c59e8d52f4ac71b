import { tf } from '../tf.js';
import { negativeRelation, standardOptions, type FuseInput, type FuseOutput } from '@weightshare/framework';
import { toTensor } from '../convert.js';

export const scopeOption = standardOptions.scopeOption;

/** 1 where s is a neighbour of t (A[t][s] > 0, s ≠ t), else 0; refuses negative weights. */
export function neighbourMask(input: FuseInput, method: string): Float32Array {
  const A = input.relation;
  const T = A.rows;
  const M = new Float32Array(T * T);
  for (let t = 0; t < T; t++)
    for (let s = 0; s < T; s++) {
      if (s === t) continue;
      const v = A.data[t * T + s]!;
      if (v < 0) throw negativeRelation(`fuse ${method} with scope per-task`, t, s, v);
      if (v > 0) M[t * T + s] = 1;
    }
  return M;
}

/** Output of a fuse: targets from a T×d tensor (disposed here) and penalty weights. */
export function output(E: tf.Tensor, penaltyWeights: Float64Array, diagnostics?: Record<string, unknown>): FuseOutput {
  const [rows, cols] = E.shape as [number, number];
  const data = Float64Array.from(E.dataSync());
  E.dispose();
  return { targets: { rows, cols, data }, penaltyWeights, ...(diagnostics ? { diagnostics } : {}) };
}

/**
 * Element-wise reduction over all tasks (global) or over each task's neighbours (per-task; a task without
 * neighbours keeps its own row with penalty weight 0). `reduce` maps a k×d tensor to a d-vector.
 */
export function reduceFuse(input: FuseInput, scope: string, method: string, reduce: (x: tf.Tensor2D) => tf.Tensor1D): FuseOutput {
  const T = input.propagated.rows;
  const c = new Float64Array(T).fill(1);
  if (scope === 'global') {
    const E = tf.tidy(() => {
      const C = toTensor(input.propagated);
      return tf.tile(tf.expandDims(reduce(C), 0), [T, 1]);
    });
    return output(E, c);
  }
  const M = neighbourMask(input, method);
  let isolated = 0;
  const E = tf.tidy(() => {
    const C = toTensor(input.propagated);
    const rows: tf.Tensor1D[] = [];
    for (let t = 0; t < T; t++) {
      const idx: number[] = [];
      for (let s = 0; s < T; s++) if (M[t * T + s]) idx.push(s);
      if (!idx.length) {
        isolated++;
        c[t] = 0;
        rows.push(tf.squeeze(tf.slice(C, [t, 0], [1, -1]), [0]) as tf.Tensor1D);
      } else rows.push(reduce(tf.gather(C, idx) as tf.Tensor2D));
    }
    return tf.stack(rows);
  });
  return output(E, c, { isolatedTasks: isolated });
}
