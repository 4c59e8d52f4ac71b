/**
 * Sweeps: a grid of parameter values, each candidate scored on a seeded validation split carved from the training
 * rows (never the test rows), the best refit on all training rows and evaluated once on test — per outer split, then
 * summarized as mean ± standard deviation over the splits.
 */
import { invalidArgument } from '../errors.js';
import type { Rng } from '../random.js';
import type { Metrics } from '../eval/metrics.js';
import type { LossName, TargetKind } from '../plugin/types.js';
import { BUILTIN_LOSSES } from '../components/losses.js';
import { METRICS_BY_KIND } from '../eval/metrics.js';

/** The `sweep:` section of a spec. */
export interface SweepSpec {
  /**
   * Spec paths (as for --set) and the values to try: a list (a grid's values, or a random search's choices), or for
   * a random search a range `{ uniform: [lo, hi] }`, `{ logUniform: [lo, hi] }` or `{ int: [lo, hi] }` (inclusive).
   */
  parameters: Record<string, ParameterValues>;
  /**
   * grid (default): the cartesian product of the lists; random: `samples` candidates drawn with the spec's seed;
   * halving: successive halving of the grid's candidates (or, with `samples`, of random ones) over `budget`.
   */
  search?: 'grid' | 'random' | 'halving';
  /**
   * Successive halving: the spec path that is the budget (e.g. `rounds.max` or `stages.optimize.epochs`), its
   * smallest and largest value, and the factor `eta` between rungs (default 2): rung r gives min·etaʳ (the last
   * rung max) to the best 1/etaʳ of the candidates.
   */
  budget?: { path: string; min: number; max: number; eta?: number };
  /** How many candidates a random search draws. */
  samples?: number;
  /** Validation metric to select by. */
  metric?: SweepMetric;
  /** Which model's validation score selects: the shared model (default) or a baseline. */
  model?: 'shared' | 'independent' | 'pooled';
  /** Fraction of each task's training rows held out for validation. */
  validationFraction: number;
  /** Outer splits: values of `split.column` to repeat the whole selection over (e.g. split_1 … split_10). */
  splits?: string[];
}

export interface Candidate {
  id: number;
  /** Parameter values, in the order of `parameters`. */
  params: Record<string, unknown>;
  /** The same as `--set` assignments. */
  set: string[];
}

/** The values of a swept parameter: a list, or a range to draw from (random search). */
export type ParameterValues = unknown[] | { uniform: [number, number] } | { logUniform: [number, number] } | { int: [number, number] };

/** Why a range is not one (lo < hi, and lo > 0 for a log-uniform one, integers for int), or undefined. */
export function rangeProblem(v: ParameterValues): string | undefined {
  if (Array.isArray(v)) return undefined;
  const [kind, [lo, hi]] = Object.entries(v)[0] as [string, [number, number]];
  if (kind === 'int') return Number.isInteger(lo) && Number.isInteger(hi) && lo <= hi ? undefined : `int: [${lo}, ${hi}] needs two integers, the first at most the second`;
  if (!(lo < hi)) return `${kind}: [${lo}, ${hi}] needs the first bound below the second`;
  if (kind === 'logUniform' && !(lo > 0)) return `logUniform: [${lo}, ${hi}] needs bounds above 0 (it draws the logarithm uniformly)`;
  return undefined;
}

/**
 * A random search: `samples` candidates, each parameter drawn independently — a list's entries with equal
 * probability, a range uniformly (logUniform: its logarithm uniformly; int: each integer equally) — from `rng`.
 */
export function sampleCandidates(parameters: Record<string, ParameterValues>, samples: number, rng: Rng): Candidate[] {
  const keys = Object.keys(parameters);
  const out: Candidate[] = [];
  for (let id = 0; id < samples; id++) {
    const params: Record<string, unknown> = {};
    for (const k of keys) {
      const v = parameters[k]!;
      if (Array.isArray(v)) params[k] = v[rng.int(v.length)];
      else if ('uniform' in v) params[k] = v.uniform[0] + (v.uniform[1] - v.uniform[0]) * rng.next();
      else if ('logUniform' in v) params[k] = Math.exp(Math.log(v.logUniform[0]) + (Math.log(v.logUniform[1]) - Math.log(v.logUniform[0])) * rng.next());
      else params[k] = v.int[0] + rng.int(v.int[1] - v.int[0] + 1);
    }
    out.push({ id, params, set: keys.map((k) => `${k}=${JSON.stringify(params[k])}`) });
  }
  return out;
}

/** The cartesian product of the parameter values, first parameter slowest. */
export function expandCandidates(parameters: Record<string, ParameterValues>): Candidate[] {
  const keys = Object.keys(parameters);
  let combos: Record<string, unknown>[] = [{}];
  for (const k of keys) {
    const values = parameters[k]!;
    if (!Array.isArray(values)) throw invalidArgument(`sweep parameter "${k}" gives a range, which only a random search draws from; set sweep.search: random (with sweep.samples), or give a list of values.`);
    if (values.length === 0) throw invalidArgument(`sweep parameter "${k}" needs a non-empty list of values.`);
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  }
  return combos.map((params, id) => ({ id, params, set: keys.map((k) => `${k}=${JSON.stringify(params[k])}`) }));
}

/** Parses `--param path=v1,v2,…` (each value read as YAML/JSON). */
export function parseParamFlag(flag: string): [string, unknown[]] {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw invalidArgument(`--param ${flag}: expected path=value1,value2,… e.g. --param stages.optimize.lambda=1,10,100.`);
  const path = flag.slice(0, eq);
  const values = flag
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => {
      const n = Number(v);
      return v !== '' && Number.isFinite(n) ? n : v === 'true' ? true : v === 'false' ? false : v;
    });
  if (!values.length) throw invalidArgument(`--param ${flag}: give at least one value after "=".`);
  return [path, values];
}

/** Regression metrics a sweep can select by. */
export const REGRESSION_METRICS = ['mse', 'rmse', 'mae', 'r2', 'explainedVariance', 'r2TaskWeighted', 'explainedVarianceTaskWeighted'] as const;
/** Classification metrics a sweep can select by (binary, then multi-class, then counts). */
export const CLASSIFICATION_METRICS = ['accuracy', 'logLoss', 'rocAuc', 'crossEntropy', 'macroF1', 'poissonDeviance'] as const;
export type SweepMetric = (typeof REGRESSION_METRICS)[number] | (typeof CLASSIFICATION_METRICS)[number];

/** The default selection metric of each target kind: the loss's own measure of fit on held-out rows. */
const DEFAULT_METRIC: Record<TargetKind, string> = { regression: 'mse', binary: 'logLoss', multiclass: 'crossEntropy', count: 'poissonDeviance' };

/**
 * The selection metric for a loss (default: MSE, log-loss, cross-entropy or Poisson deviance by the loss's target
 * kind), and whether larger is better. `target` is the loss's kind (looked up among the built-ins when not given).
 */
export function metricOf(sweep: SweepSpec, loss: LossName, target?: TargetKind): { metric: string; larger: boolean } {
  const kind = target ?? BUILTIN_LOSSES[loss]?.target ?? 'regression';
  const metric = sweep.metric ?? DEFAULT_METRIC[kind];
  const allowed = METRICS_BY_KIND[kind];
  const found = allowed.find((m) => m.name === metric);
  if (!found)
    throw invalidArgument(`sweep.metric "${metric}" is not a metric of the ${loss} loss (a ${kind} loss); use one of ${allowed.map((m) => m.name).join(', ')}.`);
  return { metric, larger: found.larger };
}

/**
 * Index of the best candidate score (ties: the first, i.e. the earliest in the grid). Scores that are not finite
 * numbers (failed candidates) are never chosen; −1 when no score is finite.
 */
export function selectBest(scores: readonly number[], larger: boolean): number {
  let best = -1;
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (!Number.isFinite(v)) continue;
    if (best < 0 || (larger ? v > scores[best]! : v < scores[best]!)) best = i;
  }
  return best;
}

/** Mean and sample standard deviation. */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** Mean ± std of every metric of every model over splits. */
export function summarize(perSplit: { models: Record<string, Metrics> }[]): Record<string, Record<string, { mean: number; std: number; n: number }>> {
  const out: Record<string, Record<string, { mean: number; std: number; n: number }>> = {};
  for (const model of Object.keys(perSplit[0]?.models ?? {})) {
    out[model] = {};
    for (const metric of Object.keys(perSplit[0]!.models[model]!))
      out[model]![metric] = meanStd(perSplit.map((s) => (s.models[model] as unknown as Record<string, number>)[metric]!));
  }
  return out;
}
