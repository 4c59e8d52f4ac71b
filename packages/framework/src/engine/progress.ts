/** What the engine reports while it works; the CLI draws a progress bar from it, tests pass nothing. */
export interface ProgressReporter {
  /** A phase starts: `label` like "round 3/10 · optimize"; `step` of `steps` phases in the run. */
  phase(label: string, step: number, steps: number): void;
  /** Per-task work inside the current phase advanced. */
  tasks(done: number, total: number): void;
  /** The run finished (or failed); release the terminal. */
  end(): void;
}

/** A reporter that reports nothing. */
export const silentProgress: ProgressReporter = { phase() {}, tasks() {}, end() {} };
