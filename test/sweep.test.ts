/** Model selection and sweeps: validation rows from training rows only, refit, parallel = serial, resume, cache. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdOutValidation, Rng, type RawDataset } from '@weightshare/framework';
import { cli } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

const spec = `apiVersion: weightshare/v1
name: sw
seed: 5
data: { source: synthetic, tasks: 12, clusters: 3, features: 5, rows: 30 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1, ridge: 0.1 }
rounds: 15
sweep:
  parameters:
    stages.optimize.lambda: [0.1, 1, 10, 100]
`;

function project(): string {
  const dir = scratch('ws-sweep-');
  require('node:fs').writeFileSync(join(dir, 'spec.yaml'), spec);
  return dir;
}
const summary = (dir: string, n: number): Buffer => readFileSync(join(dir, 'runs', `sw-sweep-${n}`, 'summary.json'));

describe('holdOutValidation', () => {
  it('takes validation rows from each task\'s training rows only, and hides the test rows', () => {
    const N = 60;
    const raw = { taskIds: ['a', 'b', 'c'], rowTask: Int32Array.from({ length: N }, (_, r) => r % 3) } as unknown as RawDataset;
    const isTrain = Uint8Array.from({ length: N }, (_, r) => (r % 4 === 0 ? 0 : 1));
    const out = holdOutValidation(raw, isTrain, 0.25, new Rng(1));
    for (let r = 0; r < N; r++) {
      if (isTrain[r] === 0) expect(out[r]).toBe(2); // test rows never appear
      else expect([0, 1]).toContain(out[r]);
    }
    for (let t = 0; t < 3; t++) {
      const rows = [...out].filter((_, r) => r % 3 === t);
      expect(rows.filter((v) => v === 0).length).toBe(Math.round(0.25 * rows.filter((v) => v !== 2).length));
    }
    expect(Buffer.from(holdOutValidation(raw, isTrain, 0.25, new Rng(1))).equals(Buffer.from(out))).toBe(true);
  });
});

describe('weightshare sweep', () => {
  it('serial and parallel give the same bytes; the refit is the plain run of the chosen candidate', () => {
    const dir = project();
    const serial = cli(['sweep', 'spec.yaml', '--jobs', '1', '--no-cache'], { cwd: dir });
    expect(serial.code, serial.stderr).toBe(0);
    expect(serial.stdout).toMatch(/\| candidate \| stages\.optimize\.lambda \| validation mse \| \|/);
    const parallel = cli(['sweep', 'spec.yaml', '--jobs', '2', '--no-cache'], { cwd: dir });
    expect(parallel.code, parallel.stderr).toBe(0);
    expect(summary(dir, 1).equals(summary(dir, 2))).toBe(true);
    const s = JSON.parse(summary(dir, 1).toString());
    const chosen = s.splits[0].candidates[s.splits[0].chosen];
    expect(chosen.validation).toBe(Math.min(...s.splits[0].candidates.map((c: { validation: number }) => c.validation)));
    const plain = cli(['run', 'spec.yaml', '--json', '--set', `stages.optimize.lambda=${chosen.params['stages.optimize.lambda']}`, '--set', 'output.write=false'], { cwd: dir });
    expect(JSON.parse(plain.stdout).models).toEqual(s.splits[0].test);
    // the validation score is not the test score: selection never saw the test rows
    expect(chosen.validation).not.toBe(s.splits[0].test.shared.mse);
  });

  it('an interrupted sweep resumes to the same summary; a second sweep reuses shared stages from the cache', () => {
    const dir = project();
    expect(cli(['sweep', 'spec.yaml', '--jobs', '1'], { cwd: dir }).code).toBe(0);
    const crashed = cli(['sweep', 'spec.yaml', '--jobs', '1', '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '5' } });
    expect(crashed.signal).toBe('SIGKILL');
    const sweepDir = join(dir, 'runs', 'sw-sweep-2');
    expect(readdirSync(join(sweepDir, 'jobs')).length).toBeGreaterThan(0);
    const resumed = cli(['resume', sweepDir, '--jobs', '2'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(summary(dir, 1).equals(summary(dir, 2))).toBe(true);
    const cached = cli(['sweep', 'spec.yaml', '--jobs', '1'], { cwd: dir });
    expect(cached.code).toBe(0);
    const jobs = readdirSync(join(dir, 'runs', 'sw-sweep-3', 'jobs')).map((f) => JSON.parse(readFileSync(join(dir, 'runs', 'sw-sweep-3', 'jobs', f), 'utf8')));
    expect(jobs.every((j: { cachedStages: number }) => j.cachedStages >= 1)).toBe(true); // at least the initial fits
    expect(summary(dir, 1).equals(summary(dir, 3))).toBe(true);
  });

  it('mistakes: no sweep, a bad --param path, outer splits with a random split', () => {
    const dir = project();
    require('node:fs').writeFileSync(join(dir, 'plain.yaml'), spec.replace(/sweep:[\s\S]*$/, ''));
    const none = cli(['sweep', 'plain.yaml'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error INVALID_ARGUMENT: plain\.yaml declares no sweep: add a sweep\.parameters section, or give --param/);
    const bad = cli(['sweep', 'spec.yaml', '--param', 'stages.optimize.lamda=1,2'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--param stages\.optimize\.lamda=1,2 \(value 1\), at \/stages\/optimize\/lamda: unknown key "lamda".*did you mean "lambda"/);
    const splits = cli(['sweep', 'spec.yaml', '--splits', 'a,b'], { cwd: dir });
    expect(splits.code).toBe(2);
    expect(splits.stderr).toMatch(/splits at random; use split\.method column or file/);
  });
});

describe('School: mean-regularized MTL with λ chosen on validation rows', () => {
  it('reaches at least 38% explained variance (mean over splits 1–2) and beats tuned independent ridge', () => {
    const dir = scratch('ws-school-');
    const mtl = cli(['sweep', 'pipelines/school-mean-regularized.yaml', '--splits', 'split_1,split_2', '--param', 'stages.optimize.lambda=30,100,300', '--jobs', '2', '--out', dir, '--json']);
    expect(mtl.code, mtl.stderr).toBe(0);
    const ind = cli(['sweep', 'pipelines/school-independent.yaml', '--splits', 'split_1,split_2', '--param', 'evaluate.baselineRidge=3,10,30', '--jobs', '2', '--out', dir, '--json']);
    expect(ind.code, ind.stderr).toBe(0);
    const shared = JSON.parse(mtl.stdout).summary.shared.explainedVariance.mean;
    const alone = JSON.parse(ind.stdout).summary.independent.explainedVariance.mean;
    expect(shared).toBeGreaterThanOrEqual(0.38);
    expect(shared).toBeGreaterThan(alone + 0.02);
  });
});
