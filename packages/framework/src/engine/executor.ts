import type { TaskExecutor, TaskWork } from '../plugin/types.js';

/**
 * Runs per-task work in this process, one task after another, in input order. Deterministic by construction.
 * Other executors (worker threads, a queue) implement the same {@link TaskExecutor} interface.
 */
export class InProcessExecutor implements TaskExecutor {
  constructor(private readonly onItemDone?: (done: number, total: number, name: string) => void) {}

  async map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]> {
    const out = new Array<O>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      out[i] = await work.run(inputs[i]!, i);
      this.onItemDone?.(i + 1, inputs.length, work.name);
    }
    return out;
  }
}
