import * as tf from '@tensorflow/tfjs-core';
import { solverNotConverged, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { cg } from '../krylov.js';
import { batchOf, parameters, weightsOf } from './optimize-common.js';
import { solverOptions } from './common.js';

/**
 * The exact minimizer for squared loss: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e for every task, solved by batched
 * conjugate gradient (one system per task, all at once; tfjs has no direct solver).
 */
export const optimizeExact: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Exact solution of the normal equations (squared loss only; batched conjugate gradient).',
  losses: ['squared'],
  blockLambdas: true,
  options: { ...standardOptions.optimizeOptions, ...solverOptions },
  run(input, options, ctx) {
    if (input.loss.name !== 'squared') throw new Error('the exact optimizer needs squared loss; use gd, sgd or adam for logistic loss');
    const B = batchOf(ctx, input.tasks);
    const ridge = options.ridge as number;
    const { e, pull, w0, P } = parameters(input, options);
    const diag = tf.tidy(() => tf.add(tf.mul(P, ridge), pull)); // ρP + λc, T×d×1
    const rhs = tf.tidy(() => tf.add(B.b, tf.mul(pull, e)));
    const tol = options.tol as number;
    const res = cg((x) => tf.add(tf.matMul(B.G, x as tf.Tensor3D), tf.mul(diag, x)), rhs, tol, options.maxIterations as number, w0);
    tf.dispose([diag, rhs, e, pull, w0, P]);
    if (!res.converged) {
      res.x.dispose();
      const worst = res.residuals.indexOf(Math.max(...res.residuals));
      throw solverNotConverged(
        `CG on the normal equations of task "${input.tasks[worst]!.id}" (optimize exact, tfjs)`,
        res.iterations,
        res.residual,
        tol,
        'The system may be singular: set stages.optimize.ridge > 0 (or λ > 0), or raise maxIterations.',
        { task: input.tasks[worst]!.id, round: ctx.round },
      );
    }
    const W = weightsOf(input, res.x as tf.Tensor3D);
    res.x.dispose();
    return {
      weights: { rows: input.targets.rows, cols: input.targets.cols, data: W },
      perTask: input.tasks.map(() => ({ epochs: res.iterations, converged: true })),
      diagnostics: { solver: { iterations: res.iterations, residual: res.residual } },
    };
  },
};
