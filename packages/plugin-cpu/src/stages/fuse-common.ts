import { negativeRelation, outputMatrix, standardOptions, type DenseMatrix, type FuseInput, type FuseOutput } from '@weightshare/framework';

export const scopeOption = standardOptions.scopeOption;

/** Neighbours of task t in A: s ≠ t with A[t][s] > 0. @throws RELATION_INVALID on negative weights. */
export function neighbours(A: DenseMatrix, t: number, method: string): number[] {
  const T = A.rows;
  const out: number[] = [];
  for (let s = 0; s < T; s++) {
    if (s === t) continue;
    const v = A.data[t * T + s]!;
    if (v < 0) throw negativeRelation(`fuse ${method} with scope per-task`, t, s, v);
    if (v > 0) out.push(s);
  }
  return out;
}

/**
 * Element-wise reduction fuse (median, max, min, unweighted mean): global over all tasks or per task over its
 * neighbours. Penalty weights are 1 (0 for a task without neighbours, whose target is its own C row).
 */
export function reduceFuse(input: FuseInput, scope: string, method: string, reduce: (values: Float64Array) => number): FuseOutput {
  const C = input.propagated;
  const { rows: T, cols: d } = C;
  const targets = outputMatrix(input.out, T, d).data;
  const c = new Float64Array(T).fill(1);
  if (scope === 'global') {
    const col = new Float64Array(T);
    const e = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      for (let t = 0; t < T; t++) col[t] = C.data[t * d + j]!;
      e[j] = reduce(col);
    }
    for (let t = 0; t < T; t++) targets.set(e, t * d);
  } else {
    let isolated = 0;
    for (let t = 0; t < T; t++) {
      const nb = neighbours(input.relation, t, method);
      if (!nb.length) {
        targets.set(C.data.subarray(t * d, t * d + d), t * d);
        c[t] = 0;
        isolated++;
        continue;
      }
      const vals = new Float64Array(nb.length);
      for (let j = 0; j < d; j++) {
        for (let k = 0; k < nb.length; k++) vals[k] = C.data[nb[k]! * d + j]!;
        targets[t * d + j] = reduce(vals);
      }
    }
    return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: c, diagnostics: { isolatedTasks: isolated } };
  }
  return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: c };
}
