import { lbfgsDirection, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { jointSolve, checkFinite, contextOf, curveFor, gradientScale, norm, perTask, problemOf, rowsNeeded, valueAndGradient, statsBack, type TaskItem, type TaskResult } from './optimize-common.js';

/**
 * One task of L-BFGS (Nocedal & Wright 2006, algorithm 7.4/7.5): the two-loop recursion over the last `memory`
 * pairs (s, y), the first step scaled by sᵀy/yᵀy, and a backtracking line search with the Armijo condition
 * f(θ + t·d) ≤ f(θ) + 10⁻⁴·t·∇fᵀd from t = 1, halving when the trial value is not finite (an overflowing loss) or
 * not low enough. A pair with sᵀy ≤ 10⁻¹⁰·‖s‖‖y‖ (no positive curvature measured) is not stored; a direction that
 * is not a descent direction restarts from −∇f. Stops when ‖∇f(θ)‖ ≤ tol·‖∇f(0)‖, or when the line search cannot
 * decrease f any more or an accepted step leaves f unchanged (θ is optimal to machine precision), or after `epochs`
 * iterations. Runs on any thread.
 */
export function solveLbfgs(item: TaskItem): TaskResult {
  const p = problemOf(item);
  const ctx = contextOf(item);
  const epochs = item.options.epochs as number;
  const m = item.options.memory as number;
  const P = p.model.layout.size;
  const stop = (item.options.tol as number) * gradientScale(p);
  let w = new Float64Array(item.w0);
  let g = new Float64Array(P);
  let wn = new Float64Array(P);
  let gn = new Float64Array(P);
  const dir = new Float64Array(P);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const alpha = new Float64Array(m);
  const curve = curveFor(p);
  const done = (epochsRun: number, converged: boolean): TaskResult => ({ w, report: { epochs: epochsRun, converged, ...(curve ? { curve } : {}) }, ...statsBack(item, p.stats) });
  let f = valueAndGradient(p, w, g);
  checkFinite(f, p, ctx, 0, 'Check the data for extreme values, or start from smaller weights (init: zeros).');
  for (let it = 1; it <= epochs; it++) {
    if (norm(g) <= stop) return done(it - 1, true);
    // two-loop recursion: dir = −H·g (a unit-length move along −g while there are no pairs)
    lbfgsDirection(g, S, Y, rho, alpha, dir);
    let slope = 0;
    for (let j = 0; j < P; j++) slope += g[j]! * dir[j]!;
    if (!(slope < 0)) {
      S.length = Y.length = rho.length = 0;
      for (let j = 0; j < P; j++) dir[j] = -g[j]! / Math.max(norm(g), 1);
      slope = 0;
      for (let j = 0; j < P; j++) slope += g[j]! * dir[j]!;
    }
    let t = 1;
    let fn = NaN;
    let accepted = false;
    for (let tries = 0; tries < 60; tries++, t /= 2) {
      for (let j = 0; j < P; j++) wn[j] = w[j]! + t * dir[j]!;
      fn = valueAndGradient(p, wn, gn);
      if (Number.isFinite(fn) && fn <= f + 1e-4 * t * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) return done(it, norm(g) <= stop || S.length > 0);
    // a step that no longer lowers f at all: θ is optimal to machine precision (Armijo's margin 10⁻⁴·t·slope is then
    // below one ulp of f, so without this test the iterations would continue without progress until `epochs`)
    if (!(fn < f)) return done(it, true);
    const s = new Float64Array(P);
    const y = new Float64Array(P);
    let sy = 0;
    for (let j = 0; j < P; j++) {
      s[j] = wn[j]! - w[j]!;
      y[j] = gn[j]! - g[j]!;
      sy += s[j]! * y[j]!;
    }
    if (sy > 1e-10 * norm(s) * norm(y)) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    [w, wn] = [wn, w];
    [g, gn] = [gn, g];
    f = fn;
    curve?.push(f);
  }
  return done(epochs, norm(g) <= stop);
}

/** L-BFGS for any loss and model: what a scikit-learn user expects for logistic regression. */
export const optimizeLbfgs: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: 'L-BFGS with a backtracking Armijo line search (robust to an overflowing loss); any loss and model.',
  blockLambdas: true,
  tiedBlocks: true,
  losses: 'any',
  models: 'any',
  options: standardOptions.lbfgsOptions({ epochs: 1000, tol: 1e-10 }),
  run(input, options, ctx) {
    if (input.tied) return jointSolve(input, options, ctx, solveLbfgs);
    return perTask('optimize/lbfgs', input, options, ctx, { module: import.meta.url, export: 'solveLbfgs' }, solveLbfgs, rowsNeeded(input));
  },
};
