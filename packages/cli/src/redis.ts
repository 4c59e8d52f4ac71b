/**
 * Sweeps on BullMQ workers over Redis: the connection (URL parsing, a quick check with one-paragraph errors), the
 * coordinator's pool that puts a sweep's validation fits on a queue, and `weightshare worker`, which takes them.
 *
 * A job carries references, not rows: the spec's text, the --set assignments of its candidate, the SHA-256 of every
 * input file (data, split, bases) and the plugin versions of the coordinator. A worker resolves the spec's relative
 * paths against the spec's folder (shared storage) or its --data-root, refuses a file whose hash differs and a plugin
 * whose version differs, and returns exactly what a local thread would (JSON round-trips doubles exactly), so the
 * sweep folder is the one a local sweep writes. bullmq and ioredis are imported only when a Redis URL is given.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { ErrorCode, WeightshareError, invalidArgument, type PluginLoading } from '@weightshare/framework';
import type { JobResult, SweepJob } from './sweep-job.js';
import type { RemotePool, SweepPlan } from './sweep.js';
import { installedVersion, SHARD_VERSION, shardProblem, type ShardJob, type ShardResult } from './redis-run.js';
import { blobsNamed } from './wire.js';

/** The largest job payload sent (the spec's text and its assignments); a bigger one is refused before sending. */
export const MAX_PAYLOAD_BYTES = 4 << 20;
/** Attempts of a job before the sweep stops with JOB_FAILED (a refused job is not retried). */
export const ATTEMPTS = 3;
/** The queue's name when --queue is not given. */
export const DEFAULT_QUEUE = 'weightshare';
/** Version of the job payload; a worker refuses a payload of another version. */
const PAYLOAD_VERSION = 1;

export interface RedisTarget {
  /** ioredis options (host, port, username, password, db, tls). */
  options: Record<string, unknown>;
  /** The URL with the password hidden, for messages. */
  shown: string;
}

const unavailable = (message: string): WeightshareError => new WeightshareError(ErrorCode.EXECUTOR_UNAVAILABLE, message);

/** Parses `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS); `flag` names where it was given. */
export function parseRedisUrl(url: string, flag: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // never print a password, even from a URL that does not parse
    throw unavailable(`${flag} ${JSON.stringify(url.replace(/\/\/[^/@]*@/, '//***@'))} is not a URL. Give redis://host:port (e.g. redis://127.0.0.1:6379), redis://:password@host:port, or rediss://… for TLS.`);
  }
  const shownUrl = (): string => {
    const c = new URL(u.href);
    if (c.password) c.password = '***';
    c.search = '';
    c.hash = '';
    return c.href.replace(/\/$/, '');
  };
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw unavailable(`${flag} ${shownUrl()}: the scheme is ${u.protocol.replace(/:$/, '')}; weightshare's executor is Redis: redis://host:port, or rediss://host:port for TLS.`);
  if (!u.hostname) throw unavailable(`${flag} ${shownUrl()} names no host; give redis://host:port (e.g. redis://127.0.0.1:6379).`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,2}$/.test(dbText)) throw unavailable(`${flag} ${shownUrl()}: the path "/${dbText}" should be a database number (redis://host:port/0); leave it out for database 0.`);
  const options: Record<string, unknown> = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(dbText ? { db: Number(dbText) } : {}),
    // TLS checks the server's certificate against Node's CAs (add a private CA with NODE_EXTRA_CA_CERTS=ca.pem)
    ...(u.protocol === 'rediss:' ? { tls: isIP(u.hostname.replace(/^\[|\]$/g, '')) ? {} : { servername: u.hostname } } : {}),
  };
  return { options, shown: shownUrl() };
}

type IORedisCtor = new (options: Record<string, unknown>) => {
  connect(): Promise<void>;
  ping(): Promise<string>;
  disconnect(): void;
  on(event: string, f: (e: Error & { code?: string }) => void): unknown;
};

/** Connects once and sends PING, within a few seconds; every way that fails is one EXECUTOR_UNAVAILABLE paragraph. */
export async function checkRedis(target: RedisTarget, flag: string): Promise<void> {
  const { Redis } = (await import('ioredis')) as unknown as { Redis: IORedisCtor };
  let last: (Error & { code?: string }) | undefined;
  const client = new Redis({ ...target.options, lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', (e) => (last ??= e));
  const where = `${String(target.options.host)}:${String(target.options.port)}`;
  let timer: NodeJS.Timeout | undefined;
  try {
    // connectTimeout covers the TCP/TLS connection only: a port that accepts and never answers is caught here
    const noAnswer = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), 5000)));
    await Promise.race([client.connect().then(() => client.ping()), noAnswer]);
  } catch (e) {
    const err = (last ?? e) as Error & { code?: string };
    const text = `${err.code ?? ''} ${err.message}`;
    if (/ECONNREFUSED/.test(text)) throw unavailable(`${flag} ${target.shown}: nothing accepts connections at ${where}. Start a Redis server there (redis-server --bind 127.0.0.1 --port ${String(target.options.port)}; see docs/distributed.md), or fix the host and port.`);
    if (/ENOTFOUND|EAI_AGAIN/.test(text)) throw unavailable(`${flag} ${target.shown}: the host name ${String(target.options.host)} does not resolve. Fix the host in the URL.`);
    if (/NOAUTH/.test(text)) throw unavailable(`${flag} ${target.shown}: the server at ${where} wants a password. Give it in the URL: redis://:PASSWORD@${where} (or redis://USER:PASSWORD@… for an ACL user).`);
    if (/WRONGPASS|invalid password|invalid username-password/i.test(text)) throw unavailable(`${flag} ${target.shown}: the server at ${where} refused the ${target.options.username ? 'user or password' : 'password'}. Fix the password in the URL.`);
    if (/certificate|self.signed|UNABLE_TO_VERIFY|CERT_|ERR_TLS/i.test(text))
      throw unavailable(`${flag} ${target.shown}: the TLS connection to ${where} failed: ${err.message.split('\n')[0]!.replace(/\.$/, '')}. If the server's certificate comes from a private CA, give that CA to Node: NODE_EXTRA_CA_CERTS=/path/to/ca.pem.`);
    if (/ECONNRESET|EPROTO|wrong version number/i.test(text))
      throw unavailable(`${flag} ${target.shown}: ${where} closed the connection${target.options.tls ? ' during the TLS handshake (is it a TLS port? use redis:// for a plain one)' : ' (a TLS-only port? use rediss://)'}; check the URL.`);
    if (/ETIMEDOUT|timeout/i.test(text)) throw unavailable(`${flag} ${target.shown}: no answer from ${where} within 5 s (a firewall, or not a Redis server${target.options.tls ? ', or not speaking TLS' : ''}). Check the host and port.`);
    throw unavailable(`${flag} ${target.shown}: could not use the Redis server at ${where}: ${err.message.split('\n')[0]}.`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** What a job on the queue carries. */
export interface RemoteJob {
  v: number;
  /** The sweep's id and the job's key (the queue's job id is `${sweep}.${key}`). */
  sweep: string;
  /** The job as a local thread would get it, but for where files are (the coordinator's spec folder). */
  job: Omit<SweepJob, 'cacheDir' | 'plugins' | 'runOut'>;
  /** The spec's folder on the coordinator, and every input file relative to it with its SHA-256. */
  root: string;
  inputs: { path: string; sha256: string }[];
  /** The candidate, for messages: outer split and parameters. */
  label: string;
}

/** The queue job id of a sweep's job: BullMQ ids may not contain ':', so the key (a split name may) is encoded. */
const jobId = (sweep: string, key: string): string => `${sweep}.${Buffer.from(key).toString('base64url')}`;

/** Redis errors that mean the connection is gone (ioredis reconnects by itself). */
const CONNECTION_LOST = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|Connection is closed|connect ETIMEDOUT/;

/** The first line of a worker's reason, without a trailing full stop. */
const firstLine = (s: string): string => s.split('\n')[0]!.replace(/\.$/, '');

/** SHA-256 of a regular file, streamed (never blocks the event loop on a big file); null when it is not one. */
async function fileSha256(file: string): Promise<string | null> {
  try {
    if (!(await stat(file)).isFile()) return null;
    const h = createHash('sha256');
    for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
    return h.digest('hex');
  } catch {
    return null;
  }
}

/** One job as added to the queue. */
export interface Payload {
  name: string;
  data: unknown;
  opts: { jobId: string; attempts: number; backoff: { type: 'fixed'; delay: number }; removeOnComplete: { age: number }; removeOnFail: { age: number } };
}

/** The options every weightshare job is added with (kept a week after it ends, for resume). */
export const jobOptions = (jobId: string): Payload['opts'] => ({ jobId, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 7 * 86400 } });

type Bull = typeof import('bullmq');
type BullJob = import('bullmq').Job;

/**
 * A queue and its events on one Redis server, saying once when the connection is lost (ioredis reconnects by
 * itself) and when it is back.
 */
export function openQueue(bull: Bull, target: RedisTarget, name: string, warn: (line: string) => void): { queue: import('bullmq').Queue; events: import('bullmq').QueueEvents } {
  const connection = { ...target.options, maxRetriesPerRequest: null };
  const queue = new bull.Queue(name, { connection });
  const events = new bull.QueueEvents(name, { connection });
  let lost = false;
  const onError = (e: Error): void => {
    if (!CONNECTION_LOST.test(`${(e as { code?: string }).code ?? ''} ${e.message}`)) return warn(`Redis: ${firstLine(e.message)}`);
    if (!lost) warn(`lost the connection to Redis at ${target.shown} (${firstLine(e.message)}); reconnecting, and waiting for the jobs (Ctrl-C to stop; resume goes on).`);
    lost = true;
  };
  queue.on('error', onError);
  events.on('error', onError);
  void queue.client.then((c) => c.on('ready', () => lost && ((lost = false), warn(`connected to Redis at ${target.shown} again.`))));
  return { queue, events };
}

/**
 * Puts `payloads` on the queue (idempotently: a job id already there, from a killed coordinator or a duplicate, is
 * not added twice; one that failed before is taken off and added fresh) and calls `handle` once per job when it has
 * finished (completed or failed), by queue events and, to survive a Redis restart or a missed event, by looking every
 * second at the jobs still out. A job gone from Redis (restarted without persistence) is added again under its id.
 * Resolves when every job is handled; rejects with the first error `handle` throws.
 */
export async function collect(
  bull: Bull,
  queue: import('bullmq').Queue,
  events: import('bullmq').QueueEvents,
  payloads: readonly Payload[],
  handle: (id: string, state: 'completed' | 'failed', job: BullJob) => void | 'again' | Promise<void | 'again'>,
  /** Called before a job gone from Redis is added again (to put back what it needs next to it). */
  restore?: (id: string) => Promise<unknown>,
  /** Called once a second while jobs are out (to check what they need is still there). */
  tick?: () => Promise<unknown>,
): Promise<void> {
  if (!payloads.length) return;
  const pending = new Map(payloads.map((p) => [p.opts.jobId, p]));
  for (const p of payloads) if ((await queue.getJobState(p.opts.jobId)) === 'failed') await queue.remove(p.opts.jobId);
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const all = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
  all.catch(() => undefined); // handled where it is awaited below (a failure may come before that)
  const settle = async (id: string): Promise<void> => {
    const p = pending.get(id);
    if (!p) return;
    // the state first, then the job's fields: a finished state is final, so the fields read after it are its own
    const state = await queue.getJobState(id);
    if (state === 'unknown' && pending.has(id)) {
      await restore?.(id);
      await queue.add(p.name, p.data, p.opts);
      return;
    }
    if (state !== 'completed' && state !== 'failed') return;
    const job = await bull.Job.fromId(queue, id);
    if (!job || !pending.has(id)) return;
    if ((await handle(id, state, job)) === 'again') {
      // the job's result cannot be used (e.g. its result blob is gone): it runs again, fresh
      await restore?.(id);
      await queue.remove(id);
      await queue.add(p.name, p.data, p.opts);
      return;
    }
    // pending until its handler is done: were it taken off before (as it once was), the last job to be taken off
    // could finish the call while an earlier one's handler still awaited its result blob, and the caller read
    // results that were not there yet (a shard's items missing: seen as NaN losses and missing reports)
    pending.delete(id);
    if (!pending.size) finish();
  };
  // one look per job at a time (the poll must not pile up commands while Redis is away)
  const inFlight = new Set<string>();
  const check = (id: string): void => {
    if (inFlight.has(id) || !pending.has(id)) return;
    inFlight.add(id);
    void settle(id)
      .catch(fail)
      .finally(() => inFlight.delete(id));
  };
  const onEvent = ({ jobId: id }: { jobId: string }): void => check(id);
  events.on('completed', onEvent);
  events.on('failed', onEvent);
  let ticking = false;
  const poll = setInterval(() => {
    for (const id of pending.keys()) check(id);
    if (tick && !ticking) {
      ticking = true;
      void tick()
        .catch(() => undefined) // Redis away: the next tick tries again
        .finally(() => (ticking = false));
    }
  }, 1000);
  try {
    await queue.addBulk(payloads as Payload[]);
    // jobs already finished (resumed work, a duplicate) are settled here; the others by events or the poll
    for (const id of [...pending.keys()]) check(id);
    await all;
  } finally {
    clearInterval(poll);
    events.off('completed', onEvent);
    events.off('failed', onEvent);
  }
}

/**
 * The coordinator's side: puts jobs on the queue (idempotently: a job id already there, from a killed coordinator or
 * a duplicate, is not added twice) and waits for each one's result, by queue events and, to survive a Redis restart
 * or a missed event, by looking every second at the jobs still out.
 */
export class RedisPool implements RemotePool {
  private constructor(
    private readonly bull: typeof import('bullmq'),
    private readonly target: RedisTarget,
    private readonly queueName: string,
    private readonly sweepId: string,
    private readonly plan: SweepPlan,
    private readonly versions: Record<string, string>,
    private readonly labels: (key: string) => string,
    private readonly warn: (line: string) => void,
  ) {}

  static async open(url: string, queueName: string, dir: string, plan: SweepPlan, versions: Record<string, string>, labels: (key: string) => string, warn: (line: string) => void): Promise<RedisPool> {
    const target = parseRedisUrl(url, '--executor');
    await checkRedis(target, '--executor');
    const bull = await import('bullmq');
    // the sweep started at that time from that spec is the same sweep wherever its folder is now: resume finds its jobs
    void dir;
    const sweepId = createHash('sha256').update(`${plan.name}\n${plan.spec.sha256}\n${plan.startedAt}`).digest('hex').slice(0, 16);
    return new RedisPool(bull, target, queueName, sweepId, plan, versions, labels, warn);
  }

  async run(jobs: SweepJob[], onResult: (r: JobResult) => void): Promise<void> {
    if (!jobs.length) return;
    const { queue, events } = openQueue(this.bull, this.target, this.queueName, this.warn);
    try {
      await events.waitUntilReady();
      const pending = new Map(jobs.map((j) => [jobId(this.sweepId, j.key), j]));
      // the files as they are now (after resume --force they may differ from the ones the sweep started with)
      const inputs: RemoteJob['inputs'] = [];
      for (const i of this.plan.inputs) {
        const sha256 = await fileSha256(i.path);
        if (sha256 !== null) inputs.push({ path: relative(this.plan.baseDir, i.path), sha256 });
      }
      const payloads = jobs.map((j) => {
        const { cacheDir: _c, plugins: _p, runOut: _r, ...rest } = j;
        const data: RemoteJob = { v: PAYLOAD_VERSION, sweep: this.sweepId, job: { ...rest, versions: this.versions }, root: this.plan.baseDir, inputs, label: this.labels(j.key) };
        const size = Buffer.byteLength(JSON.stringify(data));
        if (size > MAX_PAYLOAD_BYTES) throw invalidArgument(`the sweep job ${j.key} would send ${size} bytes to the queue, more than the bound of ${MAX_PAYLOAD_BYTES} (the spec's text and its assignments travel in every job). Shorten the spec (data belongs in files), or run the sweep locally.`);
        return { name: 'fit', data, opts: jobOptions(jobId(this.sweepId, j.key)) };
      });
      await collect(this.bull, queue, events, payloads, (id, state, job) => {
        const j = pending.get(id)!;
        if (state === 'completed') {
          const r = job.returnvalue as JobResult | null;
          if (!r || typeof r !== 'object' || typeof r.ok !== 'boolean' || (r.ok && (typeof r.models !== 'object' || r.models === null)))
            throw new WeightshareError(ErrorCode.JOB_FAILED, `the sweep job ${j.key} (${this.labels(j.key)}) came back from the queue without a result of the expected shape; is another program using the queue "${this.queueName}"? Use a queue of its own (--queue) and resume the sweep.`);
          onResult({ ...r, key: j.key }); // the key is the coordinator's, whatever the queue says
          return;
        }
        const reason = job.failedReason ?? 'no reason given';
        const how = /^refused:/.test(reason) ? 'was refused by a worker' : job.attemptsMade > 0 ? `failed on ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}` : 'failed';
        throw new WeightshareError(
          ErrorCode.JOB_FAILED,
          `the sweep job ${j.key} (${this.labels(j.key)}) ${how}: ${firstLine(reason.replace(/^refused: /, ''))}. Fix the cause on the workers, then resume the sweep (weightshare resume <sweep folder> --executor … --queue ${this.queueName}): finished jobs are kept, failed ones are sent again.`,
        );
      });
    } finally {
      await Promise.allSettled([events.close(), queue.close()]);
    }
  }
}

/** The plugin versions of a registry, name → version. */
export function versionsOf(plugins: readonly { meta: { name: string; version: string } }[]): Record<string, string> {
  return Object.fromEntries(plugins.map((p) => [p.meta.name, p.meta.version]));
}

export interface WorkerOptions {
  redis: string;
  queue: string;
  concurrency: number;
  /** The folder on this machine that is the coordinator's spec folder (default: the same path as there). */
  dataRoot?: string;
  /** The stage cache of this worker (default: none). */
  cacheDir?: string;
  /** A job whose worker stops renewing its lock for this long is given to another worker (BullMQ's stalled jobs). */
  stallMs: number;
  /**
   * Where jobs' plugins may come from: a job is a spec from whoever can write to the queue, so, as for `resume`,
   * packages installed where the worker runs and folders its operator allowed (--allow-plugin-path), no other path.
   */
  plugins: PluginLoading;
  log: (line: string) => void;
}

/**
 * `weightshare worker`: takes sweep jobs from the queue until SIGTERM or SIGINT (then finishes the jobs it holds and
 * exits). Each job runs in a worker thread, so this thread stays free to renew the jobs' locks.
 */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const target = parseRedisUrl(o.redis, '--redis');
  await checkRedis(target, '--redis');
  const bull = await import('bullmq');
  const threads: Thread[] = [];
  const idle: Thread[] = [];
  const waiting: ((t: Thread) => void)[] = [];
  const take = (): Promise<Thread> => {
    const t = idle.pop();
    if (t) return Promise.resolve(t);
    if (threads.length < o.concurrency) {
      const n = new Thread(new URL('./redis-thread.js', import.meta.url));
      threads.push(n);
      return Promise.resolve(n);
    }
    return new Promise((res) => waiting.push(res));
  };
  const give = (t: Thread): void => {
    const w = waiting.shift();
    if (w) w(t);
    else idle.push(t);
  };
  /** A thread that failed or ended is dropped (a new one is made when needed), and whoever waited gets a new one. */
  const drop = (t: Thread): void => {
    threads.splice(threads.indexOf(t), 1);
    void t.terminate();
    const w = waiting.shift();
    if (w) void take().then(w);
  };
  const hashes = new Map<string, { mtimeMs: number; size: number; sha256: string }>();
  const shaOf = async (file: string): Promise<string | null> => {
    let st;
    try {
      st = await stat(file);
    } catch {
      return null;
    }
    if (!st.isFile()) return null; // a FIFO or device is never read (it could block this thread)
    const known = hashes.get(file);
    if (known && known.mtimeMs === st.mtimeMs && known.size === st.size) return known.sha256;
    const sha256 = await fileSha256(file);
    if (sha256 !== null) hashes.set(file, { mtimeMs: st.mtimeMs, size: st.size, sha256 });
    return sha256;
  };
  const me = `${hostname()}:${process.pid}`;
  const refuse = (why: string): Error => new bull.UnrecoverableError(`refused: ${why}`);
  /** The job as this worker runs it: only the fields a job may set, each of its type (never where to write). */
  const jobOf = (d: RemoteJob, root: string): SweepJob => {
    const j = (d?.job ?? {}) as unknown as Record<string, unknown>;
    const str = (v: unknown): v is string => typeof v === 'string';
    if (!str(j.key) || !str(j.text) || !str(j.file) || !str(d.root) || !Array.isArray(j.set) || !j.set.every(str) || (j.backend !== undefined && !str(j.backend)) || (j.validation !== undefined && typeof j.validation !== 'number') || typeof j.versions !== 'object' || j.versions === null)
      throw refuse(`worker ${me} got a job that is not a weightshare sweep job; is another program using this queue? Give weightshare a queue of its own (--queue).`);
    return {
      key: j.key,
      text: j.text,
      file: resolve(root, relative(d.root, j.file)),
      baseDir: root,
      set: j.set as string[],
      ...(j.backend !== undefined ? { backend: j.backend as string } : {}),
      ...(j.validation !== undefined ? { validation: j.validation as number } : {}),
      versions: j.versions as Record<string, string>,
      cacheDir: o.cacheDir ? resolve(o.cacheDir) : null,
      plugins: o.plugins,
    };
  };
  /** Runs `message` on a thread of the pool; the thread is dropped if it fails or ends. */
  const onThread = async <R>(message: unknown, transfer: ArrayBuffer[] = []): Promise<R> => {
    const t = await take();
    let healthy = true;
    try {
      return await new Promise<R>((res, rej) => {
        const off = (): void => void (t.off('message', onMessage), t.off('error', onErr), t.off('exit', onExit));
        const onMessage = (m: R): void => (off(), res(m));
        const onErr = (e: Error): void => (off(), (healthy = false), rej(e));
        const onExit = (code: number): void => (off(), (healthy = false), rej(new Error(`the job's thread ended (exit code ${code}) before it answered`)));
        t.on('message', onMessage);
        t.on('error', onErr);
        t.on('exit', onExit);
        t.postMessage(message, transfer);
      });
    } finally {
      if (healthy) give(t);
      else drop(t);
    }
  };
  const checkInputs = async (inputs: unknown, root: string): Promise<void> => {
    for (const i of Array.isArray(inputs) ? (inputs as { path: unknown; sha256: unknown }[]) : []) {
      const file = resolve(root, String(i.path));
      const sha = await shaOf(file);
      if (sha !== i.sha256)
        throw refuse(`on worker ${me}, ${file} ${sha === null ? 'is not a readable regular file' : `has SHA-256 ${sha.slice(0, 12)}…, not the coordinator's ${String(i.sha256).slice(0, 12)}…`}; give the workers the same files (shared storage, or --data-root <the spec's folder here>).`);
    }
  };
  /** The last few result blobs this worker wrote or read: the next round's jobs usually name them. */
  const recent = new Map<string, Buffer>();
  const remember = (k: string, b: Buffer): void => {
    recent.delete(k);
    recent.set(k, b);
    while (recent.size > 8) recent.delete(recent.keys().next().value!);
  };
  let blobs: { set(k: string, v: Buffer, px: 'PX', ms: number): Promise<unknown>; getBuffer(k: string): Promise<Buffer | null>; quit(): Promise<unknown> } | undefined;
  /** A shard of a run's per-task work (`run --executor`): the data is prepared, and kept, on the thread that runs it. */
  const shard = async (job: { id?: string; data: ShardJob; attemptsMade: number }): Promise<ShardResult> => {
    const d = job.data;
    const problem = shardProblem(d);
    if (problem) throw refuse(`worker ${me} got a job that is not a weightshare job (${problem}); is another program using this queue? Give weightshare a queue of its own (--queue).`);
    if (d.v !== SHARD_VERSION) throw refuse(`worker ${me} speaks shard job version ${SHARD_VERSION}, the job is version ${String(d.v)}; run the same weightshare on the coordinator and the workers.`);
    const mine = installedVersion(d.work.package);
    if (mine !== d.work.version) throw refuse(`${d.label} needs ${d.work.package} ${d.work.version}; worker ${me} has ${mine ?? 'none'}. Run the same weightshare on the coordinator and the workers.`);
    const root = o.dataRoot ? resolve(o.dataRoot) : d.data.root;
    await checkInputs(d.data.inputs, root);
    blobs ??= new (((await import('ioredis')) as unknown as { Redis: new (o: Record<string, unknown>) => NonNullable<typeof blobs> }).Redis)({ ...target.options, maxRetriesPerRequest: null });
    const blob = await blobs.getBuffer(d.blob);
    if (!blob) throw refuse(`the parameters of ${d.label} (${d.blob}) are not in Redis (expired, or the server lost them); resume the run on the coordinator.`);
    const bytes = Uint8Array.from(blob).buffer;
    // the result blobs of earlier calls that the job reads arrays from (this worker's own, usually, kept here)
    const others: Record<string, Uint8Array> = {};
    for (const k of blobsNamed(d.items)) {
      let b = recent.get(k) ?? (await blobs.getBuffer(k));
      // Redis lost it (restarted without persistence): the coordinator puts it back within a second or so
      for (let tries = 0; !b && tries < 40; tries++) {
        await new Promise((r) => setTimeout(r, 250));
        b = await blobs.getBuffer(k);
      }
      if (!b) throw refuse(`the start rows of ${d.label} (in ${k}) are not in Redis any more (expired, or the server lost them); resume the run on the coordinator.`);
      remember(k, b);
      others[k] = b;
    }
    o.log(`${job.id}: ${d.label} (attempt ${job.attemptsMade + 1})`);
    const r = await onThread<(ShardResult & { blobBytes?: Uint8Array; refused?: string }) | { thrown: string }>({ kind: 'shard', job: d, root, blob: bytes, others }, [bytes]);
    if ('thrown' in r) {
      o.log(`${job.id}: ${r.thrown}`);
      throw new Error(`on worker ${me}: ${firstLine(r.thrown)}`);
    }
    if (r.refused) throw refuse(`on worker ${me}, ${r.refused}`);
    const { blobBytes, refused: _r, ...answer } = r;
    if (answer.ok) {
      const outKey = `weightshare:${o.queue}:out:${job.id}`;
      const outBlob = Buffer.from(blobBytes!.buffer, blobBytes!.byteOffset, blobBytes!.byteLength);
      await blobs.set(outKey, outBlob, 'PX', 7 * 86400 * 1000);
      remember(outKey, outBlob);
      o.log(`${job.id}: done`);
      return { ...answer, blob: outKey };
    }
    o.log(`${job.id}: ${answer.error.code ?? 'error'} on item ${d.offset + answer.index + 1}`);
    return answer;
  };
  const processor = async (job: { id?: string; data: RemoteJob; attemptsMade: number }): Promise<JobResult | ShardResult> => {
    if ((job.data as unknown as { kind?: unknown })?.kind === 'shard') return shard(job as unknown as Parameters<typeof shard>[0]);
    const d = job.data;
    const name = `${d?.sweep}.${d?.job?.key}`;
    if (d?.v !== PAYLOAD_VERSION) throw refuse(`worker ${me} speaks job version ${PAYLOAD_VERSION}, the job is version ${String(d?.v)}; run the same weightshare on the coordinator and the workers.`);
    const root = o.dataRoot ? resolve(o.dataRoot) : String(d.root);
    const local = jobOf(d, root);
    await checkInputs(d.inputs, root);
    o.log(`${name}: started (attempt ${job.attemptsMade + 1})`);
    {
      const r = await onThread<JobResult & { thrown?: string }>({ kind: 'fit', job: local });
      // the stack stays here, in the worker's log; the queue (and the coordinator's message) get its first line
      if (r.thrown !== undefined) {
        o.log(`${name}: ${r.thrown}`);
        throw new Error(`on worker ${me}: ${firstLine(r.thrown)}`);
      }
      if (!r.ok && r.refused) throw refuse(`on worker ${me}, ${r.error.message}`);
      o.log(`${name}: ${r.ok ? 'done' : `failed candidate (${r.error.code})`}`);
      return r;
    }
  };
  const logged = async (job: Parameters<typeof processor>[0]): Promise<JobResult | ShardResult> => {
    try {
      return await processor(job);
    } catch (e) {
      o.log(`${(job.data as unknown as { kind?: unknown })?.kind === 'shard' ? job.id : `${job.data?.sweep}.${job.data?.job?.key}`}: ${e instanceof bull.UnrecoverableError ? 'refused' : `failed (attempt ${job.attemptsMade + 1})`}: ${firstLine((e as Error).message).replace(/^refused: /, '')}`);
      throw e;
    }
  };
  const worker = new bull.Worker(o.queue, logged as never, {
    connection: { ...target.options, maxRetriesPerRequest: null },
    concurrency: o.concurrency,
    lockDuration: o.stallMs,
    stalledInterval: o.stallMs,
    maxStalledCount: 2,
  });
  let lost = false;
  worker.on('error', (e: Error) => {
    if (!CONNECTION_LOST.test(`${(e as { code?: string }).code ?? ''} ${e.message}`)) return o.log(`Redis: ${firstLine(e.message)}`);
    if (!lost) o.log(`lost the connection to Redis at ${target.shown} (${firstLine(e.message)}); reconnecting.`);
    lost = true;
  });
  worker.on('ready', () => {
    if (lost) o.log(`connected to Redis at ${target.shown} again.`);
    lost = false;
  });
  await worker.waitUntilReady();
  o.log(`worker ${me} takes jobs from queue "${o.queue}" at ${target.shown} (${o.concurrency} at a time); SIGTERM or Ctrl-C stops it after the jobs it holds.`);
  await new Promise<void>((res) => {
    const stop = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      o.log(`stopping: finishing ${threads.length - idle.length} job(s) in hand.`);
      res();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await worker.close();
  await blobs?.quit();
  await Promise.all(threads.map((t) => t.terminate()));
}
