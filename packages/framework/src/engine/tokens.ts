/**
 * Injection tokens of the run container. Interfaces vanish at runtime, so every dependency is resolved by one of
 * these symbols (explicit tokens also mean no decorator metadata is needed, which esbuild/tsx do not emit).
 */
export const TOKENS = {
  /** The validated, defaults-filled {@link ResolvedSpec}. */
  Spec: Symbol.for('weightshare.Spec'),
  /** The {@link PluginRegistry} of this run's plugins. */
  Registry: Symbol.for('weightshare.Registry'),
  /** The {@link TaskExecutor} per-task work goes through. */
  Executor: Symbol.for('weightshare.Executor'),
  /** The run's root {@link Rng}. */
  Rng: Symbol.for('weightshare.Rng'),
  /** The {@link ProgressReporter} (the CLI's progress bar, or a no-op). */
  Progress: Symbol.for('weightshare.Progress'),
  /** The {@link StageStore} checkpoints go to (the run folder and the stage cache, or nowhere). */
  Store: Symbol.for('weightshare.Store'),
  /** The {@link Engine} that runs the rounds. */
  Engine: Symbol.for('weightshare.Engine'),
} as const;

/** Token of one stage implementation: `weightshare.stage/<backend>/<stage>/<method>`. */
export function stageToken(backend: string, stage: string, method: string): string {
  return `weightshare.stage/${backend}/${stage}/${method}`;
}
