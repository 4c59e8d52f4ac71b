/** Per-task work on worker threads: the same bytes as in process, and the same errors. */
import { describe, expect, it } from 'vitest';
import { loadPipeline, runPipeline, WeightshareError, WorkerExecutor } from '@weightshare/framework';
import { cli } from './helpers/cli.js';
import { builtins } from './helpers/run.js';

/** The built plugin (worker threads import compiled modules). */
async function run(set: string[], threads: number) {
  const { cpuPlugin } = await import('../packages/plugin-cpu/dist/index.js');
  const { loaded, registry } = await loadPipeline('pipelines/quickstart.yaml', [cpuPlugin, ...builtins.slice(1)], { set: ['output.write=false', ...set] });
  const executor = threads > 1 ? new WorkerExecutor(threads) : undefined;
  try {
    return await runPipeline(loaded, registry, executor ? { executor } : {});
  } finally {
    await executor?.close();
  }
}

describe('WorkerExecutor', () => {
  it.each([
    ['exact', ['rounds=3']],
    ['gd', ['stages.optimize={method: gd, lambda: 2, epochs: 200}', 'rounds=3']],
    ['sgd', ['stages.optimize={method: sgd, lambda: 2, epochs: 5}', 'rounds=3']],
    ['adam, logistic', ['loss=logistic', 'stages.optimize={method: adam, lambda: 1, epochs: 50}', 'rounds=2']],
  ])('%s: two threads give the same bytes as one', async (_name, set) => {
    const one = await run(set as string[], 1);
    const two = await run(set as string[], 2);
    expect(Buffer.from(two.weights.data.buffer).equals(Buffer.from(one.weights.data.buffer))).toBe(true);
    expect(JSON.stringify(two.results)).toBe(JSON.stringify(one.results));
  });

  it('starts its threads when made, loading the framework in them: an executor never used, closed or not, lets its process exit cleanly, under the parent\'s flags', async () => {
    const { spawnSync } = await import('node:child_process');
    const framework = new URL('../packages/framework/dist/index.js', import.meta.url).href;
    for (const end of ['await ex.close();', '']) {
      const probe = `const { WorkerExecutor } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2); await new Promise((r) => setTimeout(r, 200)); ${end} console.log('done');`;
      // (threads inherit the parent's flags: --input-type=module and per-process ones as the bench's)
      const r = spawnSync(process.execPath, ['--max-old-space-size=4096', '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr }).toEqual({ status: 0, signal: null, out: 'done', err: '' });
    }
    // a task right after making it (the framework still loading in the threads) runs as before
    const probe = `const { WorkerExecutor, sha256 } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2);
const out = await ex.map(['a', 'b', 'c'], { name: 'hash', run: (x) => sha256(x), entry: { module: ${JSON.stringify(framework)}, export: 'sha256' } });
await ex.close(); console.log(JSON.stringify(out.map((h, i) => h === sha256(['a', 'b', 'c'][i]))));`;
    const r = spawnSync(process.execPath, ['--max-old-space-size=4096', '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('[true,true,true]');
  });

  it('a thread that ends in the middle of a batch (process.exit in a task) fails the batch, and the next batch gets a new thread', async () => {
    const { spawnSync } = await import('node:child_process');
    const framework = new URL('../packages/framework/dist/index.js', import.meta.url).href;
    const exits = `data:text/javascript,${encodeURIComponent('export const f = (x) => (x === 2 ? process.exit(3) : x);')}`;
    const probe = `const { WorkerExecutor } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2);
const entry = { module: ${JSON.stringify(exits)}, export: 'f' };
const first = await ex.map([1, 2, 3, 4], { name: 'exits', run: (x) => x, entry }).then(() => 'resolved', (e) => e.message);
const second = await ex.map([1, 3, 4, 5], { name: 'exits', run: (x) => x, entry });
await ex.close(); console.log(JSON.stringify({ first, second }));`;
    // three times: without a batch holding its thread, the process could end while the exit was on its way
    for (let k = 0; k < 3; k++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      const out = JSON.parse(r.stdout.trim()) as { first: string; second: number[] };
      expect(out.first).toMatch(/exit code 3/);
      expect(out.second).toEqual([1, 3, 4, 5]);
    }
  });

  it('hands a batch out in pieces as threads finish: a thread held up by one task does not hold back the rest', async () => {
    const { spawnSync } = await import('node:child_process');
    const framework = new URL('../packages/framework/dist/index.js', import.meta.url).href;
    // task 0 waits until more than half of the batch is done on other threads: with the batch cut into one half per
    // thread up front, the other thread would get only half, and task 0 would give up after 20 s
    const slow = `data:text/javascript,${encodeURIComponent(`export const f = ({ i, flag, n }) => {
  const a = new Int32Array(flag);
  if (i !== 0) { Atomics.add(a, 0, 1); Atomics.notify(a, 0); return 'done'; }
  const deadline = Date.now() + 20000;
  while (Atomics.load(a, 0) <= n / 2 && Date.now() < deadline) Atomics.wait(a, 0, Atomics.load(a, 0), 50);
  return Atomics.load(a, 0) > n / 2 ? 'released' : 'gave up';
};`)}`;
    const probe = `const { WorkerExecutor } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2);
const flag = new SharedArrayBuffer(4), n = 16;
const out = await ex.map(Array.from({ length: n }, (_, i) => ({ i, flag, n })), { name: 'slow', run: () => 'in process', entry: { module: ${JSON.stringify(slow)}, export: 'f' } });
await ex.close(); console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim())).toEqual(['released', ...Array.from({ length: 15 }, () => 'done')]);
  });

  it('a thread that ends right after a piece of a batch: every batch settles, and the next one gets a new thread', async () => {
    const { spawnSync } = await import('node:child_process');
    const framework = new URL('../packages/framework/dist/index.js', import.meta.url).href;
    // task 0 returns, then its thread ends before (or while) it is sent its next piece
    const exits = `data:text/javascript,${encodeURIComponent('export const f = (x) => { if (x === 0) setTimeout(() => process.exit(3), 0); return x; };')}`;
    const probe = `const { WorkerExecutor } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2);
const entry = { module: ${JSON.stringify(exits)}, export: 'f' };
const outcome = (p) => p.then((v) => JSON.stringify(v), (e) => e.message);
const outcomes = [];
for (let k = 0; k < 30; k++) {
  outcomes.push(await outcome(ex.map(k === 0 ? Array.from({ length: 16 }, (_, i) => i) : [1, 2, 3, 4], { name: 'exits', run: (x) => x, entry })));
  await new Promise((r) => setTimeout(r, 5));
}
await ex.close(); console.log(JSON.stringify(outcomes));`;
    // where the exit lands depends on timing (the thread may finish the batch first, and a later batch then meets the
    // ended thread): every batch settles, with its results or an error that says the thread ended, and the batch
    // after such an error gets a new thread
    for (let k = 0; k < 3; k++) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      const out = JSON.parse(r.stdout.trim()) as string[];
      expect(out[0]).toMatch(/^(\[0(,\d+){15}\]|.*ended.*)$/);
      for (const o of out.slice(1)) expect(o).toMatch(/^(\[1,2,3,4\]|.*ended.*)$/);
      expect(out.filter((o) => /ended/.test(o)).length).toBeLessThanOrEqual(1);
      expect(out.at(-1)).toBe('[1,2,3,4]');
    }
  });

  it('items that cannot be sent to a thread fail the batch naming the item, and leave no thread holding the process', async () => {
    const { spawnSync } = await import('node:child_process');
    const framework = new URL('../packages/framework/dist/index.js', import.meta.url).href;
    // no close(): a thread still held for the failed piece would keep this process alive until the timeout
    const probe = `const { WorkerExecutor } = await import(${JSON.stringify(framework)}); const ex = new WorkerExecutor(2);
const entry = { module: ${JSON.stringify(framework)}, export: 'sha256' };
const r = await ex.map(['a', 'b', 'c', 'd', 'e', 'f', () => 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'], { name: 'clone', run: (x) => x, entry }).then(() => 'resolved', (e) => e.constructor.name + ': ' + e.message);
console.log(r);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    // (16 items on 2 threads: pieces of 4, 3, … — the item named is the one that cannot be sent, not its piece's first)
    expect(r.stdout.trim()).toMatch(/^TaskFailure: clone failed on item 6: .*could not be cloned/);
  });

  it('an error in a worker keeps its code, task, round and epoch', async () => {
    const err = (await run(['init={method: zeros}', 'stages.optimize={method: gd, lambda: 1, lr: 10, epochs: 500}'], 2).catch((e: unknown) => e)) as WeightshareError;
    expect(err).toBeInstanceOf(WeightshareError);
    expect(err.code).toBe('NON_FINITE_LOSS');
    expect(err.message).toMatch(/task "task-\d+".*round 1, epoch \d+/);
  });

  it('weightshare run --threads 2 writes the same results as --threads 1', () => {
    const a = cli(['run', 'pipelines/quickstart.yaml', '--json', '--threads', '2', '--set', 'output.write=false']);
    const b = cli(['run', 'pipelines/quickstart.yaml', '--json', '--threads', '1', '--set', 'output.write=false']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});
