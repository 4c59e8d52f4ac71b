/**
 * A run's per-task work on BullMQ workers over Redis (`weightshare run|resume … --executor redis://…`).
 *
 * The coordinator runs the engine as always; its executor sends each call of per-task work (optimize, the per-task
 * loss of the objective, the initial and baseline fits) as one job per shard of tasks. Propagate, fuse and whatever
 * names no task of the run (the pooled baseline) stay on the coordinator. A job carries references, not rows: where
 * the data comes from (the spec's data, split and loss sections, the seed, the SHA-256 of every input file) and,
 * for each task, its index in the run; the parameters (W rows, E rows, options) travel in a binary blob next to the
 * job ({@link encode}). A worker prepares the run's data exactly as the coordinator did (same code, same files,
 * checked by hash and by a fingerprint of the prepared tasks), keeps it between jobs, and keeps per-task values
 * derived from it (XᵀX, …) too: the executor is `resident`. Job ids are the SHA-256 of their content, so a
 * duplicate delivery, or a coordinator that resumes after a kill, finds the result of the same work already there.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  clearPreparedData,
  ErrorCode,
  invalidArgument,
  loadPrepared,
  lossOf,
  PluginRegistry,
  Rng,
  specInputs,
  TaskFailure,
  WeightshareError,
  type ComponentSpec,
  type DataSpec,
  type LoadedSpec,
  type PreparedData,
  type SplitSpec,
  type TaskData,
  type TaskExecutor,
  type TaskWork,
} from '@weightshare/framework';
import { builtinPlugins, loadBuiltins } from './plugins.js';
import { checkRedis, collect, jobOptions, openQueue, parseRedisUrl, type Payload, type RedisTarget } from './redis.js';
import { arrayKey, blobsNamed, decode, encode, type Elsewhere, type Segment } from './wire.js';

/** The largest blob of one shard job (its tasks' parameter rows and options); above it the run stops and says so. */
export const MAX_SHARD_BYTES = 256 << 20;
/** Version of the shard job payload. */
export const SHARD_VERSION = 1;
/**
 * The per-task functions a worker calls for a job, by package: its own installed copies, never a path a job names.
 * A list, not "any export": a forged job must not be able to call, say, a function that writes files. Work with any
 * other entry runs on the coordinator (a test checks that every optimize method of plugin-cpu is listed).
 */
export const REMOTE_ENTRIES: Readonly<Record<string, readonly string[]>> = {
  '@weightshare/framework': ['dataLossItem'],
  '@weightshare/plugin-cpu': ['solveExact', 'solveGd', 'solveSgd', 'solveAdam', 'solveLbfgs', 'solveNewton', 'computeStats'],
};
const BUILTIN_PACKAGES = Object.keys(REMOTE_ENTRIES);

/** Where the run's data comes from: everything {@link loadPrepared} is a function of, plus the input files' hashes. */
export interface DataRef {
  data: DataSpec;
  split: SplitSpec;
  loss: ComponentSpec;
  seed: number;
  /** The spec's folder on the coordinator (relative paths resolve from it, or from a worker's --data-root). */
  root: string;
  inputs: { path: string; sha256: string }[];
}

/** A per-task function as a worker finds it: a module of one of its own packages, by path inside the package. */
export interface EntryRef {
  package: string;
  version: string;
  path: string;
  export: string;
}

/** What a shard job carries (the blob holding its arrays is a Redis key next to it). */
export interface ShardJob {
  v: number;
  kind: 'shard';
  work: EntryRef & { name: string };
  data: DataRef;
  /** Fingerprint of the prepared training tasks on the coordinator (the worker's must be the same). */
  check: string;
  /** Index (in the call) of the shard's first item, and the shard, for messages. */
  offset: number;
  label: string;
  items: unknown;
  segments: Segment[];
  blob: string;
}

/** What a worker answers: the outputs in a blob of its own, or a user error of the work (as a local run reports it). */
export type ShardResult =
  | { v: number; ok: true; out: unknown; segments: Segment[]; blob: string }
  | { v: number; ok: false; index: number; error: { name?: string; code?: string; message: string; problems?: unknown[]; context?: Record<string, unknown> } };

/** The package a module file belongs to (the nearest package.json with a name), and the file's path inside it. */
function packageOf(file: string): { root: string; name: string; version: string } | undefined {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        const p = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
        if (p.name) return { root: dir, name: p.name, version: String(p.version) };
      } catch {
        return undefined;
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/** The entry of `work` as a reference a worker can resolve, or undefined when it is not in a built-in package. */
export function entryRefOf(entry: { module: string; export: string }): EntryRef | undefined {
  if (!entry.module.startsWith('file:')) return undefined;
  const file = fileURLToPath(entry.module);
  const p = packageOf(file);
  if (!p || !Object.hasOwn(REMOTE_ENTRIES, p.name) || !REMOTE_ENTRIES[p.name]!.includes(entry.export)) return undefined;
  return { package: p.name, version: p.version, path: relative(p.root, file).split(sep).join('/'), export: entry.export };
}

/** A short fingerprint of prepared training tasks: ids, shapes, every target, the first and last row of each task. */
export function fingerprint(train: readonly TaskData[]): string {
  const h = createHash('sha256');
  for (const t of train) {
    h.update(`${t.id}\u0000${t.index}\u0000${t.X.rows}x${t.X.cols}\u0000`);
    h.update(Buffer.from(t.y.buffer, t.y.byteOffset, t.y.byteLength));
    const c = t.X.cols;
    const X = t.X.data;
    h.update(Buffer.from(X.buffer, X.byteOffset, Math.min(c, X.length) * 8));
    if (t.X.rows > 1) h.update(Buffer.from(X.buffer, X.byteOffset + (t.X.rows - 1) * c * 8, c * 8));
  }
  return h.digest('hex');
}

/** The data reference of a loaded spec (hashing its input files). */
export function dataRefOf(loaded: LoadedSpec, sha: (file: string) => string | null): DataRef {
  const spec = loaded.spec;
  const root = loaded.baseDir ?? dirname(resolve(loaded.file));
  const inputs: DataRef['inputs'] = [];
  for (const p of specInputs(spec, root)) {
    const sha256 = sha(p);
    if (sha256 !== null) inputs.push({ path: relative(root, p), sha256 });
  }
  return { data: spec.data, split: spec.split, loss: spec.loss, seed: spec.seed, root, inputs };
}

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

/** Counts of what went through Redis, for the run's last line and the benchmark. */
export interface ExecutorStats {
  calls: number;
  jobs: number;
  /** Bytes of job payloads and blobs sent to Redis, and of results and blobs read back. */
  sent: number;
  received: number;
  /** Calls of per-task work that ran on the coordinator (nothing to shard, or work that names no task of the run). */
  local: number;
}

/** The coordinator's executor (see the module comment). */
export class RedisTaskExecutor implements TaskExecutor {
  readonly resident = true;
  private readonly tasks = new Map<TaskData, number>();
  private check = '';
  private session: ReturnType<typeof openQueue> | undefined;
  private blobs: { set(k: string, v: Buffer, px: 'PX', ms: number): Promise<unknown>; getBuffer(k: string): Promise<Buffer | null>; exists(k: string): Promise<number>; del(...k: string[]): Promise<unknown>; quit(): Promise<unknown>; disconnect(): void } | undefined;
  readonly stats: ExecutorStats = { calls: 0, jobs: 0, sent: 0, received: 0, local: 0 };
  /**
   * The result blobs of the last two calls, still in Redis: a later job names an array found there (W rows a shard
   * returned, sent again as the next round's start or to the objective) by blob and offset instead of sending it
   * again. `generations` holds their keys, oldest first.
   */
  private readonly live = new Map<string, Elsewhere>();
  private readonly liveBlobs = new Map<string, Buffer>();
  private readonly generations: string[][] = [];

  private constructor(
    private readonly bull: typeof import('bullmq'),
    private readonly target: RedisTarget,
    private readonly queueName: string,
    private readonly ref: DataRef,
    private readonly shards: number,
    private readonly local: TaskExecutor,
    private readonly warn: (line: string) => void,
  ) {}

  /** Checks the server (within seconds) and makes the executor; `local` runs what stays on the coordinator. */
  static async open(url: string, queueName: string, ref: DataRef, shards: number, local: TaskExecutor, warn: (line: string) => void): Promise<RedisTaskExecutor> {
    const target = parseRedisUrl(url, '--executor');
    await checkRedis(target, '--executor');
    return new RedisTaskExecutor(await import('bullmq'), target, queueName, ref, shards, local, warn);
  }

  attach(train: readonly TaskData[]): void {
    this.tasks.clear();
    train.forEach((t, i) => this.tasks.set(t, i));
    this.check = fingerprint(train);
  }

  async map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]> {
    const entry = work.entry && entryRefOf(work.entry);
    // work that names no task of the run (propagate's chunks, the pooled baseline) has nothing on the workers
    const names = (item: unknown): boolean => typeof item === 'object' && item !== null && Object.values(item).some((v) => typeof v === 'object' && v !== null && this.tasks.has(v as TaskData));
    if (!entry || !inputs.length || !inputs.every(names)) {
      this.stats.local++;
      return this.local.map(inputs, work);
    }
    this.stats.calls++;
    const { queue, events } = await this.open();
    const n = Math.min(this.shards, inputs.length);
    const size = Math.ceil(inputs.length / n);
    const jobs: { id: string; offset: number; count: number; label: string; blobKey: string; blob: Buffer }[] = [];
    const payloads: Payload[] = [];
    for (let k = 0; k * size < inputs.length; k++) {
      const offset = k * size;
      const chunk = inputs.slice(offset, offset + size);
      const enc = encode(chunk, (v) => this.tasks.get(v as TaskData), (key) => this.live.get(key));
      const first = (chunk[0] as { task?: TaskData }).task;
      const last = (chunk[chunk.length - 1] as { task?: TaskData }).task;
      const label = `${work.name}, items ${offset + 1}–${offset + chunk.length} of ${inputs.length}${first && last ? ` (tasks "${first.id}" … "${last.id}")` : ''}`;
      if (enc.blob.length > MAX_SHARD_BYTES)
        throw invalidArgument(`${label} would send ${enc.blob.length} bytes through Redis in one job, more than the bound of ${MAX_SHARD_BYTES} (${MAX_SHARD_BYTES >> 20} MiB): give more shards (--shards ${Math.ceil((n * enc.blob.length) / MAX_SHARD_BYTES) + 1}), or run it here (--threads).`);
      const content = { v: SHARD_VERSION, kind: 'shard' as const, work: { ...entry, name: work.name }, data: this.ref, check: this.check, offset, label, items: enc.json, segments: enc.segments };
      // the id is the work's content, not where its arrays travel: a resumed coordinator (which knows no earlier
      // result blobs and sends every array) asks for the same jobs as the one that was killed
      const { items: _items, segments: _segments, ...rest } = content;
      const id = `ws-run-${sha256(JSON.stringify(rest) + '\u0000' + enc.logical).slice(0, 40)}`;
      const blobKey = `weightshare:${this.queueName}:in:${id}`;
      const data: ShardJob = { ...content, blob: blobKey };
      this.stats.sent += enc.blob.length + Buffer.byteLength(JSON.stringify(data));
      jobs.push({ id, offset, count: chunk.length, label, blobKey, blob: enc.blob });
      payloads.push({ name: 'shard', data, opts: jobOptions(id) });
    }
    // every shard checked against the bound before anything is written; then the blobs, and the earlier result
    // blobs the jobs name (put back if Redis lost them: restarted without persistence)
    await Promise.all(jobs.map((j) => this.blobs!.set(j.blobKey, j.blob, 'PX', 7 * 86400 * 1000)));
    const named = new Set(payloads.flatMap((p) => [...blobsNamed((p.data as ShardJob).items)]));
    await this.ensure(named);
    this.stats.jobs += jobs.length;
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const out = new Array<O>(inputs.length);
    const cleanup: string[] = [];
    const produced: [string, Buffer, Segment[]][] = [];
    await collect(this.bull, queue, events, payloads, async (id, state, job) => {
      const j = byId.get(id)!;
      if (state === 'failed') {
        const reason = job.failedReason ?? 'no reason given';
        const how = /^refused:/.test(reason) ? 'was refused by a worker' : `failed on ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}`;
        throw new WeightshareError(
          ErrorCode.JOB_FAILED,
          `the job of ${j.label} ${how}: ${reason.replace(/^refused: /, '').split('\n')[0]!.replace(/\.$/, '')}. Fix the cause on the workers, then resume the run (weightshare resume <run folder> --executor … --queue ${this.queueName}): it goes on from its last checkpoint.`,
        );
      }
      const r = job.returnvalue as ShardResult | null;
      const shapeless = (): WeightshareError =>
        new WeightshareError(ErrorCode.JOB_FAILED, `the job of ${j.label} came back without a result of the expected shape; is another program using the queue "${this.queueName}"? Use a queue of its own (--queue) and resume the run.`);
      if (!r || typeof r !== 'object' || r.v !== SHARD_VERSION) throw shapeless();
      this.stats.received += Buffer.byteLength(JSON.stringify(r));
      if (!r.ok) {
        // a user error of the work itself (a singular system, a non-finite loss): the same error a local run gives
        const e = r.error;
        const cause = e.name === 'WeightshareError' && e.code ? new WeightshareError(e.code as ErrorCode, e.message, { problems: (e.problems ?? []) as never, context: (e.context ?? {}) as never }) : Object.assign(new Error(e.message), { code: e.code });
        throw new TaskFailure(j.offset + r.index, work.name, cause);
      }
      const blob = await this.blobs!.getBuffer(r.blob);
      // its result blob is gone (expired, evicted, or dropped after the calls that could name it): computed again
      if (!blob) return 'again';
      this.stats.received += blob.length;
      let values: unknown;
      try {
        values = decode(r.out, r.segments, blob);
      } catch {
        throw shapeless();
      }
      if (!Array.isArray(values) || values.length !== j.count) throw shapeless();
      values.forEach((v, i) => (out[j.offset + i] = v as O));
      cleanup.push(j.blobKey);
      produced.push([r.blob, blob, r.segments]);
    }, async (id) => {
      // Redis lost the job (restarted without persistence), so its blob and the result blobs it reads too: put them
      // back before the job
      const j = byId.get(id)!;
      const again: [string, Buffer][] = [[j.blobKey, j.blob], ...[...blobsNamed((payloads.find((p) => p.opts.jobId === id)!.data as ShardJob).items)].map((k): [string, Buffer] => [k, this.liveBlobs.get(k)!])];
      for (const [k, b] of again) {
        this.stats.sent += b.length;
        await this.blobs!.set(k, b, 'PX', 7 * 86400 * 1000);
      }
    }, () => this.ensure(named));
    // the results are in hand: the parameter blobs go; the jobs stay (BullMQ drops them after a week), so a
    // coordinator killed before it recorded this call finds them done when it resumes; the result blobs stay for the
    // next two calls to name, the ones before go (a later job of the same content whose result blob is gone runs again)
    const generation: string[] = [];
    for (const [key, blob, segments] of produced) {
      generation.push(key);
      this.liveBlobs.set(key, blob);
      for (const seg of segments) {
        const view = decode({ t: [], v: { $a: 0 } }, [seg], blob) as ArrayBufferView;
        this.live.set(arrayKey(view), [key, seg.type, seg.offset, seg.length]);
      }
    }
    this.generations.push(generation);
    while (this.generations.length > 2) this.forget(this.generations.shift()!, cleanup);
    await this.blobs!.del(...cleanup);
    return out;
  }

  /** Puts back any of these result blobs that Redis no longer has (it restarted without persistence). */
  private async ensure(keys: Iterable<string>): Promise<void> {
    for (const k of keys) {
      const b = this.liveBlobs.get(k);
      if (b && !(await this.blobs!.exists(k))) {
        this.stats.sent += b.length;
        await this.blobs!.set(k, b, 'PX', 7 * 86400 * 1000);
      }
    }
  }

  /** Drops result blobs from the arrays later jobs may name, adding their keys to `del`. */
  private forget(keys: readonly string[], del: string[]): void {
    const gone = new Set(keys);
    for (const [k, at] of this.live) if (gone.has(at[0])) this.live.delete(k);
    for (const k of keys) this.liveBlobs.delete(k);
    del.push(...keys);
  }

  private async open(): Promise<NonNullable<RedisTaskExecutor['session']>> {
    if (!this.session) {
      this.session = openQueue(this.bull, this.target, this.queueName, this.warn);
      await this.session.events.waitUntilReady();
      const { Redis } = (await import('ioredis')) as unknown as { Redis: new (o: Record<string, unknown>) => NonNullable<RedisTaskExecutor['blobs']> };
      this.blobs = new Redis({ ...this.target.options, maxRetriesPerRequest: null });
    }
    return this.session;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    const del: string[] = [];
    for (const g of this.generations.splice(0)) this.forget(g, del);
    // bounded: with Redis gone, the connections would retry for ever and the run's own error never be printed
    const bounded = (p: Promise<unknown>): Promise<unknown> => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    if (del.length && this.blobs) await bounded(this.blobs.del(...del));
    if (s) await bounded(Promise.allSettled([s.events.close(), s.queue.close(), this.blobs?.quit()]));
    this.blobs?.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The worker's side. The main thread checks a job's files and fetches its blob; a worker thread runs it (below), so
// the prepared data and the per-task caches live in that thread from one job to the next.

/** Checks a shard job's fields (a job comes from whoever can write to the queue); the reason when it is not one. */
export function shardProblem(d: Partial<ShardJob>): string | undefined {
  const str = (v: unknown): v is string => typeof v === 'string';
  const w = d.work as Partial<ShardJob['work']> | undefined;
  const r = d.data as Partial<DataRef> | undefined;
  if (!w || !str(w.package) || !str(w.version) || !str(w.path) || !str(w.export) || !str(w.name)) return 'its work is not named as a weightshare job names it';
  if (!BUILTIN_PACKAGES.includes(w.package)) return `it names per-task work of the package ${JSON.stringify(w.package)}; a worker runs only the work of ${BUILTIN_PACKAGES.join(', ')}`;
  if (!REMOTE_ENTRIES[w.package]!.includes(w.export)) return `it names the function ${JSON.stringify(w.export)} of ${w.package}, which is not per-task work a worker runs (${REMOTE_ENTRIES[w.package]!.join(', ')})`;
  if (isAbsolute(w.path) || w.path.split('/').includes('..') || !w.path.endsWith('.js')) return `it names the module ${JSON.stringify(w.path)}, which is not a module inside ${w.package}`;
  if (!r || typeof r.data !== 'object' || typeof r.split !== 'object' || typeof r.loss !== 'object' || typeof r.seed !== 'number' || !str(r.root) || !Array.isArray(r.inputs)) return 'its data reference is not one weightshare writes';
  if (!str(d.check) || !str(d.blob) || !str(d.label) || typeof d.offset !== 'number' || !Array.isArray(d.segments)) return 'its payload is not one weightshare writes';
  return undefined;
}

/** The installed copy of a built-in package on this machine: its folder and version. */
function installed(name: string): { root: string; version: string } | undefined {
  try {
    const p = packageOf(fileURLToPath(import.meta.resolve(name)));
    return p && p.name === name ? { root: p.root, version: p.version } : undefined;
  } catch {
    return undefined;
  }
}

/** The version of a built-in package here (for the worker's check before fetching anything). */
export function installedVersion(name: string): string | undefined {
  return installed(name)?.version;
}

let current: { key: string; data: PreparedData; fingerprint: string } | undefined;
const functions = new Map<string, (item: unknown, index: number) => unknown>();

/** A worker thread's part of a shard job: prepare (or reuse) the data, run the items, encode the outputs. */
export async function runShard(d: ShardJob, root: string, blob: Buffer, others: ReadonlyMap<string, Buffer> = new Map()): Promise<ShardResult & { blobBytes?: Buffer; refused?: string }> {
  await loadBuiltins();
  const key = sha256(JSON.stringify({ ...d.data, root }));
  if (current?.key !== key) {
    current = undefined;
    clearPreparedData(); // one run's data at a time
    const registry = new PluginRegistry(builtinPlugins);
    const ref = d.data;
    const at = (path: readonly (string | number)[]): { file: string; line: number; column: number; path: string } => ({ file: join(root, '(spec on the coordinator)'), line: 1, column: 1, path: path.join('.') });
    let data: PreparedData;
    try {
      data = loadPrepared(ref.data, ref.split, lossOf(registry, ref.loss), new Rng(ref.seed), { baseDir: root, locate: at as never }, undefined);
    } catch (e) {
      return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `preparing the run's data failed here: ${(e as Error).message.split('\n')[0]}` };
    }
    current = { key, data, fingerprint: fingerprint(data.train) };
  }
  const mine = current.fingerprint;
  if (mine !== d.check)
    return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `the data prepared here differs from the coordinator's (fingerprint ${mine.slice(0, 12)}…, not ${d.check.slice(0, 12)}…): the same files, but another weightshare version or platform? Run the same weightshare on the coordinator and the workers` };
  const fnKey = `${d.work.package}/${d.work.path}#${d.work.export}`;
  let fn = functions.get(fnKey);
  if (!fn) {
    const pkg = installed(d.work.package);
    if (!pkg) return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `${d.work.package} is not installed here` };
    if (pkg.version !== d.work.version) return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `the job needs ${d.work.package} ${d.work.version}; this worker has ${pkg.version}` };
    const file = resolve(pkg.root, d.work.path);
    if (!file.startsWith(pkg.root + sep) || !existsSync(file)) return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `${d.work.package} has no module ${d.work.path} here` };
    const f = ((await import(pathToFileURL(file).href)) as Record<string, unknown>)[d.work.export];
    if (typeof f !== 'function') return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: `${d.work.package}/${d.work.path} exports no function ${d.work.export}` };
    functions.set(fnKey, (fn = f as (item: unknown, index: number) => unknown));
  }
  const train = current.data.train;
  const items = decode(d.items, d.segments, blob, (r) => (typeof r === 'number' ? train[r] : undefined), others);
  if (!Array.isArray(items)) return { v: SHARD_VERSION, ok: false, index: 0, error: { message: '' }, refused: 'its items are not a list' };
  const out: unknown[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      out.push(await fn(items[i], d.offset + i));
    } catch (e) {
      const err = e as WeightshareError;
      if (err instanceof WeightshareError && err.isUserError)
        return { v: SHARD_VERSION, ok: false, index: i, error: { name: 'WeightshareError', code: err.code, message: err.message, problems: err.problems as unknown[], context: err.context as Record<string, unknown> } };
      throw e;
    }
  }
  const enc = encode(out);
  return { v: SHARD_VERSION, ok: true, out: enc.json, segments: enc.segments, blob: '', blobBytes: enc.blob };
}
