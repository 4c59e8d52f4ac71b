/**
 * Run folders and caches damaged on disk (or received from someone else): each damage is one paragraph naming the
 * file, exit 2, never INTERNAL, never blamed on the spec or a plugin; the cache recomputes what it cannot use; one
 * bad folder never breaks `runs ls`.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpy } from '@weightshare/framework';
import { createHash } from 'node:crypto';
import { cli, isCleanUserError } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

const SPEC = `apiVersion: weightshare/v1
name: dmg
seed: 3
data: {source: synthetic, tasks: 4, rows: 12, features: 3}
stages: {propagate: {method: identity}, fuse: {method: mean}, optimize: {method: exact, lambda: 1}}
rounds: 2
evaluate: {baselines: false}
`;

/** A folder with spec.yaml and one completed run in runs/ (marked failed, so that resume runs it again). */
function withRun(): { dir: string; run: string; ws: (...args: string[]) => ReturnType<typeof cli> } {
  const dir = scratch('ws-damaged-');
  writeFileSync(join(dir, 'spec.yaml'), SPEC);
  const ws = (...args: string[]): ReturnType<typeof cli> => cli(args, { cwd: dir });
  const r = ws('run', 'spec.yaml', '--json');
  expect(r.code, r.stderr).toBe(0);
  const run = resolve(dir, JSON.parse(r.stdout).outputDir as string);
  const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
  writeFileSync(join(run, 'manifest.json'), JSON.stringify({ ...manifest, status: 'failed' }));
  return { dir, run, ws };
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('damaged run folders', () => {
  it('a manifest replaced by {} is RUN_CORRUPT for resume and show; runs ls lists it as damaged next to the good run', () => {
    const { dir, run, ws } = withRun();
    const good = ws('run', 'spec.yaml', '--json');
    expect(good.code).toBe(0);
    writeFileSync(join(run, 'manifest.json'), '{}');
    for (const args of [['resume', run], ['runs', 'show', run]]) {
      const r = ws(...args);
      expect(isCleanUserError(r, 'RUN_CORRUPT'), r.stderr).toBe(true);
      expect(r.stderr).toMatch(/manifest\.json has no valid "format"/);
    }
    const ls = ws('runs', 'ls');
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/dmg-1 +— +damaged/);
    expect(ls.stdout).toMatch(/dmg-2 +dmg +completed/);
    const json = JSON.parse(ws('runs', 'ls', '--json').stdout) as { id: string; status: string }[];
    expect(json.map((r) => [r.id, r.status])).toEqual([['dmg-2', 'completed'], ['dmg-1', 'damaged']]);
    expect(readdirSync(join(dir, 'runs')).sort()).toEqual(['.cache', 'dmg-1', 'dmg-2']);
  });

  it('a results.json that parses to something else does not break runs ls or runs show', () => {
    const { run, ws } = withRun();
    writeFileSync(join(run, 'results.json'), '{"models": 3}');
    expect(ws('runs', 'ls').code).toBe(0);
    expect(ws('runs', 'show', run).code).toBe(0);
  });

  it.each([
    ['missing', (f: string) => rmSync(f), /spec\.resolved\.json is missing/],
    ['truncated', (f: string) => writeFileSync(f, readFileSync(f, 'utf8').slice(0, 40)), /spec\.resolved\.json is truncated or not JSON/],
    ['edited', (f: string) => writeFileSync(f, readFileSync(f, 'utf8').replace('"seed": 3', '"seed": 4')), /does not match the checksum recorded in manifest\.json/],
  ])('a %s spec.resolved.json is RUN_CORRUPT, not an error in the original spec file', (_what, damage, message) => {
    const { run, ws } = withRun();
    damage(join(run, 'spec.resolved.json'));
    const r = ws('resume', run);
    expect(isCleanUserError(r, 'RUN_CORRUPT'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/spec\.yaml:\d+/);
  });

  it('a checkpoint of the wrong shape whose checksum matches is CHECKPOINT_CORRUPT naming the file, not a plugin error', () => {
    const { run, ws } = withRun();
    const cp = join(run, 'checkpoints', 'r0001-optimize');
    const bytes = encodeNpy({ rows: 3, cols: 2, data: new Float64Array(6) });
    writeFileSync(join(cp, 'W.npy'), bytes);
    const record = JSON.parse(readFileSync(join(cp, 'checkpoint.json'), 'utf8'));
    record.files.W = { ...record.files.W, sha256: sha256(bytes), shape: [3, 2] };
    writeFileSync(join(cp, 'checkpoint.json'), JSON.stringify(record));
    const r = ws('resume', run);
    expect(isCleanUserError(r, 'CHECKPOINT_CORRUPT'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/r0001-optimize\/W\.npy.*its shape is 3×2, but this stage leaves 4×4/);
    expect(r.stderr).not.toMatch(/PLUGIN/);
  });

  it('a checkpoint.json naming a file outside its folder is refused', () => {
    const { run, ws } = withRun();
    const cp = join(run, 'checkpoints', 'init');
    const record = JSON.parse(readFileSync(join(cp, 'checkpoint.json'), 'utf8'));
    record.files.B.file = '../../../spec.yaml';
    writeFileSync(join(cp, 'checkpoint.json'), JSON.stringify(record));
    const r = ws('resume', run);
    expect(isCleanUserError(r, 'CHECKPOINT_CORRUPT'), r.stderr).toBe(true);
    expect(r.stderr).toMatch(/not a matrix file of the folder/);
  });

  it('a cache entry whose checkpoint.json lists no files is a warning and a recompute; the results are the same', () => {
    const { dir, run, ws } = withRun();
    const first = readFileSync(join(run, 'results.json'), 'utf8');
    const cache = join(dir, 'runs', '.cache');
    for (const key of readdirSync(cache)) {
      const f = join(cache, key, 'checkpoint.json');
      writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, 'utf8')), files: {} }));
    }
    for (let i = 0; i < 2; i++) {
      const r = ws('run', 'spec.yaml', '--json');
      expect(r.code, r.stderr).toBe(0);
      if (i === 0) expect(r.stderr).toMatch(/warning: checkpoint file .*checkpoint\.json" is corrupted \(it lists the matrices \(none\), but the stage leaves/);
      else expect(r.stderr).not.toMatch(/warning/); // the entries were replaced
      expect(readFileSync(resolve(dir, JSON.parse(r.stdout).outputDir, 'results.json'), 'utf8')).toBe(first);
    }
  });
});
