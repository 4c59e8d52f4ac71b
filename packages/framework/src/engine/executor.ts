import type { TaskExecutor, TaskWork } from '../plugin/types.js';

/**
 * Thrown by an executor when one item of per-task work fails: carries the item's index so that the engine can name
 * the task. The original error is `cause`.
 */
export class TaskFailure extends Error {
  override readonly name = 'TaskFailure';
  constructor(
    readonly index: number,
    readonly work: string,
    cause: unknown,
  ) {
    super(`${work} failed on item ${index}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Runs per-task work in this process, one task after another, in input order. Deterministic by construction.
 * Other executors (worker threads, a queue) implement the same {@link TaskExecutor} interface.
 */
export class InProcessExecutor implements TaskExecutor {
  constructor(private readonly onItemDone?: (done: number, total: number, name: string) => void) {}

  async map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]> {
    const out = new Array<O>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      try {
        out[i] = await work.run(inputs[i]!, i);
      } catch (e) {
        throw new TaskFailure(i, work.name, e);
      }
      this.onItemDone?.(i + 1, inputs.length, work.name);
    }
    return out;
  }
}
