/**
 * Preprocessing as a record: how raw cells become the model's input X. The training rows decide everything here —
 * imputation values, the categories of each categorical column, the centre and scale of each feature, which
 * columns are constant — and the record says so exactly, so that the same transformation can be applied to new
 * rows later (predictions, the model artifact) and reproduced outside weightshare (the documented NumPy recipe).
 *
 * Standardization uses the population standard deviation (ddof 0) of the training rows, pooled over tasks. Centre
 * and scale are computed so that a column with huge values (1e200, ±1e308) neither overflows nor turns constant: the
 * sums run on the column divided by its largest absolute value when the plain sums could overflow or underflow.
 */
import { dataInvalid, type Problem } from '../errors.js';

/** How missing cells are handled (`data.missing`). */
export type MissingPolicy = 'error' | 'drop-rows' | 'impute-mean';

/** One input column of the data file, as the model sees it before encoding. */
export type InputColumn =
  | { column: string; kind: 'numeric'; /** training mean used for missing cells (impute-mean), when any */ impute?: number }
  | {
      column: string;
      kind: 'categorical';
      /** The training rows' categories, in the order of the one-hot columns (natural order: numbers by value). */
      categories: string[];
      /** `first`: the first category is the reference (no column of its own). */
      drop: 'none' | 'first';
      /** What a category not seen in training becomes: all-zero indicator cells, or an error. */
      unseen: 'zeros' | 'error';
      /** the most frequent training category, used for missing cells (impute-mean), when any */
      impute?: string;
    };

/** One encoded column (a numeric column, or one indicator column of a categorical one), before standardization. */
export interface EncodedColumn {
  name: string;
  /** Index into {@link Preprocessing.inputs}. */
  input: number;
  /** The category this indicator stands for (categorical inputs only). */
  category?: string;
}

/** One feature of X (in order), with the centre and scale it is standardized with (0 and 1 when not standardized). */
export interface FeatureTransform {
  name: string;
  /** Index into {@link Preprocessing.encoded}. */
  encoded: number;
  center: number;
  scale: number;
}

/** Everything needed to turn a raw row into the model's input row. */
export interface Preprocessing {
  format: 1;
  inputs: InputColumn[];
  missing: { policy: MissingPolicy; tokens: string[] };
  encoded: EncodedColumn[];
  standardize: boolean;
  /** Standard deviation convention of `scale`: population (0). */
  ddof: 0;
  features: FeatureTransform[];
  /** Encoded columns left out because they were constant on the training rows. */
  droppedConstant: string[];
  /** Whether X ends with a bias column of ones (never standardized, never ridge-penalized). */
  bias: boolean;
}

/** Natural order of category labels: numbers by value (so 2 < 10), then text by code point. */
export function compareCategories(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const fa = a.trim() !== '' && Number.isFinite(na);
  const fb = b.trim() !== '' && Number.isFinite(nb);
  if (fa && fb) return na - nb || (a < b ? -1 : a > b ? 1 : 0);
  if (fa !== fb) return fa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Largest finite magnitude whose square, summed over many rows, still fits a float64 comfortably. */
const SAFE = 1e100;
const TINY = 1e-100;

/**
 * Mean and population standard deviation of `values[i]` over the rows `use(i)` selects, robust to magnitudes near
 * the float64 limits: plain two-pass sums when the column's largest magnitude lies in [1e-100, 1e100] (bit for bit
 * what a plain implementation gives), sums of the column scaled by that magnitude otherwise.
 */
export function centreAndScale(n: number, value: (i: number) => number, use: (i: number) => boolean): { center: number; scale: number; count: number } {
  let count = 0;
  let M = 0;
  for (let i = 0; i < n; i++) if (use(i)) {
    count++;
    const a = Math.abs(value(i));
    if (a > M) M = a;
  }
  if (count === 0 || M === 0) return { center: 0, scale: 0, count };
  const unit = M >= TINY && M <= SAFE ? 1 : M;
  let sum = 0;
  for (let i = 0; i < n; i++) if (use(i)) sum += unit === 1 ? value(i) : value(i) / unit;
  const mean = sum / count;
  let ss = 0;
  for (let i = 0; i < n; i++)
    if (use(i)) {
      const dv = (unit === 1 ? value(i) : value(i) / unit) - mean;
      ss += dv * dv;
    }
  return { center: mean * unit, scale: Math.sqrt(ss / count) * unit, count };
}

/**
 * {@link centreAndScale} of `values[at + i]` over the rows where `mask[i] === want`: the same arithmetic, in plain
 * loops (the column scans of data preparation, where a callback per value cost more than the sums).
 */
export function centreAndScaleMasked(values: Float64Array, at: number, n: number, mask: Uint8Array, want: number): { center: number; scale: number; count: number } {
  let count = 0;
  let M = 0;
  // the sum in the same pass, as it is when no rescaling is needed (nearly always): the same additions in the same order
  let sum = 0;
  for (let i = 0; i < n; i++)
    if (mask[i] === want) {
      count++;
      const v = values[at + i]!;
      sum += v;
      const a = Math.abs(v);
      if (a > M) M = a;
    }
  if (count === 0 || M === 0) return { center: 0, scale: 0, count };
  const unit = M >= TINY && M <= SAFE ? 1 : M;
  if (unit !== 1) {
    sum = 0;
    for (let i = 0; i < n; i++) if (mask[i] === want) sum += values[at + i]! / unit;
  }
  const mean = sum / count;
  let ss = 0;
  for (let i = 0; i < n; i++)
    if (mask[i] === want) {
      const dv = (unit === 1 ? values[at + i]! : values[at + i]! / unit) - mean;
      ss += dv * dv;
    }
  return { center: mean * unit, scale: Math.sqrt(ss / count) * unit, count };
}

/** Whether a column with this centre and scale is constant (carries no information once centred). */
export function isConstant(center: number, scale: number): boolean {
  return !(scale > 1e-12 * Math.max(1, Math.abs(center)));
}

/**
 * Standardizes one value; throws when the result would not be finite (a value so far beyond the training range that
 * its distance from the centre overflows).
 */
export function standardizeValue(x: number, f: FeatureTransform, where: () => Problem): number {
  const z = (x - f.center) / f.scale;
  if (!Number.isFinite(z))
    throw dataInvalid(
      `the value ${x} of feature "${f.name}" cannot be standardized: its distance from the training mean (${f.center}) overflows float64. Rescale that column, or check the value.`,
      [where()],
    );
  return z;
}

/** The one-hot (or reference-coded) indicator columns of a categorical input. */
export function indicatorCategories(c: Extract<InputColumn, { kind: 'categorical' }>): string[] {
  return c.drop === 'first' ? c.categories.slice(1) : c.categories;
}
