/**
 * What a run reports — the shape of results.json — and the outcome of a run. These types sit below the engine and the
 * run folder, which both use them. results.json contains no clock readings: the same spec, seed and backend give the
 * same bytes.
 */
import type { PreparedData, MissingReport } from './data/dataset.js';
import type { Metrics } from './eval/metrics.js';
import type { DenseMatrix } from './math/dense.js';
import type { StageName, TargetKind } from './plugin/types.js';
import type { ResolvedSpec } from './spec/types.js';
import type { StageSource } from './store/stage-store.js';

/** The value of the objective at the weights of one round, in its parts. */
export interface ObjectiveValue {
  total: number;
  /** Σ_t L_t(w_t): the data loss. */
  loss: number;
  /** λ times the sharing penalty (see {@link ObjectiveInfo.formula}). */
  penalty: number;
  /** ρ Σ_t ‖P w_t‖². */
  ridge: number;
}

/** Which objective the recorded values are. */
export interface ObjectiveInfo {
  /**
   * `exact`: the objective the rounds minimize (their fixed points are its stationary points; with the exact
   * optimizer it does not rise from round to round). `surrogate`: with this propagate/fuse combination the rounds
   * minimize no fixed objective, and the value recorded is the round's own per-task problem, Σ L_t + ρ‖Pw_t‖² +
   * λ Σ c_t ‖w_t − E_t‖² at the targets E that round used.
   */
  kind: 'exact' | 'surrogate';
  /** The penalty in words and symbols. */
  formula: string;
  /** Why this kind (for surrogates: what would make it exact). */
  reason: string;
}

/** One round's record. */
export interface RoundRecord {
  round: number;
  /** After every round, or only after the last when `evaluate.everyRound` is false. */
  objective?: ObjectiveValue;
  /** Test metrics of the shared model after this round (present exactly when `objective` is). */
  test?: Metrics;
  /** ‖G(x) − x‖_F / ‖G(x)‖_F: the relative change of the weights this round made (x its input, G(x) its output). */
  change: number;
  /** How this round's input was chosen: the previous output (`plain`), an Anderson extrapolation (`anderson`). */
  step?: 'plain' | 'anderson';
  /** Set when this round's Anderson step was rejected by the safeguard (its residual grew): the next one is plain. */
  rejected?: true;
  /** When the relation changes between rounds: what its update before this round found (round 1: the first one). */
  relation?: Record<string, unknown>;
  diagnostics: Partial<Record<StageName, Record<string, unknown>>>;
}

/** How the rounds ended. */
export interface Convergence {
  /** True when both the change of the weights and (when recorded every round) of the objective fell below `tol`. */
  converged: boolean;
  /** The first round at which they did, or null. */
  round: number | null;
  tol: number;
  /** Rounds run, and the most allowed. */
  rounds: number;
  max: number;
  /** Whether the rounds stop once converged (`rounds: { max, tol }`) or always run `max` (`rounds: N`). */
  stopEarly: boolean;
  acceleration: 'none' | 'anderson';
  /** The change of the last round. */
  lastChange: number;
}

/** Everything a run reports (written as results.json; contains no clock readings). */
export interface RunResults {
  name: string;
  seed: number;
  /** The loss's name (its options in `lossOptions` when it has any). */
  loss: string;
  lossOptions?: Record<string, unknown>;
  /** The model family and its parameter layout (absent in runs written before plugin API version 2: linear, one output). */
  model?: { name: string; options?: Record<string, unknown>; outputs: number; parameters: number; blocks: { name: string; offset: number; size: number; shape: number[] }[] };
  /** Multi-class losses: the classes in output order. */
  classes?: (string | number)[];
  stages: Record<StageName, { method: string; backend: string; plugin: string; pluginVersion: string }>;
  plugins: { name: string; version: string; backend: string; precision: string; runtime?: Record<string, unknown> }[];
  data: {
    tasks: number;
    features: string[];
    trainRows: number;
    testRows: number;
    droppedConstantColumns: string[];
    /** Missing cells and what was done with them (absent for synthetic or program-prepared data). */
    missing?: MissingReport;
    /** Categorical columns and their categories, in one-hot column order. */
    categorical?: { column: string; categories: string[] }[];
    files: { path: string; bytes: number }[];
  };
  relation: {
    method: string;
    edges: number;
    directedEdges: number;
    symmetric: boolean;
    /** relation learn: the form; with `every`, how often it was updated. */
    form?: string;
    every?: number;
    /** How many times the relation was computed in this run (1 when it is fixed). */
    updates?: number;
    /** form clusters: each task's cluster (0-based, in task order) at the end. */
    clusters?: number[];
    /** Synthetic data with hidden clusters, form clusters: the adjusted Rand index of the learned clusters against them. */
    adjustedRandIndex?: number;
  };
  objective: ObjectiveInfo;
  convergence: Convergence;
  rounds: RoundRecord[];
  /**
   * Tasks whose fit alone (initial fits, independent or pooled baseline) had no finite minimizer with a free bias
   * (e.g. logistic labels all of one class) and so had every parameter ridge-penalized, with the reason.
   */
  biasPenalized?: { init?: BiasPenalized[]; independent?: BiasPenalized[]; pooled?: BiasPenalized[] };
  /** Test metrics of the shared model and of the baselines. */
  models: { shared: Metrics; independent?: Metrics; pooled?: Metrics };
  /** Metrics of a model that are undefined (null in `models`), with the reason, e.g. when no task's test target varies. */
  undefinedMetrics?: Partial<Record<'shared' | 'independent' | 'pooled', Record<string, string>>>;
  perTask: {
    id: string;
    trainRows: number;
    testRows: number;
    shared: Metrics;
    independent?: Metrics;
    pooled?: Metrics;
    /** Metrics that are undefined for this task (null above), with the reason. */
    undefined?: Record<string, string>;
  }[];
}

/** A finished run. */
export interface RunOutcome {
  results: RunResults;
  /** Final task weights W (T×d). */
  weights: DenseMatrix;
  /** The relation the last round used (for relation learn, form covariance: the precision Ω⁻¹). */
  relation: DenseMatrix;
  /** A relation learned with the rounds: the covariance Ω and its correlations (form covariance), or nothing more. */
  learned?: { omega?: DenseMatrix; correlation?: DenseMatrix };
  /** Fused targets E of the last round. */
  targets: DenseMatrix;
  data: PreparedData;
  spec: ResolvedSpec;
  /** What the loss's targets are (a plugin's loss included): recorded in the model artifact. */
  lossTarget?: TargetKind;
  /** Where each stage's outputs came from: computed now, taken from the cache, or from this run's checkpoints. */
  sources: Record<string, StageSource>;
  /** Fingerprint of the prepared data (train and test rows, after split and standardization). */
  dataHash: string;
}

/** A task fitted alone with its bias ridge-penalized too, and why (the loss's `unboundedBias`). */
export interface BiasPenalized {
  task: string;
  reason: string;
}
