import { tf } from '../tf.js';
import {
  choleskyMirrored,
  choleskySolveMirrored,
  linearSystemSingular,
  solverNotConverged,
  standardOptions,
  TaskFailure,
  type OptimizeInput,
  type OptimizeOutput,
  type StageContext,
  type StageMethod,
  type TaskOptimizeReport,
} from '@weightshare/framework';
import { cg } from '../krylov.js';
import { batchOf, parameters, statsOfTasks, weightsOf } from './optimize-common.js';
import { solverOptions } from './common.js';

/**
 * Order of the normal equations up to which the solves run on the host: each task's d×d system is factorized once per
 * run (Cholesky, float64, from tfjs's float32 XᵀX and Xᵀy) and solved every round by two triangular sweeps (2d²
 * flops) — for small d far less than the dozens of tensor ops of a batched CG, each with its dispatch cost. The
 * inputs are rounded to float32 as at the plugin's boundary, and so is W. As a CG from the start would, a task whose
 * start already solves its system ({@link KEEP_START}) keeps it.
 */
export const HOST_MAX_ORDER = 256;
/**
 * A task whose start already solves its system to this relative residual keeps its start (a few float32 roundings:
 * the float32 inputs of the next round differ from this one's by about that much, so without it the rounds would
 * chase rounding noise and never stop; with 1e-6, as the batched CG's tolerance, they stopped further from the
 * float64 fixed point than 1e-4; with 1e-7 School's laplacian pipeline took 1,050 rounds instead of 59).
 */
const KEEP_START = 3e-7;

/** Every task's mirrored factor (see the framework's choleskyMirrored) and what it was computed from. */
interface FactorBlock {
  d: number;
  L: Float64Array;
  G: (Float32Array | undefined)[];
  pulls: Float64Array;
  ridge: Float64Array;
}

const EXACT: TaskOptimizeReport = Object.freeze({ epochs: 1, converged: true });

function hostExact(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext): OptimizeOutput {
  const T = input.targets.rows;
  const P = input.targets.cols;
  const P2 = P * P;
  const key = 'plugin-tfjs/exact-factors';
  let block = ctx.cache.get(key) as FactorBlock | undefined;
  if (!block || block.d !== P || block.G.length !== T) {
    block = { d: P, L: new Float64Array(T * P2), G: new Array(T).fill(undefined), pulls: new Float64Array(T * P), ridge: new Float64Array(T) };
    ctx.cache.set(key, block);
  }
  const ridge = Math.fround(options.ridge as number);
  const mask = input.model.layout.penalized;
  const lambdas = input.lambdas;
  const E = input.targets.data;
  const r = new Float64Array(T * P);
  const W = new Float64Array(T * P);
  const pulls = new Float64Array(P);
  const reports: TaskOptimizeReport[] = new Array(T);
  const stats = statsOfTasks(input.tasks);
  input.tasks.forEach((task, k) => {
    const t = task.index;
    const s = stats[k]!;
    for (let j = 0; j < P; j++) pulls[j] = Math.fround(lambdas[j]! * input.penaltyWeights[t]!);
    for (let j = 0; j < P; j++) r[t * P + j] = s.b[j]! + pulls[j]! * Math.fround(E[t * P + j]!);
    reports[t] = EXACT;
    let same = block.G[t] === s.G && block.ridge[t] === ridge;
    for (let j = 0; j < P && same; j++) same = block.pulls[t * P + j] === pulls[j];
    if (!same) {
      const at = t * P2;
      block.L.set(s.G, at);
      for (let j = 0; j < P; j++) block.L[at + j * P + j]! += pulls[j]! + (mask[j] ? ridge : 0);
      block.G[t] = undefined;
      if (!choleskyMirrored(block.L, at, P))
        throw new TaskFailure(
          k,
          'optimize/exact',
          linearSystemSingular(`the normal equations of task "${task.id}" (${task.X.rows} rows, ${P} features)`, Infinity, 1e12, 'Set stages.optimize.ridge > 0 (or λ > 0), or use fewer features.', { task: task.id, round: ctx.round }),
        );
      block.G[t] = s.G;
      block.ridge[t] = ridge;
      block.pulls.set(pulls, t * P);
    }
    // as CG from the start would: a start whose relative residual is already within KEEP_START is the answer (so a
    // float32 fixed point stays one, and the rounds can stop when nothing changes)
    const w0 = input.start.data;
    let rr = 0;
    let bb = 0;
    for (let i = 0; i < P; i++) {
      let v = (pulls[i]! + (mask[i] ? ridge : 0)) * w0[t * P + i]! - r[t * P + i]!;
      for (let j = 0; j < P; j++) v += s.G[i * P + j]! * w0[t * P + j]!;
      rr += v * v;
      bb += r[t * P + i]! * r[t * P + i]!;
    }
    if (rr <= KEEP_START * KEEP_START * bb) W.set(w0.subarray(t * P, t * P + P), t * P);
    else choleskySolveMirrored(block.L, t * P2, P, r, t * P, W, t * P);
  });
  for (let i = 0; i < W.length; i++) W[i] = Math.fround(W[i]!);
  return { weights: { rows: T, cols: P, data: W }, perTask: reports, diagnostics: { solver: 'cholesky (host)' } };
}

/**
 * The exact minimizer for squared loss: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e for every task: XᵀX and Xᵀy on tfjs, then
 * up to {@link HOST_MAX_ORDER} features the small systems on the host, beyond it batched conjugate gradient on tfjs
 * (one system per task, all at once; tfjs has no direct solver).
 */
export const optimizeExact: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Exact solution of the normal equations (squared loss only; host Cholesky up to 256 features, else batched conjugate gradient).',
  losses: ['squared'],
  blockLambdas: true,
  options: { ...standardOptions.optimizeOptions, ...solverOptions },
  run(input, options, ctx) {
    if (input.loss.name !== 'squared') throw new Error('the exact optimizer needs squared loss; use gd, sgd or adam for logistic loss');
    if (input.targets.cols <= HOST_MAX_ORDER && input.model.layout.linear && input.model.layout.outputs === 1) return hostExact(input, options, ctx);
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
