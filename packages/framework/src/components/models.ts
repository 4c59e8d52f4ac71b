/**
 * The built-in model families, float64 reference implementations of the {@link ModelComponent} contract.
 *
 * `linear`: Z = X·Θ, Θ the d×k matrix θ row-major (feature j, output c at θ[j·k + c]); with k = 1 θ is the weight
 * vector of today's runs, so their parameters, checkpoints and artifacts keep their meaning. The bias row (all k
 * entries of the bias feature) is never ridge-penalized.
 */
import type { ModelComponent, ModelLayout } from '../plugin/types.js';
import { mlpModel } from './mlp.js';

/** The layout of a linear model with d features and k outputs. */
export function linearLayout(features: number, outputs: number, biasColumn: number): ModelLayout {
  const size = features * outputs;
  const penalized = new Uint8Array(size).fill(1);
  if (biasColumn >= 0) penalized.fill(0, biasColumn * outputs, biasColumn * outputs + outputs);
  return { features, outputs, size, blocks: [{ name: 'weights', offset: 0, size, shape: [features, outputs] }], penalized, linear: true };
}

/** Z (n×k) = X (n×d) · Θ (d×k). */
export function linearForward(theta: Float64Array, X: Float64Array, n: number, d: number, k: number, Z: Float64Array): void {
  if (k === 1) {
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let z = 0;
      for (let j = 0; j < d; j++) z += X[o + j]! * theta[j]!;
      Z[i] = z;
    }
    return;
  }
  Z.fill(0, 0, n * k);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const zo = i * k;
    for (let j = 0; j < d; j++) {
      const x = X[o + j]!;
      if (x === 0) continue;
      const t = j * k;
      for (let c = 0; c < k; c++) Z[zo + c]! += x * theta[t + c]!;
    }
  }
}

/** grad (d×k) = Xᵀ (d×n) · dZ (n×k). */
export function linearBackward(X: Float64Array, n: number, d: number, k: number, dZ: Float64Array, grad: Float64Array): void {
  grad.fill(0, 0, d * k);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const zo = i * k;
    for (let j = 0; j < d; j++) {
      const x = X[o + j]!;
      if (x === 0) continue;
      const t = j * k;
      for (let c = 0; c < k; c++) grad[t + c]! += x * dZ[zo + c]!;
    }
  }
}

export const linearModel: ModelComponent = {
  description: 'Linear model Z = X·Θ with one output per row (K for softmax); the bias row is never ridge-penalized.',
  options: {},
  layout: ({ features, outputs, biasColumn }) => linearLayout(features, outputs, biasColumn),
  init: (layout) => new Float64Array(layout.size),
  forward(layout, theta, X, n, Z) {
    linearForward(theta, X, n, layout.features, layout.outputs, Z);
    return undefined;
  },
  backward(layout, _theta, X, n, _tape, dZ, grad) {
    linearBackward(X, n, layout.features, layout.outputs, dZ, grad);
  },
};

/** The built-in models by name. */
export const BUILTIN_MODELS: Readonly<Record<string, ModelComponent>> = Object.freeze({ linear: linearModel, mlp: mlpModel });
