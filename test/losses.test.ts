/**
 * The losses of plugin API v2 end to end, through the CLI on real files: softmax with text classes and Poisson
 * counts run, write a model, predict their own test rows bit for bit, and their metrics agree with an independent
 * NumPy computation from the predictions file; bad targets are one paragraph naming the CSV row and column; a
 * plugin's loss (the example's Tweedie) runs where an optimizer can fit it and is refused where none can.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@weightshare/framework';
import { cli, root, type CliResult } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

/** A user error: exit 2, "error CODE: …" first, no stack trace, nothing on stdout. */
function expectUserError(r: CliResult, code: string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.replace(/^writing .*\n/, '').startsWith(`error ${code}:`), r.stderr).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  expect(r.stdout).toBe('');
}

const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
// the machines have python3 with numpy (the independent oracles): its absence fails here rather than skipping them
if (!python) throw new Error('python3 with numpy is needed by losses.test.ts (apt-get install python3-numpy)');

/** Five shops, two features; per shop a class among low/mid/high from a softmax, and a Poisson count. */
function dataCsv(): string {
  const rng = new Rng(2026);
  const lines = ['shop,x1,x2,grade,visits'];
  const classes = ['low', 'mid', 'high'];
  for (let t = 0; t < 5; t++) {
    const w = [0.4 * t - 0.8, 0.6, -0.3 * t];
    for (let i = 0; i < 60; i++) {
      const x1 = rng.normal();
      const x2 = 2 + rng.normal();
      const s = [0, w[0]! * x1 + 0.2 * x2, w[1]! * x1 + w[2]! * (x2 - 2)];
      const e = s.map(Math.exp);
      let u = rng.next() * (e[0]! + e[1]! + e[2]!);
      let c = 0;
      while (c < 2 && u >= e[c]!) u -= e[c++]!;
      lines.push(`shop-${'abcde'[t]},${x1.toFixed(4)},${x2.toFixed(4)},${classes[c]},${rng.poisson(Math.exp(0.3 + 0.5 * x1 + 0.1 * t))}`);
    }
  }
  return lines.join('\n') + '\n';
}

const spec = (loss: string, target: string, optimize = 'method: lbfgs, lambda: 2, ridge: 0.5'): string => `apiVersion: weightshare/v1
name: ${target}
seed: 3
loss: ${loss}
data: { source: csv, path: shops.csv, task: shop, target: ${target}, features: [x1, x2] }
split: { method: random, testFraction: 0.3 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { ${optimize} }
rounds: 30
`;

const resultsOf = (run: string) => JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'));

describe('softmax with text classes and Poisson counts, end to end', () => {
  const dir = scratch('ws-losses-');
  beforeAll(() => {
    writeFileSync(join(dir, 'shops.csv'), dataCsv());
    writeFileSync(join(dir, 'grade.yaml'), spec('softmax', 'grade'));
    writeFileSync(join(dir, 'visits.yaml'), spec('poisson', 'visits'));
    for (const name of ['grade', 'visits']) {
      const r = cli(['run', `${name}.yaml`, '--out', 'runs'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const e = cli(['runs', 'export', `runs/${name}-1`, '--rows', 'test', '--out', `${name}-test.csv`], { cwd: dir });
      expect(e.code, e.stderr).toBe(0);
    }
  });

  it('softmax: classes in sorted order in model.json, K scores per task, a probability column per class', () => {
    const model = JSON.parse(readFileSync(join(dir, 'runs/grade-1/model/model.json'), 'utf8'));
    expect(model.loss).toMatchObject({ name: 'softmax', target: 'multiclass', classes: ['high', 'low', 'mid'] });
    expect(model.model).toMatchObject({ name: 'linear', outputs: 3, parameters: 9 });
    const r = cli(['predict', 'runs/grade-1', '--data', 'grade-test.csv', '--out', 'grade-p.csv', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.metrics.seen).toEqual(resultsOf(join(dir, 'runs/grade-1')).models.shared);
    expect(Object.keys(report.metrics.seen).sort()).toEqual(['accuracy', 'crossEntropy', 'macroF1']);
    const lines = readFileSync(join(dir, 'grade-p.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe('shop,row,p:high,p:low,p:mid,label,unseen');
    for (const l of lines.slice(1)) {
      const c = l.split(',');
      const p = c.slice(2, 5).map(Number);
      expect(Math.abs(p[0]! + p[1]! + p[2]! - 1)).toBeLessThan(1e-12);
      expect(c[5]).toBe(['high', 'low', 'mid'][p.indexOf(Math.max(...p))]);
    }
  });

  it('softmax and Poisson metrics agree with NumPy computed from the predictions and the true targets', () => {
    expect(cli(['predict', 'runs/visits-1', '--data', 'visits-test.csv', '--out', 'visits-p.csv'], { cwd: dir }).code).toBe(0);
    expect(cli(['predict', 'runs/grade-1', '--data', 'grade-test.csv', '--out', 'grade-p.csv', '--force'], { cwd: dir }).code).toBe(0);
    const py = `
import csv, json, sys
import numpy as np
d = sys.argv[1]
def rows(f): return list(csv.DictReader(open(f)))
truth = rows(d + '/grade-test.csv'); pred = rows(d + '/grade-p.csv')
classes = ['high', 'low', 'mid']
P = np.array([[float(r['p:' + c]) for c in classes] for r in pred])
y = np.array([classes.index(r['grade']) for r in truth])
yhat = P.argmax(axis=1)
f1 = []
for c in range(3):
    tp = np.sum((yhat == c) & (y == c)); fp = np.sum((yhat == c) & (y != c)); fn = np.sum((yhat != c) & (y == c))
    if tp + fp + fn: f1.append(2 * tp / (2 * tp + fp + fn))
soft = {'accuracy': float(np.mean(yhat == y)), 'crossEntropy': float(-np.mean(np.log(P[np.arange(len(y)), y]))), 'macroF1': float(np.mean(f1))}
truth = rows(d + '/visits-test.csv'); pred = rows(d + '/visits-p.csv')
yv = np.array([float(r['visits']) for r in truth]); mu = np.array([float(r['prediction']) for r in pred])
term = np.where(yv > 0, yv * np.log(np.where(yv > 0, yv, 1) / mu), 0) - (yv - mu)
pois = {'poissonDeviance': float(np.mean(2 * term)), 'mae': float(np.mean(np.abs(yv - mu))), 'mse': float(np.mean((yv - mu) ** 2))}
print(json.dumps({'softmax': soft, 'poisson': pois}))
`;
    const ref = JSON.parse(execFileSync('python3', ['-c', py, dir], { encoding: 'utf8' }));
    const ours = { softmax: resultsOf(join(dir, 'runs/grade-1')).models.shared, poisson: resultsOf(join(dir, 'runs/visits-1')).models.shared };
    for (const loss of ['softmax', 'poisson'] as const)
      for (const [k, v] of Object.entries(ref[loss] as Record<string, number>)) expect(Math.abs(ours[loss][k] - v), `${loss} ${k}`).toBeLessThan(1e-12 * Math.max(1, Math.abs(v)));
    // sharing is measured against the baselines with the same metrics
    expect(Object.keys(resultsOf(join(dir, 'runs/visits-1')).models).sort()).toEqual(['independent', 'pooled', 'shared']);
  });
});

describe('bad targets are one paragraph with the CSV row and column, exit 2', () => {
  const dir = scratch('ws-losses-bad-');
  const run = (csv: string, loss: string) => {
    writeFileSync(join(dir, 'd.csv'), csv);
    writeFileSync(join(dir, 's.yaml'), spec(loss, 'y').replace('shops.csv', 'd.csv').replace(', features: [x1, x2]', ''));
    return cli(['run', 's.yaml', '--out', 'runs'], { cwd: dir });
  };
  const rows = (ys: string[]) => ['shop,x,y', ...ys.map((y, i) => `${i % 2 ? 'a' : 'b'},${i},${y}`)].join('\n') + '\n';

  it.each([
    ['a negative count for poisson', rows(['1', '0', '3', '-2', '4', '1', '2', '0']), 'poisson', /row 5, column "y": poisson loss needs counts ≥ 0, found -2/],
    ['a label 2 for logistic', rows(['0', '1', '1', '0', '2', '1', '0', '1']), 'logistic', /row 6, column "y"/],
    ['one class only for softmax', rows(['u', 'u', 'u', 'u', 'u', 'u', 'u', 'u']), 'softmax', /one class only \("u"\); softmax loss needs at least two classes/],
  ])('%s', (_name, csv, loss, message) => {
    const r = run(csv, loss);
    expectUserError(r, r.stderr.match(/^error (\w+)/m)?.[1] ?? 'none');
    expect(r.stderr).toMatch(message);
  });

  it('huber with delta ≤ 0 is a spec error at its path', () => {
    const r = run(rows(['1', '2', '3', '4', '5', '6', '7', '8']), '{ method: huber, delta: 0 }');
    expectUserError(r, 'SPEC_INVALID');
    expect(r.stderr).toMatch(/\/loss\/delta/);
  });
});

describe('a loss from a plugin', () => {
  it('Tweedie from the example plugin fits with lbfgs on cpu, and tfjs names what it cannot fit', () => {
    const dir = scratch('ws-tweedie-');
    // the example plugin is a workspace package: installed where the repository's node_modules resolve it
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'shops.csv'), dataCsv());
    writeFileSync(join(dir, 's.yaml'), spec('{ method: tweedie, power: 1.3 }', 'visits').replace('seed: 3\n', 'seed: 3\nplugins: [weightshare-plugin-robust]\n'));
    const ok = cli(['run', 's.yaml', '--out', 'runs'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    const res = resultsOf(join(dir, 'runs/visits-1'));
    expect(Object.keys(res.models.shared).sort()).toEqual(['mae', 'mse', 'poissonDeviance']);
    const model = JSON.parse(readFileSync(join(dir, 'runs/visits-1/model/model.json'), 'utf8'));
    expect(model.loss).toMatchObject({ name: 'tweedie', options: { power: 1.3 }, target: 'count' });
    writeFileSync(join(dir, 'tfjs.yaml'), readFileSync(join(dir, 's.yaml'), 'utf8').replace('method: lbfgs', 'method: adam'));
    const bad = cli(['validate', 'tfjs.yaml', '--backend', 'tfjs'], { cwd: dir });
    expectUserError(bad, 'SPEC_INVALID');
    expect(bad.stderr).toMatch(/optimize method "adam" supports .* loss only, but the spec's loss is tweedie, and no optimize method on backend "tfjs" can fit it; use backend "cpu" \(adam, gd, lbfgs, newton, sgd\)/);
  });
});
