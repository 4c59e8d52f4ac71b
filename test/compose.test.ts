/**
 * Composed specs: `extends:` (deep merge of base files, lists replaced, null deleting a key), YAML anchors and merge
 * keys within a file, errors located in the file that wrote the value, `validate --explain`, and resume refusing a
 * base that changed since the run started.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSpecFile, loadSpecText, parseSpecText, type WeightshareError } from '@weightshare/framework';
import { cli } from './helpers/cli.js';
import { registry, scratch } from './helpers/run.js';

const BASE = `apiVersion: weightshare/v1
name: base
seed: 3
data: { source: synthetic, tasks: 5, features: 3, rows: 20 }
relation: { method: estimate, similarity: cosine, knn: 2 }
stages:
  propagate: { method: laplacian, alpha: 0.5 }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 10, ridge: 1 }
rounds: 4
sweep:
  parameters:
    stages.optimize.lambda: [1, 10, 100]
`;

function project(files: Record<string, string>): string {
  const dir = scratch();
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const load = (dir: string, file = 'exp.yaml') => loadSpecFile(join(dir, file), registry());
function problems(dir: string, file = 'exp.yaml'): string[] {
  try {
    load(dir, file);
  } catch (e) {
    return (e as WeightshareError).problems.map((p) => `${p.location?.file?.split('/').pop()}:${p.location?.line}: ${p.message}`);
  }
  return [];
}

describe('extends', () => {
  it('is the deep merge of the bases and the spec: mappings merge, lists are replaced, null deletes a key', () => {
    const dir = project({
      'base.yaml': BASE,
      'optim.yaml': 'stages:\n  optimize: { method: gd, epochs: 50 }\n',
      'exp.yaml': `extends: [base.yaml, optim.yaml]
name: exp
stages:
  propagate: { alpha: 0.25 }
  optimize: { lambda: 3 }
relation: { knn: null }
sweep:
  parameters:
    stages.optimize.lambda: [0.5]
`,
    });
    const { spec, bases } = load(dir);
    expect(spec.name).toBe('exp');
    expect(spec.seed).toBe(3);
    expect(spec.stages.propagate).toMatchObject({ method: 'laplacian', alpha: 0.25 });
    expect(spec.stages.optimize).toMatchObject({ method: 'gd', epochs: 50, lambda: 3, ridge: 1 });
    expect(spec.relation).not.toHaveProperty('knn');
    expect(spec.sweep!.parameters).toEqual({ 'stages.optimize.lambda': [0.5] });
    expect(bases).toEqual([join(dir, 'base.yaml'), join(dir, 'optim.yaml')]);
  });

  it('a mistake is reported in the file and line that wrote it: a base, the spec, or the flag', () => {
    const dir = project({ 'base.yaml': BASE.replace('rounds: 4', 'rounds: -4'), 'exp.yaml': 'extends: base.yaml\nname: exp\nstages:\n  optimize: { lambda: -1 }\n' });
    const found = problems(dir);
    expect(found).toEqual(expect.arrayContaining([expect.stringMatching(/^base\.yaml:10: /), expect.stringMatching(/^exp\.yaml:4: .*lambda/)]));
    // a flag's mistake is the flag's
    const r = cli(['validate', 'exp.yaml', '--set', 'seed=-2'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--set seed=-2/);
  });

  it('validate --explain names the file, line and column (or flag) of every key', () => {
    const dir = project({ 'base.yaml': BASE, 'exp.yaml': 'extends: base.yaml\nname: exp\nstages:\n  optimize: { lambda: 3 }\n' });
    const r = cli(['validate', 'exp.yaml', '--explain', '--set', 'rounds=2'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const rows = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/) as [string, string]));
    expect(rows['/name']).toBe('exp.yaml:2:7');
    expect(rows['/stages/optimize/lambda']).toBe('exp.yaml:4:23');
    expect(rows['/stages/optimize/ridge']).toBe('base.yaml:9:49');
    expect(rows['/seed']).toBe('base.yaml:3:7');
    expect(rows['/rounds']).toBe('--set rounds=2');
    // validate --json prints the composed spec
    const json = JSON.parse(cli(['validate', 'exp.yaml', '--json'], { cwd: dir }).stdout);
    expect(json.stages.optimize).toMatchObject({ method: 'exact', lambda: 3, ridge: 1 });
    expect(json).not.toHaveProperty('extends');
  });

  it('cycles, missing files and a wrong type are one-paragraph errors at the extends line', () => {
    const cyc = project({ 'a.yaml': 'extends: b.yaml\nname: a\n', 'b.yaml': 'extends: a.yaml\nname: b\n' });
    expect(problems(cyc, 'a.yaml')).toEqual([expect.stringMatching(/^b\.yaml:1: extends a\.yaml makes a cycle \(.*a\.yaml → .*b\.yaml → .*a\.yaml\): a spec cannot build on itself/)]);
    const self = project({ 'exp.yaml': 'extends: exp.yaml\nname: a\n' });
    expect(problems(self)[0]).toMatch(/^exp\.yaml:1: extends exp\.yaml makes a cycle/);
    const missing = project({ 'exp.yaml': 'name: a\nextends: [nothere.yaml]\n' });
    expect(problems(missing)).toEqual([expect.stringMatching(/^exp\.yaml:2: extends nothere\.yaml: there is no file .*nothere\.yaml\. Paths are relative to this spec's folder\./)]);
    // a base outside the folder tree of the spec being run is refused, by path or through a symbolic link
    const out = project({ 'sub/exp.yaml': 'extends: ../base.yaml\nname: a\n', 'base.yaml': BASE });
    expect(problems(out, 'sub/exp.yaml')).toEqual([expect.stringMatching(/^exp\.yaml:1: extends \.\.\/base\.yaml: .*base\.yaml is outside .*sub, the folder of the spec being run; a spec builds only on files in its own folder tree/)]);
    symlinkSync('/etc/hostname', join(out, 'sub', 'link.yaml'));
    writeFileSync(join(out, 'sub', 'l.yaml'), 'extends: link.yaml\nname: a\n');
    expect(problems(out, 'sub/l.yaml')[0]).toMatch(/link\.yaml \(a link to \/etc\/hostname\) is outside/);
    expect(problems(out, 'sub/l.yaml')[0]).not.toMatch(/\n/);
    const wrong = project({ 'exp.yaml': 'name: a\nextends: 3\n' });
    expect(problems(wrong)).toEqual([expect.stringMatching(/^exp\.yaml:2: extends must name a spec file to build on, or a list of them/)]);
    const r = cli(['validate', 'a.yaml'], { cwd: cyc });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error SPEC_INVALID: b\.yaml is not a valid pipeline spec/);
  });
});

describe('config groups: uses and --use', () => {
  const files = {
    'base.yaml': BASE,
    'conf/optimize/adam.yaml': 'stages:\n  optimize: { method: adam, epochs: 100, lr: 0.05 }\n',
    'conf/optimize/exact.yaml': 'stages:\n  optimize: { method: exact }\n',
    // merged into the base's relation, so the estimate's options are deleted (null) along with the switch of method
    'conf/relation/none.yaml': 'relation: { method: identity, similarity: null, knn: null }\nstages:\n  propagate: { method: identity, alpha: null }\n',
    'exp.yaml': 'extends: base.yaml\nuses: { optimize: exact }\nname: exp\n',
  };

  it('merge conf/<group>/<choice>.yaml after the bases and before the spec; --use replaces or adds a choice', () => {
    const dir = project(files);
    expect(load(dir).spec.stages.optimize).toMatchObject({ method: 'exact', lambda: 10, ridge: 1 });
    const r = cli(['validate', 'exp.yaml', '--json', '--use', 'optimize=adam', '--use', 'relation=none'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const spec = JSON.parse(r.stdout);
    expect(spec.stages.optimize).toMatchObject({ method: 'adam', epochs: 100, lr: 0.05, lambda: 10 });
    expect(spec.stages.propagate.method).toBe('identity');
    expect(spec).not.toHaveProperty('uses');
    const explain = cli(['validate', 'exp.yaml', '--explain', '--use', 'optimize=adam'], { cwd: dir }).stdout;
    expect(explain).toMatch(/\/stages\/optimize\/lr +conf\/optimize\/adam\.yaml:2:46/);
  });

  it('an unknown group or choice lists what there is, with did-you-mean, at the spec line or the flag', () => {
    const dir = project(files);
    const flag = cli(['validate', 'exp.yaml', '--use', 'optimize=adamm'], { cwd: dir });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--use optimize=adamm, at \/uses\/optimize: config group "optimize" has no choice "adamm"; its choices are: adam, exact\. Did you mean "adam"\?/);
    writeFileSync(join(dir, 'typo.yaml'), 'extends: base.yaml\nname: t\nuses: { optimise: adam }\n');
    expect(problems(dir, 'typo.yaml')).toEqual([expect.stringMatching(/^typo\.yaml:3: uses names the config group "optimise", but there is no folder .*conf\/optimise; the groups are: optimize, relation\. Did you mean "optimize"\?/)]);
    expect(cli(['validate', 'exp.yaml', '--use', 'optimize'], { cwd: dir }).stderr).toMatch(/^error INVALID_ARGUMENT: --use optimize: expected group=choice/);
  });

  it('a sweep over choices: --param uses.optimize=adam,exact (or optimize=adam,exact), each candidate validated and composed', () => {
    const dir = project(files);
    const r = cli(['sweep', 'exp.yaml', '--param', 'uses.optimize=adam,exact', '--out', 'runs', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.splits[0].candidates.map((c: { params: Record<string, unknown> }) => c.params['uses.optimize'])).toEqual(['adam', 'exact']);
    // a config group's own name is the same parameter
    const short = JSON.parse(cli(['sweep', 'exp.yaml', '--param', 'optimize=adam,exact', '--out', 'runs', '--json'], { cwd: dir }).stdout);
    expect(short.splits[0].candidates.map((c: { validation: number }) => c.validation)).toEqual(s.splits[0].candidates.map((c: { validation: number }) => c.validation));
  });
});

describe('YAML anchors and merge keys within a file', () => {
  it('<<: *name merges an anchored mapping; top-level x-… keys hold anchors and are not spec keys', () => {
    const dir = project({
      'exp.yaml': `x-optimizer: &opt { method: gd, epochs: 40, ridge: 0.5 }
apiVersion: weightshare/v1
name: anchors
data: { source: synthetic, tasks: 4, features: 2, rows: 10 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { <<: *opt, lambda: 2 }
`,
    });
    expect(load(dir).spec.stages.optimize).toMatchObject({ method: 'gd', epochs: 40, ridge: 0.5, lambda: 2 });
  });
});

describe('one spec text parsed many times (a sweep or λ grid in one process reuses the parse)', () => {
  it('each load gets its own data: overrides, extends and edits of one load never reach another; positions name its own file', () => {
    const dir = project({ 'base.yaml': BASE, 'exp.yaml': 'extends: base.yaml\nname: exp\nrounds: 7\n', 'copy.yaml': 'extends: base.yaml\nname: exp\nrounds: 7\n' });
    const first = loadSpecFile(join(dir, 'exp.yaml'), registry(), { set: ['stages.optimize.lambda=1', 'stages.fuse.method=median'] });
    expect(first.spec.stages.optimize).toMatchObject({ lambda: 1 });
    const again = load(dir);
    expect(again.spec.stages.optimize).toMatchObject({ method: 'exact', lambda: 10, ridge: 1 });
    expect(again.spec.stages.fuse.method).toBe('mean');
    expect(again.spec.rounds.max).toBe(7);
    // the same text in another file: its positions are in that file (and line 3 of it)
    const copy = load(dir, 'copy.yaml');
    expect(copy.locate(['rounds'])).toMatchObject({ file: join(dir, 'copy.yaml'), line: 3 });
    expect(again.locate(['rounds'])).toMatchObject({ file: join(dir, 'exp.yaml'), line: 3 });
    // the parsed data is the caller's to change
    const a = parseSpecText(BASE, 'a.yaml');
    (a.data.stages as Record<string, Record<string, unknown>>).optimize!.lambda = 99;
    delete a.data.relation;
    const b = parseSpecText(BASE, 'b.yaml');
    expect((b.data.stages as Record<string, Record<string, unknown>>).optimize!.lambda).toBe(10);
    expect(b.data.relation).toMatchObject({ method: 'estimate' });
    expect(b.locate(['stages', 'optimize'])).toMatchObject({ file: 'b.yaml', line: 9 });
    // a text that fails to parse fails every time, naming the file it came from
    for (const f of ['bad1.yaml', 'bad2.yaml']) expect(() => loadSpecText('name: [unclosed\n', f, registry())).toThrow(f);
  });
});

describe('a run of a composed spec', () => {
  it('stores the composed spec, and resume names a base that changed since (unless --force)', () => {
    const dir = project({ 'base.yaml': BASE.replace('rounds: 4', 'rounds: 3\noutput: { checkpoints: all }'), 'exp.yaml': 'extends: base.yaml\nname: exp\n' });
    const r = cli(['run', 'exp.yaml', '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '20' } });
    expect(r.code).not.toBe(0);
    writeFileSync(join(dir, 'base.yaml'), BASE.replace('seed: 3', 'seed: 4'));
    const refused = cli(['resume', 'runs/exp-1'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/error RESUME_REFUSED: .*the input file .*base\.yaml changed/s);
    const forced = cli(['resume', 'runs/exp-1', '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
  });
});

describe('random search', () => {
  it('draws each parameter from its range or list with the seed: logUniform in log space, int inclusive', async () => {
    const { sampleCandidates, Rng } = await import('@weightshare/framework');
    const params = { a: { logUniform: [1e-3, 1e3] as [number, number] }, b: { int: [2, 4] as [number, number] }, c: ['x', 'y'], d: { uniform: [-1, 1] as [number, number] } };
    const draw = (seed: number) => sampleCandidates(params, 400, new Rng(seed).fork('sweep/random'));
    const c = draw(1);
    expect(draw(1)).toEqual(c);
    expect(draw(2)).not.toEqual(c);
    const logs = c.map((x) => Math.log10(x.params.a as number));
    expect(Math.min(...logs)).toBeGreaterThanOrEqual(-3);
    expect(Math.max(...logs)).toBeLessThanOrEqual(3);
    // uniform in log10 on [−3, 3]: mean 0 (sd of the mean of 400 draws: 1.73/20 ≈ 0.09), a sixth of the draws per decade
    expect(Math.abs(logs.reduce((s, v) => s + v, 0) / logs.length)).toBeLessThan(0.3);
    for (let dec = -3; dec < 3; dec++) expect(logs.filter((v) => v >= dec && v < dec + 1).length).toBeGreaterThan(40);
    expect(new Set(c.map((x) => x.params.b))).toEqual(new Set([2, 3, 4]));
    expect(new Set(c.map((x) => x.params.c))).toEqual(new Set(['x', 'y']));
    expect(c.every((x) => Math.abs(x.params.d as number) <= 1)).toBe(true);
    expect(c[0]!.set[0]).toBe(`a=${JSON.stringify(c[0]!.params.a)}`);
  });

  it('a sweep with search: random scores its samples and picks the best; ranges without it, or without samples, are refused at their line', () => {
    const dir = project({
      'base.yaml': BASE,
      'conf/optimize/exact.yaml': 'stages:\n  optimize: { method: exact }\n',
      'conf/optimize/gd.yaml': 'stages:\n  optimize: { method: gd, epochs: 50 }\n',
      'rs.yaml': `extends: base.yaml
name: rs
sweep:
  search: random
  samples: 5
  parameters:
    stages.optimize.lambda: { logUniform: [0.1, 1000] }
    uses.optimize: [exact, gd]
`,
    });
    const r = cli(['sweep', 'rs.yaml', '--out', 'runs', '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    const cands = s.splits[0].candidates as { params: Record<string, number | string>; validation: number }[];
    expect(cands).toHaveLength(5);
    for (const c of cands) expect(c.params['stages.optimize.lambda']).toBeGreaterThanOrEqual(0.1);
    const best = Math.min(...cands.map((c) => c.validation));
    expect(cands[s.splits[0].chosen].validation).toBe(best);
    writeFileSync(join(dir, 'grid.yaml'), 'extends: rs.yaml\nname: g\nsweep: { search: grid }\n');
    expect(cli(['sweep', 'grid.yaml'], { cwd: dir }).stderr).toMatch(/rs\.yaml:7:\d+, at \/sweep\/parameters\/stages\.optimize\.lambda: sweep parameter "stages\.optimize\.lambda" gives a range, which only a random search draws from/);
    writeFileSync(join(dir, 'nosamples.yaml'), 'extends: rs.yaml\nname: n\nsweep: { samples: null }\n');
    expect(cli(['sweep', 'nosamples.yaml'], { cwd: dir }).stderr).toMatch(/sweep\.search: random draws sweep\.samples candidates; give samples/);
  });
});

describe('successive halving', () => {
  const HV = `extends: base.yaml
name: hv
stages:
  propagate: { method: identity, alpha: null }
  optimize: { method: gd, epochs: 5 }
rounds: 3
relation: { method: identity, similarity: null, knn: null }
sweep:
  search: halving
  budget: { path: stages.optimize.epochs, min: 2, max: 32 }
  parameters:
    stages.optimize.lambda: [0.1, 1, 10, 100, 1000]
    stages.optimize.lr: [0.001, 0.01]
`;

  it('gives the best half of each rung twice the budget, chooses among the last rung, refits at the full budget; serial = parallel', () => {
    const dir = project({ 'base.yaml': BASE, 'hv.yaml': HV });
    const serial = cli(['sweep', 'hv.yaml', '--out', 'a', '--json', '--jobs', '1'], { cwd: dir });
    expect(serial.code, serial.stderr).toBe(0);
    const s = JSON.parse(serial.stdout);
    const sp = s.splits[0];
    expect(sp.rungs.map((r: { budget: number }) => r.budget)).toEqual([2, 4, 8, 16, 32]);
    const sizes = sp.rungs.map((r: { scores: object }) => Object.keys(r.scores).length);
    expect(sizes).toEqual([10, 5, 3, 2, 1]);
    for (let r = 1; r < sp.rungs.length; r++) {
      const prev = Object.entries(sp.rungs[r - 1].scores as Record<string, number>).sort((a, b) => a[1] - b[1]);
      expect(Object.keys(sp.rungs[r].scores).sort()).toEqual(prev.slice(0, sizes[r]).map(([id]) => id).sort());
    }
    expect(String(sp.chosen)).toBe(Object.keys(sp.rungs.at(-1).scores)[0]);
    const refit = JSON.parse(readFileSync(join(dir, 'a', listSweepDir(join(dir, 'a')), sp.run, 'spec.resolved.json'), 'utf8'));
    expect(refit.stages.optimize.epochs).toBe(32);
    const parallel = JSON.parse(cli(['sweep', 'hv.yaml', '--out', 'b', '--json', '--jobs', '2'], { cwd: dir }).stdout);
    expect(parallel.splits[0].rungs).toEqual(sp.rungs);
    expect(parallel.splits[0].test).toEqual(sp.test);
    expect(readFileSync(join(dir, 'a', listSweepDir(join(dir, 'a')), 'summary.md'), 'utf8')).toMatch(/successive halving: 10 candidates at budget 2, 5 candidates at budget 4, 3 candidates at budget 8, 2 candidates at budget 16, 1 candidate at budget 32; 21 fits in all\./);
  }, 120_000);

  it('killed in the middle of a rung, resumes to the same rungs, choice and test scores, redoing only unfinished fits', () => {
    const dir = project({ 'base.yaml': BASE, 'hv.yaml': HV });
    const whole = JSON.parse(cli(['sweep', 'hv.yaml', '--out', 'a', '--json', '--jobs', '1'], { cwd: dir }).stdout);
    const crashed = cli(['sweep', 'hv.yaml', '--out', 'k', '--jobs', '1', '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '14' } });
    expect(crashed.signal).toBe('SIGKILL');
    const sweepDir = join(dir, 'k', listSweepDir(join(dir, 'k')));
    const before = readdirSync(join(sweepDir, 'jobs'));
    // the kill came after the first rung was scored and before the second was done
    expect(before.filter((f) => f.includes('-r0-')).length).toBe(10);
    expect(before.filter((f) => f.includes('-r1-')).length).toBeGreaterThan(0);
    expect(before.filter((f) => f.includes('-r1-')).length).toBeLessThan(5);
    const stamps = new Map(before.map((f) => [f, statSync(join(sweepDir, 'jobs', f)).mtimeMs]));
    const resumed = cli(['resume', sweepDir, '--jobs', '2', '--json'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = JSON.parse(readFileSync(join(sweepDir, 'summary.json'), 'utf8'));
    expect(r.splits[0].rungs).toEqual(whole.splits[0].rungs);
    expect(r.splits[0].chosen).toBe(whole.splits[0].chosen);
    expect(r.splits[0].test).toEqual(whole.splits[0].test);
    for (const [f, t] of stamps) expect(statSync(join(sweepDir, 'jobs', f)).mtimeMs, f).toBe(t);
  }, 120_000);

  it('without a budget, or with a budget but another search, is refused at its line', () => {
    const dir = project({ 'base.yaml': BASE, 'hv.yaml': HV.replace('  budget: { path: stages.optimize.epochs, min: 2, max: 32 }\n', '') });
    expect(cli(['sweep', 'hv.yaml'], { cwd: dir }).stderr).toMatch(/hv\.yaml:9:\d+, at \/sweep\/search: sweep\.search: halving gives each rung a budget; add sweep\.budget/);
    writeFileSync(join(dir, 'g.yaml'), HV.replace('search: halving', 'search: grid'));
    expect(cli(['sweep', 'g.yaml'], { cwd: dir }).stderr).toMatch(/sweep\.budget is for search: halving/);
  });
});

/** The one sweep folder under `root`. */
function listSweepDir(root: string): string {
  return readdirSync(root).find((n) => n.includes('-sweep-'))!;
}
