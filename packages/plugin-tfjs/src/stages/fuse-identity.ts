import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';

/** E_t = C_t: each task is pulled towards its own propagated weights. */
export const fuseIdentity: StageMethod<FuseInput, FuseOutput> = {
  description: 'E_t = C_t: each task is pulled towards its own propagated weights.',
  options: {},
  run(input) {
    const C = input.propagated;
    return { targets: { rows: C.rows, cols: C.cols, data: Float64Array.from(Float32Array.from(C.data)) }, penaltyWeights: new Float64Array(C.rows).fill(1) };
  },
};
