import type { PropagateInput, PropagateOutput, StageMethod } from '@weightshare/framework';

/** C = B: no propagation (the relation is used by fuse only, if at all). */
export const propagateIdentity: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = B: pass the task weights through unchanged.',
  options: {},
  run(input) {
    return { propagated: { rows: input.weights.rows, cols: input.weights.cols, data: new Float64Array(input.weights.data) } };
  },
};
