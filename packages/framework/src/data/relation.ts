/**
 * The task relation matrix A (T×T): identity, uniform, given inline or in a CSV file, or estimated from the initial
 * weights B by cosine similarity, correlation or an RBF kernel, then optionally sparsified (kNN, threshold).
 */
import { resolve } from 'node:path';
import { ErrorCode, relationInvalid, WeightshareError } from '../errors.js';
import { type DenseMatrix, fromRows, identity, zeros } from '../math/dense.js';
import type { RelationSpec, Sparsify } from '../spec/types.js';
import { readMatrixFile } from './csv.js';
import type { SpecPlace } from './dataset.js';

/** How the data orders its tasks, for messages about positional matrices. */
export const TASK_ORDER = 'the data\'s task order (the order in which tasks first appear in the data file)';

/**
 * Builds A for the tasks `taskIds` (in the data's order). `weights` (B) is needed only by `estimate`; `biasColumn` is
 * left out of similarities. A CSV file with a header row of task ids is matched by id (any order); without one it is
 * read in the data's task order.
 * @throws WeightshareError RELATION_INVALID, FILE_NOT_FOUND, CSV_INVALID, DATA_INVALID (ids that do not match)
 */
export function buildRelation(spec: RelationSpec, taskIds: readonly string[], weights: DenseMatrix, biasColumn: number, place: SpecPlace): DenseMatrix {
  const T = taskIds.length;
  let A: DenseMatrix;
  switch (spec.method) {
    case 'identity': {
      // its facts are known: no pass over its T² entries (most of them never touched, so never paged in)
      A = identity(T);
      knownIdentity(A);
      return A;
    }
    case 'uniform': {
      A = zeros(T, T);
      A.data.fill(1);
      return A;
    }
    case 'given':
      A = checkShape(spec.matrix, T, 'relation.matrix', place);
      break;
    case 'csv': {
      const { data } = readMatrixFile(
        resolve(place.baseDir, spec.path),
        spec.path,
        { rowIds: taskIds, colIds: taskIds, rowsAre: 'tasks', colsAre: 'tasks', order: TASK_ORDER },
        place.locate(['relation', 'path']),
        (message, problems) => new WeightshareError(ErrorCode.RELATION_INVALID, message, { problems: [...problems, { message: 'relation declared here', location: place.locate(['relation']) }] }),
      );
      A = { rows: T, cols: T, data };
      break;
    }
    case 'estimate':
      A = estimateRelation(weights, biasColumn, spec.similarity, spec.negative === 'clip', spec.gamma);
      break;
    case 'learn':
      // learned with the rounds (data/learn.ts), never built from a spec alone
      throw new Error('buildRelation: relation learn is learned by the engine');
  }
  return sparsify(A, spec);
}

function checkShape(rows: number[][], T: number, what: string, place: SpecPlace): DenseMatrix {
  const loc = place.locate(['relation']);
  if (rows.length !== T || rows.some((r) => r.length !== T)) {
    const shape = `${rows.length}×${rows[0]?.length ?? 0}`;
    const square = rows.every((r) => r.length === rows.length);
    throw relationInvalid(
      `${what} is ${square ? shape : 'not square'}${square ? '' : ` (rows have ${[...new Set(rows.map((r) => r.length))].join(', ')} values)`}, but the data has ${T} tasks: A must be ${T}×${T}, one row and one column per task in ${TASK_ORDER}.`,
      loc,
    );
  }
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++)
      if (!Number.isFinite(rows[i]![j]!)) throw relationInvalid(`${what} has a non-finite entry at row ${i + 1}, column ${j + 1} (${rows[i]![j]}); every entry must be a finite number.`, loc);
  return fromRows(rows);
}

/** Similarity of task weight vectors (bias excluded), diagonal 1. */
export function estimateRelation(B: DenseMatrix, biasColumn: number, similarity: 'cosine' | 'correlation' | 'rbf', clip: boolean, gamma?: number): DenseMatrix {
  const T = B.rows;
  const cols = Array.from({ length: B.cols }, (_, j) => j).filter((j) => j !== biasColumn);
  const d = cols.length;
  const V = new Float64Array(T * d);
  for (let t = 0; t < T; t++) for (let k = 0; k < d; k++) V[t * d + k] = B.data[t * B.cols + cols[k]!]!;
  if (similarity === 'correlation') {
    for (let t = 0; t < T; t++) {
      let m = 0;
      for (let k = 0; k < d; k++) m += V[t * d + k]!;
      m /= d;
      for (let k = 0; k < d; k++) V[t * d + k]! -= m;
    }
  }
  const A = zeros(T, T);
  if (similarity === 'rbf') {
    const D = new Float64Array(T * T);
    const dists: number[] = [];
    for (let s = 0; s < T; s++)
      for (let t = s + 1; t < T; t++) {
        let q = 0;
        for (let k = 0; k < d; k++) {
          const x = V[s * d + k]! - V[t * d + k]!;
          q += x * x;
        }
        D[s * T + t] = D[t * T + s] = q;
        dists.push(q);
      }
    dists.sort((a, b) => a - b);
    const med = dists.length ? dists[Math.floor(dists.length / 2)]! : 1;
    const g = gamma ?? (med > 0 ? 1 / med : 1);
    for (let i = 0; i < T * T; i++) A.data[i] = Math.exp(-g * D[i]!);
    return A;
  }
  const norms = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let q = 0;
    for (let k = 0; k < d; k++) q += V[t * d + k]! ** 2;
    norms[t] = Math.sqrt(q);
  }
  for (let s = 0; s < T; s++) {
    A.data[s * T + s] = 1;
    for (let t = s + 1; t < T; t++) {
      let q = 0;
      for (let k = 0; k < d; k++) q += V[s * d + k]! * V[t * d + k]!;
      let v = norms[s]! > 0 && norms[t]! > 0 ? q / (norms[s]! * norms[t]!) : 0;
      if (clip && v < 0) v = 0;
      A.data[s * T + t] = A.data[t * T + s] = v;
    }
  }
  return A;
}

/** kNN (keep each row's k largest off-diagonal entries, symmetrize by the larger) and threshold sparsification. */
export function sparsify(A: DenseMatrix, opts: Sparsify): DenseMatrix {
  const T = A.rows;
  let out = A;
  if (opts.threshold !== undefined) {
    out = { rows: T, cols: T, data: new Float64Array(out.data) };
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (i !== j && out.data[i * T + j]! < opts.threshold) out.data[i * T + j] = 0;
  }
  if (opts.knn !== undefined) {
    const k = Math.min(opts.knn, T - 1);
    const keep = new Uint8Array(T * T);
    for (let i = 0; i < T; i++) {
      const order = Array.from({ length: T }, (_, j) => j)
        .filter((j) => j !== i)
        .sort((a, b) => out.data[i * T + b]! - out.data[i * T + a]! || a - b);
      for (let m = 0; m < k; m++) keep[i * T + order[m]!] = 1;
    }
    const next = zeros(T, T);
    for (let i = 0; i < T; i++) {
      next.data[i * T + i] = out.data[i * T + i]!;
      for (let j = 0; j < T; j++) {
        if (i === j || !(keep[i * T + j] || keep[j * T + i])) continue;
        next.data[i * T + j] = Math.max(out.data[i * T + j]!, out.data[j * T + i]!);
      }
    }
    out = next;
  }
  return out;
}

export interface RelationFacts {
  /** Every entry finite. */
  finite: boolean;
  /** Every entry ≥ 0. */
  nonNegative: boolean;
  /** A = Aᵀ exactly. */
  symmetric: boolean;
  /** Unordered pairs {s, t}, s ≠ t, with a nonzero weight in either direction. */
  edges: number;
  /** Nonzero off-diagonal entries. */
  directedEdges: number;
}

const FACTS = new WeakMap<ArrayLike<number>, RelationFacts>();
const TILE = 64;
const IDENTITY_FACTS: RelationFacts = { finite: true, nonNegative: true, symmetric: true, edges: 0, directedEdges: 0 };

/**
 * What the engine checks of a relation, from one pass over it (T² entries: at 10,000 tasks a dense relation is
 * 800 MB, so five separate passes with column-order reads cost seconds). The pass walks 64×64 tiles of the upper
 * triangle with their mirrored tiles, so both reads stay in cache. `nonNegative`, `symmetric` and the edge counts
 * are only meaningful when `finite` (the engine refuses any other relation).
 */
export function relationFacts(A: DenseMatrix): RelationFacts {
  const T = A.rows;
  const a = A.data;
  let finite = true;
  let nonNegative = true;
  let symmetric = true;
  let edges = 0;
  let directed = 0;
  for (let i0 = 0; i0 < T; i0 += TILE) {
    const i1 = Math.min(T, i0 + TILE);
    for (let i = i0; i < i1; i++) {
      const x = a[i * T + i]!;
      if (x - x !== 0) finite = false;
      if (x < 0) nonNegative = false;
    }
    for (let j0 = i0; j0 < T; j0 += TILE) {
      const j1 = Math.min(T, j0 + TILE);
      for (let i = i0; i < i1; i++)
        for (let j = j0 === i0 ? i + 1 : j0; j < j1; j++) {
          const u = a[i * T + j]!;
          const v = a[j * T + i]!;
          if (u - u !== 0 || v - v !== 0) finite = false;
          if (u < 0 || v < 0) nonNegative = false;
          if (u !== 0) directed++;
          if (v !== 0) directed++;
          if (u !== 0 || v !== 0) edges++;
          if (u !== v) symmetric = false;
        }
    }
  }
  return { finite, nonNegative, symmetric, edges, directedEdges: directed };
}

/**
 * The engine's relationFacts, once per relation: a relation is read-only once built (docs/plugins.md; a learned
 * relation makes a new matrix each time), so its facts are kept with its data array. Not exported from the package:
 * a caller that may change a matrix calls relationFacts.
 */
export function relationFactsOnce(A: DenseMatrix): RelationFacts {
  let facts = FACTS.get(A.data);
  if (!facts) FACTS.set(A.data, (facts = relationFacts(A)));
  return facts;
}

/** Records that A, just built as the identity, is one: no pass over it. */
function knownIdentity(A: DenseMatrix): void {
  FACTS.set(A.data, IDENTITY_FACTS);
}

/**
 * The relation's size as a graph, one definition everywhere (results.json, the summary, reports): `edges` counts the
 * unordered pairs {s, t}, s ≠ t, with a nonzero weight in either direction; `directedEdges` the nonzero off-diagonal
 * entries; `symmetric` whether A = Aᵀ exactly.
 */
export function relationSummary(A: DenseMatrix, facts = relationFacts(A)): { edges: number; directedEdges: number; symmetric: boolean } {
  const { edges, directedEdges, symmetric } = facts;
  return { edges, directedEdges, symmetric };
}

/**
 * The penalty weights of `fuse: precision` for a symmetric A with a non-negative diagonal (the precision matrix of
 * the penalty λ tr(Wᵀ A W)): c_t = A_tt + Σ_{s≠t} |A_ts|. With them diag(c) − A is diagonally dominant, so
 * λ Σ_t c_t ‖w_t − E_t‖², E = W − diag(c)⁻¹ A W, majorizes the penalty at W: every round with an exact optimizer
 * lowers the objective, for any convex loss. The same function on every backend, so all of them fuse alike.
 * @throws RELATION_INVALID for an asymmetric A or a negative diagonal entry.
 */
export function precisionWeights(A: DenseMatrix, what = 'fuse precision'): Float64Array {
  const T = A.rows;
  const c = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    const att = A.data[t * T + t]!;
    if (!(att >= 0))
      throw relationInvalid(
        `${what} reads the relation as the precision matrix of the penalty λ tr(WᵀAW), whose diagonal cannot be negative, but A[${t + 1}][${t + 1}] = ${att}. Give a positive semi-definite A (for example the learned one of relation.method learn, form covariance).`,
      );
    let s = att;
    for (let u = 0; u < T; u++) {
      if (u === t) continue;
      const v = A.data[t * T + u]!;
      if (Math.abs(v - A.data[u * T + t]!) > 1e-12 * Math.max(1, Math.abs(v)))
        throw relationInvalid(`${what} needs a symmetric relation (the precision matrix of a penalty), but A[${t + 1}][${u + 1}] = ${v} and A[${u + 1}][${t + 1}] = ${A.data[u * T + t]}. Make the matrix symmetric.`);
      s += Math.abs(v);
    }
    c[t] = s;
  }
  return c;
}
