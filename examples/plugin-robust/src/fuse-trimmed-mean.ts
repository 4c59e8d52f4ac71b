import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';

/** Element-wise mean after dropping the `trim` fraction of smallest and of largest values. */
export const fuseTrimmedMean: StageMethod<FuseInput, FuseOutput> = {
  description: 'Element-wise trimmed mean: robust to a few outlying tasks.',
  options: {
    trim: { type: 'number', minimum: 0, exclusiveMaximum: 0.5, default: 0.1, description: 'Fraction dropped at each end.' },
    scope: { enum: ['global', 'per-task'], default: 'global', description: 'One target for all tasks, or one per task from its neighbours.' },
  },
  run(input, options) {
    const { rows: T, cols: d, data: C } = input.propagated;
    const A = input.relation.data;
    const trim = options.trim as number;
    const targets = new Float64Array(T * d);
    const weights = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      // the tasks that feed task t's target: all of them, or its neighbours in the relation
      const from: number[] = [];
      for (let s = 0; s < T; s++) if (options.scope === 'global' || (s !== t && A[t * T + s]! > 0)) from.push(s);
      if (from.length === 0) {
        targets.set(C.subarray(t * d, t * d + d), t * d); // no neighbours: keep its own weights, no pull
        continue;
      }
      weights[t] = 1;
      const k = Math.floor(trim * from.length);
      const column = new Float64Array(from.length);
      for (let j = 0; j < d; j++) {
        for (let i = 0; i < from.length; i++) column[i] = C[from[i]! * d + j]!;
        column.sort();
        let sum = 0;
        for (let i = k; i < from.length - k; i++) sum += column[i]!;
        targets[t * d + j] = sum / (from.length - 2 * k);
      }
    }
    return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: weights };
  },
};
