import type { PropagateInput, PropagateOutput, StageMethod } from '@weightshare/framework';
import { singularOptions, solveWithFallback, type SingularOptions } from './propagate-common.js';

/** C = A⁻¹B with the inverse formed explicitly (kept for comparison with `solve`; prefer `solve`). */
export const propagateInverse: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = A⁻¹B, forming A⁻¹ explicitly (literal; prefer solve).',
  options: singularOptions,
  run(input, options) {
    const { C, diagnostics } = solveWithFallback(input.relation, input.weights, options as unknown as SingularOptions, 'inverse', true);
    return { propagated: { rows: input.weights.rows, cols: input.weights.cols, data: C }, diagnostics };
  },
};
