import { linearSystemSingular, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskySolve } from '../linalg.js';
import { perTask } from './optimize-common.js';

/**
 * The exact minimizer for squared loss: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e, solved by Cholesky from the cached
 * sufficient statistics.
 */
export const optimizeExact: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Exact solution of the normal equations (squared loss only; Cholesky).',
  losses: ['squared'],
  options: standardOptions.optimizeOptions,
  run(input, options, ctx) {
    if (input.loss !== 'squared')
      throw new Error('the exact optimizer needs squared loss; use gd, sgd or adam for logistic loss');
    // H depends only on the task, λc_t and ρ — the same in every round of a run — so its factor is kept
    let factors = ctx.cache.get('plugin-cpu/exact-factors') as WeakMap<object, Map<string, Float64Array | null>> | undefined;
    if (!factors) ctx.cache.set('plugin-cpu/exact-factors', (factors = new WeakMap()));
    return perTask('optimize/exact', input, options, ctx, (p) => {
      const { d, G, b } = p.stats;
      const rhs = new Float64Array(d);
      for (let j = 0; j < d; j++) rhs[j] = b[j]! + p.pull * p.e[j]!;
      let byParams = factors.get(p.task);
      if (!byParams) factors.set(p.task, (byParams = new Map()));
      const key = `${p.pull}/${p.ridge}`;
      let L = byParams.get(key);
      if (L === undefined) {
        const H = new Float64Array(G);
        for (let j = 0; j < d; j++) H[j * d + j]! += p.pull + (j === p.task.biasColumn ? 0 : p.ridge);
        L = cholesky(H, d);
        byParams.set(key, L);
      }
      if (!L)
        throw linearSystemSingular(
          `the normal equations of task "${p.task.id}" (${p.stats.n} rows, ${d} features)`,
          Infinity,
          1e12,
          'Set stages.optimize.ridge > 0 (or λ > 0), or use fewer features.',
          { task: p.task.id, round: ctx.round },
        );
      return { w: choleskySolve(L, d, rhs, 1), report: { epochs: 1, converged: true } };
    });
  },
};
