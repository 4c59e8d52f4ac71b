import { standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { checkFinite, gradientScale, lipschitz, norm, perTask, valueAndGradient } from './optimize-common.js';

/** Full-batch gradient descent with step 1/L (L the Lipschitz constant of ∇f) unless `lr` is given. */
export const optimizeGd: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Full-batch gradient descent (step 1/L by default).',
  losses: ['squared', 'logistic'],
  options: standardOptions.gdOptions({ epochs: 1000, tol: 1e-9 }),
  run(input, options, ctx) {
    const epochs = options.epochs as number;
    const tol = options.tol as number;
    return perTask('optimize/gd', input, options, ctx, (p, w) => {
      const step = (options.lr as number | undefined) ?? 1 / lipschitz(p);
      const g = new Float64Array(p.stats.d);
      const stop = tol * gradientScale(p);
      for (let epoch = 1; epoch <= epochs; epoch++) {
        const f = valueAndGradient(p, w, g);
        checkFinite(f, p, ctx, epoch, 'Lower stages.optimize.lr (or remove it to use the automatic step).');
        if (norm(g) <= stop) return { w, report: { epochs: epoch - 1, converged: true } };
        for (let j = 0; j < w.length; j++) w[j]! -= step * g[j]!;
      }
      valueAndGradient(p, w, g);
      return { w, report: { epochs, converged: norm(g) <= stop } };
    });
  },
};
