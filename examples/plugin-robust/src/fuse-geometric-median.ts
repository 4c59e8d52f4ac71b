import type { FuseInput, FuseOutput, StageMethod } from '@weightshare/framework';

/**
 * One global target E = argmin_E Σ_t ‖C_t − E‖ (the geometric median of the task weight vectors), by Weiszfeld's
 * iteration started at the mean. Unlike an element-wise median it treats each task's weights as one vector.
 */
export const fuseGeometricMedian: StageMethod<FuseInput, FuseOutput> = {
  description: 'Geometric median of the task weight vectors (Weiszfeld): one robust global target.',
  options: {
    maxIterations: { type: 'integer', minimum: 1, default: 1000, description: 'Weiszfeld iterations at most.' },
    tol: { type: 'number', exclusiveMinimum: 0, default: 1e-12, description: 'Stop when E moves less than tol·(1 + ‖E‖).' },
  },
  run(input, options) {
    const { rows: T, cols: d, data: C } = input.propagated;
    let e = new Float64Array(d);
    for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) e[j]! += C[t * d + j]! / T;
    let iterations = 0;
    for (; iterations < (options.maxIterations as number); iterations++) {
      const next = new Float64Array(d);
      let total = 0;
      let atPoint = false;
      for (let t = 0; t < T; t++) {
        let dist = 0;
        for (let j = 0; j < d; j++) dist += (C[t * d + j]! - e[j]!) ** 2;
        dist = Math.sqrt(dist);
        if (dist < 1e-300) {
          atPoint = true; // E sits on a task's weights: Weiszfeld is undefined there; stop
          break;
        }
        total += 1 / dist;
        for (let j = 0; j < d; j++) next[j]! += C[t * d + j]! / dist;
      }
      if (atPoint) break;
      let move = 0;
      let size = 0;
      for (let j = 0; j < d; j++) {
        next[j]! /= total;
        move = Math.max(move, Math.abs(next[j]! - e[j]!));
        size = Math.max(size, Math.abs(next[j]!));
      }
      e = next;
      if (move <= (options.tol as number) * (1 + size)) break;
    }
    const targets = new Float64Array(T * d);
    for (let t = 0; t < T; t++) targets.set(e, t * d);
    return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: new Float64Array(T).fill(1), diagnostics: { iterations } };
  },
};
