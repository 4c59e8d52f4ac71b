/**
 * L-BFGS for all tasks at once: each iteration evaluates every task's f and ∇f in one batched tensor pass; the
 * two-loop recursion (O(memory·p) per task) and the line-search bookkeeping run on the host, per task, in float64
 * on the float32 values, exactly as plugin-cpu's `solveLbfgs` does them (Nocedal & Wright 2006, algorithms 7.4/7.5).
 *
 * Line search: backtracking from t = 1 (the first iteration moves a unit length along −∇f), halving while the trial
 * value is not finite (an overflowing loss) or fails Armijo's f(θ + t·d) ≤ f(θ) + 10⁻⁴·t·∇fᵀd. Near the minimum a
 * float32 f cannot resolve that decrease (its rounding, ~1e-7·|f|, exceeds 10⁻⁴·t·|∇fᵀd|) long before the gradient
 * has reached its own resolution, so a trial within {@link RESOLUTION}·|f| of f is judged by the slope instead:
 * accepted when ∇f(θ + t·d)ᵀd ≤ |∇f(θ)ᵀd| (on a convex quadratic, exactly the steps that do not increase f).
 *
 * Stops a task when ‖∇f‖ ≤ tol·‖∇f(0)‖, when no step is accepted, when an accepted step leaves θ unchanged in float32,
 * or after {@link STALLS} iterations in a row that lower neither f nor the smallest ‖∇f‖ seen (θ is then optimal to
 * float32 precision); or after `epochs` iterations.
 */
import { tf } from '../tf.js';
import { lbfgsDirection, standardOptions, type OptimizeInput, type OptimizeOutput, type StageMethod } from '@weightshare/framework';
import { batchOf, checkFinite, lossOf, norms, parameters, RESOLUTION, TENSOR_LOSSES, TENSOR_MODELS, thetaShape, valueAndGradient, weightsOf } from './optimize-common.js';

/** Iterations without progress in f or ‖∇f‖ after which a task is optimal to float32 precision. */
export const STALLS = 5;

const FIX = 'Check the data for extreme values, or start from smaller weights (init: zeros).';

export const optimizeLbfgs: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'L-BFGS with a backtracking Armijo line search (robust to an overflowing loss), all tasks batched.',
  losses: TENSOR_LOSSES,
  blockLambdas: true,
  models: TENSOR_MODELS,
  options: standardOptions.lbfgsOptions({ epochs: 1000, tol: 1e-7 }),
  run(input, options, ctx) {
    const B = batchOf(ctx, input.tasks);
    const loss = lossOf(input);
    const { e, pull, w0, P: mask } = parameters(input, options);
    const ridge = options.ridge as number;
    const epochs = options.epochs as number;
    const memory = options.memory as number;
    const T = B.T;
    const P = input.targets.cols;
    const shape = thetaShape(input);

    /** f (T) and ∇f (T×P) of every task at the host parameters w. */
    const evaluate = (w: Float32Array): { f: Float32Array; g: Float32Array } => {
      const [fT, gT] = tf.tidy(() => {
        const r = valueAndGradient(B, loss, tf.tensor3d(w, shape), e, pull, mask, ridge);
        return [r.f, r.g];
      });
      const f = fT!.dataSync() as Float32Array;
      const g = gT!.dataSync() as Float32Array;
      tf.dispose([fT!, gT!]);
      return { f, g };
    };
    try {
      const stop = tf.tidy(() => tf.mul(norms(valueAndGradient(B, loss, tf.zerosLike(w0) as tf.Tensor3D, e, pull, mask, ridge).g), options.tol as number));
      const stopAt = Float32Array.from(stop.dataSync());
      stop.dispose();
      const w = Float32Array.from(w0.dataSync());
      let { f, g } = evaluate(w);
      checkFinite(f, input.tasks, ctx, 0, FIX);

      const S: Float64Array[][] = Array.from({ length: T }, () => []);
      const Y: Float64Array[][] = Array.from({ length: T }, () => []);
      const rho: number[][] = Array.from({ length: T }, () => []);
      const alpha = new Float64Array(memory);
      const dir = new Float64Array(T * P);
      const slope = new Float64Array(T);
      const open = new Uint8Array(T).fill(1);
      const converged = new Uint8Array(T);
      const iterations = new Int32Array(T).fill(epochs);
      const stalls = new Int32Array(T);
      const bestNorm = new Float64Array(T).fill(Infinity);
      // training curves of a model that is not linear, as plugin-cpu records them: f after each accepted step
      const curves = loss.forward ? input.tasks.map((): number[] => []) : undefined;
      const gnorm = (t: number): number => {
        let s = 0;
        for (let j = 0; j < P; j++) s += g[t * P + j]! ** 2;
        return Math.sqrt(s);
      };
      const finish = (t: number, it: number, ok: boolean): void => {
        open[t] = 0;
        converged[t] = ok ? 1 : 0;
        iterations[t] = it;
      };

      for (let it = 1; it <= epochs && open.some((o) => o); it++) {
        // directions of the open tasks: d = −H·g by the two-loop recursion
        for (let t = 0; t < T; t++) {
          if (!open[t]) continue;
          const n = gnorm(t);
          if (n <= stopAt[t]!) {
            finish(t, it - 1, true);
            continue;
          }
          const d = dir.subarray(t * P, (t + 1) * P);
          const s = S[t]!;
          const y = Y[t]!;
          const r = rho[t]!;
          lbfgsDirection(g.subarray(t * P, (t + 1) * P), s, y, r, alpha, d);
          let sl = 0;
          for (let j = 0; j < P; j++) sl += g[t * P + j]! * d[j]!;
          if (!(sl < 0)) {
            // not a descent direction: forget the pairs and restart from −∇f
            s.length = y.length = r.length = 0;
            sl = 0;
            for (let j = 0; j < P; j++) {
              d[j] = -g[t * P + j]! / Math.max(n, 1);
              sl += g[t * P + j]! * d[j]!;
            }
          }
          slope[t] = sl;
        }
        if (!open.some((o) => o)) break;

        // backtracking, all open tasks' trials in one evaluation
        const step = Float64Array.from(open, (o) => (o ? 1 : 0));
        const searching = Uint8Array.from(open);
        const wn = Float32Array.from(w);
        let fn = f;
        let gn = g;
        const accepted = new Uint8Array(T);
        for (let tries = 0; tries < 60 && searching.some((o) => o); tries++) {
          const trial = Float32Array.from(w);
          for (let t = 0; t < T; t++) {
            if (!searching[t]) continue;
            for (let j = 0; j < P; j++) trial[t * P + j] = w[t * P + j]! + step[t]! * dir[t * P + j]!;
          }
          const at = evaluate(trial);
          for (let t = 0; t < T; t++) {
            if (!searching[t]) continue;
            const ft = at.f[t]!;
            let dslope = 0;
            for (let j = 0; j < P; j++) dslope += at.g[t * P + j]! * dir[t * P + j]!;
            const armijo = ft <= f[t]! + 1e-4 * step[t]! * slope[t]!;
            const unresolved = Math.abs(ft - f[t]!) <= RESOLUTION * Math.abs(f[t]!) && dslope <= Math.abs(slope[t]!);
            if (Number.isFinite(ft) && (armijo || unresolved)) {
              searching[t] = 0;
              accepted[t] = 1;
              wn.set(trial.subarray(t * P, (t + 1) * P), t * P);
              if (fn === f) {
                fn = Float32Array.from(f);
                gn = Float32Array.from(g);
              }
              fn[t] = ft;
              gn.set(at.g.subarray(t * P, (t + 1) * P), t * P);
            } else step[t] = step[t]! / 2;
          }
        }

        for (let t = 0; t < T; t++) {
          if (!open[t]) continue;
          if (!accepted[t]) {
            finish(t, it, gnorm(t) <= stopAt[t]! || S[t]!.length > 0);
            continue;
          }
          const s = new Float64Array(P);
          const y = new Float64Array(P);
          let sy = 0;
          let ss = 0;
          let yy = 0;
          let moved = false;
          for (let j = 0; j < P; j++) {
            s[j] = wn[t * P + j]! - w[t * P + j]!;
            y[j] = gn[t * P + j]! - g[t * P + j]!;
            if (s[j] !== 0) moved = true;
            sy += s[j]! * y[j]!;
            ss += s[j]! ** 2;
            yy += y[j]! ** 2;
          }
          if (!moved) {
            finish(t, it, true);
            continue;
          }
          if (sy > 1e-10 * Math.sqrt(ss * yy)) {
            if (S[t]!.length === memory) {
              S[t]!.shift();
              Y[t]!.shift();
              rho[t]!.shift();
            }
            S[t]!.push(s);
            Y[t]!.push(y);
            rho[t]!.push(1 / sy);
          }
          let nn = 0;
          for (let j = 0; j < P; j++) nn += gn[t * P + j]! ** 2;
          nn = Math.sqrt(nn);
          const progress = fn[t]! < f[t]! || nn < bestNorm[t]!;
          bestNorm[t] = Math.min(bestNorm[t]!, nn);
          stalls[t] = progress ? 0 : stalls[t]! + 1;
          w.set(wn.subarray(t * P, (t + 1) * P), t * P);
          curves?.[t]!.push(fn[t]!);
          if (stalls[t]! >= STALLS) finish(t, it, true);
        }
        f = fn;
        g = gn;
        checkFinite(f, input.tasks, ctx, it, FIX);
      }
      for (let t = 0; t < T; t++) if (open[t]) converged[t] = gnorm(t) <= stopAt[t]! ? 1 : 0;
      const wt = tf.tensor3d(w, shape);
      const W = weightsOf(input, wt);
      wt.dispose();
      return {
        weights: { rows: input.targets.rows, cols: input.targets.cols, data: W },
        perTask: input.tasks.map((_, k) => ({ epochs: iterations[k]!, converged: Boolean(converged[k]), ...(curves ? { curve: curves[k]! } : {}) })),
      };
    } finally {
      tf.dispose([e, pull, w0, mask]);
    }
  },
};
