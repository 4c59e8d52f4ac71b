import { outputMatrix, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';

/** C = B: no propagation (the relation is used by fuse only, if at all). */
export const propagateIdentity: StageMethod<PropagateInput, PropagateOutput> = {
  spareOutput: true,
  description: 'C = B: pass the task weights through unchanged.',
  options: {},
  run(input) {
    const C = outputMatrix(input.out, input.weights.rows, input.weights.cols);
    C.data.set(input.weights.data);
    return { propagated: C };
  },
};
