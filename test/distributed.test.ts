/**
 * Sweeps on BullMQ workers over a real Redis server (Debian's redis-server on 127.0.0.1) with real worker processes:
 * the sweep folder is the one a local sweep writes; a worker killed mid-job, a killed coordinator, a Redis restart
 * and duplicate delivery change nothing; failing and refused jobs, and a server that cannot be used, end in clear
 * errors with exit code 2.
 */
import { cpSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { background, freePort, sharedRedis, startRedis, type Background, type RedisServer } from './helpers/redis.js';
import { scratch } from './helpers/run.js';

const FAST = `apiVersion: weightshare/v1
name: dist
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
/** Jobs of a few seconds each (full gradient-descent epochs on 2,000 rows per task), to be killed in the middle of. */
const SLOW = `apiVersion: weightshare/v1
name: slow
seed: 5
data: { source: synthetic, tasks: 12, clusters: 3, features: 20, rows: 2000 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, epochs: 4000, lambda: 1, ridge: 0.1, tol: 0 }
rounds: 12
sweep:
  parameters:
    stages.optimize.lambda: [0.1, 1, 10]
`;

let server: Pick<RedisServer, 'url' | 'stop'>;
const started: Background[] = [];
let queueNo = 0;
const runTag = `${process.pid}-${Date.now().toString(36)}`;

beforeAll(async () => {
  server = await sharedRedis();
}, 30_000);
afterAll(async () => {
  for (const b of started) b.kill();
  await server?.stop();
});

function project(files: Record<string, string>): string {
  const dir = scratch('ws-dist-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Starts a worker on `queue` and waits until it takes jobs. */
async function worker(url: string, queue: string, cwd: string, extra: string[] = []): Promise<Background> {
  const w = background(['worker', '--redis', url, '--queue', queue, '--concurrency', '1', ...extra], { cwd });
  started.push(w);
  await w.waitFor(/takes jobs from queue/);
  return w;
}

const sweepDir = (out: string): string => join(out, readdirSync(out).find((n) => n.includes('-sweep-'))!);

/** Every file of two sweep folders, the same bytes but for the folder's own path, times, and where stages came from. */
function expectSameSweep(a: string, b: string): void {
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
  expect(files(b)).toEqual(files(a));
  const norm = (d: string, f: string): string =>
    readFileSync(join(d, f), 'latin1')
      .split(d)
      .join('<sweep>')
      .replace(/"cachedStages": \d+/g, '"cachedStages": n') // which stages came from the stage cache (not a result)
      .replace(/"specSha256": "[0-9a-f]+"/g, '"specSha256": h'); // the resolved spec names the folder
  for (const f of files(a)) {
    if (/(^|\/)(sweep|manifest)\.json$/.test(f)) continue; // start times, hosts
    expect(norm(b, f), f).toBe(norm(a, f));
  }
  expect(readFileSync(join(b, 'summary.json')).equals(readFileSync(join(a, 'summary.json')))).toBe(true);
}

describe('weightshare sweep --executor redis://', () => {
  it('on two worker processes writes the sweep folder a local --jobs 2 sweep writes', async () => {
    const dir = project({ 'spec.yaml': FAST });
    const q = `q${++queueNo}-${runTag}`;
    const local = cli(['sweep', 'spec.yaml', '--jobs', '2', '--out', 'local'], { cwd: dir });
    expect(local.code, local.stderr).toBe(0);
    const [w1, w2] = [await worker(server.url, q, dir), await worker(server.url, q, dir)];
    const remote = background(['sweep', 'spec.yaml', '--out', 'remote', '--executor', server.url, '--queue', q], { cwd: dir });
    expect((await remote.exited()).code, remote.output()).toBe(0);
    expectSameSweep(sweepDir(join(dir, 'local')), sweepDir(join(dir, 'remote')));
    // both workers took jobs, and each of the 4 validation fits ran once
    const ran = (w: Background): string[] => [...w.output().matchAll(/\.(split-c\d+): done/g)].map((m) => m[1]!);
    expect(ran(w1).length).toBeGreaterThan(0);
    expect(ran(w2).length).toBeGreaterThan(0);
    expect([...ran(w1), ...ran(w2)].sort()).toEqual(['split-c0', 'split-c1', 'split-c2', 'split-c3']);
    // SIGTERM: the worker stops taking jobs and exits 0
    w1.kill('SIGTERM');
    w2.kill('SIGTERM');
    expect(await w1.exited()).toEqual({ code: 0, signal: null });
    expect(await w2.exited()).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('a worker killed with SIGKILL in the middle of a job: another worker redoes it, and the result is the same', async () => {
    const dir = project({ 'spec.yaml': SLOW });
    const q = `q${++queueNo}-${runTag}`;
    const local = cli(['sweep', 'spec.yaml', '--jobs', '2', '--out', 'local'], { cwd: dir });
    expect(local.code, local.stderr).toBe(0);
    // a short lock, so the dead worker's job is noticed soon (only here: a busy machine could let a live one lapse)
    const w1 = await worker(server.url, q, dir, ['--stall-ms', '1500']);
    const remote = background(['sweep', 'spec.yaml', '--out', 'remote', '--executor', server.url, '--queue', q], { cwd: dir });
    started.push(remote);
    await w1.waitFor(/(\S+\.split-c\d+): started/);
    const killedJob = /(\S+\.split-c\d+): started/.exec(w1.output())![1]!;
    w1.kill('SIGKILL');
    await w1.exited();
    expect(w1.output()).not.toMatch(new RegExp(`${killedJob.replace('.', '\\.')}: done`));
    const w2 = await worker(server.url, q, dir, ['--stall-ms', '1500']);
    expect((await remote.exited()).code, remote.output()).toBe(0);
    // the stalled job went back to the queue and w2 ran it to the end
    expect(w2.output()).toMatch(new RegExp(`${killedJob.replace('.', '\\.')}: started \\(attempt \\d\\)[\\s\\S]*${killedJob.replace('.', '\\.')}: done`));
    expectSameSweep(sweepDir(join(dir, 'local')), sweepDir(join(dir, 'remote')));
    w2.kill('SIGTERM');
  }, 240_000);

  it('a coordinator killed mid-sweep resumes; jobs finished on the queue meanwhile are collected, none run twice', async () => {
    const dir = project({ 'spec.yaml': FAST });
    const q = `q${++queueNo}-${runTag}`;
    expect(cli(['sweep', 'spec.yaml', '--jobs', '1', '--out', 'local'], { cwd: dir }).code).toBe(0);
    const w = await worker(server.url, q, dir);
    // killed at its fourth write (the spec and sweep.json come first, then job results): one job recorded, the others not
    const crashed = cli(['sweep', 'spec.yaml', '--out', 'remote', '--executor', server.url, '--queue', q, '--no-cache'], { cwd: dir, env: { WEIGHTSHARE_CRASH_AT_WRITE: '4' } });
    expect(crashed.signal).toBe('SIGKILL');
    const d = sweepDir(join(dir, 'remote'));
    expect(readdirSync(join(d, 'jobs')).filter((f) => !f.startsWith('.'))).toHaveLength(1);
    // let the worker finish what was queued (the coordinator is gone)
    await w.waitFor(/split-c3: done/);
    const resumed = cli(['resume', d, '--executor', server.url, '--queue', q], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(readFileSync(join(d, 'summary.json')).equals(readFileSync(join(sweepDir(join(dir, 'local')), 'summary.json')))).toBe(true);
    const runs = [...w.output().matchAll(/\.(split-c\d+): started/g)].map((m) => m[1]);
    expect(runs.sort()).toEqual(['split-c0', 'split-c1', 'split-c2', 'split-c3']);
    w.kill('SIGTERM');
  }, 120_000);

  it.each([
    ['on', 'no job done twice'],
    ['off', 'the lost jobs added again'],
  ])('Redis restarted mid-sweep (persistence %s): the sweep finishes with the same results, %s', async (persistence) => {
    const own = await startRedis(['--appendonly', persistence === 'on' ? 'yes' : 'no']);
    try {
      const dir = project({ 'spec.yaml': SLOW });
      const q = `q${++queueNo}-${runTag}`;
      expect(cli(['sweep', 'spec.yaml', '--jobs', '2', '--out', 'local'], { cwd: dir }).code).toBe(0);
      const w = await worker(own.url, q, dir);
      const remote = background(['sweep', 'spec.yaml', '--out', 'remote', '--executor', own.url, '--queue', q], { cwd: dir });
      started.push(remote);
      await w.waitFor(/split-c0: done/);
      await own.restart();
      expect((await remote.exited()).code, remote.output()).toBe(0);
      expectSameSweep(sweepDir(join(dir, 'local')), sweepDir(join(dir, 'remote')));
      expect(remote.output()).not.toMatch(/error/i);
      const done = [...w.output().matchAll(/\.(split-c\d+): done/g)].map((m) => m[1]);
      if (persistence === 'on') expect(done.sort()).toEqual(['split-c0', 'split-c1', 'split-c2']);
      // without persistence the queue is empty after the restart: the coordinator added its jobs again
      else expect([...new Set(done)].sort()).toEqual(['split-c0', 'split-c1', 'split-c2']);
      w.kill('SIGTERM');
      await w.exited();
    } finally {
      await own.stop();
    }
  }, 240_000);

  it('a job that fails on every attempt stops the sweep with JOB_FAILED naming the job, split and candidate', async () => {
    // a plugin whose fuse method has a bug (it throws a plain Error): not a user error, so the job is retried, then reported
    const plugin = `export default {
  meta: { name: 'crashy', version: '1.0.0', apiVersion: 2 },
  backend: 'cpu',
  capabilities: { precision: 'float64' },
  stages: { fuse: { broken: { description: 'always throws', options: {}, run() { throw new Error('boom in crashy'); } } } },
};
`;
    const dir = project({ 'spec.yaml': FAST.replace('fuse: { method: mean }', 'fuse: { method: broken }').replace('apiVersion: weightshare/v1', 'apiVersion: weightshare/v1\nplugins: [./crashy.mjs]'), 'crashy.mjs': plugin });
    const q = `q${++queueNo}-${runTag}`;
    // a job is a spec from whoever can write to the queue: plugin files load only from folders the worker allows
    const strict = await worker(server.url, q, dir);
    const refused = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', q], { cwd: dir });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/was refused by a worker: .*this worker cannot load the job's spec: .*PLUGIN_REFUSED|was refused by a worker: .*allow-plugin-path/);
    strict.kill('SIGTERM');
    await strict.exited();
    const w = await worker(server.url, q, dir, ['--allow-plugin-path', dir]);
    const r = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', q], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/error JOB_FAILED: the sweep job split-c\d \(outer split split, candidate \d \(stages\.optimize\.lambda=[\d.]+\)\) failed on 3 attempts: .*boom in crashy/);
    await w.waitFor(/split-c\d: started \(attempt 3\)/); // retried, but not forever (the sweep stopped after the third)
    expect(r.stderr).not.toMatch(/\n\s+at /); // the worker keeps the stack in its log; the message has its first line
    expect(w.output()).toMatch(/\n\s+at /);
    w.kill('SIGTERM');
    await w.exited();
    // fixed on the workers: resume sends the failed jobs again (they are not stuck as failed on the queue)
    writeFileSync(join(dir, 'crashy.mjs'), plugin.replace("run() { throw new Error('boom in crashy'); }", 'run(input) { const { rows: T, cols: d, data } = input.propagated; return { targets: { rows: T, cols: d, data: Float64Array.from(data) }, penaltyWeights: new Float64Array(T).fill(1) }; }'));
    const fixed = await worker(server.url, q, dir, ['--allow-plugin-path', dir]);
    const d = join(dir, 'runs', 'dist-sweep-2'); // the sweep that failed on 3 attempts
    const resumed = cli(['resume', d, '--executor', server.url, '--queue', q, '--allow-plugin-path', dir], { cwd: dir });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')).splits[0].candidates).toHaveLength(4);
    fixed.kill('SIGTERM');
    await fixed.exited();
  }, 120_000);

  it('a worker refuses a job whose data file differs (hashes named) or whose plugin version differs, at once', async () => {
    const dataSpec = FAST.replace(/data: \{[^}]*\}/, 'data: { source: csv, path: rows.csv, task: task, target: y }').replace('sweep:', 'split: { method: random, testFraction: 0.25 }\nsweep:');
    const rows = ['task,x,y', ...Array.from({ length: 60 }, (_, i) => `t${i % 3},${(i * 0.37) % 2},${((i * 1.3) % 5) + (i % 3)}`)].join('\n') + '\n';
    const dir = project({ 'spec.yaml': dataSpec, 'rows.csv': rows });
    // the worker sees the spec folder at another path (--data-root), where rows.csv has one cell changed
    const mirror = scratch('ws-dist-mirror-');
    cpSync(dir, mirror, { recursive: true });
    writeFileSync(join(mirror, 'rows.csv'), rows.replace('t0,0,0', 't0,0,0.5'));
    const q = `q${++queueNo}-${runTag}`;
    const w = await worker(server.url, q, dir, ['--data-root', mirror]);
    const t0 = Date.now();
    const r = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', q], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/JOB_FAILED: the sweep job split-c\d .* was refused by a worker: on worker \S+, \S+rows\.csv has SHA-256 [0-9a-f]{12}…, not the coordinator's [0-9a-f]{12}…; give the workers the same files/);
    await w.waitFor(/split-c\d: refused: on worker/);
    expect(w.output()).not.toMatch(/attempt/); // refused before it started, and not retried
    expect(Date.now() - t0).toBeLessThan(60_000);
    // the same files under --data-root: the sweep runs, and matches the local one
    writeFileSync(join(mirror, 'rows.csv'), rows);
    const ok = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', q, '--out', 'remote'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    expect(cli(['sweep', 'spec.yaml', '--jobs', '1', '--out', 'local'], { cwd: dir }).code).toBe(0);
    expectSameSweep(sweepDir(join(dir, 'local')), sweepDir(join(dir, 'remote')));
    w.kill('SIGTERM');
    await w.exited();
    // a plugin of another version on the worker than on the coordinator
    const v = (version: string) => `export default {
  meta: { name: 'mine', version: '${version}', apiVersion: 2 },
  backend: 'cpu',
  capabilities: { precision: 'float64' },
  stages: { fuse: { mine: { description: 'the mean', options: {}, run(input) { const { rows: T, cols: d, data } = input.propagated; const m = new Float64Array(d); for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) m[j] += data[t * d + j] / T; const targets = new Float64Array(T * d); for (let t = 0; t < T; t++) targets.set(m, t * d); return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: new Float64Array(T).fill(1) }; } } } },
};
`;
    const pdir = project({ 'spec.yaml': FAST.replace('fuse: { method: mean }', 'fuse: { method: mine }').replace('apiVersion: weightshare/v1', 'apiVersion: weightshare/v1\nplugins: [./mine.mjs]'), 'mine.mjs': v('1.0.0') });
    const pmirror = scratch('ws-dist-mirror-');
    cpSync(pdir, pmirror, { recursive: true });
    writeFileSync(join(pmirror, 'mine.mjs'), v('2.0.0'));
    const pq = `q${++queueNo}-${runTag}`;
    const pw = await worker(server.url, pq, pmirror, ['--data-root', pmirror, '--allow-plugin-path', pmirror]);
    const pr = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', pq], { cwd: pdir });
    expect(pr.code, pr.stderr).toBe(2);
    expect(pr.stderr).toMatch(/was refused by a worker: .*its fuse stage \(mine\) needs mine 1\.0\.0; this worker has mine 2\.0\.0/);
    pw.kill('SIGTERM');
    await pw.exited();
  }, 180_000);
});

describe('what a worker takes from the queue', () => {
  it('a forged job (not a weightshare job, or one that names where to write) is refused; a job whose thread dies is retried, then JOB_FAILED', async () => {
    const dir = project({ 'spec.yaml': FAST });
    const q = `forged-${runTag}`;
    const w = await worker(server.url, q, dir);
    const { Queue, QueueEvents } = await import('bullmq');
    const connection = { host: '127.0.0.1', port: Number(new URL(server.url).port), maxRetriesPerRequest: null };
    const queue = new Queue(q, { connection });
    const events = new QueueEvents(q, { connection });
    try {
      await events.waitUntilReady();
      const outside = join(scratch('ws-dist-outside-'), 'written-here');
      const forged = [
        { name: 'fit', data: { v: 1, sweep: 'x', root: dir, inputs: [], label: 'x', job: { key: 'k1', text: 'not a spec', file: join(dir, 'spec.yaml') } } },
        { name: 'fit', data: { hello: 'world' } },
      ];
      for (const f of forged) {
        const job = await queue.add(f.name, f.data);
        await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(/refused: worker \S+ (got a job that is not a weightshare sweep job|speaks job version 1)/);
      }
      // a real job's fields plus runOut: the worker runs it, but never writes a run folder where the job says
      const spec = readFileSync(join(dir, 'spec.yaml'), 'utf8');
      const { cpuPlugin } = await import('@weightshare/plugin-cpu');
      const versions = { [cpuPlugin.meta.name]: cpuPlugin.meta.version };
      const job = await queue.add('fit', { v: 1, sweep: 'x', root: dir, inputs: [], label: 'x', job: { key: 'split-c0', text: spec, file: join(dir, 'spec.yaml'), set: ['output.write=false'], validation: 0.25, versions, runOut: outside } });
      const result = (await job.waitUntilFinished(events, 60_000)) as { ok: boolean; runDir?: string };
      expect(result.ok).toBe(true);
      expect(result.runDir).toBeUndefined();
      expect(existsSync(outside)).toBe(false);
      // and with plugin versions other than the worker's, it is refused, naming both
      const other = await queue.add('fit', { v: 1, sweep: 'x', root: dir, inputs: [], label: 'x', job: { key: 'split-c1', text: spec, file: join(dir, 'spec.yaml'), set: ['output.write=false'], validation: 0.25, versions: {} } });
      await expect(other.waitUntilFinished(events, 60_000)).rejects.toThrow(/refused: on worker \S+, .*needs @weightshare\/plugin-cpu \(not on the coordinator\); this worker has @weightshare\/plugin-cpu \d+\.\d+\.\d+/);
    } finally {
      await events.close();
      await queue.close();
    }
    w.kill('SIGTERM');
    await w.exited();
    // a plugin that ends the job's thread: the attempt fails, the thread is replaced, and after 3 attempts JOB_FAILED
    const exiting = `export default {
  meta: { name: 'exiting', version: '1.0.0', apiVersion: 2 },
  backend: 'cpu',
  capabilities: { precision: 'float64' },
  stages: { fuse: { exiting: { description: 'ends its thread', options: {}, run() { process.exit(3); } } } },
};
`;
    const edir = project({ 'spec.yaml': FAST.replace('fuse: { method: mean }', 'fuse: { method: exiting }').replace('apiVersion: weightshare/v1', 'apiVersion: weightshare/v1\nplugins: [./exiting.mjs]'), 'exiting.mjs': exiting });
    const eq = `exiting-${runTag}`;
    const ew = await worker(server.url, eq, edir, ['--allow-plugin-path', edir]);
    const r = cli(['sweep', 'spec.yaml', '--executor', server.url, '--queue', eq], { cwd: edir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/JOB_FAILED: the sweep job split-c\d .* failed on 3 attempts: .*the job's thread ended \(exit code 3\) before it answered/);
    await ew.waitFor(/takes jobs/);
    expect(ew.child.exitCode).toBe(null); // the worker itself lives on
    ew.kill('SIGTERM');
    expect((await ew.exited()).code).toBe(0);
  }, 180_000);
});

describe('a Redis server that cannot be used', () => {
  it('nothing listening, a wrong or missing password, a wrong URL: one paragraph, exit 2, within seconds', async () => {
    const dir = project({ 'spec.yaml': FAST });
    const port = await freePort();
    const t0 = Date.now();
    const none = cli(['sweep', 'spec.yaml', '--executor', `redis://127.0.0.1:${port}`], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(new RegExp(`EXECUTOR_UNAVAILABLE: --executor redis://127\\.0\\.0\\.1:${port}: nothing accepts connections at 127\\.0\\.0\\.1:${port}\\. Start a Redis server there`));
    expect(Date.now() - t0).toBeLessThan(20_000); // no endless retry loop (a refused connection is reported at once)
    expect(existsSync(join(dir, 'runs'))).toBe(false); // found before the sweep folder is made
    expect(cli(['worker', '--redis', `redis://127.0.0.1:${port}`], { cwd: dir }).code).toBe(2);
    const locked = await startRedis(['--requirepass', 's3cret']);
    try {
      const missing = cli(['sweep', 'spec.yaml', '--executor', locked.url], { cwd: dir });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/wants a password\. Give it in the URL: redis:\/\/:PASSWORD@127\.0\.0\.1:\d+/);
      const wrong = cli(['sweep', 'spec.yaml', '--executor', `redis://:nope@127.0.0.1:${locked.port}`], { cwd: dir });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/refused the password\. Fix the password in the URL/);
      expect(wrong.stderr).not.toMatch(/nope/); // the password is never printed
      expect(wrong.stderr).toMatch(/redis:\/\/:\*\*\*@127\.0\.0\.1/);
      // the right password works (and no sweep folder was left by the refused attempts)
      const w = await worker(`redis://:s3cret@127.0.0.1:${locked.port}`, 'auth', dir);
      const ok = cli(['sweep', 'spec.yaml', '--executor', `redis://:s3cret@127.0.0.1:${locked.port}`, '--queue', 'auth', '--out', 'ok'], { cwd: dir });
      expect(ok.code, ok.stderr).toBe(0);
      w.kill('SIGTERM');
      await w.exited();
    } finally {
      await locked.stop();
    }
    // TLS (rediss://): a server with a certificate from a private CA, trusted through NODE_EXTRA_CA_CERTS
    const tls = scratch('ws-dist-tls-');
    const ssl = (args: string[]) => expect(spawnSync('openssl', args, { cwd: tls, encoding: 'utf8' }).status, args.join(' ')).toBe(0);
    ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=weightshare test CA']);
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
    writeFileSync(join(tls, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf']);
    const tlsPort = await freePort();
    const secure = await startRedis(['--port', '0', '--tls-port', String(tlsPort), '--tls-cert-file', join(tls, 'server.pem'), '--tls-key-file', join(tls, 'server.key'), '--tls-ca-cert-file', join(tls, 'ca.pem'), '--tls-auth-clients', 'no']);
    try {
      const surl = `rediss://localhost:${tlsPort}`;
      const untrusted = cli(['sweep', 'spec.yaml', '--executor', surl], { cwd: dir });
      expect(untrusted.code).toBe(2);
      expect(untrusted.stderr).toMatch(/the TLS connection to localhost:\d+ failed: .*certificate.*NODE_EXTRA_CA_CERTS/);
      const plain = cli(['sweep', 'spec.yaml', '--executor', `redis://localhost:${tlsPort}`], { cwd: dir });
      expect(plain.code).toBe(2);
      expect(plain.stderr).toMatch(/localhost:\d+ closed the connection \(a TLS-only port\? use rediss:\/\/\); check the URL\./);
      const env = { NODE_EXTRA_CA_CERTS: join(tls, 'ca.pem') };
      const w = background(['worker', '--redis', surl, '--queue', 'tls', '--concurrency', '1'], { cwd: dir, env });
      started.push(w);
      await w.waitFor(/takes jobs from queue/);
      const ok = cli(['sweep', 'spec.yaml', '--executor', surl, '--queue', 'tls', '--out', 'tls'], { cwd: dir, env });
      expect(ok.code, ok.stderr).toBe(0);
      expect(readFileSync(join(sweepDir(join(dir, 'tls')), 'summary.json')).equals(readFileSync(join(sweepDir(join(dir, 'ok')), 'summary.json')))).toBe(true);
      w.kill('SIGTERM');
      await w.exited();
    } finally {
      await secure.stop();
    }
    for (const [url, why] of [
      ['http://127.0.0.1:6379', /the scheme is http; weightshare's executor is Redis/],
      ['127.0.0.1:6379', /is not a URL|the scheme is 127\.0\.0\.1/],
      ['redis://127.0.0.1:6379/x', /should be a database number/],
    ] as const) {
      const r = cli(['sweep', 'spec.yaml', '--executor', url], { cwd: dir });
      expect(r.code, url).toBe(2);
      expect(r.stderr, url).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 120_000);
});

