/**
 * A run's per-task work on BullMQ workers over a real Redis server with real worker processes (`run --executor`):
 * the run folder is the one a local run writes, byte for byte; a worker killed mid-job and a coordinator killed
 * mid-run change nothing; a worker with other data refuses at once; a user error inside a shard is the error a
 * local run gives.
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { background, freePort, sharedRedis, startRedis, type Background, type RedisServer } from './helpers/redis.js';
import { scratch } from './helpers/run.js';

/** Squared loss by gradient descent from XᵀX (cached on the workers), a kNN relation, laplacian propagate, baselines. */
const GD = `apiVersion: weightshare/v1
name: drun
seed: 7
data: { source: synthetic, tasks: 12, clusters: 3, features: 6, rows: 120 }
relation: { method: estimate, similarity: cosine, knn: 3 }
stages:
  propagate: { method: laplacian, alpha: 1 }
  fuse: { method: identity }
  optimize: { method: gd, epochs: 200, lambda: 2, ridge: 0.1 }
rounds: 6
`;
/** Logistic loss by Adam on the rows (they stay on the workers), mean fuse. */
const LOGISTIC = `apiVersion: weightshare/v1
name: dlog
seed: 3
loss: logistic
data: { source: synthetic, tasks: 10, clusters: 2, features: 4, rows: 80 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: adam, epochs: 40, lr: 0.05, lambda: 1, ridge: 0.1 }
rounds: 4
`;
/** Shards of about a second each (full-batch logistic gd on 1,500 training rows per task), to be killed in the middle of. */
const SLOW = `apiVersion: weightshare/v1
name: dslow
seed: 5
loss: logistic
data: { source: synthetic, tasks: 8, clusters: 2, features: 20, rows: 2000 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, epochs: 1500, lambda: 1, ridge: 0.1, tol: 0 }
rounds: 3
evaluate: { baselines: false }
`;

let server: Pick<RedisServer, 'url' | 'stop'>;
const started: Background[] = [];
let queueNo = 0;
const runTag = `${process.pid}-${Date.now().toString(36)}`;
const nextQueue = (): string => `run${++queueNo}-${runTag}`;

beforeAll(async () => {
  server = await sharedRedis();
}, 30_000);
afterAll(async () => {
  for (const b of started) b.kill();
  await server?.stop();
});

function project(files: Record<string, string>): string {
  const dir = scratch('ws-drun-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function worker(queue: string, cwd: string, extra: string[] = [], url = server.url): Promise<Background> {
  const w = background(['worker', '--redis', url, '--queue', queue, '--concurrency', '1', ...extra], { cwd });
  started.push(w);
  await w.waitFor(/takes jobs from queue/);
  return w;
}

const files = (d: string): string[] => {
  const out: string[] = [];
  const walk = (p: string): void => {
    for (const n of readdirSync(p)) {
      const f = join(p, n);
      if (statSync(f).isDirectory()) walk(f);
      else out.push(relative(d, f));
    }
  };
  walk(d);
  return out.sort();
};
const runDir = (out: string): string => join(out, readdirSync(out).find((n) => !n.startsWith('.'))!);

/** Every file of two run folders written under the same path: the same bytes, the manifest but for its times. */
function expectSameRun(a: string, b: string): void {
  expect(files(b)).toEqual(files(a));
  for (const f of files(a)) {
    if (f === 'manifest.json') continue;
    expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
  }
  const timeless = (d: string): string => readFileSync(join(d, 'manifest.json'), 'utf8').replace(/"(startedAt|endedAt|resumedAt|at)": "[^"]+"/g, '"$1": t');
  expect(timeless(b)).toBe(timeless(a));
}

/** Runs the spec locally into out/, moves that to local/, and gives the path the remote run will write. */
function localRun(dir: string): string {
  const local = cli(['run', 'spec.yaml', '--out', 'out', '--no-cache'], { cwd: dir });
  expect(local.code, local.stderr).toBe(0);
  renameSync(join(dir, 'out'), join(dir, 'local'));
  return runDir(join(dir, 'local'));
}

const jobsOf = (stderr: string): number => Number(/per-task work through Redis: (\d+) jobs/.exec(stderr)?.[1] ?? NaN);

describe('weightshare run --executor redis://', () => {
  it.each([
    ['squared loss, gd from XᵀX, a kNN relation and laplacian propagate', GD],
    ['logistic loss, Adam on the rows', LOGISTIC],
  ])('%s: two workers write the run folder a local run writes, byte for byte', async (_, spec) => {
    const dir = project({ 'spec.yaml': spec });
    const local = localRun(dir);
    const q = nextQueue();
    const [w1, w2] = [await worker(q, dir), await worker(q, dir)];
    const remote = background(['run', 'spec.yaml', '--out', 'out', '--no-cache', '--executor', server.url, '--queue', q], { cwd: dir });
    started.push(remote);
    const end = await remote.exited();
    expect(end.code, remote.output()).toBe(0);
    expectSameRun(local, runDir(join(dir, 'out')));
    // the initial fits, every round's optimize and objective, the independent baseline went out as 2 shards each;
    // the pooled baseline (one task of all rows, which no worker holds) ran on the coordinator
    const text = remote.output();
    expect(jobsOf(text)).toBeGreaterThanOrEqual(2 * (1 + 2 * (spec === GD ? 6 : 4)));
    expect(text).toMatch(/; [1-9]\d* calls ran here/);
    for (const w of [w1, w2]) expect(w.output()).toMatch(/: done/);
    for (const w of [w1, w2]) w.kill('SIGTERM');
    for (const w of [w1, w2]) expect(await w.exited()).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('a worker killed with SIGKILL in the middle of a shard: another worker redoes it, and the run is the same', async () => {
    const dir = project({ 'spec.yaml': SLOW });
    const local = localRun(dir);
    const q = nextQueue();
    const w1 = await worker(q, dir, ['--stall-ms', '1500']);
    const remote = background(['run', 'spec.yaml', '--out', 'out', '--no-cache', '--executor', server.url, '--queue', q, '--shards', '2'], { cwd: dir });
    started.push(remote);
    // a shard in progress: the second one this worker started (each takes seconds)
    await w1.waitFor(/(ws-run-[0-9a-f]+): optimize\/gd[^\n]*\n[\s\S]*(ws-run-[0-9a-f]+): optimize\/gd/, 170_000);
    const seen = [...w1.output().matchAll(/(ws-run-[0-9a-f]+): optimize\/gd/g)].map((m) => m[1]!);
    const killed = seen[seen.length - 1]!;
    w1.kill('SIGKILL');
    await w1.exited();
    expect(w1.output()).not.toMatch(new RegExp(`${killed}: done`));
    const w2 = await worker(q, dir, ['--stall-ms', '1500']);
    const end = await remote.exited();
    expect(end.code, remote.output()).toBe(0);
    expect(w2.output()).toMatch(new RegExp(`${killed}: optimize/gd[^\\n]*\\n[\\s\\S]*${killed}: done`));
    expectSameRun(local, runDir(join(dir, 'out')));
    w2.kill('SIGTERM');
  }, 300_000);

  it('a coordinator killed mid-run resumes with --executor from its last checkpoint, to the same run', async () => {
    const dir = project({ 'spec.yaml': GD });
    const local = localRun(dir);
    const q = nextQueue();
    const w = await worker(q, dir);
    const full = cli(['run', 'spec.yaml', '--out', 'full', '--no-cache', '--executor', server.url, '--queue', q], { cwd: dir });
    expect(full.code, full.stderr).toBe(0);
    // cli() blocks this process's event loop: let the worker's log lines of that run arrive before counting
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1000));
    await settle();
    const before = w.output().length;
    // killed at its 33rd write, in the fourth of six rounds: 13 checkpoints are saved by then and the committer trails
    // by at most 8, so the first ones (the initial fits, whose jobs need not go out again) are committed
    const crashed = cli(['run', 'spec.yaml', '--out', 'out', '--no-cache', '--executor', server.url, '--queue', q], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '33' } });
    expect(crashed.signal).toBe('SIGKILL');
    const d = runDir(join(dir, 'out'));
    const resumed = cli(['resume', d, '--executor', server.url, '--queue', q, '--no-cache'], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const f of ['results.json', 'weights.npy', 'targets.npy', 'relation.npy', 'model/parameters.npy'])
      expect(readFileSync(join(d, f)).equals(readFileSync(join(local, f))), f).toBe(true);
    // only the work after the last checkpoint went out again
    expect(jobsOf(resumed.stderr)).toBeGreaterThan(0);
    expect(jobsOf(resumed.stderr)).toBeLessThan(jobsOf(full.stderr));
    // and no shard ran twice: the resumed coordinator asks for the killed one's jobs by the same ids (their content)
    await settle();
    const done = [...w.output().slice(before).matchAll(/(ws-run-[0-9a-f]+): done/g)].map((m) => m[1]!);
    expect(done.length).toBeGreaterThan(0);
    expect(new Set(done).size).toBe(done.length);
    w.kill('SIGTERM');
  }, 180_000);

  it('Redis restarted mid-run without persistence: the lost shard jobs and their blobs are put back, and the run is the same', async () => {
    const own = await startRedis(['--appendonly', 'no']);
    try {
      const dir = project({ 'spec.yaml': SLOW });
      const local = localRun(dir);
      const q = nextQueue();
      const w = await worker(q, dir, [], own.url);
      const remote = background(['run', 'spec.yaml', '--out', 'out', '--no-cache', '--executor', own.url, '--queue', q], { cwd: dir });
      started.push(remote);
      await w.waitFor(/: done/);
      await own.restart();
      const end = await remote.exited();
      expect(end.code, remote.output()).toBe(0);
      expectSameRun(local, runDir(join(dir, 'out')));
      w.kill('SIGTERM');
      await w.exited();
    } finally {
      await own.stop();
    }
  }, 240_000);

  it('a worker whose data file differs refuses at once (both hashes named); a user error inside a shard is the local one', async () => {
    const rows = ['task,x1,x2,y'];
    // in task t2, x2 = x1: its normal equations are singular without a ridge
    for (let t = 0; t < 4; t++)
      for (let i = 0; i < 6; i++) {
        const x1 = (i * 0.37 + t) % 2;
        rows.push(`t${t},${x1},${t === 2 ? x1 : (i * 1.3) % 1.7},${(i + t) % 3}`);
      }
    const csv = rows.join('\n') + '\n';
    const spec = `apiVersion: weightshare/v1
name: dcsv
seed: 1
data: { source: csv, path: data.csv, task: task, target: y }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1, ridge: 0.1 }
rounds: 2
`;
    const dir = project({ 'spec.yaml': spec, 'data.csv': csv });
    const other = project({ 'spec.yaml': spec, 'data.csv': csv.replace('t3,', 't3,9') });
    const q = nextQueue();
    const w = await worker(q, other, ['--data-root', other]);
    const t0 = performance.now();
    const r = cli(['run', 'spec.yaml', '--out', 'out', '--executor', server.url, '--queue', q], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/JOB_FAILED: the job of optimize\/exact, items 1–2 of 4 \(tasks "t0" … "t1"\) was refused by a worker: on worker \S+, \S+data\.csv has SHA-256 [0-9a-f]{12}…, not the coordinator's [0-9a-f]{12}…; give the workers the same files/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(performance.now() - t0).toBeLessThan(60_000); // refused, not retried (a retry loop would take minutes)
    w.kill('SIGTERM');

    // the same files: the run works; with no ridge and λ = 0 the normal equations of a task are singular
    cpSync(join(dir, 'data.csv'), join(other, 'data.csv'));
    const w2 = await worker(q, other, ['--data-root', other]);
    const singular = ['--set', 'stages.optimize.ridge=0', '--no-cache'];
    const here = cli(['run', 'spec.yaml', '--out', 'o1', ...singular], { cwd: dir });
    const there = cli(['run', 'spec.yaml', '--out', 'o2', ...singular, '--executor', server.url, '--queue', q], { cwd: dir });
    expect(here.code).toBe(2);
    expect(here.stderr).toMatch(/LINEAR_SYSTEM_SINGULAR: the normal equations of task "t2"/);
    expect(there.code, there.stderr).toBe(2);
    expect(there.stderr.replace(/per-task work through Redis[^\n]*\n/, '').replace(/o2/g, 'o1')).toBe(here.stderr);
    w2.kill('SIGTERM');
  }, 180_000);

  it('a forged shard job is refused: a function that is not per-task work, a module outside the package, other versions', async () => {
    const dir = project({ 'spec.yaml': GD });
    const q = nextQueue();
    const w = await worker(q, dir);
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = { host: '127.0.0.1', port: Number(new URL(server.url).port), maxRetriesPerRequest: null };
    const queue = new Queue(q, { connection });
    const events = new QueueEvents(q, { connection });
    const framework = JSON.parse(readFileSync(join(process.cwd(), 'packages/framework/package.json'), 'utf8')) as { version: string };
    const base = {
      v: 1,
      kind: 'shard',
      data: { data: { source: 'synthetic' }, split: { method: 'random' }, loss: { method: 'squared' }, seed: 1, root: dir, inputs: [] },
      check: 'x',
      offset: 0,
      label: 'forged',
      items: { t: [], v: [] },
      segments: [],
      blob: 'weightshare:none',
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ package: '@weightshare/framework', version: framework.version, path: 'dist/io.js', export: 'writeFileAtomic', name: 'x' }, /names the function "writeFileAtomic" of @weightshare\/framework, which is not per-task work a worker runs/],
      [{ package: '@weightshare/framework', version: framework.version, path: '../../etc/x.js', export: 'dataLossItem', name: 'x' }, /names the module "..\/..\/etc\/x.js", which is not a module inside @weightshare\/framework/],
      [{ package: 'left-pad', version: '1.0.0', path: 'index.js', export: 'dataLossItem', name: 'x' }, /names per-task work of the package "left-pad"/],
      [{ package: '@weightshare/framework', version: '0.0.0-other', path: 'dist/components/index.js', export: 'dataLossItem', name: 'x' }, /needs @weightshare\/framework 0.0.0-other; worker \S+ has \d+\.\d+\.\d+/],
    ];
    try {
      await events.waitUntilReady();
      for (const [work, why] of cases) {
        const job = await queue.add('shard', { ...base, work });
        await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(why);
      }
    } finally {
      await events.close();
      await queue.close();
    }
    w.kill('SIGTERM');
    await w.exited();
  }, 120_000);

  it('--shards without --executor, or not a positive number, is a usage error', () => {
    const dir = project({ 'spec.yaml': GD });
    const r = cli(['run', 'spec.yaml', '--shards', '3'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--shards splits the per-task work into jobs for --executor; give --executor redis:\/\/… too/);
    const z = cli(['run', 'spec.yaml', '--shards', '0', '--executor', server.url], { cwd: dir });
    expect(z.code).toBe(2);
    expect(z.stderr).toMatch(/--shards/);
  });

  it('a server that cannot be used: EXECUTOR_UNAVAILABLE within seconds, before the run folder is made', async () => {
    const dir = project({ 'spec.yaml': GD });
    const port = await freePort(); // nothing listens there
    const t0 = performance.now();
    const r = cli(['run', 'spec.yaml', '--out', 'out', '--executor', `redis://:secret@127.0.0.1:${port}`], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`EXECUTOR_UNAVAILABLE: --executor redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: nothing accepts connections at 127\\.0\\.0\\.1:${port}`));
    expect(r.stderr).not.toMatch(/secret/);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    // an empty URL is an error, never a silent local run
    for (const cmd of [['run', 'spec.yaml', '--out', 'out'], ['sweep', 'spec.yaml', '--out', 'out']]) {
      const e = cli([...cmd, '--executor', ''], { cwd: dir });
      expect(e.code, e.stderr).toBe(2);
      expect(e.stderr).toMatch(/EXECUTOR_UNAVAILABLE: --executor "" is not a URL/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    }
  });
});

describe('collecting the jobs of a call', () => {
  it('returns only once every finished job has been handled, however long each handler takes', async () => {
    // the handler of the first job to finish is slow (its result blob is still being read) while the other's is
    // quick: the call must not end before the slow one is done (it once did, leaving a shard's items out)
    const redis = await sharedRedis();
    const { Queue, QueueEvents, Worker, Job } = await import('bullmq');
    const { collect, jobOptions } = await import('../packages/cli/src/redis.js');
    const name = `collect-${process.pid}-${Date.now()}`;
    const url = new URL(redis.url);
    const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
    const queue = new Queue(name, { connection });
    const events = new QueueEvents(name, { connection });
    const worker = new Worker(name, async (job) => ({ n: job.data.n }), { connection });
    try {
      await events.waitUntilReady();
      for (let round = 0; round < 3; round++) {
        const payloads = [0, 1, 2].map((n) => ({ name: 'shard', data: { n, round }, opts: jobOptions(`${name}-${round}-${n}`) }));
        const handled: number[] = [];
        await collect({ Job } as never, queue, events, payloads as never, async (_id, _state, job) => {
          const n = (job.returnvalue as { n: number }).n;
          // the first job handled waits, as a slow read would; the others return at once
          if (!handled.length) {
            handled.push(-1);
            await new Promise((r) => setTimeout(r, 300));
          }
          handled.push(n);
        });
        expect(handled.filter((n) => n >= 0).sort(), `round ${round}`).toEqual([0, 1, 2]);
      }
    } finally {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await redis.stop();
    }
  }, 60_000);
});
