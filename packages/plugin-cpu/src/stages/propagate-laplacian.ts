import { linearSystemSingular, standardOptions, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskyConditionBound, choleskySolve } from '../linalg.js';
import { graphDegrees } from './propagate-common.js';

/**
 * Laplacian smoothing C = (I + αL)⁻¹B, L = D − A the graph Laplacian of A's off-diagonal part. This is
 * argmin_C ‖C − B‖² + α·tr(CᵀLC); I + αL is symmetric positive definite, so it is solved by Cholesky.
 */
export const propagateLaplacian: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = (I + αL)⁻¹B: Laplacian smoothing over the relation graph (Cholesky).',
  options: standardOptions.laplacianOptions,
  run(input, options) {
    const A = input.relation;
    const T = A.rows;
    const alpha = options.alpha as number;
    const deg = graphDegrees(A, 'propagate laplacian');
    const M = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) M[i * T + j] = i === j ? 1 + alpha * deg[i]! : -alpha * A.data[i * T + j]!;
    const L = cholesky(M, T);
    if (!L)
      throw linearSystemSingular('I + αL', Infinity, 1e12, 'Check the relation for extreme weights or lower alpha.', { stage: 'propagate', method: 'laplacian' });
    const C = choleskySolve(L, T, input.weights.data, input.weights.cols);
    return { propagated: { rows: T, cols: input.weights.cols, data: C }, diagnostics: { conditionLowerBound: choleskyConditionBound(L, T) } };
  },
};
