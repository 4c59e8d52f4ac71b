import { dataInvalid, outputMatrix, standardOptions, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';
import { neighbours } from './fuse-common.js';

/**
 * Weighted mean with penalty weights that keep the alternating scheme on one objective.
 *
 * Task weights v: `sizes` (training rows), `degree` (row sums of A without the diagonal), `given` (`values`), or
 * `edges` (all 1), each scaled to mean 1.
 * - global: E = Σ_t v_t C_t / Σ_t v_t and c_t = v_t, so optimize minimizes Σ_t c_t‖w_t − E‖², whose minimizer
 *   over E is exactly this E.
 * - per-task: u_ts = A[t][s]·v_s over neighbours s; E_t = Σ_s u_ts C_s / Σ_s u_ts and c_t = Σ_s u_ts. With
 *   `edges` this is graph-regularized MTL: λ·Σ_t deg_t‖w_t − E_t‖² has the gradient of λ·tr(WᵀLW).
 */
export const fuseWeightedMean: StageMethod<FuseInput, FuseOutput> = {
  spareOutput: true,
  description: 'Weighted mean (weights: task sizes, relation degree, given values, or edge weights only).',
  options: standardOptions.weightedMeanOptions,
  run(input, options) {
    const C = input.propagated;
    const A = input.relation;
    const { rows: T, cols: d } = C;
    const v = taskWeights(input, options);
    const targets = outputMatrix(input.out, T, d).data;
    const c = new Float64Array(T);
    if (options.scope === 'global') {
      let total = 0;
      for (let t = 0; t < T; t++) total += v[t]!;
      if (!(total > 0)) throw dataInvalid('fuse weighted-mean: the task weights sum to zero; give at least one positive weight.');
      const e = new Float64Array(d);
      for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) e[j]! += (v[t]! / total) * C.data[t * d + j]!;
      for (let t = 0; t < T; t++) {
        targets.set(e, t * d);
        c[t] = v[t]!;
      }
      return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: c };
    }
    let isolated = 0;
    for (let t = 0; t < T; t++) {
      let sum = 0;
      for (const s of neighbours(A, t, 'weighted-mean')) {
        const u = A.data[t * T + s]! * v[s]!;
        sum += u;
        for (let j = 0; j < d; j++) targets[t * d + j]! += u * C.data[s * d + j]!;
      }
      if (sum > 0) for (let j = 0; j < d; j++) targets[t * d + j]! /= sum;
      else {
        targets.set(C.data.subarray(t * d, t * d + d), t * d);
        isolated++;
      }
      c[t] = sum;
    }
    return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: c, diagnostics: { isolatedTasks: isolated } };
  },
};

function taskWeights(input: FuseInput, options: Record<string, unknown>): Float64Array {
  const T = input.propagated.rows;
  const A = input.relation;
  let v: Float64Array;
  switch (options.weights) {
    case 'sizes':
      v = Float64Array.from(input.taskSizes);
      break;
    case 'degree':
      v = new Float64Array(T);
      for (let t = 0; t < T; t++) for (let s = 0; s < T; s++) if (s !== t) v[t]! += A.data[t * T + s]!;
      break;
    case 'given': {
      const values = options.values as number[] | undefined;
      if (!values || values.length !== T)
        throw dataInvalid(`fuse weighted-mean with weights: given needs stages.fuse.values with one weight per task (${T}), got ${values?.length ?? 'none'}.`);
      v = Float64Array.from(values);
      break;
    }
    default:
      return new Float64Array(T).fill(1);
  }
  let mean = 0;
  for (let t = 0; t < T; t++) mean += v[t]! / T;
  if (mean > 0) for (let t = 0; t < T; t++) v[t]! /= mean;
  return v;
}
