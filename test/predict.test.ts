/**
 * Models users can apply: the model/ artifact of a run, `weightshare predict`, `runs export --rows`, the library API
 * and the documented NumPy recipe. Predicting a run's own test rows must reproduce its test metrics exactly (the
 * same operations in the same order); everything else is checked against independent computations from model.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, WeightshareError, type ModelDescription } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

interface Report {
  rows: number;
  unseenRows: number;
  unseenTasks: string[];
  ignoredColumns: string[];
  metrics?: { seen?: Record<string, number>; unseen?: Record<string, number> };
}

const results = (run: string): { models: { shared: Record<string, number> } } => JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'));
const predictionsOf = (file: string): { task: string; row: number; value: number; unseen: number }[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => {
      const c = l.split(',');
      return { task: c[0]!, row: Number(c[1]), value: Number(c[2]), unseen: Number(c.at(-1)) };
    });

const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('the quickstart: run, export its test rows, predict them', () => {
  const dir = scratch('ws-predict-');
  const run = join(dir, 'runs', 'quickstart-1');
  beforeAll(() => {
    const r = cli(['run', join(root, 'pipelines/quickstart.yaml'), '--out', 'runs'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const e = cli(['runs', 'export', run, '--rows', 'test', '--out', 'test.csv'], { cwd: dir });
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain('120 test rows');
  });

  it('reproduces results.json\'s test metrics exactly (equality, not closeness)', () => {
    const r = cli(['predict', run, '--data', 'test.csv', '--out', 'p.csv', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.rows).toBe(120);
    expect(report.unseenRows).toBe(0);
    expect(report.metrics!.seen).toEqual(results(run).models.shared);
    const p = predictionsOf(join(dir, 'p.csv'));
    expect(p).toHaveLength(120);
    expect(p[0]!.row).toBe(0);
  });

  it('the model folder is described, checksummed in the manifest, and readable without weightshare (NumPy recipe of docs/runs.md, to 1e-12)', (ctx) => {
    const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')) as { outputs: { file: string }[] };
    for (const f of ['model/model.json', 'model/parameters.npy', 'model/targets.npy', 'model/weights-original.csv']) expect(manifest.outputs.map((o) => o.file)).toContain(f);
    const m = JSON.parse(readFileSync(join(run, 'model/model.json'), 'utf8')) as ModelDescription;
    expect(m).toMatchObject({ format: 1, kind: 'weightshare-model', loss: { name: 'squared' }, model: { name: 'linear', parameters: 11 }, columns: { task: 'task', target: 'y' } });
    expect(m.preprocessing.ddof).toBe(0);
    if (!python) return ctx.skip();
    const doc = readFileSync(join(root, 'docs/runs.md'), 'utf8');
    const recipe = /### From Python \(NumPy\)\n\n```python\n([\s\S]*?)```/.exec(doc)![1]!;
    writeFileSync(join(dir, 'predict.py'), recipe);
    const out = execFileSync('python3', [join(dir, 'predict.py'), join(run, 'model'), join(dir, 'test.csv')], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    const ours = loadModel(run).predictCsv(join(dir, 'test.csv')).predictions!.output;
    expect(out).toHaveLength(ours.length);
    let worst = 0;
    let scale = 0;
    ours.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - out[i]!));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(worst / scale).toBeLessThan(1e-12);
  });

  it('weights-original.csv gives the same predictions from the raw columns (coefficients a statistician can read)', () => {
    const lines = readFileSync(join(run, 'model/weights-original.csv'), 'utf8').trim().split('\n');
    const header = lines[0]!.split(',');
    expect(header[0]).toBe('task');
    expect(header.at(-1)).toBe('intercept');
    const coef = new Map(lines.slice(1).map((l) => [l.split(',')[0]!, l.split(',').slice(1).map(Number)]));
    const rows = readFileSync(join(dir, 'test.csv'), 'utf8').trim().split('\n');
    const cols = rows[0]!.split(',');
    const ours = loadModel(run).predictCsv(join(dir, 'test.csv')).predictions!.output;
    rows.slice(1).forEach((l, i) => {
      const c = l.split(',');
      const b = coef.get(c[0]!)!;
      let s = b.at(-1)!;
      header.slice(1, -1).forEach((h, k) => (s += b[k]! * Number(c[cols.indexOf(h)])));
      expect(Math.abs(s - ours[i]!)).toBeLessThan(1e-9 * Math.max(1, Math.abs(ours[i]!)));
    });
  });

  it('a task unseen in training uses the fused model (marked), or is refused with --unseen error', () => {
    const rows = readFileSync(join(dir, 'test.csv'), 'utf8').split('\n');
    rows[1] = rows[1]!.replace(/^task-1,/, 'task-new,');
    writeFileSync(join(dir, 'new.csv'), rows.join('\n'));
    const r = cli(['predict', run, '--data', 'new.csv', '--out', 'pn.csv', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report).toMatchObject({ unseenRows: 1, unseenTasks: ['task-new'] });
    const p = predictionsOf(join(dir, 'pn.csv'));
    expect(p[0]).toMatchObject({ task: 'task-new', unseen: 1 });
    // independently: z from model.json's centres and scales, dotted with the unseen parameters
    const m = JSON.parse(readFileSync(join(run, 'model/model.json'), 'utf8')) as ModelDescription;
    const cells = rows[1]!.split(',');
    const header = rows[0]!.split(',');
    let s = m.unseen.parameters.at(-1)!;
    m.preprocessing.features.forEach((f, k) => (s += ((Number(cells[header.indexOf(f.name)]) - f.center) / f.scale) * m.unseen.parameters[k]!));
    expect(Math.abs(p[0]!.value - s)).toBeLessThan(1e-12 * Math.max(1, Math.abs(s)));
    // the fused target of a weighted-mean per-task fusion: the training-size-weighted mean of the targets
    const refused = cli(['predict', run, '--data', 'new.csv', '--out', 'pe.csv', '--unseen', 'error'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error DATA_INVALID: new\.csv: row 2: task "task-new" was not in the training data/);
    expect(existsSync(join(dir, 'pe.csv'))).toBe(false);
  });

  it('bad input: one paragraph with file, row and column, exit 2, nothing written at --out', () => {
    const rows = readFileSync(join(dir, 'test.csv'), 'utf8').split('\n');
    const bad = (name: string, text: string, pattern: RegExp, args: string[] = []): void => {
      writeFileSync(join(dir, name), text);
      const r = cli(['predict', run, '--data', name, '--out', `out-${name}`, ...args], { cwd: dir });
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(existsSync(join(dir, `out-${name}`))).toBe(false);
    };
    bad('no-x3.csv', rows.map((l) => l.split(',').filter((_, j) => j !== 3).join(',')).join('\n'), /error CSV_INVALID: no-x3\.csv: column "x3" is missing from the header/);
    bad('text.csv', [rows[0], rows[1]!.replace(/,[^,]+,/, ',abc,'), ...rows.slice(2)].join('\n'), /error CSV_INVALID: text\.csv: row 2, column "x1": "abc" is not a number/);
    bad('empty.csv', '', /error CSV_INVALID: empty\.csv: the file is empty/);
    bad('header-only.csv', rows[0] + '\n', /no data rows/);
    writeFileSync(join(dir, 'exists.csv'), 'keep me');
    const r = cli(['predict', run, '--data', 'test.csv', '--out', 'exists.csv'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out "exists\.csv" already exists; choose another file, or add --force/);
    expect(readFileSync(join(dir, 'exists.csv'), 'utf8')).toBe('keep me');
    expect(cli(['predict', run, '--data', 'test.csv', '--out', 'exists.csv', '--force'], { cwd: dir }).code).toBe(0);
    const extra = cli(['predict', run, '--data', 'test.csv', '--out', 'extra.csv', '--json'], { cwd: dir });
    expect((JSON.parse(extra.stdout) as Report).ignoredColumns).toEqual([]);
  });

  it('damaged or unfinished model folders are refused: a flipped byte, a newer format, a run that did not complete', () => {
    const copy = join(dir, 'copy');
    cpSync(run, copy, { recursive: true });
    const npy = join(copy, 'model/parameters.npy');
    const bytes = readFileSync(npy);
    bytes[bytes.length - 3] ^= 0x10;
    writeFileSync(npy, bytes);
    const flipped = cli(['predict', copy, '--data', 'test.csv'], { cwd: dir });
    expect(flipped.code).toBe(2);
    expect(flipped.stderr).toMatch(/^error RUN_CORRUPT: .*parameters\.npy does not match the SHA-256 recorded for it/);
    // a model folder on its own, of a newer format
    const alone = join(dir, 'alone');
    cpSync(join(run, 'model'), alone, { recursive: true });
    const m = JSON.parse(readFileSync(join(alone, 'model.json'), 'utf8')) as ModelDescription;
    writeFileSync(join(alone, 'model.json'), JSON.stringify({ ...m, format: 99 }));
    const newer = cli(['predict', alone, '--data', 'test.csv'], { cwd: dir });
    expect(newer.code).toBe(2);
    expect(newer.stderr).toMatch(/^error MODEL_INVALID: .*model format 99, newer than this weightshare reads \(1\)/);
    const running = join(dir, 'running');
    cpSync(run, running, { recursive: true });
    const man = JSON.parse(readFileSync(join(running, 'manifest.json'), 'utf8')) as { status: string };
    writeFileSync(join(running, 'manifest.json'), JSON.stringify({ ...man, status: 'failed' }));
    const failed = cli(['predict', running, '--data', 'test.csv'], { cwd: dir });
    expect(failed.code).toBe(2);
    expect(failed.stderr).toMatch(/^error MODEL_INVALID: the run ".*running" is failed: only a completed run has a model\. Resume it first/);
    expect(cli(['predict', join(dir, 'nowhere'), '--data', 'test.csv'], { cwd: dir }).stderr).toMatch(/^error RUN_NOT_FOUND/);
  });

  it('the README example type-checks and runs as written (library API: predict and predictCsv)', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = /<!-- example: predict[^\n]*-->\n```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    // as a user's strict TypeScript file against the built package's types
    const typed = join(root, 'test', `.readme-typecheck-${process.pid}.ts`);
    writeFileSync(typed, code);
    try {
      const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', typed], { encoding: 'utf8' });
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    } finally {
      (await import('node:fs')).rmSync(typed, { force: true });
    }
    const file = join(root, 'test', `.readme-example-${process.pid}.ts`);
    writeFileSync(file, code.replace("'runs/quickstart-1'", JSON.stringify(run)).replace("'test.csv'", JSON.stringify(join(dir, 'test.csv'))).replace("'predictions.csv'", JSON.stringify(join(dir, 'readme-predictions.csv'))).replace(/console\.log/g, 'globalThis.__readme.push'));
    const seen: unknown[][] = [];
    (globalThis as { __readme?: unknown }).__readme = { push: (...a: unknown[]) => seen.push(a) };
    try {
      await import(file);
    } finally {
      (await import('node:fs')).rmSync(file, { force: true });
    }
    expect(typeof seen[0]![0]).toBe('number');
    expect(seen[1]![0]).toBe(120);
    expect(seen[1]![1]).toEqual(results(run).models.shared);
    expect(existsSync(join(dir, 'readme-predictions.csv'))).toBe(true);
  });

  it('the API refuses mismatched input with a WeightshareError', () => {
    const model = loadModel(run);
    expect(() => model.predict({ taskIds: ['task-1'], rows: [] })).toThrow(WeightshareError);
    expect(() => model.predict({ taskIds: ['task-1'], rows: [{ x1: 1 }] })).toThrow(/column "x2": the value is missing/);
  });
});

describe('School (a CSV file) and a logistic model', () => {
  it('categories as text: the recorded encoding is applied; a category unseen in training is zeros, or an error with unseen: error', () => {
    const dir = scratch('ws-predict-cat-');
    const fixture = join(root, 'test/fixtures/school-categorical.csv');
    const spec = (denomination: string): string =>
      `apiVersion: weightshare/v1\nname: cat\nseed: 1\ndata: { source: csv, path: ${fixture}, task: school, target: score, exclude: [row], categorical: [year, gender, vrband, ethnicity, school_gender, ${denomination}], missing: drop-rows }\nstages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, lambda: 100, ridge: 1 }\nevaluate: { baselines: false }\n`;
    writeFileSync(join(dir, 'zeros.yaml'), spec('denomination'));
    writeFileSync(join(dir, 'strict.yaml'), spec('{ column: denomination, unseen: error }'));
    for (const f of ['zeros', 'strict']) expect(cli(['run', `${f}.yaml`, '--out', f], { cwd: dir }).code).toBe(0);
    expect(cli(['runs', 'export', join(dir, 'zeros', 'cat-1'), '--rows', 'test', '--out', 'test.csv'], { cwd: dir }).code).toBe(0);
    const p = cli(['predict', join(dir, 'zeros', 'cat-1'), '--data', 'test.csv', '--out', 'p.csv', '--json'], { cwd: dir });
    expect(p.code, p.stderr).toBe(0);
    expect((JSON.parse(p.stdout) as Report).metrics!.seen).toEqual(results(join(dir, 'zeros', 'cat-1')).models.shared);
    const lines = readFileSync(join(dir, 'test.csv'), 'utf8').split('\n');
    lines[1] = lines[1]!.replace(/;maintained;|;church_of_england;|;roman_catholic;/, ';quaker;');
    writeFileSync(join(dir, 'new.csv'), lines.join('\n'));
    expect(cli(['predict', join(dir, 'zeros', 'cat-1'), '--data', 'new.csv', '--out', 'pz.csv'], { cwd: dir }).code).toBe(0);
    const strict = cli(['predict', join(dir, 'strict', 'cat-1'), '--data', 'new.csv', '--out', 'ps.csv'], { cwd: dir });
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/^error CSV_INVALID: new\.csv: row 2, column "denomination": category "quaker" does not occur in the training rows/);
    expect(existsSync(join(dir, 'ps.csv'))).toBe(false);
  });

  it('School split 1: the chosen model predicts the School test rows with the run\'s metrics', () => {
    const dir = scratch('ws-predict-school-');
    const r = cli(['run', join(root, 'pipelines/school-mean-regularized.yaml'), '--out', 'runs', '--set', 'evaluate.baselines=false'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const run = join(dir, 'runs', 'school-mean-regularized-1');
    expect(cli(['runs', 'export', run, '--rows', 'test', '--out', 'test.csv'], { cwd: dir }).code).toBe(0);
    const p = cli(['predict', run, '--data', 'test.csv', '--out', 'p.csv', '--json'], { cwd: dir });
    expect(p.code, p.stderr).toBe(0);
    const report = JSON.parse(p.stdout) as Report;
    expect(report.rows).toBe(3890);
    expect(report.metrics!.seen).toEqual(results(run).models.shared);
  });

  it('a sweep keeps each split\'s chosen refit as a run with model/: it predicts that split\'s test rows with the metrics the sweep reported; runs ls/show list it', () => {
    const dir = scratch('ws-predict-sweep-');
    const r = cli(['sweep', join(root, 'pipelines/school-mean-regularized.yaml'), '--splits', 'split_1,split_2', '--param', 'stages.optimize.lambda=100,300', '--out', 'runs', '--jobs', '2', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const sweep = JSON.parse(r.stdout) as { sweepDir: string; splits: { split: string; run: string; test: { shared: Record<string, number> } }[] };
    for (const s of sweep.splits) {
      const e = cli(['runs', 'export', sweep.sweepDir, '--split', s.split, '--rows', 'test', '--out', `${s.split}.csv`], { cwd: dir });
      expect(e.code, e.stderr).toBe(0);
      const p = cli(['predict', sweep.sweepDir, '--split', s.split, '--data', `${s.split}.csv`, '--out', `p-${s.split}.csv`, '--json'], { cwd: dir });
      expect(p.code, p.stderr).toBe(0);
      expect((JSON.parse(p.stdout) as Report).metrics!.seen).toEqual(s.test.shared);
    }
    const ls = cli(['runs', 'ls', '--dir', 'runs', '--json'], { cwd: dir });
    const rows = JSON.parse(ls.stdout) as { kind: string; status: string; metric: string; value: number; std: number }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'sweep', status: 'completed', metric: 'mse' });
    expect(typeof rows[0]!.value).toBe('number');
    expect(rows[0]!.value).toBeCloseTo((sweep.splits[0]!.test.shared.mse! + sweep.splits[1]!.test.shared.mse!) / 2, 10);
    const show = cli(['runs', 'show', sweep.sweepDir], { cwd: dir });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('refits/split_2/');
    expect(show.stdout).not.toMatch(/stopped before it started/);
    const noSplit = cli(['predict', sweep.sweepDir, '--data', 'split_1.csv'], { cwd: dir });
    expect(noSplit.code).toBe(2);
    expect(noSplit.stderr).toMatch(/give --split; its splits are split_1, split_2/);
  });

  it('logistic: probabilities and labels in the file\'s own coding (−1/+1), metrics as the run computed them', () => {
    const dir = scratch('ws-predict-logistic-');
    const lines = ['task,a,b,y'];
    let s = 1;
    const rnd = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let t = 0; t < 6; t++)
      for (let i = 0; i < 40; i++) {
        const a = rnd() * 3;
        const b = rnd() + t;
        lines.push(`g${t},${a},${b},${a * (1 + t / 5) - b + t + rnd() * 2 > 0 ? 1 : -1}`);
      }
    writeFileSync(join(dir, 'd.csv'), lines.join('\n') + '\n');
    writeFileSync(
      join(dir, 's.yaml'),
      'apiVersion: weightshare/v1\nname: lg\nseed: 4\nloss: logistic\ndata: { source: csv, path: d.csv, task: task, target: y }\nstages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: gd, lambda: 1, ridge: 0.1, epochs: 500 }\nrounds: 3\n',
    );
    expect(cli(['run', 's.yaml', '--out', 'runs'], { cwd: dir }).code).toBe(0);
    const run = join(dir, 'runs', 'lg-1');
    expect(cli(['runs', 'export', run, '--rows', 'test', '--out', 't.csv'], { cwd: dir }).code).toBe(0);
    const p = cli(['predict', run, '--data', 't.csv', '--out', 'p.csv', '--json'], { cwd: dir });
    expect(p.code, p.stderr).toBe(0);
    expect((JSON.parse(p.stdout) as Report).metrics!.seen).toEqual(results(run).models.shared);
    const out = readFileSync(join(dir, 'p.csv'), 'utf8').trim().split('\n');
    expect(out[0]).toBe('task,row,probability,label,unseen');
    for (const l of out.slice(1)) {
      const [, , prob, label] = l.split(',');
      expect(Number(prob)).toBeGreaterThan(0);
      expect(Number(prob)).toBeLessThan(1);
      expect(label).toBe(Number(prob) >= 0.5 ? '1' : '-1');
    }
  });
});

describe('versions recorded in models', () => {
  it('FRAMEWORK_VERSION is the framework package\'s version', async () => {
    const { FRAMEWORK_VERSION } = await import('@weightshare/framework');
    expect(FRAMEWORK_VERSION).toBe((JSON.parse(readFileSync(join(root, 'packages/framework/package.json'), 'utf8')) as { version: string }).version);
  });
});

describe('reading numbers fast, bit for bit', () => {
  it('fastDecimal gives exactly what Number() gives, or NaN to defer to it', async () => {
    const { fastDecimal, Rng } = await import('@weightshare/framework');
    const rng = new Rng(11);
    const cases = ['0', '-0', '+1', '1.', '.5', '-.5', '00012.50', '1e5', '1E-5', '2.5e+22', '9007199254740991', '9007199254740993', '0.1', '123456789012345678', '1e23', '1e-23', '4.35', '1.066274563399339', '', '.', '-', 'e5', '1e', '1x', '0x10', 'NaN', 'Infinity', '1_0', ' 1'];
    for (let i = 0; i < 20000; i++) {
      const v = (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 30 - 15);
      cases.push(String(v), v.toFixed(Math.floor(rng.next() * 12)), v.toExponential(Math.floor(rng.next() * 16)), v.toPrecision(1 + Math.floor(rng.next() * 20)));
    }
    let fast = 0;
    for (const c of cases) {
      const b = Buffer.from(c, "latin1");
      const f = fastDecimal(b, 0, b.length);
      if (Number.isNaN(f)) continue;
      fast++;
      expect(Object.is(f, Number(c)), c).toBe(true);
    }
    expect(fast).toBeGreaterThan(cases.length * 0.6); // most cells take the fast path
    for (const c of ['', '.', '-', 'e5', '1e', '1x', '0x10', 'NaN', 'Infinity', '1_0', ' 1']) expect(fastDecimal(Buffer.from(c), 0, c.length), c).toBeNaN();
  });
});

describe('output paths of the commands that write one file', () => {
  it('a folder that does not exist is named before anything runs; a folder that is not a run says so', () => {
    const dir = scratch('ws-outpaths-');
    expect(cli(['run', join(root, 'pipelines/quickstart.yaml'), '--out', 'runs'], { cwd: dir }).code).toBe(0);
    const run = join(dir, 'runs', 'quickstart-1');
    for (const args of [
      ['runs', 'export', run, '--rows', 'test', '--out', '/nonexistent-folder/x.csv'],
      ['report', run, '--out', '/nonexistent-folder/r.html'],
      ['runs', 'compare', run, run, '--html', '/nonexistent-folder/c.html'],
    ]) {
      const r = cli(args, { cwd: dir });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --(out|html) \/nonexistent-folder\/\w+\.\w+: the folder \/nonexistent-folder does not exist/);
      expect(r.stdout).toBe('');
    }
    const notRun = cli(['runs', 'verify', join(root, 'docs')], { cwd: dir });
    expect(notRun.code).toBe(2);
    expect(notRun.stderr).toMatch(/the folder is not a run folder \(it has no manifest\.json\)/);
  });
});
