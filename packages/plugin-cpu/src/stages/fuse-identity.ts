import { outputMatrix, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';

/**
 * E_t = C_t: each task's target is its own propagated weights (penalty weight 1). This is how propagation shares
 * knowledge: after laplacian or ppr, C_t already mixes in the related tasks. (A global mean after laplacian would
 * undo it: 1ᵀ(I + αL)⁻¹ = 1ᵀ, so the mean of C equals the mean of B.)
 */
export const fuseIdentity: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'E_t = C_t: each task is pulled towards its own propagated weights.',
  options: {},
  run(input) {
    const C = input.propagated;
    const E = outputMatrix(input.out, C.rows, C.cols);
    E.data.set(C.data);
    return { targets: E, penaltyWeights: new Float64Array(C.rows).fill(1) };
  },
};
