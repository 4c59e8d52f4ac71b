/**
 * The checkpoint committer: a small thread of its own (one per thread that saves checkpoints, started on the first
 * save) that makes written checkpoints durable while the run goes on. The saving thread writes a checkpoint's files
 * (its `.npy` files and checkpoint.json under a temporary name: the folder has no checkpoint.json yet, so nothing
 * reads it) and posts the commit; the committer takes everything posted since its last turn as one group, waits until
 * every file of the group is on the disk (fsync, several at once), then renames each checkpoint.json into place in the
 * order they were posted and makes the renames durable. Deleting old checkpoints (`output.checkpoints: last`) is
 * posted to the same queue, so nothing is deleted before what replaces it is durable.
 *
 * Progress is a shared counter (the last message done), so the saving thread can wait for it without its event loop:
 * a run may be one long chain of microtasks. Failures come back on a message port the saving thread reads
 * synchronously. Where no thread can be started the commits run synchronously in the saving thread.
 */
import { closeSync, fsyncSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { outputError } from '../errors.js';
import { fsyncDir } from '../io.js';

/**
 * A checkpoint written but not durable yet: its files (the last is checkpoint.json waiting under `tmp` in `dir`), open
 * as `fds`: the committer fsyncs them, the thread that opened them closes them once the commit is done (a worker
 * thread tracks the descriptors it opens).
 */
export interface PendingCheckpoint {
  dir: string;
  files: string[];
  fds: number[];
  tmp: string;
}

type Job = { kind: 'commit'; checkpoint: PendingCheckpoint } | { kind: 'discard'; dirs: string[] } | { kind: 'sync' } | { kind: 'found'; dir: string };
type Message = { seq: number; store: number } & Job;

/** A failed commit, reported to the store that posted it. */
interface Failure {
  store: number;
  path: string;
  message: string;
  code?: string;
}

/** The committer thread's program (plain JavaScript: it runs from this string, wherever the framework was loaded from). */
const PROGRAM = `
// dynamic imports, not require: the program runs as CommonJS, or as an ES module under the parent's --input-type=module
Promise.all([import('node:worker_threads'), import('node:fs'), import('node:fs/promises'), import('node:path')]).then(([{ workerData }, { fsync, renameSync, rmSync }, { open }, { join }]) => {
const done = new Int32Array(workerData.done);
const { port, results } = workerData;
const queue = [];
const failed = new Set();
/** Folders whose checkpoint.json was renamed in and not yet fsynced since (or that a resumed run found). */
const renamed = new Set();
let running = false;
function syncFd(fd) {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}
async function syncDir(dir) {
  let fh;
  try { fh = await open(dir, 'r'); await fh.sync(); } catch { /* some filesystems cannot fsync folders */ } finally { await fh?.close(); }
}
function fail(store, path, e) {
  if (failed.has(store)) return;
  failed.add(store);
  results.postMessage({ store, path, message: String(e && e.message || e), code: e && e.code });
}
function publish(seq) {
  Atomics.store(done, 0, seq);
  Atomics.notify(done, 0);
}
/** The renames so far durable. */
async function syncRenamed() {
  const dirs = [...renamed];
  renamed.clear();
  await Promise.all(dirs.map(syncDir));
}
async function commit(group) {
  // 1. every file's data on the disk (the saving thread closes the descriptors once this message is done)
  await Promise.all(group.map(async (m) => {
    const c = m.checkpoint;
    for (let i = 0; i < c.fds.length && !failed.has(m.store); i++) {
      try { await syncFd(c.fds[i]); } catch (e) { fail(m.store, c.files[i], e); }
    }
  }));
  const live = group.filter((m) => !failed.has(m.store));
  // 2. their folder entries, then 3. the commit points, in order
  await Promise.all(live.map((m) => syncDir(m.checkpoint.dir)));
  for (const m of live) {
    if (failed.has(m.store)) continue;
    try { renameSync(m.checkpoint.tmp, join(m.checkpoint.dir, 'checkpoint.json')); renamed.add(m.checkpoint.dir); } catch (e) { fail(m.store, m.checkpoint.tmp, e); }
  }
  // 4. the renames durable
  await syncRenamed();
}
async function drain() {
  running = true;
  while (queue.length) {
    const batch = queue.splice(0);
    let i = 0;
    while (i < batch.length) {
      const m = batch[i];
      if (m.kind === 'found') {
        i++;
        renamed.add(m.dir); // synced with the next commits
        publish(m.seq);
        continue;
      }
      if (m.kind === 'sync') {
        i++;
        await syncRenamed();
        publish(m.seq);
        continue;
      }
      if (m.kind === 'discard') {
        i++;
        if (!failed.has(m.store)) {
          await syncRenamed(); // what replaces them is durable before anything is deleted
          for (const dir of m.dirs) {
            try {
              // checkpoint.json first: it is the commit point, so a kill half-way leaves no checkpoint, never a damaged one
              rmSync(join(dir, 'checkpoint.json'), { force: true });
              rmSync(dir, { recursive: true, force: true });
            } catch (e) { fail(m.store, dir, e); break; }
          }
        }
        publish(m.seq);
        continue;
      }
      let j = i;
      while (j < batch.length && batch[j].kind === 'commit') j++;
      await commit(batch.slice(i, j));
      publish(batch[j - 1].seq);
      i = j;
    }
  }
  running = false;
}
Atomics.store(done, 2, 1); // started
function start() {
  drain().catch((e) => {
    // a bug here, not a failed write: the saving thread must not wait for this thread any more
    results.postMessage({ store: -1, path: '', message: String(e && e.stack || e) });
    Atomics.store(done, 1, 1);
    Atomics.notify(done, 0);
  });
}
port.on('message', (m) => { queue.push(m); if (!running) start(); });
});
`;

/** How many posted messages may wait uncommitted before a save waits for the committer (bounds what a kill loses). */
const MAX_BEHIND = 8;

class Committer {
  /** [the last message done, 1 when the committer stopped on a bug, 1 once its thread runs] */
  private readonly done = new Int32Array(new SharedArrayBuffer(12));
  private readonly port: MessagePort;
  private readonly results: MessagePort;
  private readonly failures = new Map<number, Failure>();
  private seq = 0;

  constructor() {
    const jobs = new MessageChannel();
    const back = new MessageChannel();
    const worker = new Worker(PROGRAM, { eval: true, workerData: { done: this.done.buffer, port: jobs.port2, results: back.port2 }, transferList: [jobs.port2, back.port2] });
    worker.unref(); // idle between runs: it never keeps the process alive (every run waits for its commits)
    // a committer that cannot run its program (it stopped before it could say so): the next wait for it fails with
    // the reason, instead of an uncaught error in this process or a wait of a minute
    worker.on('error', (e) => {
      if (!this.failures.has(-1)) this.failures.set(-1, { store: -1, path: '', message: String((e as Error)?.stack ?? e) });
      Atomics.store(this.done, 1, 1);
      Atomics.notify(this.done, 0);
    });
    this.port = jobs.port1;
    this.results = back.port1;
    this.port.unref();
    this.results.unref();
  }

  post(store: number, m: Job): number {
    const seq = ++this.seq;
    this.port.postMessage({ seq, store, ...m } satisfies Message);
    // a bounded distance behind: a kill loses at most the last few checkpoints (resume recomputes them)
    if (seq - Atomics.load(this.done, 0) > MAX_BEHIND) this.waitFor(seq - MAX_BEHIND);
    return seq;
  }

  /** The last message done. */
  doneUpTo(): number {
    return Atomics.load(this.done, 0);
  }

  /** Blocks this thread until message `seq` is done (the committer never waits for this thread). */
  waitFor(seq: number): void {
    const since = performance.now();
    for (let d = Atomics.load(this.done, 0); d < seq; d = Atomics.load(this.done, 0)) {
      if (this.dead()) throw new Error(`the checkpoint committer stopped: ${this.failure(-1)?.message ?? 'its thread did not start within a minute'}`);
      if (!Atomics.load(this.done, 2) && performance.now() - since > 60_000) Atomics.store(this.done, 1, 1);
      Atomics.wait(this.done, 0, d, 1000);
    }
  }

  /** Whether the committer stopped on a bug (or its thread never started): nothing posted gets done any more. */
  dead(): boolean {
    return Atomics.load(this.done, 1) === 1;
  }

  waitAll(): void {
    this.waitFor(this.post(0, { kind: 'sync' }));
  }

  failure(store: number): Failure | undefined {
    for (let m = receiveMessageOnPort(this.results); m; m = receiveMessageOnPort(this.results)) {
      const f = m.message as Failure;
      if (!this.failures.has(f.store)) this.failures.set(f.store, f);
    }
    return this.failures.get(store);
  }
}

let shared: Committer | null | undefined;
function committer(): Committer | null {
  if (shared === undefined) {
    try {
      shared = new Committer();
    } catch {
      shared = null; // no thread: synchronous commits
    }
  }
  return shared;
}

let stores = 0;

/**
 * The commits of one store (a run's checkpoints): posted to this thread's committer, or made synchronously where no
 * committer thread could be started.
 */
export class CommitQueue {
  private readonly id = ++stores;
  private readonly committer: () => Committer | null;

  /**
   * Starts this thread's committer unless it runs (a run makes its store before loading data: the thread is up by the
   * first checkpoint). @param threaded false: commit synchronously in this thread (what happens where no thread can
   * be started).
   */
  constructor(threaded = true) {
    this.committer = threaded ? committer : () => null;
    this.committer();
  }

  /** Descriptors of posted checkpoints, closed here once the committer is done with them. */
  private open: { seq: number; fds: number[] }[] = [];

  /** Closes the descriptors of the messages up to `upTo` (all of them once the committer stopped). */
  private closeDone(upTo: number): void {
    let k = 0;
    while (k < this.open.length && this.open[k]!.seq <= upTo) k++;
    for (const { fds } of this.open.splice(0, k))
      for (const fd of fds)
        try {
          closeSync(fd);
        } catch {
          /* (never retried: the number may belong to another file by now) */
        }
  }

  /** Throws the first commit of this queue that failed (an OUTPUT_ERROR naming the file). */
  check(): void {
    const c = this.committer();
    if (c) this.closeDone(c.dead() ? Infinity : c.doneUpTo());
    const f = c?.failure(this.id);
    if (f) throw outputError(f.path, Object.assign(new Error(f.message), f.code ? { code: f.code } : {}));
    if (c?.dead()) throw new Error(`the checkpoint committer stopped: ${c.failure(-1)?.message ?? 'its thread did not start'}`);
  }

  commit(checkpoint: PendingCheckpoint): void {
    const c = this.committer();
    if (!c) return commitNow(checkpoint);
    const entry = { seq: Infinity, fds: checkpoint.fds };
    this.open.push(entry); // before posting: a post that throws (waiting for a stopped committer) still closes them
    entry.seq = c.post(this.id, { kind: 'commit', checkpoint });
  }

  /** Checkpoints a resumed run found: made durable with this run's (their renames may not have been). */
  resumed(dir: string): void {
    this.committer()?.post(this.id, { kind: 'found', dir });
  }

  discard(dirs: string[]): void {
    const c = this.committer();
    if (c) c.post(this.id, { kind: 'discard', dirs });
    else for (const dir of dirs) removeCheckpoint(dir);
  }

  /** Waits until everything posted is durable; throws the first failure. */
  flush(): void {
    const c = this.committer();
    try {
      if (c) c.waitFor(c.post(this.id, { kind: 'sync' }));
    } finally {
      this.check(); // (closes every descriptor left)
    }
  }
}

/** The synchronous commit: every file durable, its folder, then the rename and the folder again. */
function commitNow(c: PendingCheckpoint): void {
  let at = '';
  try {
    let error: unknown;
    c.fds.forEach((fd, i) => {
      try {
        if (error === undefined) fsyncSync(fd);
      } catch (e) {
        [error, at] = [e, c.files[i]!];
      } finally {
        closeSync(fd);
      }
    });
    if (error !== undefined) throw error;
    fsyncDir(c.dir);
    at = c.tmp;
    renameSync(c.tmp, join(c.dir, 'checkpoint.json'));
    fsyncDir(c.dir);
  } catch (e) {
    throw outputError(at, e);
  }
}

function removeCheckpoint(dir: string): void {
  // checkpoint.json first: it is the commit point, so a kill half-way leaves no checkpoint, never a damaged one
  rmSync(join(dir, 'checkpoint.json'), { force: true });
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Waits until everything this thread posted to its committer is done (successful or not): for a process about to
 * exit (Ctrl-C), so that it leaves every checkpoint it saved committed.
 */
export function waitForCommits(): void {
  try {
    shared?.waitAll();
  } catch {
    /* the committer stopped: what it committed stays, the rest is recomputed on resume */
  }
}
