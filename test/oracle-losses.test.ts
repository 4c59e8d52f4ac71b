/**
 * Mean-regularized MTL with every built-in loss: the rounds of propagate identity → fuse mean → optimize must reach
 * the joint minimizer that scipy's L-BFGS-B finds from the formulas alone (test/helpers/mtl_reference.py). Squared
 * loss has a closed form (oracle-mean-regularized.test.ts); the others do not, so scipy is the independent oracle.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RunOutcome } from '@weightshare/framework';
import { runText, syntheticSpec } from './helpers/run.js';

const python = spawnSync('python3', ['-c', 'import scipy'], { encoding: 'utf8' }).status === 0;
// the machines have python3 with scipy (the independent oracles): its absence fails here rather than skipping them
if (!python) throw new Error('python3 with scipy is needed by oracle-losses.test.ts (apt-get install python3-scipy)');
const script = fileURLToPath(new URL('./helpers/mtl_reference.py', import.meta.url));

interface Case {
  loss: string;
  data: string;
  delta?: number;
  outputs: number;
}

const cases: Case[] = [
  { loss: 'logistic', data: '', outputs: 1 },
  { loss: '{ method: huber, delta: 0.5 }', delta: 0.5, data: 'noise: 2.0', outputs: 1 },
  { loss: 'poisson', data: '', outputs: 1 },
  { loss: 'softmax', data: 'classes: 3', outputs: 3 },
];

const LAMBDA = 1.5;
const RIDGE = 0.2;

const spec = (c: Case, optimize: string, rounds: number): string =>
  syntheticSpec(
    `loss: ${c.loss}
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { ${optimize}, lambda: ${LAMBDA}, ridge: ${RIDGE} }
rounds: ${rounds}
`,
    `tasks: 6\n  clusters: 2\n  features: 3\n  rows: 40\n  ${c.data}`,
  );

/** scipy's joint minimizer for the run's own prepared training rows. */
function reference(out: RunOutcome, c: Case): number[][] {
  const name = c.loss.startsWith('{') ? /method: (\w+)/.exec(c.loss)![1]! : c.loss;
  const problem = {
    loss: name,
    delta: c.delta ?? 1,
    lambda: LAMBDA,
    ridge: RIDGE,
    outputs: c.outputs,
    tasks: out.data.train.map((t) => ({
      X: Array.from({ length: t.X.rows }, (_, i) => Array.from(t.X.data.subarray(i * t.X.cols, (i + 1) * t.X.cols))),
      y: Array.from(t.y),
      bias: t.biasColumn,
    })),
  };
  const r = JSON.parse(execFileSync('python3', [script], { input: JSON.stringify(problem), encoding: 'utf8', maxBuffer: 1 << 26 })) as {
    theta: number[][];
    gradNorm: number;
  };
  expect(r.gradNorm, "scipy did not converge").toBeLessThan(1e-10);
  return r.theta;
}

/**
 * max |a − b| / max |b| over all tasks' parameters. Softmax minimizers form a line (one constant added to every bias
 * entry changes nothing): the reference has zero-mean bias entries, and ours are compared after the same projection
 * (Newton and L-BFGS stay on it; Adam's per-coordinate steps do not).
 */
function relError(out: RunOutcome, ref: number[][], c: Case): number {
  let num = 0;
  let den = 0;
  const p = out.weights.cols;
  const W = Float64Array.from(out.weights.data);
  const bias = out.data.train[0]!.biasColumn;
  if (c.outputs > 1 && bias >= 0) {
    let mean = 0;
    for (let t = 0; t < ref.length; t++) for (let o = 0; o < c.outputs; o++) mean += W[t * p + bias * c.outputs + o]! / (ref.length * c.outputs);
    for (let t = 0; t < ref.length; t++) for (let o = 0; o < c.outputs; o++) W[t * p + bias * c.outputs + o]! -= mean;
  }
  ref.forEach((row, t) =>
    row.forEach((v, j) => {
      num = Math.max(num, Math.abs(W[t * p + j]! - v));
      den = Math.max(den, Math.abs(v));
    }),
  );
  return num / den;
}

describe('mean-regularized MTL with each loss reaches scipy\'s joint minimizer', () => {
  it.each(cases.map((c) => [c.loss, c] as const))('%s: lbfgs and newton within 1e-6, adam and gd within 1e-4', async (_name, c) => {
    const lbfgs = await runText(spec(c, 'method: lbfgs, epochs: 2000, tol: 1e-13', 150));
    const ref = reference(lbfgs, c);
    expect(lbfgs.weights.cols).toBe(4 * c.outputs);
    expect(relError(lbfgs, ref, c)).toBeLessThan(1e-6);

    const newton = await runText(spec(c, 'method: newton, tol: 1e-13', 150));
    expect(relError(newton, ref, c)).toBeLessThan(1e-6);

    const adam = await runText(spec(c, 'method: adam, epochs: 20000, tol: 1e-10, lr: 0.01', 60));
    expect(relError(adam, ref, c)).toBeLessThan(1e-4);

    const gd = await runText(spec(c, 'method: gd, epochs: 20000, tol: 1e-10', 60));
    expect(relError(gd, ref, c)).toBeLessThan(1e-4);

    // the recorded objective never increases over the rounds (block coordinate descent on a convex objective)
    const objs = newton.results.rounds.map((r) => r.objective!.total);
    for (let i = 1; i < objs.length; i++) expect(objs[i]!).toBeLessThanOrEqual(objs[i - 1]! + 1e-12 * Math.abs(objs[i - 1]!));
  }, 120_000);

  // plugin-tfjs computes in float32: its minimizer is the same to float32 resolution (measured here: lbfgs 1.7e-7 to 8.4e-7, gd and adam 1.5e-6 to 7e-6)
  it.each(cases.map((c) => [c.loss, c] as const))('%s on plugin-tfjs (float32): lbfgs, gd and adam within 5e-5', async (_name, c) => {
    const ref = reference(await runText(spec(c, 'method: lbfgs, epochs: 2000, tol: 1e-13', 150)), c);
    const lbfgs = await runText(spec(c, 'method: lbfgs, epochs: 2000', 60), { backend: 'tfjs' });
    expect(relError(lbfgs, ref, c)).toBeLessThan(5e-5);
    const gd = await runText(spec(c, 'method: gd, epochs: 5000, tol: 1e-6', 60), { backend: 'tfjs' });
    expect(relError(gd, ref, c)).toBeLessThan(5e-5);
    const adam = await runText(spec(c, 'method: adam, epochs: 5000, tol: 1e-6, lr: 0.01', 60), { backend: 'tfjs' });
    expect(relError(adam, ref, c)).toBeLessThan(5e-5);
  }, 180_000);
});
