import { linearSystemSingular, standardOptions, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskySolve } from '../linalg.js';
import { csrFromPattern } from '../sparse.js';
import { graphDegrees, patternSize, solveByCg, sparseSolverOptions, wantsCg, type SparseSolverOptions } from './propagate-common.js';

/**
 * Personalized PageRank C = α(I − (1−α)S)⁻¹B, S = D̃^{-1/2}ÃD̃^{-1/2} with Ã = A's off-diagonal part + I
 * (self-loops) and D̃ its degrees. C is the fixed point of C ← (1−α)SC + αB. I − (1−α)S is symmetric positive
 * definite for 0 < α ≤ 1 (S's eigenvalues lie in [−1, 1]), so it is solved by Cholesky — or, for a large sparse
 * graph, by conjugate gradients on the sparse matrix (see `solver`).
 */
export const propagatePpr: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = α(I − (1−α)S)⁻¹B: personalized PageRank over the relation graph with self-loops (Cholesky; CG for large sparse graphs).',
  options: { ...standardOptions.pprOptions, ...sparseSolverOptions },
  async run(input, options, ctx) {
    const opts = options as unknown as SparseSolverOptions;
    const A = input.relation;
    const T = A.rows;
    const alpha = options.alpha as number;
    const deg = graphDegrees(A, 'propagate ppr');
    const inv = Float64Array.from(deg, (g) => 1 / Math.sqrt(g + 1));
    const entry = (i: number, j: number, a: number): number => (i === j ? 1 : 0) - (1 - alpha) * inv[i]! * (i === j ? 1 : a) * inv[j]!;
    let C: Float64Array | undefined;
    let diagnostics: Record<string, unknown> = { solver: 'direct' };
    if (wantsCg(opts, T, patternSize(A))) {
      const r = await solveByCg(csrFromPattern(A.data, T, entry), input.weights, opts, ctx, 'I − (1−α)S', 'ppr');
      if ('C' in r) ({ C, diagnostics } = r);
      else diagnostics.cgFailed = r.failed;
    }
    if (!C) {
      const M = new Float64Array(T * T);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) M[i * T + j] = entry(i, j, A.data[i * T + j]!);
      const L = cholesky(M, T);
      if (!L) throw linearSystemSingular('I − (1−α)S', Infinity, 1e12, 'Increase alpha.', { stage: 'propagate', method: 'ppr' });
      C = choleskySolve(L, T, input.weights.data, input.weights.cols);
    }
    for (let i = 0; i < C.length; i++) C[i]! *= alpha;
    return { propagated: { rows: T, cols: input.weights.cols, data: C }, diagnostics };
  },
};
