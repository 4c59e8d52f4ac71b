import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { checkFinite, gradientScale, norm, perTask, valueAndGradient } from './optimize-common.js';

/**
 * Adam (Kingma & Ba 2015) with bias correction; full-batch unless `batchSize` is set (then rows are shuffled with
 * the task's own seeded stream).
 */
export const optimizeAdam: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Adam (full-batch by default, or mini-batches with seeded shuffling).',
  losses: ['squared', 'logistic'],
  options: standardOptions.adamOptions({ epochs: 2000, tol: 1e-9 }),
  run(input, options, ctx) {
    const epochs = options.epochs as number;
    const tol = options.tol as number;
    const lr = options.lr as number;
    const b1 = options.beta1 as number;
    const b2 = options.beta2 as number;
    const eps = options.epsilon as number;
    return perTask('optimize/adam', input, options, ctx, (p, w) => {
      const d = p.stats.d;
      const n = p.stats.n;
      const batch = Math.min((options.batchSize as number | undefined) ?? n, n);
      const rng = batch < n ? ctx.rng.fork(`task/${p.task.id}`) : undefined;
      const m = new Float64Array(d);
      const v = new Float64Array(d);
      const g = new Float64Array(d);
      const stop = tol * gradientScale(p);
      let step = 0;
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const order = rng?.permutation(n);
        for (let start = 0; start < n; start += batch) {
          const f = valueAndGradient(p, w, g, order?.subarray(start, Math.min(n, start + batch)));
          checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
          if (!order && norm(g) <= stop) return { w, report: { epochs: epoch - 1, converged: true } };
          step++;
          const c1 = 1 - b1 ** step;
          const c2 = 1 - b2 ** step;
          for (let j = 0; j < d; j++) {
            m[j] = b1 * m[j]! + (1 - b1) * g[j]!;
            v[j] = b2 * v[j]! + (1 - b2) * g[j]! * g[j]!;
            w[j]! -= (lr * (m[j]! / c1)) / (Math.sqrt(v[j]! / c2) + eps);
          }
        }
        if (order) {
          const f = valueAndGradient(p, w, g);
          checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
          if (norm(g) <= stop) return { w, report: { epochs: epoch, converged: true } };
        }
      }
      valueAndGradient(p, w, g);
      return { w, report: { epochs, converged: norm(g) <= stop } };
    });
  },
};
