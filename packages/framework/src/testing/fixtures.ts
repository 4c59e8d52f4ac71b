/** Small fixed problems of the conformance kit, generated from fixed seeds (so every plugin sees the same numbers). */
import { BUILTIN_LOSSES, outputsOf } from '../components/losses.js';
import { linearModel } from '../components/models.js';
import type { DenseMatrix } from '../math/dense.js';
import type { LossComponent, LossInfo, LossName, ModelInfo, TaskData } from '../plugin/types.js';
import { Rng } from '../random.js';

export interface Fixture {
  T: number;
  /** Columns of X (the last is the bias). */
  d: number;
  /** Parameters per task: d·k for the linear model. */
  p: number;
  /** Symmetric, non-negative, some zeros, diagonally dominant: fine for solve, laplacian and ppr alike. */
  relation: DenseMatrix;
  /** B (T×p). */
  weights: DenseMatrix;
  sizes: number[];
  tasks: TaskData[];
  loss: LossInfo;
  model: ModelInfo;
}

/** A loss by name (built-in) or given with its component (a plugin's). */
export type FixtureLoss = LossName | { name: string; component: LossComponent; options?: Record<string, unknown> };

/** Classes of the multi-class fixtures. */
const CLASSES = 3;

/**
 * A problem of T tasks, d − 1 features plus a bias column, n rows per task, with targets of the loss's kind:
 * regression y = z + noise, binary y ~ Bernoulli(σ(z)), counts y ~ Poisson(e^(z/2)), multiclass y ~ softmax(z)
 * over 3 classes.
 */
export function makeFixture(seed: number, lossGiven: FixtureLoss = 'squared', T = 5, d = 4, n = 25): Fixture {
  const loss: LossInfo =
    typeof lossGiven === 'string'
      ? { name: lossGiven, component: BUILTIN_LOSSES[lossGiven]!, options: defaultOptions(BUILTIN_LOSSES[lossGiven]!) }
      : { name: lossGiven.name, component: lossGiven.component, options: lossGiven.options ?? defaultOptions(lossGiven.component) };
  const kind = loss.component.target;
  const k = outputsOf(loss.component, CLASSES);
  const classes = kind === 'multiclass' ? Array.from({ length: k }, (_, c) => c) : kind === 'binary' ? [0, 1] : undefined;
  const info: LossInfo = classes ? { ...loss, classes } : loss;
  const layout = linearModel.layout({ features: d, outputs: k, biasColumn: d - 1 }, {});
  const p = layout.size;
  const rng = new Rng(seed);
  const A = new Float64Array(T * T);
  for (let i = 0; i < T; i++) {
    A[i * T + i] = 2;
    for (let j = i + 1; j < T; j++) {
      const v = rng.next() < 0.3 ? 0 : Math.round(rng.next() * 40) / 100;
      A[i * T + j] = A[j * T + i] = v;
    }
  }
  const B = new Float64Array(T * p);
  for (let i = 0; i < B.length; i++) B[i] = rng.normal();
  const shared = Array.from({ length: p }, () => rng.normal());
  const tasks: TaskData[] = [];
  const z = new Float64Array(k);
  for (let t = 0; t < T; t++) {
    const w = shared.map((v) => v + 0.3 * rng.normal());
    const X = new Float64Array(n * d);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      z.fill(0);
      for (let j = 0; j < d; j++) {
        const x = j === d - 1 ? 1 : rng.normal();
        X[i * d + j] = x;
        for (let c = 0; c < k; c++) z[c]! += x * w[j * k + c]!;
      }
      const z0 = z[0]!;
      if (kind === 'regression') y[i] = z0 + 0.5 * rng.normal();
      else if (kind === 'binary') y[i] = rng.next() < 1 / (1 + Math.exp(-z0)) ? 1 : 0;
      else if (kind === 'count') y[i] = rng.poisson(Math.exp(z0 / 2));
      else {
        let sum = 0;
        for (let c = 0; c < k; c++) sum += Math.exp(z[c]!);
        let u = rng.next() * sum;
        let c = 0;
        while (c < k - 1 && u >= Math.exp(z[c]!)) u -= Math.exp(z[c++]!);
        y[i] = c;
      }
    }
    tasks.push({ id: `task-${t + 1}`, index: t, X: { rows: n, cols: d, data: X }, y, biasColumn: d - 1 });
  }
  return {
    T,
    d,
    p,
    relation: { rows: T, cols: T, data: A },
    weights: { rows: T, cols: p, data: B },
    sizes: tasks.map((q) => q.y.length),
    tasks,
    loss: info,
    model: { name: 'linear', options: {}, component: linearModel, layout },
  };
}

function defaultOptions(c: LossComponent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(c.options)) if ((s as { default?: unknown }).default !== undefined) out[key] = (s as { default: unknown }).default;
  return out;
}
