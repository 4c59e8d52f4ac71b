import { tf } from '../tf.js';
import { standardOptions, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { cg } from '../krylov.js';
import { checkConverged, graphWeights, solverOptions } from './common.js';
import { relationProduct } from '../sparse.js';

/** C = (I + αL)⁻¹B by Jacobi-preconditioned conjugate gradient (I + αL is symmetric positive definite). */
export const propagateLaplacian: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = (I + αL)⁻¹B: Laplacian smoothing over the relation graph (conjugate gradient).',
  options: { ...standardOptions.laplacianOptions, ...solverOptions },
  run(input, options) {
    const T = input.relation.rows;
    const alpha = options.alpha as number;
    const weights = graphWeights(input.relation, 'propagate laplacian');
    const W = relationProduct(weights, T);
    const B = toTensor(input.weights);
    // (I + αL)x = x + α(D x − W x), D = diag of W's row sums
    const deg = tf.tidy(() => tf.sum(tf.tensor2d(weights, [T, T]), 1, true));
    const precond = tf.tidy(() => tf.div(1, tf.add(1, tf.mul(alpha, deg)))); // Jacobi: 1 / diag(I + αL)
    try {
      const res = cg((x) => tf.add(x, tf.mul(alpha, tf.sub(tf.mul(deg, x), W.apply(x)))), B, options.tol as number, options.maxIterations as number, undefined, precond);
      const diagnostics = checkConverged(res, 'CG on I + αL (propagate laplacian, tfjs)', options.tol as number, 'Raise maxIterations or lower alpha.', { stage: 'propagate', method: 'laplacian' });
      const data = Float64Array.from(res.x.dataSync());
      res.x.dispose();
      return { propagated: { rows: T, cols: input.weights.cols, data }, diagnostics: { ...diagnostics, product: W.sparse ? 'sparse (host)' : 'dense' } };
    } finally {
      W.dispose();
      tf.dispose([B, deg, precond]);
    }
  },
};
