import { tf } from '../tf.js';
import { standardOptions, type PropagateInput, type PropagateOutput, type StageMethod } from '@weightshare/framework';
import { toTensor } from '../convert.js';
import { cg } from '../krylov.js';
import { checkConverged, graphWeights, solverOptions } from './common.js';
import { relationProduct } from '../sparse.js';

/** C = α(I − (1−α)S)⁻¹B by Jacobi-preconditioned conjugate gradient, S = D̃^{-1/2}(A_off + I)D̃^{-1/2}. */
export const propagatePpr: StageMethod<PropagateInput, PropagateOutput> = {
  description: 'C = α(I − (1−α)S)⁻¹B: personalized PageRank over the relation graph (conjugate gradient).',
  options: { ...standardOptions.pprOptions, ...solverOptions },
  run(input, options) {
    const T = input.relation.rows;
    const alpha = options.alpha as number;
    const W = graphWeights(input.relation, 'propagate ppr');
    for (let i = 0; i < T; i++) W[i * T + i] = 1; // self-loops
    const [S, precond] = tf.tidy(() => {
      const At = tf.tensor2d(W, [T, T]);
      const rowSums = tf.sum(At, 1, true);
      const inv = tf.rsqrt(rowSums);
      // Jacobi: 1 / diag(I − (1−α)S), S_ii = 1 / rowSum_i
      return [tf.mul(tf.mul(inv, At), tf.transpose(inv)), tf.div(1, tf.sub(1, tf.div(1 - alpha, rowSums)))];
    });
    const product = relationProduct(S!.dataSync() as Float32Array, T);
    const B = toTensor(input.weights);
    try {
      const res = cg((x) => tf.sub(x, tf.mul(1 - alpha, product.apply(x))), B, options.tol as number, options.maxIterations as number, undefined, precond);
      const diagnostics = checkConverged(res, 'CG on I − (1−α)S (propagate ppr, tfjs)', options.tol as number, 'Raise maxIterations or alpha.', { stage: 'propagate', method: 'ppr' });
      const C = tf.mul(res.x, alpha);
      const data = Float64Array.from(C.dataSync());
      tf.dispose([res.x, C]);
      return { propagated: { rows: T, cols: input.weights.cols, data }, diagnostics: { ...diagnostics, product: product.sparse ? 'sparse (host)' : 'dense' } };
    } finally {
      product.dispose();
      tf.dispose([S!, precond!, B]);
    }
  },
};
