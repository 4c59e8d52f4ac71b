/**
 * Graph-regularized MTL: per-task fusion over neighbours with penalty weight λ·deg_t must converge to the solution
 * of (blockdiag(X_tᵀX_t + ρP) + λ(L ⊗ I)) vec W = vec(X_tᵀy_t), solved independently with ml-matrix.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '@weightshare/framework';
import { graphRegularized, relativeError } from './helpers/oracles.js';
import { runText, syntheticSpec } from './helpers/run.js';

/** A random symmetric non-negative relation with some zero entries. */
function randomGraph(T: number, seed: number): number[][] {
  const rng = new Rng(seed);
  const A = Array.from({ length: T }, () => new Array<number>(T).fill(0));
  for (let s = 0; s < T; s++) {
    A[s]![s] = 1;
    for (let t = s + 1; t < T; t++) {
      const v = rng.next() < 0.4 ? 0 : Math.round(rng.next() * 100) / 100;
      A[s]![t] = A[t]![s] = v;
    }
  }
  return A;
}

const spec = (A: number[][], optimize: string, rounds: number): string =>
  syntheticSpec(`relation:
  method: given
  matrix: ${JSON.stringify(A)}
stages:
  propagate: { method: identity }
  fuse: { method: weighted-mean, scope: per-task, weights: edges }
  optimize: { ${optimize} }
rounds: ${rounds}
`);

describe('graph-regularized MTL converges to the Kronecker-system solution', () => {
  it('exact optimizer', async () => {
    const A = randomGraph(8, 3);
    const out = await runText(spec(A, 'method: exact, lambda: 0.8, ridge: 0.2', 300));
    const oracle = graphRegularized(out.data.train, A, 0.8, 0.2);
    expect(relativeError(out.weights.data, oracle, out.weights.cols)).toBeLessThan(1e-8);
  });

  it('gd optimizer', async () => {
    const A = randomGraph(8, 5);
    const out = await runText(spec(A, 'method: gd, lambda: 0.5, ridge: 0.1, epochs: 50000, tol: 1e-11', 200));
    const oracle = graphRegularized(out.data.train, A, 0.5, 0.1);
    expect(relativeError(out.weights.data, oracle, out.weights.cols)).toBeLessThan(1e-5);
  });
});
