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
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { relative, resolve } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { ErrorCode, WeightshareError, invalidArgument, type PluginLoading } from '@weightshare/framework';
import type { JobResult, SweepJob } from './sweep-job.js';
import type { RemotePool, SweepPlan } from './sweep.js';

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
    throw unavailable(`${flag} ${JSON.stringify(url)} is not a URL. Give redis://host:port (e.g. redis://127.0.0.1:6379), redis://:password@host:port, or rediss://… for TLS.`);
  }
  const shownUrl = (): string => {
    const c = new URL(u.href);
    if (c.password) c.password = '***';
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
  try {
    await client.connect();
    await client.ping();
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

/** The queue job id of a sweep's job (BullMQ ids may not contain ':'). */
const jobId = (sweep: string, key: string): string => `${sweep}.${key}`;

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
    // the same sweep folder started at the same time is the same sweep: resume finds its jobs on the queue
    const sweepId = createHash('sha256').update(`${resolve(dir)}\n${plan.startedAt}`).digest('hex').slice(0, 16);
    return new RedisPool(bull, target, queueName, sweepId, plan, versions, labels, warn);
  }

  async run(jobs: SweepJob[], onResult: (r: JobResult) => void): Promise<void> {
    if (!jobs.length) return;
    const connection = { ...this.target.options, maxRetriesPerRequest: null };
    const queue = new this.bull.Queue(this.queueName, { connection });
    const events = new this.bull.QueueEvents(this.queueName, { connection });
    let lost = false;
    const onError = (e: Error): void => {
      if (!lost) this.warn(`lost the connection to Redis at ${this.target.shown} (${e.message.split('\n')[0]}); reconnecting, and waiting for the jobs (Ctrl-C to stop; resume goes on).`);
      lost = true;
    };
    queue.on('error', onError);
    events.on('error', onError);
    try {
      await events.waitUntilReady();
      const pending = new Map(jobs.map((j) => [jobId(this.sweepId, j.key), j]));
      const inputs = this.plan.inputs.flatMap((i) => (i.sha256 === null ? [] : [{ path: relative(this.plan.baseDir, i.path), sha256: i.sha256 }]));
      const payloads = jobs.map((j) => {
        const { cacheDir: _c, plugins: _p, runOut: _r, ...rest } = j;
        const data: RemoteJob = { v: PAYLOAD_VERSION, sweep: this.sweepId, job: { ...rest, versions: this.versions }, root: this.plan.baseDir, inputs, label: this.labels(j.key) };
        const size = Buffer.byteLength(JSON.stringify(data));
        if (size > MAX_PAYLOAD_BYTES) throw invalidArgument(`the sweep job ${j.key} would send ${size} bytes to the queue, more than the bound of ${MAX_PAYLOAD_BYTES} (the spec's text and its assignments travel in every job). Shorten the spec (data belongs in files), or run the sweep locally.`);
        return { name: 'fit', data, opts: { jobId: jobId(this.sweepId, j.key), attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 7 * 86400 } } };
      });
      let finish!: () => void;
      let fail!: (e: unknown) => void;
      const all = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
      all.catch(() => undefined); // handled where it is awaited below (a failure may come before that)
      const settle = async (id: string): Promise<void> => {
        const j = pending.get(id);
        if (!j) return;
        // the state first, then the job's fields: a finished state is final, so the fields read after it are its own
        const state = await queue.getJobState(id);
        if (state !== 'completed' && state !== 'failed') return;
        const job = await this.bull.Job.fromId(queue, id);
        if (!job || !pending.has(id)) return;
        if (state === 'completed') {
          pending.delete(id);
          onResult(job.returnvalue as JobResult);
        } else if (state === 'failed') {
          pending.delete(id);
          throw new WeightshareError(
            ErrorCode.JOB_FAILED,
            `the sweep job ${j.key} (${this.labels(j.key)}) ${/^refused:/.test(job.failedReason ?? '') ? 'was refused by a worker' : `failed on ${job.attemptsMade} attempt${job.attemptsMade === 1 ? '' : 's'}`}: ${(job.failedReason ?? 'no reason given').replace(/^refused: /, '').replace(/\.$/, '')}. Fix the cause on the workers, then resume the sweep (weightshare resume <sweep folder> --executor …): finished jobs are kept.`,
          );
        }
        if (!pending.size) finish();
      };
      const check = (id: string): void => void settle(id).catch(fail);
      events.on('completed', ({ jobId: id }) => check(id));
      events.on('failed', ({ jobId: id }) => check(id));
      await queue.addBulk(payloads);
      // jobs already finished (a resumed sweep, a duplicate) are settled here; the others by events or the poll
      const poll = setInterval(() => {
        for (const id of pending.keys()) check(id);
      }, 1000);
      try {
        for (const id of [...pending.keys()]) await settle(id).catch(fail);
        await all;
      } finally {
        clearInterval(poll);
      }
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
  const hashes = new Map<string, { mtimeMs: number; size: number; sha256: string }>();
  const shaOf = (file: string): string | null => {
    let st;
    try {
      st = statSync(file);
    } catch {
      return null;
    }
    const known = hashes.get(file);
    if (known && known.mtimeMs === st.mtimeMs && known.size === st.size) return known.sha256;
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    hashes.set(file, { mtimeMs: st.mtimeMs, size: st.size, sha256 });
    return sha256;
  };
  const me = `${hostname()}:${process.pid}`;
  const processor = async (job: { id?: string; data: RemoteJob; attemptsMade: number }): Promise<JobResult> => {
    const d = job.data;
    if (d.v !== PAYLOAD_VERSION) throw new bull.UnrecoverableError(`refused: worker ${me} speaks job version ${PAYLOAD_VERSION}, the job is version ${d.v}; run the same weightshare on the coordinator and the workers.`);
    const root = o.dataRoot ? resolve(o.dataRoot) : d.root;
    for (const i of d.inputs) {
      const file = resolve(root, i.path);
      const sha = shaOf(file);
      if (sha !== i.sha256)
        throw new bull.UnrecoverableError(`refused: on worker ${me}, ${file} ${sha === null ? 'does not exist' : `has SHA-256 ${sha.slice(0, 12)}…, not the coordinator's ${i.sha256.slice(0, 12)}…`}; give the workers the same files (shared storage, or --data-root <the spec's folder here>).`);
    }
    const local: SweepJob = { ...d.job, file: resolve(root, relative(d.root, d.job.file)), baseDir: root, cacheDir: o.cacheDir ? resolve(o.cacheDir) : null, plugins: o.plugins };
    const t = await take();
    o.log(`${job.id}: started (attempt ${job.attemptsMade + 1})`);
    try {
      const r = await new Promise<JobResult & { thrown?: string }>((res, rej) => {
        const onMessage = (m: JobResult & { thrown?: string }): void => (t.off('error', onErr), res(m));
        const onErr = (e: Error): void => (t.off('message', onMessage), rej(e));
        t.once('message', onMessage);
        t.once('error', onErr);
        t.postMessage(local);
      });
      if (r.thrown !== undefined) throw new Error(`on worker ${me}: ${r.thrown}`);
      if (!r.ok && r.refused) throw new bull.UnrecoverableError(`refused: on worker ${me}, ${r.error.message}`);
      o.log(`${job.id}: ${r.ok ? 'done' : `failed candidate (${r.error.code})`}`);
      return r;
    } finally {
      give(t);
    }
  };
  const logged = async (job: Parameters<typeof processor>[0]): Promise<JobResult> => {
    try {
      return await processor(job);
    } catch (e) {
      o.log(`${job.id}: ${e instanceof bull.UnrecoverableError ? 'refused' : `failed (attempt ${job.attemptsMade + 1})`}: ${(e as Error).message.split('\n')[0]!.replace(/^refused: /, '')}`);
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
    if (!lost) o.log(`lost the connection to Redis at ${target.shown} (${e.message.split('\n')[0]}); reconnecting.`);
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
  await Promise.all(threads.map((t) => t.terminate()));
}
