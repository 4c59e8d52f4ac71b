/**
 * The command line as users meet it: real child processes of the built CLI (npm test builds first).
 * Every user mistake exits 2 with one paragraph on stderr and no stack trace; nothing already written is touched.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers/run.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages/cli/bin/weightshare.js');
const quickstart = join(root, 'pipelines/quickstart.yaml');

function cli(args: string[], cwd = root): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit 2, "error CODE: …" first, no stack trace, nothing on stdout. */
function expectUserError(r: ReturnType<typeof cli>, code: string): void {
  expect(r.code, r.stderr).toBe(2);
  // a run that fails after it started has said where it writes first
  expect(r.stderr.replace(/^writing .*\n/, '').startsWith(`error ${code}:`), r.stderr).toBe(true);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack frames
  expect(r.stdout).toBe('');
}

describe('weightshare CLI', () => {
  it('runs the quickstart: the shared model beats both baselines on test data, results are written as JSON', () => {
    const out = scratch();
    const r = cli(['run', quickstart, '--json', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    const { shared, independent, pooled } = res.models;
    expect(shared.mse).toBeLessThan(independent.mse);
    expect(shared.mse).toBeLessThan(pooled.mse);
    expect(shared.explainedVariance).toBeGreaterThan(independent.explainedVariance);
    expect(res.outputDir).toBe(join(out, 'quickstart-1'));
    expect(readdirSync(res.outputDir).sort()).toEqual([
      'checkpoints',
      'manifest.json',
      'model',
      'relation.npy',
      'results.json',
      'spec.resolved.json',
      'spec.source.yaml',
      'targets.csv',
      'targets.npy',
      'weights.csv',
      'weights.npy',
    ]);
    const written = JSON.parse(readFileSync(join(res.outputDir, 'results.json'), 'utf8'));
    expect(written.models).toEqual(res.models);
    const weights = readFileSync(join(res.outputDir, 'weights.csv'), 'utf8').trim().split('\n');
    expect(weights[0]).toBe('task_id,x1,x2,x3,x4,x5,x6,x7,x8,x9,x10,bias');
    expect(weights).toHaveLength(31);
  });

  it('prints a human summary; a second run gets its own folder and leaves the first byte-identical', () => {
    const out = scratch();
    const first = cli(['run', quickstart, '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/shared .*\n.*independent .*\n.*pooled/);
    expect(first.stdout).toMatch(/sharing wins/);
    const before = readFileSync(join(out, 'quickstart-1', 'results.json'));
    const second = cli(['run', quickstart, '--out', out, '--set', 'seed=43']);
    expect(second.code, second.stderr).toBe(0);
    expect(existsSync(join(out, 'quickstart-2', 'results.json'))).toBe(true);
    expect(readFileSync(join(out, 'quickstart-1', 'results.json')).equals(before)).toBe(true);
    expect(readFileSync(join(out, 'quickstart-2', 'results.json')).equals(before)).toBe(false);
    // same spec, same seed, another process: the same bytes
    const third = cli(['run', quickstart, '--out', out]);
    expect(third.code).toBe(0);
    expect(readFileSync(join(out, 'quickstart-3', 'results.json')).equals(before)).toBe(true);
    expect(readFileSync(join(out, 'quickstart-3', 'weights.csv')).equals(readFileSync(join(out, 'quickstart-1', 'weights.csv')))).toBe(true);
  });

  it('--progress prints the phases on stderr; --backend cpu and --set apply', () => {
    const r = cli(['run', quickstart, '--progress', '--backend', 'cpu', '--set', 'rounds=2', '--set', 'output.write=false']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[1\/7\] loading data\n\[2\/7\] initial weights\n\[3\/7\] round 1\/2 · propagate, fuse\n\[4\/7\] round 1\/2 · optimize/);
    expect(r.stdout).toMatch(/rounds +2,/);
  });

  it('on a terminal, work that lasts more than a moment shows a progress bar on stderr', () => {
    const school = join(root, 'pipelines/school-mean-regularized.yaml');
    const cmd = `${process.execPath} ${bin} run ${school} --set rounds=150 --set output.write=false >/dev/null`;
    const r = spawnSync('script', ['-qefc', cmd, '/dev/null'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/[█░]+ \d+\/303 round \d+\/150 · (propagate, fuse|optimize)/);
  });

  it('validate, plugins, schema and --help', () => {
    const v = cli(['validate', quickstart]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/valid\. quickstart: propagate identity \(cpu\) → fuse weighted-mean \(cpu\) → optimize exact \(cpu\), up to 200 rounds \(tol 1e-8\), seed 42/);
    const p = cli(['plugins']);
    expect(p.stdout).toMatch(/@weightshare\/plugin-cpu@0\.1\.0 \(backend cpu, float64/);
    for (const m of ['inverse', 'solve', 'laplacian', 'ppr', 'weighted-mean', 'median', 'exact', 'adam', 'sgd']) expect(p.stdout).toContain(m);
    const s = cli(['schema']);
    expect(JSON.parse(s.stdout).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const h = cli(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/run \[options\] <spec>/);
  });

  describe('bad input: one paragraph, exit 2, no stack trace', () => {
    const dir = scratch();
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const valid = readFileSync(quickstart, 'utf8');
    // from a scratch folder: a run that fails part-way leaves its (failed) run folder under ./runs, not in the repo
    const inDir = (args: string[]) => cli(args, dir);

    it.each([
      ['malformed YAML', () => inDir(['run', file('m.yaml', 'name: [oops\n')]), 'SPEC_YAML', /m\.yaml:\d+:\d+: Flow sequence/],
      ['an empty file', () => inDir(['run', file('e.yaml', '')]), 'SPEC_EMPTY', /e\.yaml is empty/],
      ['an unknown key', () => inDir(['validate', file('k.yaml', valid.replace(/^rounds:/m, 'roundz:'))]), 'SPEC_INVALID', /k\.yaml:\d+:1, at \/roundz: unknown key "roundz" at the top level; did you mean "rounds"\?/],
      ['an unknown method', () => inDir(['run', file('u.yaml', valid.replace('method: exact', 'method: netwon'))]), 'SPEC_INVALID', /unknown stages\.optimize method "netwon"[\s\S]*newton/],
      ['a wrong type', () => inDir(['run', file('t.yaml', valid.replace('lambda: 2.0', 'lambda: strong'))]), 'SPEC_INVALID', /stages\.optimize\.lambda is a string \("strong"\); expected a number/],
      ['an unknown backend', () => inDir(['run', quickstart, '--backend', 'gpu']), 'INVALID_ARGUMENT', /--backend gpu: no plugin provides/],
      ['a --set path that does not exist', () => inDir(['run', quickstart, '--set', 'stages.optimize.lamda=1']), 'SPEC_INVALID', /--set stages\.optimize\.lamda=1, at \/stages\/optimize\/lamda: unknown key "lamda"/],
      ['a malformed --set', () => inDir(['run', quickstart, '--set', 'rounds']), 'INVALID_ARGUMENT', /expected the form path=value/],
      ['a missing spec file', () => inDir(['run', join(dir, 'nope.yaml')]), 'FILE_NOT_FOUND', /nope\.yaml" does not exist/],
      ['a missing data file', () => inDir(['run', file('d.yaml', valid.replace(/data:\n(  .*\n)+/, 'data:\n  source: csv\n  path: missing.csv\n  task: t\n  target: y\n'))]), 'FILE_NOT_FOUND', /missing\.csv/],
      ['a relation that is not T×T', () => inDir(['run', file('r.yaml', valid.replace(/relation:\n(  .*\n)+/, 'relation:\n  method: given\n  matrix: [[1, 0], [0, 1]]\n'))]), 'RELATION_INVALID', /must be 30×30/],
    ])('%s', (_name, run, code, message) => {
      const r = run();
      expectUserError(r, code as string);
      expect(r.stderr).toMatch(message as RegExp);
    });

    it('an unknown flag is a usage error with exit 2', () => {
      const r = cli(['run', quickstart, '--bakend', 'cpu']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unknown option '--bakend'[\s\S]*Did you mean --backend\?/);
    });

    it('an output folder that cannot be written is a clear error and earlier runs stay intact', () => {
      const out = scratch();
      expect(cli(['run', quickstart, '--out', out]).code).toBe(0);
      const before = readFileSync(join(out, 'quickstart-1', 'results.json'));
      chmodSync(out, 0o500);
      try {
        const r = cli(['run', quickstart, '--out', join(out, 'sub')]);
        if (process.getuid?.() === 0) {
          // root ignores folder permissions; use a file where a folder must go instead
          const blocker = join(scratch(), 'file');
          writeFileSync(blocker, 'x');
          expectUserError(cli(['run', quickstart, '--out', blocker]), 'OUTPUT_ERROR');
        } else expectUserError(r, 'OUTPUT_ERROR');
      } finally {
        chmodSync(out, 0o700);
      }
      expect(readFileSync(join(out, 'quickstart-1', 'results.json')).equals(before)).toBe(true);
    });
  });
});
