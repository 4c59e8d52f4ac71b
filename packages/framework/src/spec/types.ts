/** The pipeline spec after validation and defaults (what the engine runs and the run records). */
import type { StageName } from '../plugin/types.js';

/** A stage entry: a method, an optional backend, and the method's options. */
export interface StageSpec {
  method: string;
  backend?: string;
  [option: string]: unknown;
}

/** `loss` or `model` after validation: the component's name and its options, defaults filled in. */
export interface ComponentSpec {
  method: string;
  [option: string]: unknown;
}

export interface SyntheticDataSpec {
  source: 'synthetic';
  tasks: number;
  clusters: number;
  features: number;
  rows: number;
  noise: number;
  spread: number;
  scale: number;
  /** Classes of a multi-class target (softmax). */
  classes: number;
  /** The true model: `linear` weights, or a one-hidden-layer tanh network (`mlp`) of `teacherHidden` units. */
  teacher: 'linear' | 'mlp';
  teacherHidden: number;
  standardize: boolean;
  bias: boolean;
}

/** A categorical feature column: its name, or the name with how to encode it. */
export type CategoricalSpec = string | { column: string; unseen?: 'zeros' | 'error'; drop?: 'none' | 'first' };

export interface CsvDataSpec {
  source: 'csv';
  path: string;
  task: string;
  target: string;
  features?: string[];
  exclude?: string[];
  /** Columns one-hot encoded with the training rows' categories. */
  categorical?: CategoricalSpec[];
  /** What to do with missing cells. */
  missing?: 'error' | 'drop-rows' | 'impute-mean';
  /** Cell values that mean "missing". */
  missingValues?: string[];
  /** Field delimiter; detected from the header when absent. */
  delimiter?: ',' | ';' | '\t' | 'tab' | '|';
  standardize: boolean;
  bias: boolean;
}

export type DataSpec = SyntheticDataSpec | CsvDataSpec;

export type SplitSpec =
  | { method: 'random'; testFraction: number; minTrain: number }
  | { method: 'column'; column: string; train: (string | number)[]; test: (string | number)[] }
  | { method: 'file'; path: string; column: string; rowColumn?: string; train: (string | number)[]; test: (string | number)[] };

export interface Sparsify {
  knn?: number;
  threshold?: number;
}

export type RelationSpec =
  | { method: 'identity' }
  | { method: 'uniform' }
  | ({ method: 'given'; matrix: number[][] } & Sparsify)
  | ({ method: 'csv'; path: string } & Sparsify)
  | ({ method: 'estimate'; similarity: 'cosine' | 'correlation' | 'rbf'; gamma?: number; negative: 'clip' | 'keep'; every?: number } & Sparsify)
  | { method: 'learn'; form: 'covariance'; every: number; epsilon: number }
  | { method: 'learn'; form: 'clusters'; every: number; k: number; restarts: number };

export type InitSpec = { method: 'independent'; ridge: number } | { method: 'zeros' } | { method: 'model' } | { method: 'file'; path: string };

/**
 * How many rounds run. `rounds: N` in a spec means { max: N, stopEarly: false } (always N rounds; convergence is
 * still measured against `tol` and reported); `rounds: { max, tol }` stops as soon as the rounds converged.
 */
export interface RoundsSpec {
  max: number;
  tol: number;
  stopEarly: boolean;
  acceleration: 'none' | 'anderson';
  memory: number;
}

export interface ResolvedSpec {
  apiVersion: string;
  name: string;
  description?: string;
  seed: number;
  plugins?: string[];
  backend: string;
  backendOptions: Record<string, Record<string, unknown>>;
  loss: ComponentSpec;
  model: ComponentSpec;
  data: DataSpec;
  split: SplitSpec;
  relation: RelationSpec;
  init: InitSpec;
  stages: Record<StageName, StageSpec>;
  rounds: RoundsSpec;
  sweep?: import('../sweep/sweep.js').SweepSpec;
  evaluate: { baselines: boolean; baselineRidge: number; everyRound: boolean };
  output: { dir: string; write: boolean; checkpoints: 'all' | 'last' };
}

/** The options of a `loss` or `model` entry (everything but `method`). */
export function componentOptions(c: ComponentSpec): Record<string, unknown> {
  const { method: _m, ...rest } = c;
  return rest;
}
