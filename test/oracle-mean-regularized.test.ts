/**
 * Mean-regularized MTL: rounds of propagate identity → fuse mean → optimize must converge to the closed form of
 * Evgeniou & Pontil (2004), computed independently with ml-matrix.
 */
import { describe, expect, it } from 'vitest';
import { meanRegularized, relativeError } from './helpers/oracles.js';
import { runText, syntheticSpec } from './helpers/run.js';

const spec = (optimize: string, rounds: number): string =>
  syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { ${optimize} }
rounds: ${rounds}
`);

describe('mean-regularized MTL converges to the closed form', () => {
  it('exact optimizer: within 1e-8 relative', async () => {
    const out = await runText(spec('method: exact, lambda: 2.5, ridge: 0.3', 80));
    const oracle = meanRegularized(out.data.train, 2.5, 0.3);
    const err = relativeError(out.weights.data, oracle, out.weights.cols);
    expect(err).toBeLessThan(1e-8);
    // the objective the rounds record never increases (block coordinate descent)
    const objs = out.results.rounds.map((r) => r.objective!.total);
    for (let i = 1; i < objs.length; i++) expect(objs[i]!).toBeLessThanOrEqual(objs[i - 1]! * (1 + 1e-12));
  });

  it('gd: within 1e-5 relative', async () => {
    const out = await runText(spec('method: gd, lambda: 1.0, ridge: 0.1, epochs: 20000, tol: 1e-10', 40));
    const err = relativeError(out.weights.data, meanRegularized(out.data.train, 1.0, 0.1), out.weights.cols);
    expect(err).toBeLessThan(1e-5);
  });

  it('adam: within 1e-5 relative', async () => {
    const out = await runText(spec('method: adam, lambda: 1.0, ridge: 0.1, epochs: 20000, tol: 1e-10, lr: 0.01', 40));
    const err = relativeError(out.weights.data, meanRegularized(out.data.train, 1.0, 0.1), out.weights.cols);
    expect(err).toBeLessThan(1e-5);
  });

  it('λ = 0 gives independent ridge fits and a huge λ approaches one pooled model', async () => {
    const indep = await runText(spec('method: exact, lambda: 0, ridge: 0.5', 1));
    expect(relativeError(indep.weights.data, meanRegularized(indep.data.train, 0, 0.5), indep.weights.cols)).toBeLessThan(1e-10);
    const tight = await runText(spec('method: exact, lambda: 1e7, ridge: 0', 400));
    const W = tight.weights;
    let spread = 0;
    for (let t = 1; t < W.rows; t++) for (let j = 0; j < W.cols; j++) spread = Math.max(spread, Math.abs(W.data[t * W.cols + j]! - W.data[j]!));
    expect(spread).toBeLessThan(1e-3);
  });
});
