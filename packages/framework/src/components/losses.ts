/**
 * The built-in losses, float64 reference implementations of the {@link LossComponent} contract. The framework uses
 * them for the objective, the metrics and the predictions; plugin-cpu's optimizers call them (with fast paths of
 * their own for one-output linear models); plugin-tfjs has tensor versions of the same formulas.
 *
 * Every loss is a sum over rows, never a mean, and is written so that it stays finite wherever the math is:
 * log(1 + e^z) = max(z, 0) + log1p(e^−|z|), log Σ e^z shifted by the largest z.
 */
import type { JsonSchema, LossComponent } from '../plugin/types.js';

/** log(1 + exp(−s·z)) with s = ±1 from y ∈ {0,1}, computed without overflow. */
export function logisticLoss(z: number, y: number): number {
  const m = y === 1 ? -z : z;
  return m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
}

/** σ(z), stable for any z. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

const none: Record<string, JsonSchema> = {};

export const squaredLoss: LossComponent = {
  description: 'Squared error (y − z)², regression.',
  options: none,
  target: 'regression',
  value(y, Z, _k, grad) {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const r = Z[i]! - y[i]!;
      s += r * r;
      if (grad) grad[i] = 2 * r;
    }
    return s;
  },
  curvature(y, _Z, _k, out) {
    out.fill(2, 0, y.length);
  },
  curvatureBound: () => 2,
  link(Z, _k, out) {
    out.set(Z.subarray(0, out.length));
  },
};

export const logisticLossComponent: LossComponent = {
  description: 'Logistic loss log(1 + e^(−s·z)), binary labels 0/1 or −1/+1; predicts P(y = 1) = σ(z).',
  options: none,
  target: 'binary',
  unboundedBias(y) {
    for (let i = 1; i < y.length; i++) if (y[i] !== y[0]) return undefined;
    return `all ${y.length} of its labels are ${y[0] === 1 ? 1 : 0}`;
  },
  value(y, Z, _k, grad) {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const z = Z[i]!;
      s += logisticLoss(z, y[i]!);
      if (grad) grad[i] = sigmoid(z) - y[i]!;
    }
    return s;
  },
  curvature(y, Z, _k, out) {
    for (let i = 0; i < y.length; i++) {
      const p = sigmoid(Z[i]!);
      out[i] = p * (1 - p);
    }
  },
  curvatureBound: () => 0.25,
  link(Z, _k, out) {
    for (let i = 0; i < out.length; i++) out[i] = sigmoid(Z[i]!);
  },
};

/** δ of the Huber loss, in the target's units. */
const deltaOf = (o: Record<string, unknown>): number => (o.delta as number | undefined) ?? 1;

export const huberLoss: LossComponent = {
  description: 'Huber loss: (y − z)² within δ of the target, 2δ|y − z| − δ² beyond (robust regression).',
  options: {
    delta: { type: 'number', exclusiveMinimum: 0, default: 1, description: 'δ > 0, in the units of the target: residuals beyond it count linearly.' },
  },
  target: 'regression',
  value(y, Z, _k, grad, o) {
    const delta = deltaOf(o);
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const r = Z[i]! - y[i]!;
      const a = Math.abs(r);
      if (a <= delta) {
        s += r * r;
        if (grad) grad[i] = 2 * r;
      } else {
        s += delta * (2 * a - delta);
        if (grad) grad[i] = r > 0 ? 2 * delta : -2 * delta;
      }
    }
    return s;
  },
  curvature(y, Z, _k, out, o) {
    const delta = deltaOf(o);
    for (let i = 0; i < y.length; i++) out[i] = Math.abs(Z[i]! - y[i]!) <= delta ? 2 : 0;
  },
  curvatureBound: () => 2,
  link(Z, _k, out) {
    out.set(Z.subarray(0, out.length));
  },
};

export const poissonLoss: LossComponent = {
  description: 'Poisson negative log-likelihood e^z − y·z (log link), counts y ≥ 0; predicts the mean e^z.',
  options: none,
  target: 'count',
  checkLabel: (y) => (y >= 0 ? undefined : `Poisson loss needs counts ≥ 0, found ${y}`),
  unboundedBias: (y) => (y.every((v) => v === 0) ? `all ${y.length} of its counts are 0` : undefined),
  value(y, Z, _k, grad) {
    let s = 0;
    for (let i = 0; i < y.length; i++) {
      const z = Z[i]!;
      const mu = Math.exp(z);
      s += mu - y[i]! * z;
      if (grad) grad[i] = mu - y[i]!;
    }
    return s;
  },
  curvature(y, Z, _k, out) {
    for (let i = 0; i < y.length; i++) out[i] = Math.exp(Z[i]!);
  },
  curvatureBound: () => Infinity,
  link(Z, _k, out) {
    for (let i = 0; i < out.length; i++) out[i] = Math.exp(Z[i]!);
  },
};

/** Softmax probabilities of one row of k outputs into out[o..o+k), returning log Σ e^z (shifted, stable). */
function softmaxRow(Z: Float64Array, o: number, k: number, out: Float64Array): number {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (Z[o + c]! > max) max = Z[o + c]!;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const e = Math.exp(Z[o + c]! - max);
    out[o + c] = e;
    sum += e;
  }
  for (let c = 0; c < k; c++) out[o + c]! /= sum;
  return max + Math.log(sum);
}

export const softmaxLoss: LossComponent = {
  description: 'Multi-class cross-entropy log Σ_c e^(z_c) − z_y; K outputs per row, classes read from the target column.',
  options: none,
  target: 'multiclass',
  unboundedBias(y, k) {
    const seen = new Uint8Array(k);
    for (const c of y) seen[c] = 1;
    const missing = [...seen.keys()].filter((c) => !seen[c]);
    return missing.length ? `class${missing.length > 1 ? 'es' : ''} ${missing.map((c) => `#${c + 1}`).join(', ')} of ${k} never occur${missing.length > 1 ? '' : 's'} in its rows` : undefined;
  },
  value(y, Z, k, grad) {
    const n = y.length;
    const p = grad ?? new Float64Array(k * 2);
    let s = 0;
    for (let i = 0; i < n; i++) {
      const o = i * k;
      const po = grad ? o : 0;
      // softmaxRow writes probabilities at po when there is no gradient buffer (scratch of k entries)
      const lse = grad ? softmaxRow(Z, o, k, p) : softmaxScratch(Z, o, k, p);
      const c = y[i]!;
      s += lse - Z[o + c]!;
      if (grad) p[po + c]! -= 1;
    }
    return s;
  },
  curvature(y, Z, k, out) {
    const n = y.length;
    const p = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      softmaxScratch(Z, i * k, k, p);
      const o = i * k * k;
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) out[o + a * k + b] = (a === b ? p[a]! : 0) - p[a]! * p[b]!;
    }
  },
  curvatureBound: () => 0.5,
  link(Z, k, out) {
    const n = out.length / k;
    for (let i = 0; i < n; i++) softmaxRow(Z, i * k, k, out);
  },
};

/** Softmax of one row into scratch[0..k), returning log Σ e^z. */
function softmaxScratch(Z: Float64Array, o: number, k: number, scratch: Float64Array): number {
  let max = -Infinity;
  for (let c = 0; c < k; c++) if (Z[o + c]! > max) max = Z[o + c]!;
  let sum = 0;
  for (let c = 0; c < k; c++) {
    const e = Math.exp(Z[o + c]! - max);
    scratch[c] = e;
    sum += e;
  }
  for (let c = 0; c < k; c++) scratch[c]! /= sum;
  return max + Math.log(sum);
}

/** The built-in losses by name. Plugins may add others under names of their own. */
export const BUILTIN_LOSSES: Readonly<Record<string, LossComponent>> = Object.freeze({
  squared: squaredLoss,
  logistic: logisticLossComponent,
  huber: huberLoss,
  poisson: poissonLoss,
  softmax: softmaxLoss,
});

/** The number of outputs per row a loss needs: K for multiclass (the classes found), else 1. */
export function outputsOf(loss: LossComponent, classes: number): number {
  return loss.target === 'multiclass' ? classes : 1;
}
