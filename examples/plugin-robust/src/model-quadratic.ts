import type { ModelComponent, ModelLayout } from '@weightshare/framework';

/**
 * A quadratic model without interactions, z_c = Σ_j W[j, c]·x_j + Σ_j V[j, c]·x_j², for effects that bend, such as an
 * exam score rising with ability and flattening at the top. θ holds two blocks, each row-major with k columns (one
 * per output): `linear` W has a row per column of X (the bias column's row is the intercept, never ridge-penalized);
 * `squares` V has a row per column of X but the bias (a squared bias would only repeat the intercept).
 */
export const quadraticModel: ModelComponent = {
  description: 'Quadratic model without interactions: z = W·x + V·x² (a bias column gets no square).',
  options: {},
  layout({ features: d, outputs: k, biasColumn }): ModelLayout {
    const squares = biasColumn >= 0 ? d - 1 : d;
    const penalized = new Uint8Array((d + squares) * k).fill(1);
    if (biasColumn >= 0) penalized.fill(0, biasColumn * k, biasColumn * k + k);
    return {
      features: d,
      outputs: k,
      size: (d + squares) * k,
      blocks: [
        { name: 'linear', offset: 0, size: d * k, shape: [d, k] },
        { name: 'squares', offset: d * k, size: squares * k, shape: [squares, k] },
      ],
      penalized,
      linear: false,
    };
  },
  init: (layout) => new Float64Array(layout.size),
  forward(layout, theta, X, n, Z) {
    const { features: d, outputs: k } = layout;
    Z.fill(0, 0, n * k);
    for (let i = 0; i < n; i++) {
      let s = d; // row of V for the next squared column
      for (let j = 0; j < d; j++) {
        const x = X[i * d + j]!;
        for (let c = 0; c < k; c++) Z[i * k + c]! += theta[j * k + c]! * x;
        if (isBias(layout, j)) continue;
        for (let c = 0; c < k; c++) Z[i * k + c]! += theta[s * k + c]! * x * x;
        s++;
      }
    }
    return undefined;
  },
  backward(layout, _theta, X, n, _tape, dZ, grad) {
    const { features: d, outputs: k } = layout;
    grad.fill(0, 0, layout.size);
    for (let i = 0; i < n; i++) {
      let s = d;
      for (let j = 0; j < d; j++) {
        const x = X[i * d + j]!;
        for (let c = 0; c < k; c++) grad[j * k + c]! += dZ[i * k + c]! * x;
        if (isBias(layout, j)) continue;
        for (let c = 0; c < k; c++) grad[s * k + c]! += dZ[i * k + c]! * x * x;
        s++;
      }
    }
  },
};

/** Whether column j of X is the bias column: its row of W is the one the layout leaves unpenalized. */
function isBias(layout: ModelLayout, j: number): boolean {
  return layout.penalized[j * layout.outputs] === 0;
}
