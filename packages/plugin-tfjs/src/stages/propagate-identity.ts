import type { PropagateInput, PropagateOutput, StageMethod } from '@weightshare/framework';

/** C = B. Nothing to compute: copied (rounded to float32, like every tfjs output). */
export const propagateIdentity: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = B: pass the task weights through unchanged.',
  options: {},
  run(input) {
    return { propagated: { rows: input.weights.rows, cols: input.weights.cols, data: Float64Array.from(Float32Array.from(input.weights.data)) } };
  },
};
