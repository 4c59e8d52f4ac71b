import { linearSystemSingular, standardOptions, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskyConditionBound, choleskySolve } from '../linalg.js';
import { csrFromPattern } from '../sparse.js';
import { graphDegrees, patternSize, solveByCg, sparseSolverOptions, wantsCg, type SparseSolverOptions } from './propagate-common.js';

/**
 * Laplacian smoothing C = (I + αL)⁻¹B, L = D − A the graph Laplacian of A's off-diagonal part. This is
 * argmin_C ‖C − B‖² + α·tr(CᵀLC); I + αL is symmetric positive definite, so it is solved by Cholesky — or, for a
 * large sparse graph, by conjugate gradients on the sparse matrix (see `solver`).
 */
export const propagateLaplacian: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = (I + αL)⁻¹B: Laplacian smoothing over the relation graph (Cholesky; CG for large sparse graphs).',
  options: { ...standardOptions.laplacianOptions, ...sparseSolverOptions },
  async run(input, options, ctx) {
    const opts = options as unknown as SparseSolverOptions;
    const A = input.relation;
    const T = A.rows;
    const alpha = options.alpha as number;
    const deg = graphDegrees(A, 'propagate laplacian');
    let cgFailed: string | undefined;
    if (wantsCg(opts, T, patternSize(A))) {
      const M = csrFromPattern(A.data, T, (i, j, a) => (i === j ? 1 + alpha * deg[i]! : -alpha * a));
      const r = await solveByCg(M, input.weights, opts, ctx, 'I + αL', 'laplacian');
      if ('C' in r) return { propagated: { rows: T, cols: input.weights.cols, data: r.C }, diagnostics: r.diagnostics };
      cgFailed = r.failed;
    }
    const M = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) M[i * T + j] = i === j ? 1 + alpha * deg[i]! : -alpha * A.data[i * T + j]!;
    const L = cholesky(M, T);
    if (!L)
      throw linearSystemSingular('I + αL', Infinity, 1e12, 'Check the relation for extreme weights or lower alpha.', { stage: 'propagate', method: 'laplacian' });
    const C = choleskySolve(L, T, input.weights.data, input.weights.cols);
    return {
      propagated: { rows: T, cols: input.weights.cols, data: C },
      diagnostics: { solver: 'direct', conditionLowerBound: choleskyConditionBound(L, T), ...(cgFailed ? { cgFailed } : {}) },
    };
  },
};
