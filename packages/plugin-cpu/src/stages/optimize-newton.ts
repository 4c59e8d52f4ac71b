import { invalidArgument, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { cholesky, choleskySolve } from '../linalg.js';
import { checkFinite, contextOf, gradientScale, norm, perTask, problemOf, rowsNeeded, valueAndGradient, statsBack, type TaskItem, type TaskProblem, type TaskResult } from './optimize-common.js';

/** The most parameters a task may have for Newton's method (its Hessian is p×p). */
export const NEWTON_MAX_PARAMETERS = 2000;

/**
 * The Hessian of f at θ for a linear model: Σ_i (x_i x_iᵀ) ⊗ ∂²L/∂z∂zᵀ(row i) + 2·diag(pulls + ρ·mask), p×p with
 * p = d·k (index j·k + c).
 */
function hessian(p: TaskProblem, w: Float64Array): Float64Array {
  const { layout } = p.model;
  const k = layout.outputs;
  const d = layout.features;
  const P = layout.size;
  const n = p.task.X.rows;
  const X = p.task.X.data;
  const Z = new Float64Array(n * k);
  p.model.component.forward(layout, w, X, n, Z, p.model.options);
  const C = new Float64Array(n * k * k);
  p.loss.component.curvature!(p.task.y, Z, k, C, p.loss.options);
  const H = new Float64Array(P * P);
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    const co = i * k * k;
    for (let a = 0; a < d; a++) {
      const xa = X[xo + a]!;
      if (xa === 0) continue;
      for (let b = a; b < d; b++) {
        const xab = xa * X[xo + b]!;
        if (xab === 0) continue;
        for (let c = 0; c < k; c++)
          for (let e = 0; e < k; e++) H[(a * k + c) * P + b * k + e]! += xab * C[co + c * k + e]!;
      }
    }
  }
  // the loops filled feature pairs a ≤ b: mirror them
  for (let a = 0; a < d; a++)
    for (let b = a + 1; b < d; b++)
      for (let c = 0; c < k; c++) for (let e = 0; e < k; e++) H[(b * k + e) * P + a * k + c] = H[(a * k + c) * P + b * k + e]!;
  const mask = layout.penalized;
  for (let j = 0; j < P; j++) H[j * P + j]! += 2 * p.pulls[j]! + (mask[j] ? 2 * p.ridge : 0);
  return H;
}

/**
 * One task of Newton's method with a backtracking line search (damped Newton). Where the Hessian is singular (the
 * softmax loss is flat along equal shifts of an unpenalized bias row), a Levenberg term δI, 10⁻⁸ of the mean
 * diagonal and growing until Cholesky succeeds, makes it positive definite. Runs on any thread.
 */
export function solveNewton(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const epochs = item.options.epochs as number;
  const P = p.model.layout.size;
  const stop = (item.options.tol as number) * gradientScale(p);
  let w = new Float64Array(item.w0);
  let g = new Float64Array(P);
  let wn = new Float64Array(P);
  let gn = new Float64Array(P);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged }, ...statsBack(item, p.stats) });
  let f = valueAndGradient(p, w, g);
  checkFinite(f, p, ctx, 0, 'Check the data for extreme values.');
  for (let it = 1; it <= epochs; it++) {
    if (norm(g) <= stop) return done(it - 1, true);
    const H = hessian(p, w);
    let trace = 0;
    for (let j = 0; j < P; j++) trace += H[j * P + j]!;
    // always a Levenberg term of 10⁻⁸ of the mean diagonal: where H is singular in exact arithmetic (softmax with an
    // unpenalized bias row) Cholesky may still succeed on rounding noise, and a pivot of ~10⁻¹⁶ would turn the
    // gradient's rounding error along the flat direction into a step of the gradient's size (the weights drift
    // along it); with δ the drift is ≤ 10⁻⁸ of the step, and the fixed point ∇f = 0 is unchanged.
    const base = 1e-8 * (trace / P || 1);
    for (let j = 0; j < P; j++) H[j * P + j]! += base;
    let L = cholesky(H, P);
    for (let delta = 100 * base; !L && delta < 1e10 * (trace / P || 1); delta *= 100) {
      const D = new Float64Array(H);
      for (let j = 0; j < P; j++) D[j * P + j]! += delta;
      L = cholesky(D, P);
    }
    if (!L) return done(it, false);
    const step = choleskySolve(L, P, g, 1);
    let slope = 0;
    for (let j = 0; j < P; j++) slope -= g[j]! * step[j]!;
    let t = 1;
    let accepted = false;
    let fn = NaN;
    for (let tries = 0; tries < 60; tries++, t /= 2) {
      for (let j = 0; j < P; j++) wn[j] = w[j]! - t * step[j]!;
      fn = valueAndGradient(p, wn, gn);
      if (Number.isFinite(fn) && fn <= f + 1e-4 * t * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) return done(it, true); // no decrease left: optimal to machine precision
    [w, wn] = [wn, w];
    [g, gn] = [gn, g];
    f = fn;
  }
  return done(epochs, norm(g) <= stop);
}

/** Newton's method for linear models with a twice-differentiable loss and few parameters. */
export const optimizeNewton: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: `Damped Newton's method (Cholesky of the p×p Hessian, p ≤ ${NEWTON_MAX_PARAMETERS}); linear models, losses with a curvature.`,
  blockLambdas: true,
  losses: 'any',
  models: ['linear'],
  options: standardOptions.newtonOptions({ epochs: 100, tol: 1e-12 }),
  supports(loss) {
    return loss.component.curvature ? undefined : `the ${loss.name} loss gives no second derivative (curvature), which Newton's method needs; use lbfgs`;
  },
  run(input, options, ctx) {
    if (input.model.layout.size > NEWTON_MAX_PARAMETERS)
      throw invalidArgument(`optimize method newton factors a p×p Hessian per task, and this model has p = ${input.model.layout.size} parameters (more than ${NEWTON_MAX_PARAMETERS}); use lbfgs instead.`);
    return perTask('optimize/newton', input, options, ctx, { module: import.meta.url, export: 'solveNewton' }, solveNewton, true);
  },
};
