/**
 * Runs that survive crashes: real child processes killed with SIGKILL (at chosen writes, half-way through them, and
 * at arbitrary moments), resumed, and compared byte for byte with an uninterrupted run; the stage cache; refusals;
 * locks; corrupted checkpoints; runs as records.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '@weightshare/framework';
import { cli, cliKilledAfter, cliKilledAfterFile, root } from './helpers/cli.js';
import { expectSameFinalFiles, FINAL, manifest, project, sources } from './helpers/project.js';

describe('crash and resume', () => {
  it('killed in the middle of its N-th write (many N), a resumed run ends byte-identical to an uninterrupted one', () => {
    const { dir, spec } = project();
    const ref = cli(['run', spec, '--out', 'ref', '--no-cache'], { cwd: dir });
    expect(ref.code, ref.stderr).toBe(0);
    const writes = 3 + 5 * 2 + 12 * 3 * 2 + 4 + 6 + 4 + 1; // spec/manifest, checkpoints (npy + json), finals (written or linked), model/
    const points = [1, 2, 3, 4, 5, 6, 9, 17, 30, 46, 61, 75, 90, writes - 6, writes - 1];
    for (const n of points) {
      const out = `crash-${n}`;
      const crashed = cli(['run', spec, '--out', out, '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: String(n) } });
      expect(crashed.signal, `write ${n}: ${crashed.stderr}`).toBe('SIGKILL');
      const run = join(dir, out, 'crash-1');
      const resumed = cli(['resume', run], { cwd: dir });
      if (!existsSync(join(run, 'manifest.json'))) {
        // killed before the run was committed: there is nothing to resume, and resume says so
        expect(resumed.code).toBe(2);
        expect(resumed.stderr).toMatch(/^(?:writing .*\n)?error RUN_NOT_FOUND: .*no manifest\.json \(the run was stopped before it started/);
        continue;
      }
      expect(resumed.code, `write ${n}: ${resumed.stderr}`).toBe(0);
      expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
      expect(manifest(run).status).toBe('completed');
      expect(readdirSync(run, { recursive: true }).some((f) => /\.tmp-\d+$/.test(String(f)))).toBe(false);
    }
  }, 300_000); // dozens of child processes: minutes on a loaded machine

  it('killed at arbitrary moments, repeatedly, it still ends byte-identical', async () => {
    const { dir, spec } = project(60);
    // the kills are timed from the moment the run's manifest exists, as fractions of how long the work after it
    // takes on this machine, so that they land inside the run however slow or busy the machine is
    const started = Date.now();
    const ref = await cliKilledAfterFile(['run', spec, '--out', 'ref', '--no-cache'], join(dir, 'ref', 'crash-1', 'manifest.json'), 1e9, { cwd: dir });
    expect(ref.code, ref.stderr).toBe(0);
    const span = Math.max(50, Date.now() - started - 300);
    const rng = new Rng(99);
    let interrupted = 0;
    for (let k = 0; k < 4; k++) {
      const out = `kill-${k}`;
      const run = join(dir, out, 'crash-1');
      const manifestFile = join(run, 'manifest.json');
      let r = await cliKilledAfterFile(['run', spec, '--out', out, '--no-cache'], manifestFile, Math.floor(rng.next() * span), { cwd: dir });
      // keep killing the resumes too (at random moments of their work), until one finishes
      for (let attempt = 0; r.killed && attempt < 6; attempt++) {
        interrupted++;
        r = await cliKilledAfterFile(['resume', run], manifestFile, Math.floor(rng.next() * span * 0.5), { cwd: dir });
      }
      if (r.killed) r = await cliKilledAfterFile(['resume', run], manifestFile, 1e9, { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
    }
    expect(interrupted, 'no kill landed inside a run: the test proved nothing').toBeGreaterThan(0);
  }, 300_000); // dozens of child processes: minutes on a loaded machine

  it('with early stopping and Anderson acceleration, a run killed at any write resumes byte-identical (and the cache reuses it all)', () => {
    const { dir, spec } = project(
      '{ max: 300, tol: 1.0e-10, acceleration: anderson, memory: 4 }',
      '  propagate: { method: identity }\n  fuse: { method: weighted-mean, scope: per-task, weights: edges }\n  optimize: { method: exact, lambda: 2, ridge: 0.1 }',
    );
    const ref = cli(['run', spec, '--out', 'ref', '--no-cache', '--json'], { cwd: dir });
    expect(ref.code, ref.stderr).toBe(0);
    const convergence = (JSON.parse(readFileSync(join(dir, 'ref', 'crash-1', 'results.json'), 'utf8')) as { convergence: { converged: boolean; round: number } }).convergence;
    expect(convergence.converged).toBe(true);
    expect(convergence.round).toBeLessThan(300); // stopped early
    const checkpoints = manifest(join(dir, 'ref', 'crash-1')).checkpoints!.length;
    const writes = 3 + 2 * checkpoints + FINAL.length + 4 + 2;
    const points = [...new Set([2, 7, 19].concat([0.35, 0.6, 0.8, 0.97].map((f) => Math.floor(f * writes))))];
    for (const n of points) {
      const out = `crash-${n}`;
      const crashed = cli(['run', spec, '--out', out, '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: String(n) } });
      if (crashed.signal !== 'SIGKILL') {
        // fewer writes than estimated: the run completed
        expect(crashed.code, crashed.stderr).toBe(0);
        expect(n).toBeGreaterThan(writes * 0.9);
      } else {
        const run = join(dir, out, 'crash-1');
        if (!existsSync(join(run, 'manifest.json'))) continue; // never started: nothing to resume (tested above)
        const resumed = cli(['resume', run], { cwd: dir });
        expect(resumed.code, `write ${n}: ${resumed.stderr}`).toBe(0);
        expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
      }
    }
    const cached = cli(['run', spec, '--out', 'cached'], { cwd: dir });
    const again = cli(['run', spec, '--out', 'cached'], { cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(sources(join(dir, 'cached', 'crash-2'))).toEqual({ cached: checkpoints });
    expect(cached.code).toBe(0);
    expectSameFinalFiles(join(dir, 'cached', 'crash-2'), join(dir, 'ref', 'crash-1'));
  }, 300_000); // dozens of child processes: minutes on a loaded machine

  it('a truncated or corrupted checkpoint is refused, naming the file', () => {
    const { dir, spec } = project();
    cli(['run', spec, '--out', 'runs', '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '60' } });
    const run = join(dir, 'runs', 'crash-1');
    const npy = join(run, 'checkpoints', 'r0002-propagate', 'C.npy');
    const bytes = readFileSync(npy);
    writeFileSync(npy, bytes.subarray(0, bytes.length - 8)); // truncated
    const r = cli(['resume', run], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^(?:writing .*\n)?error CHECKPOINT_CORRUPT: checkpoint file ".*r0002-propagate\/C\.npy" is corrupted \(SHA-256 .* does not match the recorded/);
    bytes[bytes.length - 3]! ^= 1; // one flipped bit, right length
    writeFileSync(npy, bytes);
    expect(cli(['resume', run], { cwd: dir }).stderr).toMatch(/CHECKPOINT_CORRUPT.*C\.npy/);
  });

  it('resume is refused when the spec, a data file or a plugin version changed, unless --force', () => {
    const { dir, spec } = project();
    cli(['run', spec, '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '30' } });
    const run = join(dir, 'runs', 'crash-1');
    const original = readFileSync(join(dir, 'data.csv'), 'utf8');
    writeFileSync(join(dir, 'data.csv'), original.replace(/\n(t0,[^,]+),[^,]+,/, '\n$1,9,'));
    writeFileSync(join(dir, 'spec.yaml'), readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('alpha: 0.5', 'alpha: 0.6'));
    const r = cli(['resume', run], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^(?:writing .*\n)?error RESUME_REFUSED: /);
    expect(r.stderr).toMatch(/the spec file .*spec\.yaml changed \(SHA-256 [0-9a-f]{12}… → [0-9a-f]{12}…\)/);
    expect(r.stderr).toMatch(/the input file .*data\.csv changed/);
    const forced = cli(['resume', run, '--force'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(manifest(run).forced!.length).toBe(2);
  });

  it('resume refuses a run whose plugin version changed', () => {
    const { dir } = project();
    const plugin = (version: string) => `import robust from '${join(root, 'examples/plugin-robust/dist/index.js')}';
export default { ...robust, meta: { ...robust.meta, name: 'my-robust', version: '${version}' } };\n`;
    writeFileSync(join(dir, 'robust.mjs'), plugin('1.0.0'));
    writeFileSync(join(dir, 'p.yaml'), readFileSync(join(dir, 'spec.yaml'), 'utf8').replace('seed: 3', 'seed: 3\nplugins: [./robust.mjs]').replace(/fuse: .*/, 'fuse: { method: trimmed-mean }'));
    cli(['run', 'p.yaml', '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '30' } });
    writeFileSync(join(dir, 'robust.mjs'), plugin('1.1.0'));
    // a plugin file (not a package) is loaded on resume only from a folder the user allows
    const r = cli(['resume', join(dir, 'runs', 'crash-1'), '--allow-plugin-path', dir], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the plugin my-robust changed version \(1\.0\.0 → 1\.1\.0\)/);
  });
});

describe('stage cache', () => {
  it('an unchanged spec reuses every stage, and says so; --no-cache recomputes; results are byte-identical', () => {
    const { dir, spec } = project();
    expect(cli(['run', spec], { cwd: dir }).code).toBe(0);
    const again = cli(['run', spec], { cwd: dir });
    expect(again.stdout).toMatch(/stages +0 computed, 39 cached \(unchanged since an earlier run\)/);
    expect(sources(join(dir, 'runs', 'crash-2'))).toEqual({ cached: 39 });
    expectSameFinalFiles(join(dir, 'runs', 'crash-1'), join(dir, 'runs', 'crash-2'));
    cli(['run', spec, '--no-cache'], { cwd: dir });
    expect(sources(join(dir, 'runs', 'crash-3'))).toEqual({ computed: 39 });
  });

  it('changing one stage option recomputes that stage and the ones after it only', () => {
    const { dir, spec } = project();
    cli(['run', spec], { cwd: dir });
    cli(['run', spec, '--set', 'stages.optimize.lambda=0.7'], { cwd: dir });
    const m = manifest(join(dir, 'runs', 'crash-2'));
    const src = Object.fromEntries(m.checkpoints!.map((c) => [c.id, c.source]));
    expect(src['init']).toBe('cached'); // init fits have λ = 0
    expect(src['relation']).toBe('cached');
    expect(src['r0001-propagate']).toBe('cached');
    expect(src['r0001-fuse']).toBe('cached');
    expect(src['r0001-optimize']).toBe('computed');
    expect(src['r0002-propagate']).toBe('computed');
    expect(src['baselines']).toBe('cached'); // baselines have λ = 0 too
    cli(['run', spec, '--set', 'stages.propagate.alpha=0.7'], { cwd: dir });
    const p = Object.fromEntries(manifest(join(dir, 'runs', 'crash-3')).checkpoints!.map((c) => [c.id, c.source]));
    expect([p['init'], p['relation'], p['r0001-propagate'], p['r0001-fuse'], p['baselines']]).toEqual(['cached', 'cached', 'computed', 'computed', 'cached']);
  });

  it('editing a data file (same name) invalidates everything that depends on it', () => {
    const { dir, spec } = project();
    cli(['run', spec], { cwd: dir });
    const data = readFileSync(join(dir, 'data.csv'), 'utf8');
    writeFileSync(join(dir, 'data.csv'), data.replace(/\n(t3,[^,]+),[^,]+,/, '\n$1,0.123,'));
    cli(['run', spec], { cwd: dir });
    expect(sources(join(dir, 'runs', 'crash-2'))).toEqual({ computed: 39 });
  });

  it('a corrupted cache entry is never used: it is reported, recomputed and replaced', () => {
    const { dir, spec } = project();
    cli(['run', spec], { cwd: dir });
    const cache = join(dir, 'runs', '.cache');
    const entry = readdirSync(cache).find((k) => JSON.parse(readFileSync(join(cache, k, 'checkpoint.json'), 'utf8')).id === 'r0003-optimize')!;
    writeFileSync(join(cache, entry, 'W.npy'), 'garbage');
    const r = cli(['run', spec], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: checkpoint file ".*W\.npy" is corrupted.*recomputing the stage and replacing the cache entry/);
    expectSameFinalFiles(join(dir, 'runs', 'crash-1'), join(dir, 'runs', 'crash-2'));
  });
});

describe('reproducibility', () => {
  it('same spec and seed: the same bytes in different processes, with or without --json; another seed differs', () => {
    const { dir, spec } = project();
    cli(['run', spec, '--no-cache'], { cwd: dir });
    cli(['run', spec, '--no-cache', '--json'], { cwd: dir });
    expectSameFinalFiles(join(dir, 'runs', 'crash-1'), join(dir, 'runs', 'crash-2'));
    cli(['run', spec, '--no-cache', '--set', 'seed=4', '--set', 'stages.optimize.method=sgd', '--set', 'stages.optimize.epochs=5'], { cwd: dir });
    cli(['run', spec, '--no-cache', '--set', 'seed=5', '--set', 'stages.optimize.method=sgd', '--set', 'stages.optimize.epochs=5'], { cwd: dir });
    expect(readFileSync(join(dir, 'runs', 'crash-3', 'weights.npy')).equals(readFileSync(join(dir, 'runs', 'crash-4', 'weights.npy')))).toBe(false);
  });
});

describe('locks', () => {
  it('a folder locked by a live process is refused; a stale lock from a dead process is taken over', () => {
    const { dir, spec } = project();
    cli(['run', spec, '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '30' } });
    const run = join(dir, 'runs', 'crash-1');
    writeFileSync(join(run, '.lock'), JSON.stringify({ pid: process.pid, host: (execFileSync('hostname') + '').trim() }));
    const locked = cli(['resume', run], { cwd: dir });
    expect(locked.code).toBe(2);
    expect(locked.stderr).toMatch(new RegExp(`^(?:writing .*\\n)?error RUN_LOCKED: run folder ".*crash-1" is in use by process ${process.pid}\\.`));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(run, '.lock'), JSON.stringify({ pid: dead, host: (execFileSync('hostname') + '').trim() }));
    const taken = cli(['resume', run], { cwd: dir });
    expect(taken.code, taken.stderr).toBe(0);
    expect(existsSync(join(run, '.lock'))).toBe(false);
  });

  it('a lock left half-written (its process killed while taking it) is stale: taken over, and dead drafts are removed', () => {
    const { dir, spec } = project();
    cli(['run', spec, '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '30' } });
    const run = join(dir, 'runs', 'crash-1');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(run, '.lock'), ''); // created with O_EXCL, killed before writing
    writeFileSync(join(run, `.lock.draft-${dead}`), '{"pid":'); // killed while writing its draft
    const taken = cli(['resume', run], { cwd: dir });
    expect(taken.code, taken.stderr).toBe(0);
    expect(readdirSync(run).filter((f) => f.startsWith('.lock'))).toEqual([]);
    expect(manifest(run).status).toBe('completed');
  });

  it('two resumes at once: one runs, the other is refused or finds the run complete', async () => {
    const { dir, spec } = project(80);
    cli(['run', spec, '--out', 'runs'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '20' } });
    const run = join(dir, 'runs', 'crash-1');
    const [a, b] = await Promise.all([cliKilledAfter(['resume', run], 60000, { cwd: dir }), cliKilledAfter(['resume', run], 60000, { cwd: dir })]);
    const outcomes = [a, b].map((r) => (r.code === 0 && /already complete/.test(r.stderr) ? 'complete' : r.code === 0 ? 'ran' : /RUN_LOCKED/.test(r.stderr) ? 'locked' : r.stderr));
    expect(outcomes.filter((o) => o === 'ran')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'ran').every((o) => o === 'locked' || o === 'complete')).toBe(true);
    expect(manifest(run).status).toBe('completed');
  });
});

describe('runs as records', () => {
  it('ls, show, diff and export', () => {
    const { dir, spec } = project();
    cli(['run', spec], { cwd: dir });
    cli(['run', spec, '--set', 'stages.optimize.lambda=2'], { cwd: dir });
    cli(['run', spec], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '25' } });
    const ls = cli(['runs', 'ls'], { cwd: dir });
    expect(ls.stdout).toMatch(/^ID +NAME +STATUS +BACKEND +TEST METRIC \(shared\) +STARTED\ncrash-1 +crash +completed +cpu +MSE \d+\.\d{4} +20\d\d-/);
    expect(ls.stdout).toMatch(/\ncrash-3 +crash +interrupted +cpu +— /);
    const show = cli(['runs', 'show', 'crash-2'], { cwd: dir });
    expect(show.stdout).toMatch(/--set stages\.optimize\.lambda=2/);
    expect(show.stdout).toMatch(/39 checkpoints: 34 computed, 5 from the cache, 0 from this run's checkpoints/);
    const diff = cli(['runs', 'diff', 'crash-1', 'crash-2'], { cwd: dir });
    expect(diff.stdout).toMatch(/^parameter +crash-1 +crash-2\nstages\.optimize\.lambda +0\.5 +2\n\nmetric/);
    expect(diff.stdout).toMatch(/\nshared\.mse +\d/);
    const csv = join(dir, 'w.csv');
    expect(cli(['runs', 'export', 'crash-1', '--out', csv], { cwd: dir }).code).toBe(0);
    expect(readFileSync(csv).equals(readFileSync(join(dir, 'runs', 'crash-1', 'weights.csv')))).toBe(true);
    const bad = cli(['runs', 'export', 'crash-3', '--out', join(dir, 'w.npy')], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is running; only completed runs have final weights|is running/);
    expect(cli(['runs', 'show', 'nope'], { cwd: dir }).stderr).toMatch(/^(?:writing .*\n)?error RUN_NOT_FOUND/);
    // every runs subcommand speaks JSON, numbers as numbers
    const lsJson = JSON.parse(cli(['runs', 'ls', '--json'], { cwd: dir }).stdout) as { id: string; metric: string | null; value: number | null }[];
    expect(lsJson.find((r) => r.id === 'crash-1')).toMatchObject({ metric: 'mse' });
    expect(typeof lsJson.find((r) => r.id === 'crash-1')!.value).toBe('number');
    const diffJson = JSON.parse(cli(['runs', 'diff', 'crash-1', 'crash-2', '--json'], { cwd: dir }).stdout) as { parameters: { key: string; a: unknown; b: unknown }[]; metrics: { key: string; a: number }[] };
    expect(diffJson.parameters).toEqual([{ key: 'stages.optimize.lambda', a: 0.5, b: 2 }]);
    expect(typeof diffJson.metrics.find((m) => m.key === 'shared.mse')!.a).toBe('number');
    expect(JSON.parse(cli(['runs', 'show', 'crash-1', '--json'], { cwd: dir }).stdout).results.models.shared.mse).toBeTypeOf('number');
    expect(JSON.parse(cli(['runs', 'export', 'crash-1', '--out', join(dir, 'w2.npy'), '--json'], { cwd: dir }).stdout)).toMatchObject({ what: 'weights', out: join(dir, 'w2.npy') });
  });

  it('numpy reads the .npy files (when python3 with numpy is installed)', (ctx) => {
    const probe = spawnSync('python3', ['-c', 'import numpy']);
    if (probe.status !== 0) {
      console.log('skipped: python3 with numpy is not available');
      ctx.skip();
    }
    const { dir, spec } = project();
    cli(['run', spec], { cwd: dir });
    const run = join(dir, 'runs', 'crash-1');
    const py = spawnSync('python3', ['-c', `import numpy as np, csv, sys
w = np.load(sys.argv[1]); rows = list(csv.reader(open(sys.argv[2])))[1:]
assert w.dtype == np.float64 and w.shape == (len(rows), len(rows[0]) - 1), (w.dtype, w.shape)
assert all(float(v) == w[i, j] for i, r in enumerate(rows) for j, v in enumerate(r[1:]))
print('ok', w.shape)`, join(run, 'weights.npy'), join(run, 'weights.csv')], { encoding: 'utf8' });
    expect(py.stdout.trim(), py.stderr).toBe('ok (8, 4)');
  });
});

describe('disk full and read-only folders (real tmpfs mounts; needs root)', () => {
  const mount = (target: string, opts: string): boolean => spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', target]).status === 0;
  const umount = (target: string): void => void spawnSync('umount', [target]);

  it('a full disk is a clear error and the checkpoints already written stay intact', (ctx) => {
    const { dir, spec } = project();
    const target = join(dir, 'small');
    cpSync(join(dir, 'spec.yaml'), join(dir, 'spec2.yaml'));
    execFileSync('mkdir', [target]);
    if (!mount(target, 'size=96k')) {
      console.log('skipped: cannot mount a tmpfs here (not root?)');
      ctx.skip();
    }
    try {
      const r = cli(['run', spec, '--out', target, '--no-cache'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^(?:writing .*\n)?error OUTPUT_ERROR: cannot write the run's output to ".*" \(ENOSPC: no space left on device/);
      const run = join(target, 'crash-1');
      const checkpoints = readdirSync(join(run, 'checkpoints')).filter((c) => existsSync(join(run, 'checkpoints', c, 'checkpoint.json')));
      expect(checkpoints.length).toBeGreaterThan(3);
      for (const c of checkpoints) {
        const rec = JSON.parse(readFileSync(join(run, 'checkpoints', c, 'checkpoint.json'), 'utf8'));
        for (const f of Object.values(rec.files) as { file: string; sha256: string }[]) {
          const { createHash } = require('node:crypto') as typeof import('node:crypto');
          expect(createHash('sha256').update(readFileSync(join(run, 'checkpoints', c, f.file))).digest('hex')).toBe(f.sha256);
        }
      }
    } finally {
      umount(target);
    }
  });

  it('a read-only folder is a clear error; resume works once it is writable again', (ctx) => {
    const { dir, spec } = project();
    const target = join(dir, 'ro');
    execFileSync('mkdir', [target]);
    if (!mount(target, 'size=16m')) {
      console.log('skipped: cannot mount a tmpfs here (not root?)');
      ctx.skip();
    }
    try {
      cli(['run', spec, '--out', target], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '30' } });
      const run = join(target, 'crash-1');
      const before = readFileSync(join(run, 'checkpoints', 'r0002-fuse', 'E.npy'));
      expect(spawnSync('mount', ['-o', 'remount,ro', target]).status).toBe(0);
      const r = cli(['resume', run], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^(?:writing .*\n)?error OUTPUT_ERROR: .*EROFS: read-only file system/);
      expect(readFileSync(join(run, 'checkpoints', 'r0002-fuse', 'E.npy')).equals(before)).toBe(true);
      expect(spawnSync('mount', ['-o', 'remount,rw', target]).status).toBe(0);
      expect(cli(['resume', run], { cwd: dir }).code).toBe(0);
    } finally {
      umount(target);
    }
  });
});
