/**
 * Completed runs stay verifiable, and nothing is left behind that nothing cleans: files checked against the
 * manifest's SHA-256 (runs verify, show, export, resume, predict), failed runs saying why in runs ls, runs rm,
 * temporary cache folders of dead processes, output.checkpoints: last (resumed byte-identical after kills at many
 * writes), cache prune (least recently used first), and Ctrl-C (real child processes sent SIGINT).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliKilledAfterFile } from './helpers/cli.js';
import { expectSameFinalFiles, manifest, project } from './helpers/project.js';

const flipByte = (file: string, at = -3): void => {
  const bytes = readFileSync(file);
  bytes[at < 0 ? bytes.length + at : at]! ^= 1;
  writeFileSync(file, bytes);
};

const host = (): string => (execFileSync('hostname') + '').trim();

describe('completed runs are verified against their manifest', () => {
  it('a flipped byte in weights.npy is RUN_CORRUPT naming the file: runs verify, export and resume refuse; an intact run verifies', () => {
    const { dir, spec } = project(4);
    expect(cli(['run', spec], { cwd: dir }).code).toBe(0);
    const run = join(dir, 'runs', 'crash-1');
    const ok = cli(['runs', 'verify', 'crash-1'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    const files = manifest(run).outputs!.length + manifest(run).checkpoints!.reduce((n, c) => n + c.files.length, 0);
    expect(ok.stdout).toMatch(/^run runs\/crash-1 \(completed\)\n {2}intact {3}6 final outputs, 4 files of model\/, \d+ checkpoint files\n/);
    expect(ok.stdout).toMatch(new RegExp(`all ${files} files intact\\n$`));

    flipByte(join(run, 'weights.npy'));
    const bad = cli(['runs', 'verify', 'crash-1'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/\n {2}CORRUPT {2}weights\.npy: does not match the SHA-256 recorded for it/);
    // weights.npy, model/parameters.npy and the last round's W.npy are links of one file: the edit changed all three
    expect(bad.stderr).toMatch(/^error RUN_CORRUPT: runs\/crash-1 has 3 of \d+ recorded files that do not match their SHA-256: weights\.npy, model\/parameters\.npy, checkpoints\/r\d+-optimize\/W\.npy\. /);
    expect(bad.stderr).not.toMatch(/\n\s+at /); // no stack
    const json = JSON.parse(cli(['runs', 'verify', 'crash-1', '--json'], { cwd: dir }).stdout) as { corrupt: { file: string }[]; intact: string[] };
    expect(json.corrupt.map((c) => c.file)).toEqual(['weights.npy', 'model/parameters.npy', expect.stringMatching(/^checkpoints\/r\d+-optimize\/W\.npy$/)]);
    expect(json.intact).toContain('weights.csv');

    const out = join(dir, 'w.npy');
    const exported = cli(['runs', 'export', 'crash-1', '--out', out], { cwd: dir });
    expect(exported.code).toBe(2);
    expect(exported.stderr).toMatch(/^error RUN_CORRUPT: .*runs\/crash-1\/weights\.npy does not match the SHA-256 recorded for it/);
    expect(existsSync(out)).toBe(false); // never exported
    expect(cli(['runs', 'export', 'crash-1', '--out', join(dir, 'w.csv')], { cwd: dir }).code).toBe(0); // the intact one still is

    const resumed = cli(['resume', 'crash-1'], { cwd: dir });
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/^error RUN_CORRUPT: .*weights\.npy/);
  });

  it('runs show refuses a damaged results.json, runs verify names a damaged checkpoint, predict a damaged model file', () => {
    const { dir, spec } = project(3);
    cli(['run', spec], { cwd: dir });
    const run = join(dir, 'runs', 'crash-1');
    flipByte(join(run, 'checkpoints', 'r0002-fuse', 'E.npy'));
    const v = cli(['runs', 'verify', run], { cwd: dir });
    expect(v.code).toBe(2);
    expect(v.stdout).toMatch(/CORRUPT {2}checkpoints\/r0002-fuse\/E\.npy: does not match/);
    writeFileSync(join(run, 'results.json'), readFileSync(join(run, 'results.json'), 'utf8').replace('"mse": ', '"mse": 1'));
    const show = cli(['runs', 'show', 'crash-1'], { cwd: dir });
    expect(show.code).toBe(2);
    expect(show.stderr).toMatch(/^error RUN_CORRUPT: .*results\.json does not match the SHA-256 recorded for it/);
    flipByte(join(run, 'model', 'parameters.npy'));
    writeFileSync(join(dir, 'rows.csv'), 'task,x1,x2,x3\nt0,1,2,3\n');
    const p = cli(['predict', run, '--data', join(dir, 'rows.csv')], { cwd: dir });
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/^error RUN_CORRUPT: .*model\/parameters\.npy does not match the SHA-256 recorded for it/);
  });

  it('an interrupted run verifies its checkpoints against their checkpoint.json', () => {
    const { dir, spec } = project();
    // killed late enough that the committer has made the first checkpoints durable (it may trail by a few)
    cli(['run', spec], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '80' } });
    const ok = cli(['runs', 'verify', 'crash-1'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^run runs\/crash-1 \(interrupted: no final outputs yet; checkpoints checked against their checkpoint\.json\)/);
    const root = join(dir, 'runs', 'crash-1', 'checkpoints');
    expect(existsSync(join(root, 'init', 'checkpoint.json'))).toBe(true);
    flipByte(join(root, 'init', 'B.npy'));
    const bad = cli(['runs', 'verify', 'crash-1'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error CHECKPOINT_CORRUPT: checkpoint file ".*checkpoints\/init\/B\.npy" is corrupted/);
  });
});

describe('nothing left behind', () => {
  it('a run that fails on bad input says so in runs ls: status failed, the code, the message and the cell', () => {
    const { dir, spec } = project(2);
    writeFileSync(join(dir, 'data.csv'), readFileSync(join(dir, 'data.csv'), 'utf8').replace(/\nt3,([^,]+),/, '\nt3,oops,'));
    const r = cli(['run', spec], { cwd: dir });
    expect(r.code).toBe(2);
    const ls = cli(['runs', 'ls'], { cwd: dir });
    expect(ls.stdout).toMatch(/\ncrash-1 +crash +failed +cpu +— +\S+\n {2}└ CSV_INVALID: data\.csv: .*\n {6}data\.csv, row \d+, column "x1": .*"oops"/);
    const json = JSON.parse(cli(['runs', 'ls', '--json'], { cwd: dir }).stdout) as { status: string; error: { code: string; problems: string[] } }[];
    expect(json[0]!.status).toBe('failed');
    expect(json[0]!.error.code).toBe('CSV_INVALID');
    expect(json[0]!.error.problems[0]).toMatch(/column "x1": .*"oops"/);
  });

  it('cache folders .tmp-<pid>-… of dead processes are removed by the next run; a live process\'s are kept', () => {
    const { dir, spec } = project(2);
    cli(['run', spec], { cwd: dir });
    const cache = join(dir, 'runs', '.cache');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const deadTmp = join(cache, `.tmp-${dead}-0-0123456789abcdef`);
    const liveTmp = join(cache, `.tmp-${process.pid}-0-0123456789abcdef`);
    for (const t of [deadTmp, liveTmp]) {
      mkdirSync(t);
      writeFileSync(join(t, 'W.npy'), 'half');
    }
    expect(cli(['run', spec], { cwd: dir }).code).toBe(0);
    expect(existsSync(deadTmp)).toBe(false);
    expect(existsSync(liveTmp)).toBe(true);
  });

  it('runs rm removes run and sweep folders; a folder locked by a live process is refused and then nothing is removed', () => {
    const { dir, spec } = project(2);
    cli(['run', spec], { cwd: dir });
    cli(['run', spec], { cwd: dir });
    const sweep = cli(['sweep', spec, '--param', 'stages.optimize.lambda=0.1,1', '--jobs', '1'], { cwd: dir });
    expect(sweep.code, sweep.stderr).toBe(0);
    const sweepDir = readdirSync(join(dir, 'runs')).find((n) => n.startsWith('crash-sweep-'))!;
    writeFileSync(join(dir, 'runs', 'crash-2', '.lock'), JSON.stringify({ pid: process.pid, host: host() }));
    const locked = cli(['runs', 'rm', 'crash-1', 'crash-2'], { cwd: dir });
    expect(locked.code).toBe(2);
    expect(locked.stderr).toMatch(new RegExp(`^error RUN_LOCKED: run folder "runs/crash-2" is in use by process ${process.pid}\\.`));
    expect(existsSync(join(dir, 'runs', 'crash-1'))).toBe(true);
    expect(existsSync(join(dir, 'runs', 'crash-2'))).toBe(true);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(dir, 'runs', 'crash-2', '.lock'), JSON.stringify({ pid: dead, host: host() })); // stale: taken over
    const rm = cli(['runs', 'rm', 'crash-1', 'crash-2', sweepDir], { cwd: dir });
    expect(rm.code, rm.stderr).toBe(0);
    expect(rm.stdout).toBe(`removed runs/crash-1\nremoved runs/crash-2\nremoved runs/${sweepDir}\n`);
    expect(readdirSync(join(dir, 'runs'))).toEqual(['.cache']);
    mkdirSync(join(dir, 'runs', 'notes'));
    const other = cli(['runs', 'rm', 'notes'], { cwd: dir });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^error RUN_NOT_FOUND: no run at "notes": neither a run folder .*nothing was removed/);
    expect(existsSync(join(dir, 'runs', 'notes'))).toBe(true);
  });
});

describe('disk', () => {
  it('output.checkpoints: last keeps only the latest round and the loop state; killed at many writes, resume ends byte-identical', () => {
    const { dir, spec } = project();
    const ref = cli(['run', spec, '--out', 'ref', '--no-cache'], { cwd: dir });
    expect(ref.code, ref.stderr).toBe(0);
    const last = cli(['run', spec, '--out', 'last', '--no-cache', '--set', 'output.checkpoints=last'], { cwd: dir });
    expect(last.code, last.stderr).toBe(0);
    const kept = readdirSync(join(dir, 'last', 'crash-1', 'checkpoints')).sort();
    expect(kept).toEqual(['baselines', 'init', 'r0011-state', 'r0012-fuse', 'r0012-optimize', 'r0012-propagate', 'relation']);
    expect(manifest(join(dir, 'last', 'crash-1')).checkpoints!.map((c) => c.id).sort()).toEqual(kept);
    expectSameFinalFiles(join(dir, 'last', 'crash-1'), join(dir, 'ref', 'crash-1'));
    expect(cli(['runs', 'verify', join(dir, 'last', 'crash-1')], { cwd: dir }).code).toBe(0);
    // every write of the run: spec, manifest, then per round its stages and its state (npy + json each), finals
    const points = [5, 9, 14, 20, 27, 33, 41, 50, 58, 66, 75];
    let resumedFromState = 0;
    for (const n of points) {
      const out = `crash-${n}`;
      const crashed = cli(['run', spec, '--out', out, '--no-cache', '--set', 'output.checkpoints=last'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: String(n) } });
      expect(crashed.signal, `write ${n}: ${crashed.stderr}`).toBe('SIGKILL');
      const run = join(dir, out, 'crash-1');
      const ids = readdirSync(join(run, 'checkpoints')).filter((i) => existsSync(join(run, 'checkpoints', i, 'checkpoint.json'))); // committed ones
      // older rounds are gone as the run advances: no round before the older of at most two states (the committer
      // deletes the rounds a state replaces once that state is durable; a kill in between leaves both)
      const states = ids.filter((i) => i.endsWith('-state')).sort();
      expect(states.length).toBeLessThanOrEqual(2);
      if (states.length) {
        resumedFromState++;
        const r = Number(states[0]!.slice(1, 5));
        expect(ids.filter((i) => /^r\d{4}-/.test(i) && Number(i.slice(1, 5)) < r)).toEqual([]);
      }
      const resumed = cli(['resume', run], { cwd: dir });
      expect(resumed.code, `write ${n}: ${resumed.stderr}`).toBe(0);
      expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
    }
    expect(resumedFromState, 'no kill landed after a loop state was written').toBeGreaterThan(3);
  }, 300_000);

  it('with early stopping and Anderson acceleration, checkpoints: last resumes byte-identical too', () => {
    const { dir, spec } = project(
      '{ max: 300, tol: 1.0e-10, acceleration: anderson, memory: 4 }',
      '  propagate: { method: identity }\n  fuse: { method: weighted-mean, scope: per-task, weights: edges }\n  optimize: { method: exact, lambda: 2, ridge: 0.1 }',
    );
    expect(cli(['run', spec, '--out', 'ref', '--no-cache'], { cwd: dir }).code).toBe(0);
    for (const n of [30, 80, 140]) {
      const out = `crash-${n}`;
      const crashed = cli(['run', spec, '--out', out, '--no-cache', '--set', 'output.checkpoints=last'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: String(n) } });
      expect(crashed.signal, `write ${n}: ${crashed.stderr}`).toBe('SIGKILL');
      const run = join(dir, out, 'crash-1');
      expect(readdirSync(join(run, 'checkpoints')).some((i) => i.endsWith('-state')), `write ${n}`).toBe(true);
      const resumed = cli(['resume', run], { cwd: dir });
      expect(resumed.code, `write ${n}: ${resumed.stderr}`).toBe(0);
      expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
    }
  }, 300_000);

  it('cache prune removes the least recently used entries down to --max-size; what a run just used stays', () => {
    const { dir, spec } = project(3);
    cli(['run', spec], { cwd: dir });
    cli(['run', spec, '--set', 'stages.optimize.lambda=2'], { cwd: dir });
    const cache = join(dir, 'runs', '.cache');
    const old = new Date(Date.now() - 86_400_000);
    for (const k of readdirSync(cache)) utimesSync(join(cache, k), old, old);
    expect(cli(['run', spec], { cwd: dir }).code).toBe(0); // uses (touches) the entries of the first spec only
    const used = new Set(manifest(join(dir, 'runs', 'crash-3')).checkpoints!.map((c) => c.key));
    const entryBytes = (k: string): number => readdirSync(join(cache, k)).reduce((s, f) => s + readFileSync(join(cache, k, f)).length, 0);
    const usedBytes = [...used].reduce((s, k) => s + entryBytes(k), 0);
    const before = readdirSync(cache).length;
    expect(before).toBeGreaterThan(used.size);
    const r = cli(['cache', 'prune', '--max-size', String(usedBytes)], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^runs/\\.cache: removed ${before - used.size} entries \\(.*\\), kept ${used.size} `));
    expect(new Set(readdirSync(cache))).toEqual(used);
    const again = cli(['run', spec], { cwd: dir });
    expect(again.stdout).toMatch(/stages +0 computed, \d+ cached/);
    expect(cli(['cache', 'prune', '--max-size', '0'], { cwd: dir }).code).toBe(0);
    expect(readdirSync(cache)).toEqual([]);
    const bad = cli(['cache', 'prune', '--max-size', 'lots'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error INVALID_ARGUMENT: --max-size lots: expected a size such as 500M/);
  });
});

describe('Ctrl-C', () => {
  const LINE = /(^|\n)interrupted; resume with: weightshare resume (\S+)\n$/;

  /** Sends SIGINT `ms` after `file` appears; a process that finished first is run again with a signal sent sooner. */
  async function interrupt(args: string[], file: string, cwd: string, fresh: () => void): Promise<Awaited<ReturnType<typeof cliKilledAfterFile>>> {
    for (const ms of [300, 100, 20, 0]) {
      const r = await cliKilledAfterFile(args, file, ms, { cwd, signal: 'SIGINT' });
      if (r.code === 130) return r;
      expect(r.code, r.stderr).toBe(0); // finished before the signal: try again sooner
      fresh();
    }
    throw new Error('every run finished before SIGINT reached it');
  }

  it('run and resume interrupted by SIGINT print one line, exit 130, and the run resumes byte-identical', async () => {
    const { dir, spec } = project(120);
    expect(cli(['run', spec, '--out', 'ref', '--no-cache'], { cwd: dir }).code).toBe(0);
    const run = join(dir, 'int', 'crash-1');
    const fresh = (): void => void spawnSync('rm', ['-rf', join(dir, 'int')]);
    const r = await interrupt(['run', spec, '--out', 'int', '--no-cache'], join(run, 'manifest.json'), dir, fresh);
    expect(r.stderr).toMatch(LINE);
    // where the run writes (said before it starts), then the one line
    expect(r.stderr.trim().split('\n')).toEqual([`writing ${run}`, `interrupted; resume with: weightshare resume int/crash-1`]);
    expect(manifest(run).status).toBe('running');
    expect(existsSync(join(run, '.lock'))).toBe(false); // released, not left to be taken over
    expect(cli(['runs', 'ls', '--dir', 'int'], { cwd: dir }).stdout).toMatch(/\ncrash-1 +crash +interrupted /);
    // the resume is interrupted too (timed from the lock it takes), then finishes
    const again = await interrupt(['resume', run], join(run, '.lock'), dir, () => {
      throw new Error('the resume finished before SIGINT reached it');
    });
    expect(again.stderr.trim().split('\n')).toEqual([`writing ${run} and the stage cache ${join(dir, 'int', '.cache')}`, `interrupted; resume with: weightshare resume ${run}`]);
    expect(existsSync(join(run, '.lock'))).toBe(false);
    const done = cli(['resume', run], { cwd: dir });
    expect(done.code, done.stderr).toBe(0);
    expectSameFinalFiles(run, join(dir, 'ref', 'crash-1'));
  }, 120_000);

  it('a sweep interrupted by SIGINT names its folder, exits 130 and resumes', async () => {
    const { dir, spec } = project(40);
    const args = ['sweep', spec, '--out', 'sw', '--param', 'stages.optimize.lambda=0.1,0.5,1,2', '--jobs', '1', '--no-cache'];
    const fresh = (): void => void spawnSync('rm', ['-rf', join(dir, 'sw')]);
    const r = await interrupt(args, join(dir, 'sw', 'crash-sweep-1', 'sweep.json'), dir, fresh);
    expect(r.stderr).toMatch(/(^|\n)interrupted; resume with: weightshare resume sw\/crash-sweep-1\n$/);
    const resumed = cli(['resume', join(dir, 'sw', 'crash-sweep-1')], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(existsSync(join(dir, 'sw', 'crash-sweep-1', 'summary.json'))).toBe(true);
  }, 120_000);
});
