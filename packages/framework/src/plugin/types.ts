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

/** The API version of this contract. Version 1 plugins (stage methods only, `loss` a name) still load; see docs/plugins.md. */
export const PLUGIN_API_VERSION = 2;

/** The API versions this framework loads. */
export const SUPPORTED_PLUGIN_API_VERSIONS: readonly number[] = [1, 2];

/** The three stages of a round, in order. */
export type StageName = 'propagate' | 'fuse' | 'optimize';

/** All stage names, in execution order. */
export const STAGE_NAMES: readonly StageName[] = ['propagate', 'fuse', 'optimize'];

/**
 * The name of a loss: a built-in one (`squared`, `logistic`, `huber`, `poisson`, `softmax`) or one a plugin provides.
 * Kept as its own name for readability; any registered loss is valid.
 */
export type LossName = string;

/**
 * What a task's target column holds. Sets how labels are read and checked, which metrics a run reports and how
 * predictions are written:
 * - `regression`: any finite number (MSE, RMSE, MAE, R², explained variance);
 * - `binary`: two labels, 0/1 or −1/+1, stored as 0/1 (accuracy, log-loss, ROC AUC);
 * - `multiclass`: K classes read from the column (numbers or text; sorted, their order recorded), stored as the class
 *   index 0..K−1 (accuracy, cross-entropy, macro-F1);
 * - `count`: numbers ≥ 0 (Poisson deviance, MAE).
 */
export type TargetKind = 'regression' | 'binary' | 'multiclass' | 'count';

/**
 * A loss L(y, z) of one row, z the model's k outputs for that row. Plain functions over typed arrays: they run in
 * process or (built-in ones) on worker threads, and the framework uses them for the objective, the metrics'
 * probabilities and the predictions. Sums, never means: the objective is Σ_i L(y_i, z_i).
 */
export interface LossComponent {
  /** One line for `weightshare plugins` and the docs. */
  readonly description: string;
  /** JSON Schema `properties` of the loss's options (as for stage methods: validated, defaults filled in). */
  readonly options: Record<string, JsonSchema>;
  readonly required?: readonly string[];
  /** What the target holds (see {@link TargetKind}). */
  readonly target: TargetKind;
  /**
   * Checks one label as the framework stored it (after the kind's own checks); returns why it is not a valid label
   * for this loss (e.g. `counts must be ≥ 0`), or undefined. The framework names the CSV row and column.
   */
  checkLabel?(y: number, options: Record<string, unknown>): string | undefined;
  /**
   * Σ_i L(y_i, z_i) over the n = y.length rows, Z row-major n×k. When `grad` is given (length n·k), writes ∂L/∂Z
   * into it (overwriting). Must not write to `y` or `Z`.
   */
  value(y: Float64Array, Z: Float64Array, k: number, grad: Float64Array | null, options: Record<string, unknown>): number;
  /**
   * Second derivatives for Newton's method: for k = 1, d²L/dz² of each row into `out` (length n); for k > 1 the k×k
   * block ∂²L/∂z∂zᵀ of each row (length n·k·k). Absent: the loss is not twice differentiable (no `newton`).
   */
  curvature?(y: Float64Array, Z: Float64Array, k: number, out: Float64Array, options: Record<string, unknown>): void;
  /** sup_z of d²L/dz² (the largest eigenvalue of the block for k > 1), for 1/L step sizes; absent or Infinity when unbounded. */
  curvatureBound?(options: Record<string, unknown>): number;
  /**
   * The inverse link: outputs Z (n×k) to predictions on the target's scale, into `out` (n×k): the mean for
   * regression and counts, P(y = 1) for binary, class probabilities for multiclass.
   */
  link(Z: Float64Array, k: number, out: Float64Array, options: Record<string, unknown>): void;
  /**
   * Why a fit to these labels alone has no finite minimizer when the model's unpenalized entries (its biases) are
   * free — e.g. logistic labels that are all 1 drive the bias to +∞ — or undefined when it has one. The engine asks
   * it for fits with no pull towards shared targets (λ = 0: the independent and pooled baselines, the initial fits)
   * and ridge-penalizes every entry of such a task's fit, saying so in results.json. Absent: always bounded.
   */
  unboundedBias?(y: Float64Array, k: number, options: Record<string, unknown>): string | undefined;
}

/** A named block of a model's parameter vector θ (e.g. `weights`, `bias`, `layer1`). */
export interface ParameterBlock {
  readonly name: string;
  /** First entry in θ. */
  readonly offset: number;
  /** Number of entries. */
  readonly size: number;
  /** Shape of the block, row-major (e.g. [features, outputs]). */
  readonly shape: readonly number[];
}

/** How a model's parameters are laid out for one data shape. */
export interface ModelLayout {
  /** d: columns of X (including the bias column when there is one). */
  readonly features: number;
  /** k: outputs per row. */
  readonly outputs: number;
  /** p: length of θ, the columns of every T×p parameter matrix. */
  readonly size: number;
  readonly blocks: readonly ParameterBlock[];
  /** 1 where the ridge penalty ρθ² applies, 0 for biases (never ridge-penalized). Length p. */
  readonly penalized: Uint8Array;
  /**
   * Linear models: Z = X·Θ with Θ the d×k matrix θ row-major (feature j, output c at j·k + c). Optimizers may use
   * that (sufficient statistics, exact solves, Newton).
   */
  readonly linear: boolean;
}

/** A model family f(X, θ): a task's rows X (n×d) and its parameters θ (length p) to outputs Z (n×k). */
export interface ModelComponent {
  readonly description: string;
  readonly options: Record<string, JsonSchema>;
  readonly required?: readonly string[];
  /** The layout for d features (bias column `biasColumn`, or −1) and k outputs (set by the loss). */
  layout(shape: { features: number; outputs: number; biasColumn: number }, options: Record<string, unknown>): ModelLayout;
  /**
   * The starting parameters: one vector for every task, drawn from `rng` (seeded), so that entry j means the same in
   * every task and averaging parameters across tasks is meaningful.
   */
  init(layout: ModelLayout, rng: import('../random.js').Rng, options: Record<string, unknown>): Float64Array;
  /** Z = f(X, θ) into `Z` (n×k). Returns whatever `backward` needs (activations), or undefined. */
  forward(layout: ModelLayout, theta: Float64Array, X: Float64Array, n: number, Z: Float64Array, options: Record<string, unknown>): unknown;
  /** ∂(Σ L)/∂θ into `grad` (overwriting), from dZ = ∂L/∂Z (n×k) and what `forward` returned for the same θ and X. */
  backward(layout: ModelLayout, theta: Float64Array, X: Float64Array, n: number, tape: unknown, dZ: Float64Array, grad: Float64Array, options: Record<string, unknown>): void;
}

/** The run's loss as a stage sees it: its name, its options (defaults filled in) and its implementation. */
export interface LossInfo {
  readonly name: string;
  readonly options: Record<string, unknown>;
  readonly component: LossComponent;
  /** The class labels, in the order of the outputs (multiclass), or the two file labels (binary). */
  readonly classes?: readonly (string | number)[];
}

/** The run's model as a stage sees it. */
export interface ModelInfo {
  readonly name: string;
  readonly options: Record<string, unknown>;
  readonly component: ModelComponent;
  readonly layout: ModelLayout;
}

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
  /** Targets, length n. Binary losses: 0 or 1; multiclass: the class index 0..K−1. */
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

/** Input of a propagate method: the relation A (T×T) and the stacked task parameters B (T×p). */
export interface PropagateInput {
  readonly relation: DenseMatrix;
  readonly weights: DenseMatrix;
  /** A spare T×p output buffer, zero-filled (see {@link OutputBuffer}); only for methods with `spareOutput`. */
  readonly out?: DenseMatrix;
}

/** Output of a propagate method. */
export interface PropagateOutput {
  /** C (T×p). */
  readonly propagated: DenseMatrix;
  /** Facts worth recording in the run's output (e.g. a condition estimate, a fallback that was used). */
  readonly diagnostics?: Record<string, unknown>;
}

/** Input of a fuse method. */
export interface FuseInput {
  /** C (T×p) from propagate. */
  readonly propagated: DenseMatrix;
  /** A (T×T): defines each task's neighbours for `per-task` scope and the `degree` weights. */
  readonly relation: DenseMatrix;
  /** Number of training rows of each task (for `sizes` weights). */
  readonly taskSizes: readonly number[];
  /** A spare T×p buffer for `targets`, zero-filled (see {@link OutputBuffer}); only for methods with `spareOutput`. */
  readonly out?: DenseMatrix;
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

/**
 * Input of an optimize method. Each task t minimizes
 *   Σ_i L(y_i, f(x_i, θ_t)) + Σ_j λ_j c_t (θ_tj − E_tj)² + ρ Σ_j m_j θ_tj²
 * with λ_j = `lambdas[j]`, c_t = `penaltyWeights[t]`, ρ = `options.ridge` and m = `model.layout.penalized`.
 */
export interface OptimizeInput {
  readonly tasks: readonly TaskData[];
  /** The loss (version 1 plugins get its name only, and only squared or logistic). */
  readonly loss: LossInfo;
  /** The model and its parameter layout (p = model.layout.size). */
  readonly model: ModelInfo;
  /** E (T×p): each task's target. */
  readonly targets: DenseMatrix;
  /** c (length T): each task's penalty weight. */
  readonly penaltyWeights: Float64Array;
  /**
   * λ_j (length p): the pull of each parameter towards its target; `options.lambda` everywhere unless the spec gives
   * λ per parameter block. All zero for the initial fits and the baselines.
   */
  readonly lambdas: Float64Array;
  /** The current parameters (T×p), the starting point of iterative optimizers. */
  readonly start: DenseMatrix;
  /**
   * Hard sharing (length p, version 2, only for methods with `tiedBlocks`): 1 where the entry is **one** parameter
   * for all tasks (a block the spec marks `{ shared: true }`), trained on the sum of the tasks' objectives with its
   * ridge counted once; `start` has the same value there in every row, and so must the returned weights. Absent: none.
   */
  readonly tied?: Uint8Array;
  /** A spare T×p buffer for `weights`, zero-filled (see {@link OutputBuffer}); only for methods with `spareOutput`. */
  readonly out?: DenseMatrix;
}

/**
 * The `out` of a stage's input (version 2): a T×p matrix of zeros in memory the engine owns, the shape of the stage's
 * main output, offered to methods that declare `spareOutput` in round-loop calls of runs without a stage store
 * (`runPipeline` without one: `output.write: false` in the CLI). A method may write its result into `out.data` and
 * return `out` itself instead of allocating a new matrix: the engine then reuses that memory once the loop is done
 * with the result, so a run of rounds stops allocating three T×p arrays a round (on small tasks a good part of a
 * round's time: memory never touched before costs a page fault per 4 KiB). Rules: fill every entry you return (it
 * arrives as zeros, like a new Float64Array); never read it as an input, never return it as anything else, never keep
 * it (or a view of it) after `run` returns, and never return an `out` of an earlier call — the engine hands the same
 * memory to later stages. Ignoring it is always correct: arrays a method allocated itself are never reused.
 * {@link outputMatrix} does the shape check.
 */
export type OutputBuffer = DenseMatrix;

/** How one task's optimization ended. */
export interface TaskOptimizeReport {
  readonly epochs: number;
  readonly converged: boolean;
  /**
   * Optional training curve: the task's objective f(θ) (data loss, pull and ridge) per epoch. The engine sums the
   * tasks' curves into the round's `diagnostics.optimize.curve` (plugin-cpu records them for non-linear models).
   */
  readonly curve?: readonly number[];
}

/** Output of an optimize method. */
export interface OptimizeOutput {
  /** W (T×p). */
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

/** Where per-task work runs: in process, on worker threads, or on other machines through a queue. */
export interface TaskExecutor {
  /** Runs `work` on every input; results come back in input order whatever order they ran in. */
  map<I, O>(inputs: readonly I[], work: TaskWork<I, O>): Promise<O[]>;
  /**
   * True when the run's tasks stay where the work runs, from one call to the next (another machine holds its shard
   * of them; `weightshare run --executor`). An item's `task` is then the same object on that side in every call, so
   * values derived from its rows (XᵀX, …) belong in a cache there, keyed by the task object, and should not be
   * returned in the results (they would travel back each time). Executors in this process leave it unset.
   */
  readonly resident?: boolean;
  /**
   * Called by the engine once the run's data is prepared, before any work is handed out: an executor on other
   * machines learns the run's training tasks, so that items naming one of them can travel as a reference to it.
   */
  attach?(train: readonly TaskData[]): void | Promise<void>;
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
   * Optimize methods only: the losses this method can minimize (default `['squared']`), or `'any'` for every loss
   * with a gradient (version 2). A spec whose `loss` the chosen method does not support is rejected before anything
   * runs; the conformance kit tests each listed loss (every built-in one for `'any'`).
   */
  readonly losses?: readonly LossName[] | 'any';
  /** Optimize methods only (version 2): the models this method can fit (default `['linear']`), or `'any'`. */
  readonly models?: readonly string[] | 'any';
  /**
   * Optimize methods only (version 2): a further check of the run's loss and model, e.g. Newton's method needing
   * the loss's curvature. Returns why the method cannot fit them (one sentence, with the fix), or undefined.
   */
  supports?(loss: LossInfo, model: ModelInfo): string | undefined;
  /**
   * Optimize methods only (version 2): the method reads each parameter's pull from `input.lambdas` (never a single
   * `options.lambda`), so a spec may give `lambda` per parameter block. Without it such specs are refused.
   */
  readonly blockLambdas?: boolean;
  /**
   * Optimize methods only (version 2): the method honours `input.tied` (hard-shared blocks: one copy for all tasks,
   * trained on the pooled gradient). Without it, specs with a `{ shared: true }` block are refused.
   */
  readonly tiedBlocks?: boolean;
  /**
   * The method may write its main output (propagated, targets or weights) into the input's `out` and return it (see
   * {@link OutputBuffer}); the engine offers `out` only to methods that say so.
   */
  readonly spareOutput?: boolean;
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
  /** Version 2: losses this plugin adds, by name (the spec's `loss: { method: name, ... }`). */
  readonly losses?: Record<string, LossComponent>;
  /** Version 2: model families this plugin adds, by name (the spec's `model: { method: name, ... }`). */
  readonly models?: Record<string, ModelComponent>;
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
