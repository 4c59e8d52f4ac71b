/**
 * Tasks whose labels alone leave the unpenalized bias without a finite optimum (logistic labels of one class, Poisson
 * counts all 0, a softmax class that never occurs): fitted alone (baselines, initial fits) they have every parameter
 * ridge-penalized, listed in results.json, and the fit is the minimizer of that objective (checked against scipy);
 * with λ = 0 in the rounds, or a baseline ridge of 0, the run is refused naming the task — never a number that only
 * says when the optimizer stopped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUILTIN_LOSSES, loadSpecText, Rng, runPipeline, type ClassificationMetrics, type RunOutcome } from '@weightshare/framework';
import { readFileSync } from 'node:fs';
import { fail, registry, runText, scratch } from './helpers/run.js';

const python = spawnSync('python3', ['-c', 'import scipy'], { encoding: 'utf8' }).status === 0;
// the machines have python3 with scipy (the independent oracles): its absence fails here rather than skipping them
if (!python) throw new Error('python3 with scipy is needed by unbounded-bias.test.ts (apt-get install python3-scipy)');
const script = fileURLToPath(new URL('./helpers/mtl_reference.py', import.meta.url));
const RIDGE = 0.7;

/** Four shops with a binary label from a logistic model; every row of shop "d" is a 1. */
function folder(): string {
  const dir = scratch();
  const rng = new Rng(11);
  const lines = ['shop,x1,x2,bought'];
  for (const [t, shop] of ['a', 'b', 'c', 'd'].entries())
    for (let i = 0; i < 40; i++) {
      const x1 = rng.normal();
      const x2 = rng.normal();
      const p = 1 / (1 + Math.exp(-(0.3 * t - 0.4 + 1.2 * x1 - 0.8 * x2)));
      lines.push(`${shop},${x1.toFixed(4)},${x2.toFixed(4)},${shop === 'd' || rng.next() < p ? 1 : 0}`);
    }
  writeFileSync(join(dir, 'shops.csv'), lines.join('\n') + '\n');
  return dir;
}

const spec = (optimize: string, evaluate = `baselineRidge: ${RIDGE}`): string => `apiVersion: weightshare/v1
name: bias
seed: 5
loss: logistic
data: { source: csv, path: shops.csv, task: shop, target: bought, features: [x1, x2] }
split: { method: random, testFraction: 0.25 }
init: { method: independent, ridge: ${RIDGE} }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { ${optimize} }
rounds: 20
evaluate: { ${evaluate} }
output: { write: false }
`;

/** scipy's fit of each task alone (λ = 0) with ridge ρ; `all` tasks penalize their bias too. */
function aloneReference(out: RunOutcome, all: Set<string>): number[][] {
  const problem = {
    loss: 'logistic',
    delta: 1,
    lambda: 0,
    ridge: RIDGE,
    outputs: 1,
    tasks: out.data.train.map((t) => ({
      X: Array.from({ length: t.X.rows }, (_, i) => Array.from(t.X.data.subarray(i * t.X.cols, (i + 1) * t.X.cols))),
      y: Array.from(t.y),
      bias: all.has(t.id) ? -1 : t.biasColumn,
    })),
  };
  const r = JSON.parse(execFileSync('python3', [script], { input: JSON.stringify(problem), encoding: 'utf8' })) as { theta: number[][]; gradNorm: number };
  expect(r.gradNorm).toBeLessThan(1e-10);
  return r.theta;
}

/** Mean log-loss of θ on a task's test rows. */
function testLogLoss(out: RunOutcome, t: number, theta: number[]): number {
  const task = out.data.test[t]!;
  let s = 0;
  for (let i = 0; i < task.y.length; i++) {
    let z = 0;
    for (let j = 0; j < task.X.cols; j++) z += task.X.data[i * task.X.cols + j]! * theta[j]!;
    s += Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - task.y[i]! * z;
  }
  return s / task.y.length;
}

describe('a task whose labels leave its bias unbounded', () => {
  it('is fitted alone with its bias ridge-penalized too, listed in results.json; the fit is scipy\'s minimizer (cpu and tfjs)', async () => {
    const dir = folder();
    for (const backend of ['cpu', 'tfjs']) {
      const out = await runText(spec('method: lbfgs, lambda: 2, ridge: 0.1'), { dir, backend });
      const listed = out.results.biasPenalized!;
      expect(listed.independent).toEqual([{ task: 'd', reason: `all ${out.data.train[3]!.y.length} of its labels are 1` }]);
      expect(listed.init).toEqual(listed.independent);
      expect(listed.pooled).toBeUndefined();
      const ref = aloneReference(out, new Set(['d']));
      // the reference's bias for "d" is finite and large: its fit is bounded only by the ridge
      expect(ref[3]![out.data.train[3]!.biasColumn]!).toBeGreaterThan(1);
      out.results.perTask.forEach((row, t) => {
        const expected = testLogLoss(out, t, ref[t]!);
        const got = (row.independent as unknown as { logLoss: number }).logLoss;
        expect(Math.abs(got - expected), `${backend} task ${row.id}`).toBeLessThan(backend === 'cpu' ? 1e-8 : 1e-4);
      });
    }
  }, 60_000);

  it('with λ = 0 in the rounds is refused, naming the task and the spec line of λ', async () => {
    const dir = folder();
    const e = await fail(runText(spec('method: lbfgs, lambda: 0, ridge: 0.1'), { dir }));
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/task "d" has no finite logistic fit with λ = 0: all \d+ of its labels are 1/);
    expect(e.message).toMatch(/Set stages\.optimize\.lambda > 0/);
    expect(e.problems[0]!.location?.line).toBe(11);
  });

  it('with a baseline ridge of 0 is refused, naming the task and evaluate.baselineRidge', async () => {
    const dir = folder();
    const e = await fail(runText(spec('method: lbfgs, lambda: 2, ridge: 0.1', 'baselineRidge: 0'), { dir }));
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/the baselines fit each task alone, and one task has no finite logistic fit of its own with an unpenalized bias: task "d" \(all \d+ of its labels are 1\)/);
    expect(e.message).toMatch(/Set evaluate\.baselineRidge > 0/);
  });

  it('the built-in losses say when: one class (logistic), all counts 0 (poisson), a class absent (softmax)', () => {
    const y = (...v: number[]): Float64Array => Float64Array.from(v);
    expect(BUILTIN_LOSSES.logistic!.unboundedBias!(y(0, 0, 0), 1, {})).toBe('all 3 of its labels are 0');
    expect(BUILTIN_LOSSES.logistic!.unboundedBias!(y(0, 1, 0), 1, {})).toBeUndefined();
    expect(BUILTIN_LOSSES.poisson!.unboundedBias!(y(0, 0), 1, {})).toBe('all 2 of its counts are 0');
    expect(BUILTIN_LOSSES.poisson!.unboundedBias!(y(0, 3), 1, {})).toBeUndefined();
    expect(BUILTIN_LOSSES.softmax!.unboundedBias!(y(0, 2, 0), 3, {})).toBe('class #2 of 3 never occurs in its rows');
    expect(BUILTIN_LOSSES.softmax!.unboundedBias!(y(0, 0), 4, {})).toBe('classes #2, #3, #4 of 4 never occur in its rows');
    expect(BUILTIN_LOSSES.softmax!.unboundedBias!(y(0, 1, 2), 3, {})).toBeUndefined();
    expect(BUILTIN_LOSSES.squared!.unboundedBias).toBeUndefined();
  });
});

describe('Computer survey as classification (would buy: rating ≥ 6), the published split', () => {
  it('the data file is its derivation from the ratings (scripts/derive-computer-buy.mjs --check)', () => {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/derive-computer-buy.mjs', import.meta.url)), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('mean-regularized logistic regression beats each respondent alone and one pooled model; ten one-class respondents are listed', async () => {
    const file = fileURLToPath(new URL('../pipelines/computer-buy.yaml', import.meta.url));
    const reg = registry();
    const out = await runPipeline(loadSpecText(readFileSync(file, 'utf8'), file, reg, { set: ['output.write=false', 'stages.optimize.lambda=0.3'] }), reg);
    expect(out.results.data).toMatchObject({ tasks: 190, trainRows: 3040, testRows: 760 });
    const m = out.results.models as Record<'shared' | 'independent' | 'pooled', ClassificationMetrics>;
    for (const other of [m.independent, m.pooled]) {
      expect(m.shared.logLoss).toBeLessThan(other.logLoss - 0.01);
      expect(m.shared.rocAuc).toBeGreaterThan(other.rocAuc + 0.01);
    }
    expect(out.results.biasPenalized!.independent!.length).toBe(10);
    expect(out.results.biasPenalized!.independent!.every((b) => /^all 16 of its labels are [01]$/.test(b.reason))).toBe(true);
  }, 60_000);
});
