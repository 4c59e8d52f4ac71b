/**
 * Sizes the schema allows but no machine holds are refused before allocating (RESOURCE_LIMIT, with how much they
 * need); --threads is bounded by the machine; a run writes only where it says, each matrix once.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, isCleanUserError } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

const SPEC = `apiVersion: weightshare/v1
name: size
data: {source: synthetic, tasks: 4, rows: 12, features: 3}
stages: {propagate: {method: identity}, fuse: {method: mean}, optimize: {method: exact, lambda: 1}}
evaluate: {baselines: false}
`;

function folder(spec = SPEC): { dir: string; ws: (...args: string[]) => ReturnType<typeof cli> } {
  const dir = scratch('ws-sizes-');
  writeFileSync(join(dir, 'spec.yaml'), spec);
  return { dir, ws: (...args) => cli(args, { cwd: dir }) };
}

/** A completed run of SPEC (with extra `run` arguments) whose manifest then says failed, so `resume` takes it up: the
 * start of every test of a run folder received from someone else. */
function failedRun(...args: string[]): { dir: string; ws: (...args: string[]) => ReturnType<typeof cli>; run: string } {
  const { dir, ws } = folder();
  const r = ws('run', 'spec.yaml', '--json', '--no-cache', ...args);
  expect(r.code, r.stderr).toBe(0);
  const run = resolve(dir, JSON.parse(r.stdout).outputDir);
  const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
  writeFileSync(join(run, 'manifest.json'), JSON.stringify({ ...manifest, status: 'failed' }));
  return { dir, ws, run };
}

describe('sizes beyond the machine', () => {
  it.each([
    ['data.tasks=100000', /relation matrix A \(100000×100000\)/],
    ['data.rows=100000000', /the data \(400000000 rows/],
    ['data.features=100000', /per-task products XᵀX/],
  ])('%s is RESOURCE_LIMIT saying how much it needs, at once', (set, what) => {
    const { ws } = folder();
    const started = Date.now();
    const r = ws('run', 'spec.yaml', '--set', set, '--set', 'output.write=false');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(isCleanUserError(r, 'RESOURCE_LIMIT'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/needs about [\d.]+ [GTP]B of memory/);
    expect(r.stderr).toMatch(what);
    expect(r.stderr).toMatch(/at \/data: size set here/);
  });

  it('clusters: 1e308 is out of range for the schema', () => {
    const r = folder().ws('validate', 'spec.yaml', '--set', 'data.clusters=1e308');
    expect(isCleanUserError(r, 'SPEC_INVALID'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/data\.clusters is 1e\+308; expected a number <= 100000/);
  });

  it('a 50,000-column CSV is refused by its size, not by exhausting memory', () => {
    const { dir, ws } = folder();
    const header = ['t', 'y', ...Array.from({ length: 50_000 }, (_, i) => `x${i}`)];
    const row = (t: number, k: number): string => [`task${t}`, String(k), ...header.slice(2).map((_, j) => String((j * 7 + k) % 13))].join(',');
    writeFileSync(join(dir, 'wide.csv'), [header.join(','), ...Array.from({ length: 8 }, (_, k) => row(k % 2, k))].join('\n') + '\n');
    const r = ws('run', 'spec.yaml', '--set', 'data={source: csv, path: wide.csv, task: t, target: y}', '--set', 'output.write=false');
    expect(isCleanUserError(r, 'RESOURCE_LIMIT'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/50000 features/);
    expect(r.stderr).toMatch(/at \/data\/path: size set here/);
  });

  it('--threads 1000000000 is bounded by the machine, with a warning, and gives the same results', () => {
    const { ws } = folder();
    const many = ws('run', 'spec.yaml', '--threads', '1000000000', '--json', '--set', 'output.write=false');
    expect(many.code, many.stderr).toBe(0);
    expect(many.stderr).toContain(`warning: --threads 1000000000: this machine runs ${availableParallelism()} threads at once; using ${availableParallelism()}.`);
    const one = ws('run', 'spec.yaml', '--json', '--set', 'output.write=false');
    expect(JSON.parse(many.stdout).models).toEqual(JSON.parse(one.stdout).models);
  });
});

describe('where a run writes', () => {
  it('says where it writes before it starts, and stores the relation once (a hard link of its checkpoint)', () => {
    const { dir, ws } = folder(SPEC.replace('tasks: 4', 'tasks: 300'));
    const r = ws('run', 'spec.yaml', '--json', '--out', 'out');
    expect(r.code, r.stderr).toBe(0);
    const run = resolve(dir, JSON.parse(r.stdout).outputDir);
    expect(r.stderr.split('\n')[0]).toBe(`writing ${run} and the stage cache ${join(dir, 'out', '.cache')}`);
    expect(existsSync(join(run, 'relation.csv'))).toBe(false);
    const final = statSync(join(run, 'relation.npy'));
    expect(final.ino).toBe(statSync(join(run, 'checkpoints', 'relation', 'A.npy')).ino);
    expect(final.size).toBeGreaterThan(300 * 300 * 8);
    // every distinct file once: the folder's bytes, counting each inode once, hold A (T×T) once
    const inodes = new Map<number, number>();
    for (const f of readdirSync(run, { recursive: true })) {
      const st = statSync(join(run, String(f)));
      if (st.isFile()) inodes.set(st.ino, st.size);
    }
    const bytes = [...inodes.values()].reduce((a, b) => a + b, 0);
    expect(bytes).toBeLessThan(1.5 * 300 * 300 * 8);
    // its CSV is made on export
    const out = join(dir, 'A.csv');
    const exp = ws('runs', 'export', run, '--what', 'relation', '--out', out);
    expect(exp.code, exp.stderr).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(301);
    expect(lines[1]!.split(',').slice(0, 3)).toEqual(['task-1', '1', '0']);
  });

  it('a checkpoints folder that is a symlink out of the run folder is refused, not written through', () => {
    const { dir, ws, run } = failedRun();
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(join(run, 'checkpoints'), { recursive: true });
    symlinkSync(elsewhere, join(run, 'checkpoints'));
    const resumed = ws('resume', run, '--no-cache');
    expect(isCleanUserError(resumed, 'OUTPUT_ERROR'), resumed.stderr).toBe(true);
    expect(resumed.stderr).toMatch(/leads out of the run folder .* through a symbolic link/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('one stage folder that is a symlink out of the run folder is refused when the resumed run writes that stage', () => {
    const { dir, ws, run } = failedRun();
    // the first stage's folder removed (so the resumed run writes it again, into checkpoints/, which it then knows)
    // and the last stage's folder replaced by a link to an empty folder elsewhere: the resumed run writes init first, then
    // last has no checkpoint there and is recomputed, and its write must not go through the link
    const ids = readdirSync(join(run, 'checkpoints')).sort();
    const last = ids.at(-1)!;
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(join(run, 'checkpoints', ids[0]!), { recursive: true });
    rmSync(join(run, 'checkpoints', last), { recursive: true });
    symlinkSync(elsewhere, join(run, 'checkpoints', last));
    const resumed = ws('resume', run, '--no-cache');
    expect(isCleanUserError(resumed, 'OUTPUT_ERROR'), resumed.stderr).toBe(true);
    expect(resumed.stderr).toMatch(new RegExp(`checkpoints/${last}.* leads out of the run folder .* through a symbolic link`));
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(run, 'checkpoints', ids[0]!, 'checkpoint.json'))).toBe(true); // written before, inside
  });

  it('a checkpoints folder that leads out, with the first stage to write linked back inside, is refused before any write', () => {
    const { dir, ws, run } = failedRun();
    const first = readdirSync(join(run, 'checkpoints')).sort()[0]!;
    // checkpoints/ leads out of the run folder; in it, the first stage's folder leads back in (to an empty folder):
    // checking only that stage's folder would pass, and the stages after it would be made outside
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    mkdirSync(join(run, 'back'));
    symlinkSync(join(run, 'back'), join(elsewhere, first));
    rmSync(join(run, 'checkpoints'), { recursive: true });
    symlinkSync(elsewhere, join(run, 'checkpoints'));
    const resumed = ws('resume', run, '--no-cache');
    expect(isCleanUserError(resumed, 'OUTPUT_ERROR'), resumed.stderr).toBe(true);
    expect(resumed.stderr).toMatch(/leads out of the run folder .* through a symbolic link/);
    expect(readdirSync(elsewhere)).toEqual([first]);
    expect(readdirSync(join(run, 'back'))).toEqual([]);
  });

  it('discarding old rounds (output.checkpoints: last) removes a stage folder that is a link, never the files it leads to', () => {
    const { dir, ws, run } = failedRun('--set', 'output.checkpoints=last', '--set', 'rounds=4');
    // the rounds removed (the resumed run redoes them from init, and drops round 1 once its state is saved), and a
    // round-1 folder that is a link to another run's checkpoint
    for (const id of readdirSync(join(run, 'checkpoints'))) if (id.startsWith('r')) rmSync(join(run, 'checkpoints', id), { recursive: true });
    const victim = join(dir, 'victim');
    mkdirSync(victim);
    writeFileSync(join(victim, 'checkpoint.json'), '{"keep": true}');
    symlinkSync(victim, join(run, 'checkpoints', 'r0001-other'));
    const resumed = ws('resume', run, '--no-cache');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readFileSync(join(victim, 'checkpoint.json'), 'utf8')).toBe('{"keep": true}');
    expect(lstatSync(join(run, 'checkpoints', 'r0001-other'), { throwIfNoEntry: false })).toBeUndefined(); // the link went
  });

  it('a checkpoints "folder" that is a file is OUTPUT_ERROR naming it, exit 2', () => {
    const { ws, run } = failedRun();
    rmSync(join(run, 'checkpoints'), { recursive: true });
    writeFileSync(join(run, 'checkpoints'), 'not a folder');
    const resumed = ws('resume', run, '--no-cache');
    expect(isCleanUserError(resumed, 'OUTPUT_ERROR'), resumed.stderr).toBe(true);
    expect(resumed.stderr).toMatch(/checkpoints/);
    expect(readFileSync(join(run, 'checkpoints'), 'utf8')).toBe('not a folder');
  });

  it('resume from another working folder writes only into the run folder and its own cache', () => {
    const { dir, ws } = folder();
    const r = ws('run', 'spec.yaml', '--json');
    const run = resolve(dir, JSON.parse(r.stdout).outputDir);
    const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
    writeFileSync(join(run, 'manifest.json'), JSON.stringify({ ...manifest, status: 'failed' }));
    renameSync(join(run, 'checkpoints'), join(dir, 'old-checkpoints')); // resume recomputes every stage
    const other = scratch('ws-elsewhere-');
    const resumed = cli(['resume', run], { cwd: other });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr.split('\n')[0]).toBe(`writing ${run} and the stage cache ${join(dir, 'runs', '.cache')}`);
    expect(readdirSync(other)).toEqual([]);
  });
});
