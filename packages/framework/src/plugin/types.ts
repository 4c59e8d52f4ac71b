/**
 * The weightshare plugin contract — the whole public surface a plugin implements, in one file.
 *
 * A plugin is a plain object (no classes, no decorators, nothing registered on import). A spec names the backend
 * each stage runs on; the engine registers every method of the run's plugins in the run's own DI container under
 * (backend, stage, method) and resolves stages from there. Data crosses stage boundaries as float64
 * {@link DenseMatrix} values, so one pipeline can mix backends; a float32 plugin converts at its boundary.
 *
 * Compatibility: {@link PLUGIN_API_VERSION} is bumped for every breaking change of this file. A plugin declares the
 * version it targets in `meta.apiVersion`; the engine rejects other versions with `PLUGIN_INVALID`.
 */
import type { DenseMatrix } from '../math/dense.js';
import type { Rng } from '../random.js';

/** The API version of this contract. */
export const PLUGIN_API_VERSION = 1;

/** The three stages of a round, in order. */
export type StageName = 'propagate' | 'fuse' | 'optimize';

/** All stage names, in execution order. */
export const STAGE_NAMES: readonly StageName[] = ['propagate', 'fuse', 'optimize'];

/** Loss functions the framework understands (metrics, objective, baselines). */
export type LossName = 'squared' | 'logistic';

/** A JSON Schema (draft 2020-12) object. Kept loose on purpose: plugins write plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

/** One task's training data, as the optimize stage sees it. */
export interface TaskData {
  /** The task's id as it appears in the data (e.g. a school number). */
  readonly id: string;
  /** Position of the task in every T-row matrix. */
  readonly index: number;
  /** Features, n × d, already standardized; includes the bias column when `biasColumn >= 0`. */
  readonly X: DenseMatrix;
  /** Targets, length n. For logistic loss: 0 or 1. */
  readonly y: Float64Array;
  /** Column of X that is the bias (never ridge-penalized), or -1 when there is none. */
  readonly biasColumn: number;
}

/** Options every optimize method accepts; the framework reads them to compute the objective it records. */
export interface OptimizeCommonOptions {
  /** λ: weight of the pull towards the fused target, λ·c_t·‖w_t − E_t‖². */
  lambda: number;
  /** ρ: ridge penalty ρ‖P w‖², P zeroing the bias. */
  ridge: number;
}

/** Input of a propagate method: the relation A (T×T) and the stacked task weights B (T×d). */
export interface PropagateInput {
  readonly relation: DenseMatrix;
  readonly weights: DenseMatrix;
}

/** Output of a propagate method. */
export interface PropagateOutput {
  /** C (T×d). */
  readonly propagated: DenseMatrix;
  /** Facts worth recording in the run's output (e.g. a condition estimate, a fallback that was used). */
  readonly diagnostics?: Record<string, unknown>;
}

/** Input of a fuse method. */
export interface FuseInput {
  /** C (T×d) from propagate. */
  readonly propagated: DenseMatrix;
  /** A (T×T): defines each task's neighbours for `per-task` scope and the `degree` weights. */
  readonly relation: DenseMatrix;
  /** Number of training rows of each task (for `sizes` weights). */
  readonly taskSizes: readonly number[];
}

/**
 * Output of a fuse method: the target E_t of every task and the weight c_t of its pull, so that optimize minimizes
 * Σ_t L_t(w_t) + λ Σ_t c_t ‖w_t − E_t‖². For one global E every row of `targets` is that E.
 */
export interface FuseOutput {
  readonly targets: DenseMatrix;
  readonly penaltyWeights: Float64Array;
  readonly diagnostics?: Record<string, unknown>;
}

/** Input of an optimize method. */
export interface OptimizeInput {
  readonly tasks: readonly TaskData[];
  readonly loss: LossName;
  /** E (T×d): each task's target. */
  readonly targets: DenseMatrix;
  /** c (length T): each task's penalty weight. */
  readonly penaltyWeights: Float64Array;
  /** The current weights (T×d), the starting point of iterative optimizers. */
  readonly start: DenseMatrix;
}

/** How one task's optimization ended. */
export interface TaskOptimizeReport {
  readonly epochs: number;
  readonly converged: boolean;
}

/** Output of an optimize method. */
export interface OptimizeOutput {
  /** W (T×d). */
  readonly weights: DenseMatrix;
  readonly perTask: readonly TaskOptimizeReport[];
  readonly diagnostics?: Record<string, unknown>;
}

/** What a stage method is given besides its input and options. */
export interface StageContext {
  /** 1-based round number; 0 for work outside the rounds (initial fits, baselines). */
  readonly round: number;
  /** A stream of the run's seeded generator, private to this stage call. Fork it per task (`rng.fork('task-3')`). */
  readonly rng: Rng;
  /** Runs per-task work; a stage never assumes where or in which order tasks run. */
  readonly executor: TaskExecutor;
  /** A per-run cache for values that do not change between rounds (e.g. XᵀX of each task). */
  readonly cache: Map<string, unknown>;
  /** Why this call happens: `stage` inside a round, or `init`/`baseline` fits. */
  readonly purpose: 'stage' | 'init' | 'baseline';
}

/** Per-task work handed to a {@link TaskExecutor}. */
export interface TaskWork<I, O> {
  /** A name for progress and error messages, e.g. `optimize/adam`. */
  readonly name: string;
  /** Runs one item. Must depend only on its input (and forked RNG streams), never on other items. */
  run(input: I, index: number): O | Promise<O>;
  /**
   * Where a worker thread finds the same function: a module URL (`import.meta.url` of the module) and the name of
   * its export, called as `fn(input, index)`. Only work that gives this (and whose inputs and outputs survive
   * structured cloning) can run on other threads; anything else runs in process.
   */
  readonly entry?: { module: string; export: string };
}

/** Where per-task work runs: in process now; worker threads or a queue are other implementations. */
export interface TaskExecutor {
  /** Runs `work` on every input; results come back in input order whatever order they ran in. */
  map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]>;
}

/** One method of one stage. */
export interface StageMethod<I, O> {
  /** One line for `weightshare plugins` and the docs. */
  readonly description: string;
  /**
   * JSON Schema `properties` of this method's options (each with `description`, and `default` where there is one).
   * The engine merges them into the spec's schema: misspelt or out-of-range options get the same file:line:column
   * errors as built-in keys; defaults are filled in before `run` is called.
   */
  readonly options: Record<string, JsonSchema>;
  /** Option names that must be given. */
  readonly required?: readonly string[];
  /**
   * Optimize methods only: the losses this method can minimize (default `['squared']`). A spec whose `loss` the
   * chosen method does not support is rejected before anything runs; the conformance kit tests each listed loss.
   */
  readonly losses?: readonly LossName[];
  /** Computes the stage. Throw {@link WeightshareError} for user-fixable problems; anything else is wrapped. */
  run(input: I, options: Record<string, unknown>, ctx: StageContext): O | Promise<O>;
}

/** The methods a plugin provides, by stage then method name. */
export interface PluginStages {
  propagate?: Record<string, StageMethod<PropagateInput, PropagateOutput>>;
  fuse?: Record<string, StageMethod<FuseInput, FuseOutput>>;
  optimize?: Record<string, StageMethod<OptimizeInput, OptimizeOutput>>;
}

/** What a plugin can do, checked before anything runs (like abstract-level's `supports`). */
export interface PluginCapabilities {
  /** Arithmetic precision of its stages; sets the tolerance its results are held to. */
  readonly precision: 'float64' | 'float32';
  /** Optional features, e.g. `deterministic`. */
  readonly features?: readonly string[];
}

/** A weightshare plugin. */
export interface Plugin {
  readonly meta: {
    /** Package name, e.g. `@weightshare/plugin-cpu`. */
    readonly name: string;
    /** The plugin's own semver version (recorded in run outputs). */
    readonly version: string;
    /** The {@link PLUGIN_API_VERSION} it targets. */
    readonly apiVersion: number;
  };
  /** The backend name a spec uses to select this plugin's methods (`backend: cpu`). */
  readonly backend: string;
  readonly capabilities: PluginCapabilities;
  readonly stages: PluginStages;
  /**
   * JSON Schema properties of plugin-wide settings, given in a spec as `backendOptions.<backend>` (e.g.
   * `backendOptions: { tfjs: { device: wasm } }`) and validated like every other key; passed to `setup` with
   * defaults filled in.
   */
  readonly settings?: Record<string, JsonSchema>;
  /** Called once when a run that uses this plugin starts, with its settings. */
  setup?(settings: Record<string, unknown>): void | Promise<void>;
  /** What actually runs (e.g. `{ device: 'wasm' }`), recorded in the run's results and manifest. Called after setup. */
  runtime?(): Record<string, unknown>;
  /** Called when the run's container is disposed; release memory and handles here. */
  dispose?(): void | Promise<void>;
}
