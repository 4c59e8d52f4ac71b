import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { checkFinite, gradientScale, lipschitz, norm, perTask, valueAndGradient } from './optimize-common.js';

/**
 * Mini-batch stochastic gradient descent. Each task shuffles its rows every epoch with its own stream of the run's
 * seeded generator (forked by task id), so results do not depend on the order tasks run in.
 * Step size lr_k = lr / (1 + decay·k) at epoch k.
 */
export const optimizeSgd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Mini-batch SGD with seeded shuffling and a decaying step.',
  losses: ['squared', 'logistic'],
  options: standardOptions.sgdOptions({ epochs: 100, tol: 1e-6 }),
  run(input, options, ctx) {
    const epochs = options.epochs as number;
    const tol = options.tol as number;
    const batch = options.batchSize as number;
    const decay = options.decay as number;
    return perTask('optimize/sgd', input, options, ctx, (p, w) => {
      const rng = ctx.rng.fork(`task/${p.task.id}`);
      const lr0 = (options.lr as number | undefined) ?? 1 / lipschitz(p);
      const g = new Float64Array(p.stats.d);
      const stop = tol * gradientScale(p);
      const n = p.stats.n;
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const order = rng.permutation(n);
        const lr = lr0 / (1 + decay * (epoch - 1));
        for (let start = 0; start < n; start += batch) {
          const rows = order.subarray(start, Math.min(n, start + batch));
          const f = valueAndGradient(p, w, g, rows);
          checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
          for (let j = 0; j < w.length; j++) w[j]! -= lr * g[j]!;
        }
        const f = valueAndGradient(p, w, g);
        checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr.');
        if (norm(g) <= stop) return { w, report: { epochs: epoch, converged: true } };
      }
      return { w, report: { epochs, converged: false } };
    });
  },
};
