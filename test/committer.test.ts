/**
 * The checkpoint committer: checkpoints are written by the run and made durable by a thread of their own (fsync, then
 * checkpoint.json renamed into place, in order). Real folders, a real committer thread, real child processes killed
 * with SIGKILL.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderStore, isWeightshareError, readCheckpoint } from '@weightshare/framework';
import { CommitQueue } from '../packages/framework/src/store/committer.js';
import { cli } from './helpers/cli.js';
import { project } from './helpers/project.js';

const scratch = (): string => mkdtempSync(join(tmpdir(), 'ws-commit-'));

const matrix = (rows: number, cols: number, seed: number) => ({ rows, cols, data: Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(seed * 31 + i)) });

describe('checkpoint committer', () => {
  it('after flush every saved checkpoint is committed and reads back its matrices; no temporary file is left', async () => {
    const run = scratch();
    const fds = (): number => readdirSync('/proc/self/fd').length;
    // the committer thread running (its own event loop holds descriptors too), then counted
    const warm = new FolderStore(scratch(), null);
    warm.save('init', 'k', { matrices: { B: matrix(2, 2, 0) }, json: {} });
    await warm.flush();
    const before = fds();
    const store = new FolderStore(run, null);
    const ids = Array.from({ length: 40 }, (_, k) => `r${String(k + 1).padStart(4, '0')}-fuse`);
    ids.forEach((id, k) => store.save(id, `key-${k}`, { matrices: { E: matrix(7, 3, k), c: matrix(1, 7, -k) }, json: { k } }));
    await store.flush();
    expect(fds()).toBe(before); // every file closed again
    ids.forEach((id, k) => {
      const got = readCheckpoint(join(run, 'checkpoints', id), { E: [7, 3], c: [1, 7] });
      expect(got?.record.key).toBe(`key-${k}`);
      expect(Array.from(got!.stage.matrices.E!.data)).toEqual(Array.from(matrix(7, 3, k).data));
      expect(got!.stage.json).toEqual({ k });
    });
    expect(readdirSync(run, { recursive: true }).filter((f) => /\.tmp-/.test(String(f)))).toEqual([]);
    // discarding waits its turn behind the commits: after flush the discarded folders are gone, the others intact
    store.discard((id) => id < 'r0030');
    await store.flush();
    expect(readdirSync(join(run, 'checkpoints')).sort()).toEqual(ids.filter((id) => id >= 'r0030'));
    expect(store.records.size).toBe(11);
  });

  for (const threaded of [true, false]) {
    it(`a commit that fails is an OUTPUT_ERROR naming the file, for its queue only (${threaded ? 'committer thread' : 'synchronous'})`, () => {
      const dir = scratch();
      // a checkpoint's files, open as the store leaves them for the committer
      const pending = (name: string, withTmp: boolean) => {
        const at = join(dir, name);
        mkdirSync(at);
        const tmp = join(at, '.checkpoint.json.tmp-1');
        const files = [join(at, 'A.npy'), ...(withTmp ? [tmp] : [])];
        for (const f of files) writeFileSync(f, 'bytes');
        return { dir: at, files, fds: files.map((f) => openSync(f, 'r+')), tmp };
      };
      const broken = new CommitQueue(threaded);
      const other = new CommitQueue(threaded);
      const gone = pending('gone', false); // its checkpoint.json under the temporary name is missing: the rename fails
      let err: unknown;
      try {
        broken.commit(gone);
        broken.flush();
      } catch (e) {
        err = e;
      }
      expect(isWeightshareError(err) && err.code).toBe('OUTPUT_ERROR');
      expect((err as Error).message).toContain(gone.tmp);
      if (threaded) expect(() => broken.check()).toThrow(/checkpoint\.json\.tmp-1/); // and every later save of that run stops
      const good = pending('good', true);
      other.commit(good);
      other.flush();
      expect(existsSync(join(good.dir, 'checkpoint.json'))).toBe(true);
      expect(existsSync(good.tmp)).toBe(false);
      expect(readFileSync(join(good.dir, 'checkpoint.json'), 'utf8')).toBe('bytes');
    });
  }

  it('killed late in a run, at most 8 saved checkpoints are not yet committed, and the run resumes', () => {
    const { dir, spec } = project();
    const crashed = cli(['run', spec, '--out', 'k', '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '80' } });
    expect(crashed.signal).toBe('SIGKILL');
    const root = join(dir, 'k', 'crash-1', 'checkpoints');
    const all = readdirSync(root);
    const committed = all.filter((id) => existsSync(join(root, id, 'checkpoint.json')));
    // the one being written when the kill came, and at most 8 the committer had not reached
    expect(all.length - committed.length).toBeLessThanOrEqual(9);
    expect(committed.length).toBeGreaterThan(0);
    expect(cli(['resume', join(dir, 'k', 'crash-1')], { cwd: dir }).code).toBe(0);
  });
  it('runs under node --input-type=module too, where its thread program is an ES module (a script of the API, as users write them)', () => {
    const run = scratch();
    const script = `
      import { FolderStore, loadPipeline, runPipeline } from '@weightshare/framework';
      import { cpuPlugin } from '@weightshare/plugin-cpu';
      const { loaded, registry } = await loadPipeline(${JSON.stringify(join(process.cwd(), 'pipelines/quickstart.yaml'))}, [cpuPlugin], { set: ['rounds=2'] });
      const store = new FolderStore(${JSON.stringify(run)}, null);
      await runPipeline(loaded, registry, { store });
      console.log('done');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('done');
    expect(r.status).toBe(0); // (a committer that never started made the run wait a minute, then fail)
    const saved = readdirSync(join(run, 'checkpoints'));
    expect(saved.length).toBeGreaterThan(3);
    for (const id of saved) expect(existsSync(join(run, 'checkpoints', id, 'checkpoint.json')), id).toBe(true);
  }, 120_000);
});
