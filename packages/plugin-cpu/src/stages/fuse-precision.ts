import { precisionWeights, type FuseInput, type FuseOutput, type StageMethod } from '@weightshare/framework';

/**
 * The relation read as the precision matrix of the penalty λ tr(Wᵀ A W) (for relation learn, form covariance:
 * A = Ω⁻¹): E = C − diag(c)⁻¹ A C with c_t = A_tt + Σ_{s≠t} |A_ts| (framework `precisionWeights`). The round's
 * per-task pull λ c_t ‖w_t − E_t‖² majorizes the penalty at C, so the rounds are majorize-minimize steps on
 * Σ_t L_t + λ tr(WᵀAW): each one lowers it, and their fixed points are its stationary points.
 */
export const fusePrecision: StageMethod<FuseInput, FuseOutput> = {
  description: 'E = C − diag(c)⁻¹AC, c_t = A_tt + Σ_s≠t |A_ts|: targets of the penalty λ tr(WᵀAW), A a precision matrix (relation learn, form covariance).',
  options: {},
  run(input) {
    const C = input.propagated;
    const A = input.relation.data;
    const { rows: T, cols: d } = C;
    const c = precisionWeights(input.relation);
    const targets = new Float64Array(C.data);
    const acc = new Float64Array(d);
    for (let t = 0; t < T; t++) {
      if (!(c[t]! > 0)) continue;
      acc.fill(0);
      for (let s = 0; s < T; s++) {
        const a = A[t * T + s]!;
        if (a === 0) continue;
        for (let j = 0; j < d; j++) acc[j]! += a * C.data[s * d + j]!;
      }
      const inv = 1 / c[t]!;
      for (let j = 0; j < d; j++) targets[t * d + j]! -= inv * acc[j]!;
    }
    return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: c };
  },
};
