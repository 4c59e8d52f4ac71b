import { relationInvalid, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { csrFromPattern } from '../sparse.js';
import { cgObstacle, patternSize, singularOptions, solveByCg, solveWithFallback, sparseSolverOptions, wantsCg, type SingularOptions, type SparseSolverOptions } from './propagate-common.js';

/**
 * C = A⁻¹B by LU factorization with partial pivoting and a condition estimate; no inverse is formed. A large sparse
 * symmetric A is solved by conjugate gradients instead (see `solver`).
 */
export const propagateSolve: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = A⁻¹B by solving A C = B (LU with partial pivoting, condition estimated; CG when A is large, sparse and SPD).',
  options: { ...singularOptions, ...sparseSolverOptions },
  async run(input, options, ctx) {
    const opts = options as unknown as SingularOptions & SparseSolverOptions;
    const A = input.relation;
    const T = A.rows;
    let cgFailed: string | undefined;
    if (wantsCg(opts, T, patternSize(A))) {
      const obstacle = cgObstacle(A);
      if (obstacle && opts.solver === 'cg')
        throw relationInvalid(`propagate solve with solver: cg needs a symmetric A with a positive diagonal, but ${obstacle}. Use solver: direct (or auto).`);
      if (obstacle) cgFailed = obstacle;
      else {
        const r = await solveByCg(csrFromPattern(A.data, T, (_i, _j, a) => a), input.weights, opts, ctx, 'A', 'solve');
        if ('C' in r) return { propagated: { rows: T, cols: input.weights.cols, data: r.C }, diagnostics: r.diagnostics };
        cgFailed = r.failed;
      }
    }
    const { C, diagnostics } = solveWithFallback(A, input.weights, opts, 'solve', false);
    return { propagated: { rows: T, cols: input.weights.cols, data: C }, diagnostics: { solver: 'direct', ...diagnostics, ...(cgFailed ? { cgFailed } : {}) } };
  },
};
