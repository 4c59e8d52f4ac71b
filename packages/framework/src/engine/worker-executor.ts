/**
 * Runs per-task work on worker threads: the items are split into contiguous chunks, one per thread, and each thread
 * imports the work's `entry` module and runs its chunk. Results come back in input order, so the outcome is the same
 * bytes as in process (each item depends only on its own input). Work without an `entry`, and small batches, run in
 * process. The threads live as long as the executor; `close()` ends them (the run's container calls it).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TaskExecutor, TaskWork } from '../plugin/types.js';
import { InProcessExecutor, TaskFailure } from './executor.js';
import { WeightshareError, type ErrorCode, type ErrorContext, type Problem } from '../errors.js';

const WORKER_SOURCE = `
// (a dynamic import, not require: evaluated as CommonJS, or as an ES module under the parent's --input-type=module)
import('node:worker_threads').then(({ parentPort }) => {
const cache = new Map();
parentPort.on('message', async ({ preload, id, module, name, items, offset }) => {
  // a module to load ahead of the first task (the framework, which every entry imports): never an error here
  if (preload) return void import(preload).catch(() => {});
  try {
    let fn = cache.get(module + '#' + name);
    if (!fn) { fn = (await import(module))[name]; cache.set(module + '#' + name, fn); }
    const out = [];
    for (let i = 0; i < items.length; i++) {
      try { out.push(await fn(items[i], offset + i)); }
      catch (e) { parentPort.postMessage({ id, failed: offset + i, error: plain(e) }); return; }
    }
    parentPort.postMessage({ id, out });
  } catch (e) { parentPort.postMessage({ id, failed: offset, error: plain(e) }); }
});
});
// errors lose their class in structured cloning: send what is needed to rebuild them
function plain(e) {
  return e && typeof e === 'object'
    ? { name: e.name, message: e.message, code: e.code, problems: e.problems, context: e.context, stack: e.stack }
    : { message: String(e) };
}`;

/** A WeightshareError again when the worker threw one, else an Error with the original message and code. */
function revive(e: { name?: string; message: string; code?: string; problems?: Problem[]; context?: ErrorContext; stack?: string }): Error {
  if (e.name === 'WeightshareError' && e.code) return new WeightshareError(e.code as ErrorCode, e.message, { problems: e.problems ?? [], context: e.context ?? {} });
  return Object.assign(new Error(e.message), { code: e.code, stack: e.stack });
}

/** The framework's compiled entry, which the threads load ahead of their first task (not when running from sources). */
const FRAMEWORK_ENTRY = ((u) => (u.endsWith('.js') ? u : undefined))(new URL('../index.js', import.meta.url).href);

export class WorkerExecutor implements TaskExecutor {
  private readonly workers: Worker[] = [];
  private readonly fallback: InProcessExecutor;
  private next = 0;

  /** @param threads worker threads (default: the machine's cores); `minItems` below which work stays in process. */
  constructor(
    readonly threads = availableParallelism(),
    private readonly onItemDone?: (done: number, total: number, name: string) => void,
    private readonly minItems = 2,
  ) {
    this.fallback = new InProcessExecutor(onItemDone);
    // the threads start now and load the framework while the caller reads its spec and data: a thread's start and
    // module loading (~0.1 s each, most of it memory touched for the first time) then overlap that work instead of
    // delaying the first batch of tasks
    if (this.threads >= 2) this.spawn();
  }

  private spawn(): void {
    while (this.workers.length < this.threads) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.unref();
      // a thread that fails between tasks is replaced at the next batch (during a task, map reports its error)
      w.on('error', () => {});
      w.once('exit', () => {
        const at = this.workers.indexOf(w);
        if (at >= 0) this.workers.splice(at, 1);
      });
      if (FRAMEWORK_ENTRY) w.postMessage({ preload: FRAMEWORK_ENTRY });
      this.workers.push(w);
    }
  }

  async map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]> {
    if (!work.entry || this.threads < 2 || inputs.length < this.minItems) return this.fallback.map(inputs, work);
    this.spawn();
    const workers = this.workers.slice(0, Math.min(this.threads, inputs.length));
    // contiguous pieces, each thread taking the next one when it is done with one, so that a thread that runs slower
    // (a core shared with the main thread or another process, bigger tasks) takes fewer instead of the batch waiting
    // for its half; each piece is a 1/(2·threads) share of what is left (guided scheduling): few messages, and pieces
    // of a task or two at the end, so the threads finish together
    const out = new Array<O>(inputs.length);
    let next = 0;
    let done = 0;
    let failed = false;
    await Promise.all(
      workers.map(async (worker) => {
        while (next < inputs.length && !failed) {
          const offset = next;
          const size = Math.max(1, Math.ceil((inputs.length - offset) / (2 * workers.length)));
          next += size;
          let results: O[];
          try {
            results = await this.send(worker, work, inputs.slice(offset, offset + size), offset);
          } catch (e) {
            failed = true;
            throw e;
          }
          for (let i = 0; i < results.length; i++) out[offset + i] = results[i]!;
          done += results.length;
          this.onItemDone?.(done, inputs.length, work.name);
        }
      }),
    );
    return out;
  }

  /** One piece of a batch on one thread: its results in order, or a TaskFailure naming the item. */
  private send<I, O>(worker: Worker, work: TaskWork<I, O>, items: I[], offset: number): Promise<O[]> {
    const id = this.next++;
    return new Promise<O[]>((resolve, reject) => {
      const settle = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        this.release(worker);
      };
      const onMessage = (m: { id: number; out?: O[]; failed?: number; error?: unknown }): void => {
        if (m.id !== id) return;
        settle();
        if (m.out) resolve(m.out);
        else reject(new TaskFailure(m.failed!, work.name, revive(m.error as never)));
      };
      const onError = (e: Error): void => {
        settle();
        reject(new TaskFailure(offset, work.name, e));
      };
      // a thread that ends without an error (process.exit in a task) would otherwise leave the batch waiting
      const onExit = (code: number): void => {
        settle();
        reject(new TaskFailure(offset, work.name, new Error(`the worker thread ended (exit code ${code}) before finishing its tasks`)));
      };
      // a thread that ended between two pieces (its exit already reported): posting to it would never be answered
      if (worker.threadId === -1) {
        reject(new TaskFailure(offset, work.name, new Error('the worker thread ended before its next tasks')));
        return;
      }
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      this.hold(worker);
      try {
        worker.postMessage({ id, module: work.entry!.module, name: work.entry!.export, items, offset });
      } catch (e) {
        // items that cannot be cloned for the thread (a function, a class instance with private state): name the first
        // such item (found only on this path)
        settle();
        const bad = items.findIndex((item) => {
          try {
            structuredClone(item);
            return false;
          } catch {
            return true;
          }
        });
        reject(new TaskFailure(offset + Math.max(0, bad), work.name, e));
      }
    });
  }

  /** Batches out per thread: a thread with a batch keeps the process alive until the batch is back (an idle one does not). */
  private readonly busy = new Map<Worker, number>();

  private hold(w: Worker): void {
    const n = this.busy.get(w) ?? 0;
    if (n === 0) w.ref();
    this.busy.set(w, n + 1);
  }

  private release(w: Worker): void {
    const n = (this.busy.get(w) ?? 1) - 1;
    if (n > 0) this.busy.set(w, n);
    else {
      this.busy.delete(w);
      w.unref();
    }
  }

  /** Ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }
}
