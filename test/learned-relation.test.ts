/**
 * Relations learned with the rounds (relation.method learn) and re-estimated ones (estimate with every):
 * multi-task relationship learning against an independent numpy implementation of the same alternation and against
 * the joint minimizer it must converge to; clusters recovered on synthetic data with hidden clusters; both backends;
 * checkpoints, the stage cache and resume with a relation that changes between rounds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { adjustedRandIndex, symmetricEigen, type RunOutcome } from '@weightshare/framework';
import { fail, runText, scratch, syntheticSpec } from './helpers/run.js';
import { cli } from './helpers/cli.js';
import { expectSameFinalFiles, project } from './helpers/project.js';

const script = fileURLToPath(new URL('./helpers/mtrl_reference.py', import.meta.url));

interface Reference {
  alternation: { weights: number[][]; objectives: number[] };
  joint: { weights: number[][]; objective: number; omega: number[][] };
}

function reference(out: RunOutcome, lambda: number, ridge: number, rounds: number, every: number): Reference {
  const epsilon = out.results.rounds[0]!.relation!.epsilon as number;
  const problem = {
    lambda,
    ridge,
    epsilon,
    rounds,
    every,
    tasks: out.data.train.map((t) => ({
      X: Array.from({ length: t.X.rows }, (_, i) => Array.from(t.X.data.subarray(i * t.X.cols, (i + 1) * t.X.cols))),
      y: Array.from(t.y),
      bias: t.biasColumn,
    })),
  };
  const r = spawnSync('python3', [script], { input: JSON.stringify(problem), encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`mtrl_reference.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Reference;
}

/** max |a − b| / max |b| over a matrix given as rows. */
function relErr(a: ArrayLike<number>, b: number[][]): number {
  const flat = b.flat();
  let num = 0;
  let den = 0;
  flat.forEach((v, i) => {
    num = Math.max(num, Math.abs(a[i]! - v));
    den = Math.max(den, Math.abs(v));
  });
  return num / den;
}

const mtrl = (lambda: number, rounds: string, every = 1, extra = ''): string =>
  syntheticSpec(`relation: { method: learn, form: covariance, every: ${every}${extra} }
stages:
  propagate: { method: identity }
  fuse: { method: precision }
  optimize: { method: exact, lambda: ${lambda}, ridge: 0.3 }
rounds: ${rounds}
`);

describe('relation learn, form covariance (multi-task relationship learning)', () => {
  it('runs the same alternation as an independent numpy implementation, to 1e-8, and its joint objective never rises', async () => {
    for (const every of [1, 3]) {
      const out = await runText(mtrl(0.2, '25', every));
      const ref = reference(out, 0.2, 0.3, 25, every);
      expect(relErr(out.weights.data, ref.alternation.weights), `every ${every}`).toBeLessThan(1e-8);
      const ours = out.results.rounds.map((r) => r.objective!.total);
      ours.forEach((v, i) => expect(Math.abs(v - ref.alternation.objectives[i]!) / Math.abs(ref.alternation.objectives[i]!)).toBeLessThan(1e-8));
      for (let i = 1; i < ours.length; i++) expect(ours[i]!, `round ${i + 1}`).toBeLessThanOrEqual(ours[i - 1]! * (1 + 1e-12));
      expect(ours[ours.length - 1]!).toBeLessThan(ours[0]!); // it does move
      expect(out.results.objective.kind).toBe('exact');
      expect(out.results.relation.updates).toBe(every === 1 ? 25 : 9);
    }
  });

  it('converges to the joint minimizer over W and Ω (numpy: exact block coordinate descent with Kronecker solves)', async () => {
    const out = await runText(mtrl(0.2, '{ max: 20000, tol: 1.0e-13 }', 1));
    expect(out.results.convergence.converged).toBe(true);
    const ref = reference(out, 0.2, 0.3, 1, 1);
    expect(relErr(out.weights.data, ref.joint.weights)).toBeLessThan(1e-7);
    expect(relErr(out.learned!.omega!.data, ref.joint.omega)).toBeLessThan(1e-6);
    const last = out.results.rounds[out.results.rounds.length - 1]!.objective!.total;
    expect(Math.abs(last - ref.joint.objective) / ref.joint.objective).toBeLessThan(1e-10);
  });

  it('Ω is a covariance: symmetric, positive definite, trace 1; the stages get its inverse', async () => {
    const out = await runText(mtrl(0.2, '10'));
    const omega = out.learned!.omega!;
    const T = omega.rows;
    let trace = 0;
    for (let t = 0; t < T; t++) trace += omega.data[t * T + t]!;
    expect(trace).toBeCloseTo(1, 12);
    const { values } = symmetricEigen(omega.data, T);
    expect(values[0]!).toBeGreaterThan(0);
    // Ω · Ω⁻¹ = I
    const P = out.relation.data;
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) {
        let s = 0;
        for (let k = 0; k < T; k++) s += omega.data[i * T + k]! * P[k * T + j]!;
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
  });

  it('recovers the hidden clusters in Ω: tasks of one cluster are correlated, tasks of two are not', async () => {
    const out = await runText(
      syntheticSpec(
        `relation: { method: learn, form: covariance }
stages:
  propagate: { method: identity }
  fuse: { method: precision }
  optimize: { method: exact, lambda: 0.1, ridge: 1 }
rounds: 60
`,
        'tasks: 12\n  clusters: 3\n  features: 6\n  rows: 30\n  noise: 0.5\n  spread: 0.2',
      ),
    );
    const truth = out.data.truth!.clusters;
    const R = out.learned!.correlation!;
    const T = R.rows;
    let within = Infinity;
    let across = -Infinity;
    for (let s = 0; s < T; s++)
      for (let t = s + 1; t < T; t++) {
        const v = R.data[s * T + t]!;
        if (truth[s] === truth[t]) within = Math.min(within, v);
        else across = Math.max(across, v);
      }
    // every within-cluster correlation is above every across-cluster one
    expect(within).toBeGreaterThan(across);
    expect(within).toBeGreaterThan(0.5);
  });
});

/** The quickstart's data (30 tasks in 3 hidden clusters, 16 rows each, noise 1.0, spread 0.2). */
const QUICKSTART = 'tasks: 30\n  clusters: 3\n  features: 10\n  rows: 16\n  noise: 1.0\n  spread: 0.2';
const quick = (relation: string, fuse: string, rounds = '{ max: 500, tol: 1.0e-9 }'): string =>
  syntheticSpec(
    `split: { method: random, testFraction: 0.25 }
relation: ${relation}
stages:
  propagate: { method: identity }
  fuse: ${fuse}
  optimize: { method: exact, lambda: 2, ridge: 1 }
rounds: ${rounds}
`,
    QUICKSTART,
  ).replace('seed: 7', 'seed: 42');

describe('relation learn, form clusters', () => {
  it('recovers the hidden clusters at the quickstart noise level (ARI ≥ 0.9) and beats mean regularization', async () => {
    // eight draws of the quickstart's data (seed 42 is the quickstart's own)
    const aris: number[] = [];
    for (const seed of [42, 1, 2, 3, 4, 5, 6, 7]) {
      const out = await runText(quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }').replace('seed: 42', `seed: ${seed}`));
      const mean = await runText(quick('{ method: identity }', '{ method: mean }').replace('seed: 42', `seed: ${seed}`));
      const rel = out.results.relation;
      expect(rel.adjustedRandIndex).toBeCloseTo(adjustedRandIndex(rel.clusters!, out.data.truth!.clusters), 12);
      aris.push(rel.adjustedRandIndex!);
      expect(out.results.models.shared.mse, `seed ${seed}`).toBeLessThan(mean.results.models.shared.mse);
      expect(out.results.convergence.converged).toBe(true);
      // one objective: graph-regularized within the learned clusters, never rising (relation updates included)
      expect(out.results.objective.kind).toBe('exact');
      const obj = out.results.rounds.map((r) => r.objective!.total);
      for (let i = 1; i < obj.length; i++) expect(obj[i]!).toBeLessThanOrEqual(obj[i - 1]! * (1 + 1e-12));
      // A is the same-cluster indicator over the cluster size
      const T = out.relation.rows;
      const labels = rel.clusters!;
      const size = (c: number): number => labels.filter((l) => l === c).length;
      for (let s = 0; s < T; s++) for (let t = 0; t < T; t++) expect(out.relation.data[s * T + t]).toBe(s === t ? 1 : labels[s] === labels[t] ? 1 / size(labels[s]!) : 0);
    }
    // seed 42 puts one of 30 tasks in the wrong cluster (0.898); the others recover them exactly
    expect(aris.reduce((a, b) => a + b, 0) / aris.length).toBeGreaterThanOrEqual(0.95);
    expect(Math.min(...aris)).toBeGreaterThanOrEqual(0.85);
  });

  it('the penalty is the k-means objective of the weights: the recorded value is Σ loss + ridge + λ·inertia', async () => {
    const out = await runText(quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '8'));
    const W = out.weights;
    const labels = out.results.relation.clusters!;
    let inertia = 0;
    for (const c of new Set(labels)) {
      const members = labels.map((l, t) => (l === c ? t : -1)).filter((t) => t >= 0);
      for (let j = 0; j < W.cols; j++) {
        const m = members.reduce((s, t) => s + W.data[t * W.cols + j]!, 0) / members.length;
        for (const t of members) inertia += (W.data[t * W.cols + j]! - m) ** 2;
      }
    }
    const last = out.results.rounds[out.results.rounds.length - 1]!.objective!;
    expect(last.penalty).toBeCloseTo(2 * inertia, 9);
  });
});

describe('convergence with a relation that changes between rounds', () => {
  it('weights settled for a relation from older weights are not converged: the relation is updated first, and the rounds stop only after a round with a fresh one', async () => {
    const out = await runText(quick('{ method: learn, form: clusters, k: 3, every: 1000 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '{ max: 500, tol: 1.0e-9, acceleration: anderson }'));
    const updates = out.results.rounds.filter((r) => r.relation).map((r) => r.round);
    expect(updates.length).toBeGreaterThan(1); // round 1, then the ones convergence asked for (never round 1001)
    expect(out.results.convergence.converged).toBe(true);
    expect(updates[updates.length - 1]).toBe(out.results.convergence.round);
    // the same fixed point as re-clustering before every round
    const every = await runText(quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }'));
    expect(out.results.relation.clusters).toEqual(every.results.relation.clusters);
    const last = (o: RunOutcome): number => o.results.rounds[o.results.rounds.length - 1]!.objective!.total;
    expect(Math.abs(last(out) - last(every)) / last(every)).toBeLessThan(1e-7);
  });
});

describe('relation estimate with every: re-estimated from the current weights', () => {
  it('re-estimates every N rounds, and says the objective is a surrogate', async () => {
    const fixed = await runText(quick('{ method: estimate, similarity: cosine, knn: 5 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '12'));
    const out = await runText(quick('{ method: estimate, similarity: cosine, knn: 5, every: 4 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '12'));
    expect(out.results.relation.updates).toBe(3); // rounds 1, 5, 9
    expect(out.results.rounds.filter((r) => r.relation).map((r) => r.round)).toEqual([1, 5, 9]);
    expect(out.results.objective.kind).toBe('surrogate');
    expect(fixed.results.relation.updates).toBeUndefined();
    // the first four rounds are the fixed run's; then the relation (and the weights) differ
    expect(out.results.rounds[3]!.test).toEqual(fixed.results.rounds[3]!.test);
    expect(out.results.rounds[4]!.test).not.toEqual(fixed.results.rounds[4]!.test);
    expect(Array.from(out.relation.data)).not.toEqual(Array.from(fixed.relation.data));
  });
});

describe('both backends', () => {
  it('tfjs learns the same Ω and clusters as cpu (float32)', async () => {
    const spec = mtrl(0.2, '10');
    const cpu = await runText(spec);
    const tf = await runText(spec, { backend: 'tfjs' });
    expect(relErr(tf.weights.data, Array.from({ length: cpu.weights.rows }, (_, t) => Array.from(cpu.weights.data.subarray(t * cpu.weights.cols, (t + 1) * cpu.weights.cols))))).toBeLessThan(1e-4);
    const T = cpu.learned!.omega!.rows;
    const rows = (M: Float64Array): number[][] => Array.from({ length: T }, (_, t) => Array.from(M.subarray(t * T, t * T + T)));
    expect(relErr(tf.learned!.omega!.data, rows(cpu.learned!.omega!.data))).toBeLessThan(1e-4);
    const c1 = await runText(quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '10'));
    const c2 = await runText(quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '10'), { backend: 'tfjs' });
    expect(c2.results.relation.clusters).toEqual(c1.results.relation.clusters);
    expect(c2.results.plugins.map((p) => p.backend)).toEqual(['tfjs']);
  });
});

describe('mistakes are refused before any round', () => {
  it.each([
    ['form clusters without k', '{ method: learn, form: clusters }', '{ method: weighted-mean, scope: per-task, weights: edges }', /relation\.form clusters needs relation\.k/],
    ['k with form covariance', '{ method: learn, form: covariance, k: 3 }', '{ method: precision }', /relation\.k is the number of clusters of form clusters/],
    ['epsilon with form clusters', '{ method: learn, form: clusters, k: 3, epsilon: 0.1 }', '{ method: weighted-mean, scope: per-task, weights: edges }', /relation\.epsilon is for form covariance/],
    ['form covariance with fuse mean', '{ method: learn, form: covariance }', '{ method: mean }', /only fuse precision after propagate identity/],
    ['every 0', '{ method: learn, form: covariance, every: 0 }', '{ method: precision }', /every/],
    ['an unknown form', '{ method: learn, form: spectral }', '{ method: precision }', /form/],
    ['one cluster', '{ method: learn, form: clusters, k: 1 }', '{ method: weighted-mean, scope: per-task, weights: edges }', /relation\.k/],
    ['k as an empty string', "{ method: learn, form: clusters, k: '' }", '{ method: weighted-mean, scope: per-task, weights: edges }', /relation\.k/],
    ['epsilon 0', '{ method: learn, form: covariance, epsilon: 0 }', '{ method: precision }', /relation\.epsilon/],
    ['epsilon 1e9', '{ method: learn, form: covariance, epsilon: 1.0e9 }', '{ method: precision }', /relation\.epsilon/],
    ['a million restarts', '{ method: learn, form: clusters, k: 3, restarts: 1000000 }', '{ method: weighted-mean, scope: per-task, weights: edges }', /relation\.restarts/],
    ['every on a given relation', '{ method: identity, every: 2 }', '{ method: mean }', /every/],
  ])('%s', async (_what, relation, fuse, message) => {
    const e = await fail(runText(quick(relation, fuse, '3')));
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message + JSON.stringify(e.problems)).toMatch(message);
  });

  it('fuse precision on a relation that changes and is no precision matrix', async () => {
    for (const relation of ['{ method: learn, form: clusters, k: 3 }', '{ method: estimate, similarity: cosine, knn: 3, every: 5 }']) {
      const e = await fail(runText(quick(relation, '{ method: precision }', '3')));
      expect(e.code).toBe('SPEC_INVALID');
      expect(JSON.stringify(e.problems)).toMatch(/fuse precision reads the relation as the precision matrix/);
    }
  });

  it('a task whose labels leave a free bias unbounded (learned covariance with the logistic loss) is refused, and says why λ cannot help', async () => {
    const dir = scratch();
    const lines = ['shop,x1,x2,bought'];
    let seed = 3;
    const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const shop of ['a', 'b', 'c', 'd'])
      for (let i = 0; i < 30; i++) lines.push(`${shop},${(next() * 2 - 1).toFixed(3)},${(next() * 2 - 1).toFixed(3)},${shop === 'd' || next() < 0.5 ? 1 : 0}`);
    writeFileSync(join(dir, 'shops.csv'), lines.join('\n') + '\n');
    const text = `apiVersion: weightshare/v1
name: bias
seed: 5
loss: logistic
data: { source: csv, path: shops.csv, task: shop, target: bought, features: [x1, x2] }
relation: { method: learn, form: covariance }
stages:
  propagate: { method: identity }
  fuse: { method: precision }
  optimize: { method: lbfgs, lambda: 10, ridge: 1 }
rounds: 3
output: { write: false }
`;
    const e = await fail(runText(text, { dir }));
    expect(e.code).toBe('SPEC_INVALID');
    expect(e.message).toMatch(/task "d" has no finite logistic fit with a free bias.*whatever λ is/);
  });

  it('restarts: 0 still clusters (one seeded start when there is nothing to refine)', async () => {
    const out = await runText(quick('{ method: learn, form: clusters, k: 3, restarts: 0 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '4'));
    expect(new Set(out.results.relation.clusters).size).toBeGreaterThan(1);
  });

  it('more clusters than tasks, initial weights of zero, a precision that is not positive semi-definite', async () => {
    let e = await fail(runText(quick('{ method: learn, form: clusters, k: 31 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '3')));
    expect(e.code).toBe('RELATION_INVALID');
    expect(e.message).toMatch(/relation\.k is 31, but the data has 30 tasks/);
    e = await fail(runText(quick('{ method: learn, form: covariance }', '{ method: precision }', '3') + 'init: { method: zeros }\n'));
    expect(e.code).toBe('RELATION_INVALID');
    expect(e.message).toMatch(/mean squared norm of the initial task weights, which is 0/);
    // symmetric, a non-negative diagonal, and the eigenvalue 1.5 − 0.5·8 < 0 along the ones vector
    const notPsd = JSON.stringify(Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (i === j ? 1 : -0.5))));
    e = await fail(runText(mtrl(0.2, '3').replace(/relation: .*\n/, `relation: { method: given, matrix: ${notPsd} }\n`)));
    expect(e.code).toBe('RELATION_INVALID');
    expect(e.message).toMatch(/not positive semi-definite/);
  });
});

describe('checkpoints, cache and resume with a relation that changes between rounds', () => {
  const learnedProject = (relation: string, fuse: string, checkpoints: 'all' | 'last') => {
    const p = project(14, `  propagate: { method: identity }\n  fuse: ${fuse}\n  optimize: { method: exact, lambda: 0.3, ridge: 0.1 }`);
    const file = join(p.dir, p.spec);
    const text = readFileSync(file, 'utf8').replace(/relation: .*\n/, `relation: ${relation}\noutput: { checkpoints: ${checkpoints} }\n`);
    writeFileSync(file, text);
    return p;
  };

  it.each([
    ['covariance, every 2, checkpoints all', '{ method: learn, form: covariance, every: 2 }', '{ method: precision }', 'all'],
    ['clusters, every 3, checkpoints last', '{ method: learn, form: clusters, k: 2, every: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }', 'last'],
  ] as const)('%s: killed at any write, resumed, byte-identical; a second run takes everything from the cache', (_what, relation, fuse, checkpoints) => {
    const { dir, spec } = learnedProject(relation, fuse, checkpoints);
    const ref = cli(['run', spec, '--out', 'ref', '--no-cache'], { cwd: dir });
    expect(ref.code, ref.stderr).toBe(0);
    const refRun = join(dir, 'ref', 'crash-1');
    const extra = existsSync(join(refRun, 'omega.npy')) ? ['omega.npy', 'task-correlations.csv'] : ['clusters.csv'];
    for (const f of extra) expect(existsSync(join(refRun, f)), f).toBe(true);
    let resumedOnce = 0;
    for (const n of [9, 23, 41, 67, 95]) {
      const out = `crash-${n}`;
      const crashed = cli(['run', spec, '--out', out, '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: String(n) } });
      const run = join(dir, out, 'crash-1');
      if (crashed.signal !== 'SIGKILL') {
        expect(crashed.code, crashed.stderr).toBe(0);
      } else {
        if (!existsSync(join(run, 'manifest.json'))) continue;
        const resumed = cli(['resume', run], { cwd: dir });
        expect(resumed.code, `write ${n}: ${resumed.stderr}`).toBe(0);
        resumedOnce++;
      }
      expectSameFinalFiles(run, refRun);
      for (const f of extra) expect(readFileSync(join(run, f)).equals(readFileSync(join(refRun, f))), f).toBe(true);
    }
    expect(resumedOnce).toBeGreaterThan(2);
    const first = cli(['run', spec, '--out', 'cached'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const again = cli(['run', spec, '--out', 'cached', '--json'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    const second = join(dir, 'cached', 'crash-2');
    const m = JSON.parse(readFileSync(join(second, 'manifest.json'), 'utf8')) as { checkpoints: { id: string; source: string }[] };
    // (the loop's state of checkpoints: last belongs to its run only, never to the cache)
    expect(m.checkpoints.filter((c) => c.source !== 'cached' && !c.id.endsWith('-state'))).toEqual([]);
    expect(m.checkpoints.some((c) => /^r\d{4}-relation$/.test(c.id) || c.id.endsWith('-state'))).toBe(true);
    expectSameFinalFiles(second, refRun);
  }, 300_000);
});

describe('the report of a run with a learned relation', () => {
  it('shows the learned correlations (covariance) or groups the tasks by cluster (clusters)', () => {
    const dir = scratch();
    const write = (name: string, text: string): void => writeFileSync(join(dir, name), text.replace('output:\n  write: false\n', '').replace('evaluate:\n  baselines: false\n', ''));
    write('cov.yaml', mtrl(0.2, '6'));
    write('clu.yaml', quick('{ method: learn, form: clusters, k: 3 }', '{ method: weighted-mean, scope: per-task, weights: edges }', '6'));
    for (const [spec, expected] of [
      ['cov.yaml', /Learned task correlations[\s\S]*Relation A = Ω⁻¹, the learned task precision/],
      ['clu.yaml', /grouped by learned cluster \(3 clusters\)/],
    ] as const) {
      const run = cli(['run', spec, '--out', 'runs'], { cwd: dir });
      expect(run.code, run.stderr).toBe(0);
      // both specs are named "test": runs/test-1, then runs/test-2
      const target = join(dir, 'runs', spec === 'cov.yaml' ? 'test-1' : 'test-2');
      const rep = cli(['report', target], { cwd: dir });
      expect(rep.code, rep.stderr).toBe(0);
      expect(readFileSync(join(target, 'report.html'), 'utf8')).toMatch(expected);
    }
  });
});
