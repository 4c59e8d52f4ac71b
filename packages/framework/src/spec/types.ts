/** The pipeline spec after validation and defaults (what the engine runs and the run records). */
import type { LossName, StageName } from '../plugin/types.js';

/** A stage entry: a method, an optional backend, and the method's options. */
export interface StageSpec {
  method: string;
  backend?: string;
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
  standardize: boolean;
  bias: boolean;
}

export interface CsvDataSpec {
  source: 'csv';
  path: string;
  task: string;
  target: string;
  features?: string[];
  exclude?: string[];
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
  | ({ method: 'estimate'; similarity: 'cosine' | 'correlation' | 'rbf'; gamma?: number; negative: 'clip' | 'keep' } & Sparsify);

export type InitSpec = { method: 'independent'; ridge: number } | { method: 'zeros' } | { method: 'file'; path: string };

export interface ResolvedSpec {
  apiVersion: string;
  name: string;
  description?: string;
  seed: number;
  plugins?: string[];
  backend: string;
  backendOptions: Record<string, Record<string, unknown>>;
  loss: LossName;
  data: DataSpec;
  split: SplitSpec;
  relation: RelationSpec;
  init: InitSpec;
  stages: Record<StageName, StageSpec>;
  rounds: number;
  sweep?: import('../sweep/sweep.js').SweepSpec;
  evaluate: { baselines: boolean; baselineRidge: number; everyRound: boolean };
  output: { dir: string; write: boolean };
}
