/**
 * Numbers users can trust: every case here once gave a wrong answer with exit code 0 (or a misleading message), and
 * each test fails on the code before the fix. Values are checked against independent computations: closed forms,
 * plain formulas on the outputs, the raw files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, selectBest, WeightshareError, type RegressionMetrics, type RunOutcome, type TaskData } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { graphRegularized, meanRegularized, relativeError } from './helpers/oracles.js';
import { fail, runText, scratch, syntheticSpec } from './helpers/run.js';

/** A small CSV of `T` tasks (ids given), two features and a target. */
function tasksCsv(ids: string[], n = 10, mutate?: (row: number, cells: string[]) => void): string {
  const lines = ['task,x1,x2,y'];
  let r = 0;
  ids.forEach((id, t) => {
    for (let i = 0; i < n; i++, r++) {
      const x1 = Math.sin(r * 1.3 + t) * 2;
      const x2 = Math.cos(r * 0.7) + t / 3;
      const cells = [id, String(x1), String(x2), String(1 + t + x1 - 0.5 * x2 + 0.1 * Math.sin(r * 5.1))];
      mutate?.(r, cells);
      lines.push(cells.join(','));
    }
  });
  return lines.join('\n') + '\n';
}

const csvSpec = (extra = '', stages = "  propagate: { method: identity }\n  fuse: { method: weighted-mean, scope: per-task, weights: edges }\n  optimize: { method: exact, lambda: 1, ridge: 0.5 }"): string => `apiVersion: weightshare/v1
name: trust
seed: 2
data: { source: csv, path: d.csv, task: task, target: y }
split: { method: random, testFraction: 0.3 }
output: { write: false }
stages:
${stages}
${extra}`;

/** JSON paths of every null or non-finite number in a value (what JSON.stringify makes of NaN and ±Infinity). */
function nonFinite(v: unknown, path = ''): string[] {
  if (v === null) return [path];
  if (typeof v === 'number') return Number.isFinite(v) ? [] : [path];
  if (typeof v === 'object') return Object.entries(v as object).flatMap(([k, x]) => nonFinite(x, `${path}/${k}`));
  return [];
}

/** Σ_t ‖y_t − X_t w_t‖², computed here from the task rows. */
function dataLoss(W: Float64Array, tasks: readonly TaskData[]): number {
  let s = 0;
  for (const t of tasks) {
    const d = t.X.cols;
    for (let i = 0; i < t.y.length; i++) {
      let z = 0;
      for (let j = 0; j < d; j++) z += t.X.data[i * d + j]! * W[t.index * d + j]!;
      s += (t.y[i]! - z) ** 2;
    }
  }
  return s;
}

describe('a relation CSV is matched by task id', () => {
  const ids = ['s3', 's1', 's2'];
  // the relation the user means: s1–s2 strong, s2–s3 weak, s1–s3 none
  const want: Record<string, Record<string, number>> = { s1: { s1: 1, s2: 0.9, s3: 0 }, s2: { s1: 0.9, s2: 1, s3: 0.2 }, s3: { s1: 0, s2: 0.2, s3: 1 } };
  const matrix = (order: string[], rowIds: boolean): string =>
    [(rowIds ? ['task'] : []).concat(order).join(','), ...order.map((r) => (rowIds ? [r] : []).concat(order.map((c) => String(want[r]![c]))).join(','))].join('\n') + '\n';

  it('with a header in another order than the data (and with or without a row-id column) the graph is the one written', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(ids));
    for (const [order, rowIds] of [
      [['s1', 's2', 's3'], false],
      [['s2', 's3', 's1'], true],
    ] as const) {
      writeFileSync(join(dir, 'A.csv'), matrix([...order], rowIds));
      const out = await runText(csvSpec('relation: { method: csv, path: A.csv }'), { dir });
      // the outcome's relation is in the data's task order (s3, s1, s2)
      for (const [i, r] of ids.entries()) for (const [j, c] of ids.entries()) expect(out.relation.data[i * 3 + j], `${r},${c}`).toBe(want[r]![c]);
    }
  });

  it('an unknown or a missing id is an error naming it; without a header the data order is used and said', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(ids));
    writeFileSync(join(dir, 'A.csv'), 's1,s2,s9\n1,0,0\n0,1,0\n0,0,1\n');
    const unknown = await fail(runText(csvSpec('relation: { method: csv, path: A.csv }'), { dir }));
    expect(unknown.code).toBe('RELATION_INVALID');
    const text = unknown.problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/"s9" is not a task of the data/);
    expect(text).toMatch(/no task for "s3"/);
    writeFileSync(join(dir, 'A.csv'), '1,0\n0,1\n');
    const shape = await fail(runText(csvSpec('relation: { method: csv, path: A.csv }'), { dir }));
    expect(shape.message).toMatch(/rows and columns are read in the data's task order \(the order in which tasks first appear in the data file\)/);
    // headerless and square: read in the data's order (s3, s1, s2)
    writeFileSync(join(dir, 'A.csv'), '1,0,0.5\n0,1,0\n0.5,0,1\n');
    const out = await runText(csvSpec('relation: { method: csv, path: A.csv }'), { dir });
    expect(out.relation.data[0 * 3 + 2]).toBe(0.5); // s3–s2
  });

  it('init weights from a previous run\'s weights.csv are matched by task id and feature name', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(ids));
    const first = await runText(csvSpec(), { dir });
    const names = first.data.featureNames; // x1, x2, bias
    // rows shuffled and columns reversed: must still land on the right task and feature
    const lines = ['task_id,' + [...names].reverse().join(',')];
    for (const t of [1, 2, 0]) lines.push([ids[t], ...[...names].reverse().map((_, k) => String(first.weights.data[t * 3 + (2 - k)]))].join(','));
    writeFileSync(join(dir, 'B.csv'), lines.join('\n') + '\n');
    const spec = csvSpec('init: { method: file, path: B.csv }', '  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: gd, lambda: 1, epochs: 1, lr: 1.0e-12 }');
    const out = await runText(spec, { dir });
    for (let i = 0; i < 9; i++) expect(out.weights.data[i]).toBeCloseTo(first.weights.data[i]!, 9);
  });
});

describe('huge but finite values', () => {
  it('a target of 1e200 is refused naming its row and column (it was an infinite objective with exit 0)', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a', 'b'], 10, (r, c) => r === 13 && (c[3] = '1e200')));
    const e = await fail(runText(csvSpec(), { dir }));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toMatch(/target 1e\+200 is too large for squared loss/);
    expect(e.problems[0]!.location).toMatchObject({ file: 'd.csv', row: 15, csvColumn: 'y' });
  });

  it.each(['1e200', '1e308', '-1e308'])('a feature cell of %s is standardized, not dropped as constant, and every number stays finite', async (v) => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a', 'b', 'c'], 10, (r, c) => r === 4 && (c[1] = v)));
    const out = await runText(csvSpec('evaluate: { baselines: true }'), { dir });
    expect(out.results.data.droppedConstantColumns).toEqual([]);
    expect(out.data.featureNames).toEqual(['x1', 'x2', 'bias']);
    // the training column is standardized: mean 0, variance 1 (population), computed here from X
    const col = out.data.train.flatMap((t) => Array.from({ length: t.y.length }, (_, i) => t.X.data[i * 3]!));
    const mean = col.reduce((a, b) => a + b, 0) / col.length;
    const variance = col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length;
    expect(Math.abs(mean)).toBeLessThan(1e-12);
    expect(variance).toBeCloseTo(1, 10);
    expect(nonFinite(JSON.parse(JSON.stringify(out.results)))).toEqual([]);
  });

  it('a test row far outside the training range that makes a prediction overflow is an error naming the row', async () => {
    const dir = scratch();
    // a training column of tiny values, then a test value that standardizes to ~1e300
    const csv = tasksCsv(['a', 'b'], 10, (r, c) => (c[1] = r === 19 ? '1e290' : String(1e-10 * (r % 3))));
    writeFileSync(join(dir, 'd.csv'), csv);
    writeFileSync(join(dir, 's.csv'), 'split\n' + Array.from({ length: 20 }, (_, r) => (r === 19 || r === 9 ? 'test' : 'train')).join('\n') + '\n');
    const e = await fail(runText(csvSpec().replace('split: { method: random, testFraction: 0.3 }', 'split: { method: file, path: s.csv, column: split }'), { dir }));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.problems[0]!.location?.row).toBe(21);
  });
});

describe('sweeps never choose a candidate without a finite score', () => {
  it('selectBest skips NaN and ±Infinity and returns −1 when nothing is finite', () => {
    expect(selectBest([NaN, 3, 1, Infinity], false)).toBe(2);
    expect(selectBest([NaN, 0.2, -Infinity], true)).toBe(1);
    expect(selectBest([NaN, NaN], false)).toBe(-1);
  });

  it('a candidate whose validation metric is undefined is failed with its reason; when all are, exit 2 with the reasons', () => {
    const dir = scratch();
    const spec = join(dir, 's.yaml');
    // with 4 rows per task a task keeps 1 validation row, so its R² (and the task-weighted R²) is undefined
    writeFileSync(
      spec,
      `apiVersion: weightshare/v1
name: sw
seed: 1
data: { source: synthetic, tasks: 6, clusters: 2, features: 2, rows: 40 }
split: { method: random, testFraction: 0.25 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1 }
sweep:
  metric: r2TaskWeighted
  validationFraction: 0.04
  parameters:
    data.rows: [5, 100]
`,
    );
    const r = cli(['sweep', spec, '--jobs', '1', '--out', join(dir, 'runs'), '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { splits: { chosen: number; candidates: { validation: number | null; error?: string }[] }[] };
    expect(s.splits[0]!.chosen).toBe(1);
    expect(s.splits[0]!.candidates[0]!.validation).toBeNull();
    expect(s.splits[0]!.candidates[0]!.error).toMatch(/validation r2TaskWeighted is undefined: no task's test targets vary/);
    const all = cli(['sweep', spec, '--jobs', '1', '--out', join(dir, 'runs'), '--param', 'data.rows=5,6'], { cwd: dir });
    expect(all.code).toBe(2);
    expect(all.stderr).toMatch(/every candidate of split failed/);
    expect(all.stderr).not.toMatch(/MSE 0\.0000/);
  });
});

describe('the objective recorded is the one the rounds minimize', () => {
  const graphSpec = (extra: string, stages: string) =>
    syntheticSpec(`relation: { method: estimate, similarity: cosine, knn: 3 }
stages:
${stages}
${extra}`, 'tasks: 12\n  clusters: 3\n  features: 4\n  rows: 16');

  it('graph fusion: λ Σ_{s<t} a_st ‖w_s − w_t‖² at the converged weights equals the closed form\'s objective', async () => {
    const out = await runText(
      graphSpec(
        'rounds: { max: 3000, tol: 1.0e-12 }',
        '  propagate: { method: identity }\n  fuse: { method: weighted-mean, scope: per-task, weights: edges }\n  optimize: { method: exact, lambda: 2, ridge: 0.3 }',
      ),
    );
    expect(out.results.objective.kind).toBe('exact');
    expect(out.results.convergence.converged).toBe(true);
    const T = 12;
    const A = Array.from({ length: T }, (_, i) => Array.from(out.relation.data.subarray(i * T, i * T + T)));
    const oracle = graphRegularized(out.data.train, A, 2, 0.3);
    expect(relativeError(out.weights.data, oracle, 5)).toBeLessThan(1e-8);
    // the objective of the oracle weights, computed here
    const W = Float64Array.from(oracle.flat());
    let pen = 0;
    for (let s = 0; s < T; s++) for (let t = s + 1; t < T; t++) for (let j = 0; j < 5; j++) pen += A[s]![t]! * (W[s * 5 + j]! - W[t * 5 + j]!) ** 2;
    let rid = 0;
    for (let t = 0; t < T; t++) for (let j = 0; j < 4; j++) rid += W[t * 5 + j]! ** 2;
    const J = dataLoss(W, out.data.train) + 2 * pen + 0.3 * rid;
    const last = out.results.rounds.at(-1)!.objective!;
    expect(Math.abs(last.total - J) / J).toBeLessThan(1e-9);
    // the old surrogate λ Σ c_t ‖w_t − E_t‖² is a different number at the same weights
    const c = A.map((r, t) => r.reduce((a, v, s) => a + (s === t ? 0 : v), 0));
    let surrogate = 0;
    for (let t = 0; t < T; t++)
      for (let j = 0; j < 5; j++) {
        let e = 0;
        for (let s = 0; s < T; s++) if (s !== t) e += (A[t]![s]! * W[s * 5 + j]!) / c[t]!;
        surrogate += c[t]! * (W[t * 5 + j]! - e) ** 2;
      }
    expect(Math.abs(2 * surrogate - 2 * pen) / (2 * pen)).toBeGreaterThan(0.01);
  });

  it.each([
    ['mean', '  propagate: { method: identity }\n  fuse: { method: mean }'],
    ['graph', '  propagate: { method: identity }\n  fuse: { method: weighted-mean, scope: per-task, weights: edges }'],
    ['laplacian', '  propagate: { method: laplacian, alpha: 2 }\n  fuse: { method: identity }'],
    ['ppr', '  propagate: { method: ppr, alpha: 0.2 }\n  fuse: { method: identity }'],
  ])('%s with the exact optimizer: an exact objective that never rises between rounds', async (_name, stages) => {
    const out = await runText(graphSpec('rounds: 60', `${stages}\n  optimize: { method: exact, lambda: 5, ridge: 0.2 }`));
    expect(out.results.objective.kind).toBe('exact');
    const J = out.results.rounds.map((r) => r.objective!.total);
    for (let r = 1; r < J.length; r++) expect(J[r]!, `round ${r + 1}`).toBeLessThanOrEqual(J[r - 1]! * (1 + 1e-13));
    expect(J[J.length - 1]!).toBeLessThan(J[0]!);
  });

  it('a combination that minimizes no known objective is labelled a surrogate, in results.json and in the summary', async () => {
    const out = await runText(graphSpec('rounds: 3', '  propagate: { method: identity }\n  fuse: { method: median, scope: per-task }\n  optimize: { method: exact, lambda: 1 }'));
    expect(out.results.objective.kind).toBe('surrogate');
    expect(out.results.objective.reason).toMatch(/median/);
    const dir = scratch();
    writeFileSync(join(dir, 's.yaml'), graphSpec('rounds: 3', '  propagate: { method: identity }\n  fuse: { method: median, scope: per-task }\n  optimize: { method: exact, lambda: 1 }'));
    const r = cli(['run', 's.yaml'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/objective \(surrogate\)/);
    expect(r.stdout).toMatch(/the objective is a surrogate: /);
  });
});

describe('metrics under their right names', () => {
  it('r2 is 1 − SSE/SST and explainedVariance is 1 − Var(y − ŷ)/Var(y), overall and per task, checked on the outputs', async () => {
    // a biased model (λ pulls towards a mean that is off for every task) has residuals with a non-zero mean
    const out = await runText(syntheticSpec('stages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, lambda: 50 }\nrounds: 20'));
    const yAll: number[] = [];
    const eAll: number[] = [];
    for (const t of out.data.test) {
      const d = t.X.cols;
      for (let i = 0; i < t.y.length; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += t.X.data[i * d + j]! * out.weights.data[t.index * d + j]!;
        yAll.push(t.y[i]!);
        eAll.push(t.y[i]! - z);
      }
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const variance = (v: number[]) => mean(v.map((x) => (x - mean(v)) ** 2));
    const m = out.results.models.shared as RegressionMetrics;
    expect(m.r2).toBeCloseTo(1 - mean(eAll.map((e) => e * e)) / variance(yAll), 12);
    expect(m.explainedVariance).toBeCloseTo(1 - variance(eAll) / variance(yAll), 12);
    expect(Math.abs(m.r2 - m.explainedVariance)).toBeGreaterThan(1e-4); // they differ here, as they should
    expect(m.mae).toBeCloseTo(mean(eAll.map(Math.abs)), 12);
  });

  it('a task whose test targets are constant has undefined R² with the reason, not a bare null', async () => {
    const dir = scratch();
    // task b's test rows: a single test row (rows 10..13, 30% of 4 → 1)
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a'], 10) + tasksCsv(['b'], 4).split('\n').slice(1).join('\n'));
    const out = await runText(csvSpec(), { dir });
    const b = out.results.perTask.find((t) => t.id === 'b')!;
    expect(b.testRows).toBe(1);
    expect((b.shared as RegressionMetrics).r2).toBeNaN();
    expect(b.undefined?.r2).toMatch(/single test row/);
    expect(JSON.parse(JSON.stringify(out.results)).perTask[1].shared.r2).toBeNull();
  });
});

describe('one definition of edges', () => {
  it('the summary, results.json and relation.npy agree on the number of edges', () => {
    const dir = scratch();
    const r = cli(['run', join(root, 'pipelines/quickstart.yaml'), '--out', join(dir, 'runs'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { outputDir: string; relation: { edges: number; directedEdges: number; symmetric: boolean } };
    const A = decodeNpy(readFileSync(join(res.outputDir, 'relation.npy')));
    let pairs = 0;
    for (let s = 0; s < A.rows; s++) for (let t = s + 1; t < A.rows; t++) if (A.data[s * A.rows + t] !== 0 || A.data[t * A.rows + s] !== 0) pairs++;
    expect(res.relation.edges).toBe(pairs);
    expect(res.relation.directedEdges).toBe(2 * pairs);
    const summary = cli(['run', join(root, 'pipelines/quickstart.yaml'), '--out', join(dir, 'runs')]);
    expect(summary.stdout).toMatch(new RegExp(`relation  estimate, ${pairs} edges\\n`));
  });
});

describe('messages that used to mislead', () => {
  it('logistic-label errors name the real target column', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a', 'b']).replace('task,x1,x2,y', 'task,x1,x2,outcome'));
    const e = await fail(runText(csvSpec('loss: logistic').replace('target: y', 'target: outcome').replace('method: exact, lambda: 1, ridge: 0.5', 'method: gd'), { dir }));
    expect(e.problems[0]!.location?.csvColumn).toBe('outcome');
    expect(e.message).toMatch(/in column outcome/);
  });

  it('the fix suggested for a negative relation entry is one the spec accepts, and it works', async () => {
    const given = 'relation: { method: given, matrix: [[1, -0.5, 0.2], [-0.5, 1, 0.3], [0.2, 0.3, 1]] }';
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a', 'b', 'c']));
    const e = await fail(runText(csvSpec(given), { dir }));
    expect(e.code).toBe('RELATION_INVALID');
    expect(e.message).toMatch(/Add relation\.threshold: 0/);
    const out = await runText(csvSpec(given.replace(' }', ', threshold: 0 }')), { dir });
    expect(out.relation.data[1]).toBe(0);
  });

  it('unknown keys list exactly what the stage\'s backend accepts, and all problems come in one go', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), tasksCsv(['a', 'b']));
    const e = await fail(runText(csvSpec('roundz: 3', '  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, tol: 1.0e-3 }'), { dir }));
    expect(e.problems).toHaveLength(2);
    expect(e.problems.map((p) => p.message).join('\n')).toMatch(/unknown key "tol" in stages\.optimize for exact on backend cpu\. Allowed keys: method, backend, lambda, ridge\./);
    expect(e.problems.map((p) => p.message).join('\n')).toMatch(/unknown key "roundz"/);
    // on tfjs, tol is an option of exact: accepted
    await expect(runText(csvSpec('rounds: 2', '  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, tol: 1.0e-3 }'), { dir, backend: 'tfjs' })).resolves.toBeDefined();
  });

  it('a --param mistake names --param, and a bad --splits name is reported before any fit with the available columns', () => {
    const school = join(root, 'pipelines/school-mean-regularized.yaml');
    const dir = scratch();
    const p = cli(['sweep', school, '--param', 'stages.optimize.lamda=1,3', '--out', join(dir, 'runs')]);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/--param stages\.optimize\.lamda=1,3 \(value 1\), at \/stages\/optimize\/lamda: unknown key "lamda"/);
    expect(p.stderr).not.toMatch(/--set/);
    const s = cli(['sweep', school, '--splits', 'split_1,split_11', '--out', join(dir, 'runs')]);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/--splits: "split_11" is not a column of .*school_splits\.csv; its split columns are: split_1, split_2/);
    expect(s.stderr.split('\n').filter(Boolean)).toHaveLength(1); // nothing ran first
  });
});

describe('rounds that stop when they are done', () => {
  it('rounds: { max, tol } stops at convergence and says at which round; rounds: N unconverged says so in one line', () => {
    const dir = scratch();
    const file = join(dir, 'q.yaml');
    writeFileSync(file, readFileSync(join(root, 'pipelines/quickstart.yaml'), 'utf8').replace(/^rounds:.*$/m, 'rounds: { max: 500, tol: 1.0e-9 }'));
    const r = cli(['run', file, '--out', join(dir, 'runs'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as RunOutcome['results'];
    expect(res.convergence.converged).toBe(true);
    expect(res.convergence.round).toBe(res.rounds.length);
    expect(res.rounds.length).toBeLessThan(500);
    expect(res.rounds.at(-1)!.change).toBeLessThanOrEqual(1e-9);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^rounds:.*$/m, 'rounds: 5'));
    const five = cli(['run', file, '--out', join(dir, 'runs')]);
    expect(five.stdout).toMatch(/NOT converged after 5 rounds: last relative change \S+ > tol 1e-6\. Use rounds: \{ max: 1000, tol: 1e-6, acceleration: anderson \}/);
  });
});

describe('mean-regularized MTL on School reaches the closed form', () => {
  it('Anderson acceleration: the same fixed point (1e-8) in at most a tenth of the plain rounds at λ = 1000', async () => {
    const spec = readFileSync(join(root, 'pipelines/school-mean-regularized.yaml'), 'utf8').replace(/^sweep:[\s\S]*$/m, 'sweep: null # and the outer splits of its base\n');
    const at = (rounds: string): Promise<RunOutcome> =>
      runText(spec, { dir: join(root, 'pipelines'), set: ['stages.optimize.lambda=1000', 'evaluate.baselines=false', 'output.write=false', 'evaluate.everyRound=false', `rounds=${rounds}`] });
    const fast = await at('{max: 3000, tol: 1.0e-11, acceleration: anderson}');
    const oracle = meanRegularized(fast.data.train, 1000, 1);
    expect(relativeError(fast.weights.data, oracle, fast.weights.cols)).toBeLessThan(1e-8);
    // plain rounds, ten times as many, are still short of it
    const n = fast.results.rounds.length;
    const plain = await at(String(10 * n));
    expect(relativeError(plain.weights.data, oracle, plain.weights.cols)).toBeGreaterThan(1e-8);
    expect(plain.results.convergence.converged).toBe(false);
  }, 60_000);
});
