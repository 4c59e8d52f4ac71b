import type { PropagateInput, PropagateOutput, StageMethod } from '@weightshare/framework';
import { singularOptions, solveWithFallback, type SingularOptions } from './propagate-common.js';

/** C = A⁻¹B by LU factorization with partial pivoting and a condition estimate; no inverse is formed. */
export const propagateSolve: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = A⁻¹B by solving A C = B (LU with partial pivoting, condition estimated).',
  options: singularOptions,
  run(input, options) {
    const { C, diagnostics } = solveWithFallback(input.relation, input.weights, options as unknown as SingularOptions, 'solve', false);
    return { propagated: { rows: input.weights.rows, cols: input.weights.cols, data: C }, diagnostics };
  },
};
