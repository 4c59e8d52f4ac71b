import { describe, expect, it } from 'vitest';
import { InProcessExecutor, Rng, type FuseOutput, type OptimizeOutput, type StageContext } from '@weightshare/framework';
import { makeFixture, referenceOptimize } from '@weightshare/framework/testing';
import plugin from '../src/index.js';

const ctx = (): StageContext => ({ round: 1, rng: new Rng(1), executor: new InProcessExecutor(), cache: new Map(), purpose: 'stage' });
const matrix = (rows: number[][]) => ({ rows: rows.length, cols: rows[0]!.length, data: Float64Array.from(rows.flat()) });

describe('trimmed-mean', () => {
  it('drops the extremes at each end (hand-worked)', async () => {
    const C = matrix([[1], [2], [3], [4], [100]]);
    const A = matrix([[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]]);
    const run = async (trim: number) =>
      ((await plugin.stages.fuse!['trimmed-mean']!.run({ propagated: C, relation: A, taskSizes: [1, 1, 1, 1, 1] }, { trim, scope: 'global' }, ctx())) as FuseOutput).targets.data[0];
    expect(await run(0)).toBe(22); // the plain mean
    expect(await run(0.2)).toBe(3); // drops 1 and 100
    expect(await run(0.49)).toBe(3); // floor(0.49 · 5) = 2 from each end: the median
  });
});

describe('geometric-median', () => {
  it('the gradient of Σ‖C_t − E‖ vanishes at the result', async () => {
    const fx = makeFixture(3);
    const out = (await plugin.stages.fuse!['geometric-median']!.run(
      { propagated: fx.weights, relation: fx.relation, taskSizes: fx.sizes },
      { maxIterations: 10000, tol: 1e-14 },
      ctx(),
    )) as FuseOutput;
    const e = out.targets.data.subarray(0, fx.d);
    const grad = new Float64Array(fx.d);
    for (let t = 0; t < fx.T; t++) {
      const row = fx.weights.data.subarray(t * fx.d, (t + 1) * fx.d);
      const dist = Math.hypot(...row.map((v, j) => v - e[j]!));
      for (let j = 0; j < fx.d; j++) grad[j]! += (e[j]! - row[j]!) / dist;
    }
    expect(Math.max(...grad.map(Math.abs))).toBeLessThan(1e-8);
  });
});

describe('lasso', () => {
  const fx = makeFixture(4);
  const input = { tasks: fx.tasks, loss: fx.loss, model: fx.model, targets: fx.weights, penaltyWeights: new Float64Array(fx.T).fill(1), lambdas: new Float64Array(fx.p).fill(0.5), start: fx.weights };
  const run = async (l1: number) =>
    (await plugin.stages.optimize!.lasso!.run(input, { lambda: 0.5, ridge: 0.1, l1, epochs: 200000, tol: 1e-14 }, ctx())) as OptimizeOutput;

  it('with l1 = 0 it is the exact minimizer (the framework reference)', async () => {
    const W = (await run(0)).weights.data;
    const ref = referenceOptimize(input, 0.5, 0.1).flat();
    expect(Math.max(...ref.map((v, i) => Math.abs(v - W[i]!)))).toBeLessThan(1e-8);
  });

  it('satisfies the lasso optimality (KKT) conditions, and a larger l1 zeroes more weights', async () => {
    const l1 = 20;
    const { weights } = await run(l1);
    for (const t of fx.tasks) {
      const d = fx.d;
      const w = weights.data.subarray(t.index * d, (t.index + 1) * d);
      const e = fx.weights.data.subarray(t.index * d, (t.index + 1) * d);
      for (let j = 0; j < d; j++) {
        let g = 0;
        for (let i = 0; i < t.y.length; i++) {
          let z = 0;
          for (let k = 0; k < d; k++) z += t.X.data[i * d + k]! * w[k]!;
          g += 2 * (z - t.y[i]!) * t.X.data[i * d + j]!;
        }
        g += 2 * 0.5 * (w[j]! - e[j]!) + (j === t.biasColumn ? 0 : 2 * 0.1 * w[j]!);
        if (j === t.biasColumn) expect(Math.abs(g)).toBeLessThan(1e-6);
        else if (w[j] === 0) expect(Math.abs(g)).toBeLessThanOrEqual(l1 + 1e-6);
        else expect(Math.abs(g + l1 * Math.sign(w[j]!))).toBeLessThan(1e-6);
      }
    }
    const zeros = (W: Float64Array) => W.filter((v) => v === 0).length;
    expect(zeros((await run(60)).weights.data)).toBeGreaterThan(zeros(weights.data));
  });
});
