import { tf } from '../tf.js';
import type { PropagateInput, PropagateOutput, StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { solveOptions, solveRelation } from './propagate-solve.js';

/** C = A⁻¹B with A⁻¹ formed explicitly (A X = I by BiCGSTAB, then a matMul). Prefer solve. */
export const propagateInverse: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = A⁻¹B, forming A⁻¹ explicitly (literal; prefer solve).',
  options: solveOptions,
  run(input, options) {
    const T = input.relation.rows;
    const A = toTensor(input.relation);
    const I = tf.eye(T) as tf.Tensor2D;
    const B = toTensor(input.weights);
    try {
      const { X: inv, diagnostics } = solveRelation(A, I, options, 'inverse');
      const C = tf.matMul(inv as tf.Tensor2D, B);
      const data = Float64Array.from(C.dataSync());
      tf.dispose([inv, C]);
      return { propagated: { rows: T, cols: input.weights.cols, data }, diagnostics };
    } finally {
      tf.dispose([A, I, B]);
    }
  },
};
