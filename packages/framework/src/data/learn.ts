/**
 * Relations learned jointly with the task parameters (`relation.method: learn`), and re-estimated ones.
 *
 * Both learned forms alternate with the rounds on one joint objective: each relation update minimizes it over the
 * relation for the current weights, so it can only lower it; with the exact optimizer each round lowers it too (for
 * covariance with any convex loss, the round being a majorize-minimize step; for clusters with squared loss, as for
 * every graph-regularized round):
 *
 * - `covariance` (multi-task relationship learning, Zhang & Yeung 2010): the penalty is λ[tr(Wᵀ Ω⁻¹ W) + ε tr(Ω⁻¹)]
 *   over task covariances Ω ≻ 0 with tr Ω = 1. For fixed W its minimizer is Ω = S^½ / tr S^½, S = W Λ Wᵀ + εI (Λ the
 *   per-parameter weights of λ, the identity for one λ); the relation the stages see is the precision Ω⁻¹, which
 *   `fuse: precision` turns into per-task targets.
 * - `clusters`: the penalty is λ Σ_c Σ_{t∈c} ‖w_t − m_c‖²_Λ (m_c the mean of cluster c), which is the graph penalty
 *   λ Σ_{s<t} a_st ‖w_s − w_t‖²_Λ of A with a_st = 1/|c| inside a cluster and 0 across. For fixed W its minimizer
 *   over the assignment is a k-means clustering of the rows of W Λ^½; the update keeps the best of Lloyd's
 *   iterations from the current assignment and seeded k-means++ restarts, so it never raises the objective.
 */
import type { DenseMatrix } from '../math/dense.js';
import { symmetricEigen } from '../math/eigen.js';
import type { Rng } from '../random.js';

/** The learned covariance Ω, its precision Ω⁻¹ (the relation the stages get) and the penalty's ε tr(Ω⁻¹). */
export interface LearnedCovariance {
  omega: DenseMatrix;
  precision: DenseMatrix;
  /** ε tr(Ω⁻¹): the part of the joint penalty that does not depend on W (without λ). */
  constant: number;
}

/**
 * Ω = S^½ / tr S^½ with S = Y Yᵀ + εI, Y = W diag(√weights) (the columns with weight 0 left out), and Ω⁻¹. The
 * square roots come from the eigen-decomposition of the smaller Gram matrix (YYᵀ, T×T, or YᵀY, p×p): with
 * Y = U Σ Vᵀ, S^{±½} = U (f(σ²+ε) − f(ε)) Uᵀ + f(ε) I, f(x) = x^{±½}.
 */
export function learnCovariance(W: DenseMatrix, weights: ArrayLike<number>, epsilon: number): LearnedCovariance {
  const T = W.rows;
  const cols: number[] = [];
  for (let j = 0; j < W.cols; j++) if (weights[j]! > 0) cols.push(j);
  const p = cols.length;
  const Y = new Float64Array(T * p);
  for (let t = 0; t < T; t++) for (let k = 0; k < p; k++) Y[t * p + k] = W.data[t * W.cols + cols[k]!]! * Math.sqrt(weights[cols[k]!]!);
  // U (T×r) and σ² of Y's nonzero singular values
  let U: Float64Array;
  let sig2: number[];
  if (T <= p) {
    const G = new Float64Array(T * T);
    for (let s = 0; s < T; s++)
      for (let t = s; t < T; t++) {
        let q = 0;
        for (let k = 0; k < p; k++) q += Y[s * p + k]! * Y[t * p + k]!;
        G[s * T + t] = G[t * T + s] = q;
      }
    const { values, vectors } = symmetricEigen(G, T);
    U = vectors;
    sig2 = Array.from(values, (v) => Math.max(0, v));
  } else {
    const G = new Float64Array(p * p);
    for (let t = 0; t < T; t++)
      for (let a = 0; a < p; a++) {
        const ya = Y[t * p + a]!;
        if (ya === 0) continue;
        for (let b = a; b < p; b++) G[a * p + b]! += ya * Y[t * p + b]!;
      }
    const { values, vectors } = symmetricEigen(G, p);
    const top = Math.max(0, values[p - 1] ?? 0);
    // directions with σ² at rounding level of the largest carry no information (and U = YVΣ⁻¹ would be noise; where
    // σ² ≪ ε, as such directions are, their term (f(σ²+ε) − f(ε)) uuᵀ is negligible anyway)
    const keep: number[] = [];
    for (let k = 0; k < p; k++) if (values[k]! > top * 1e-15 && values[k]! > 0) keep.push(k);
    sig2 = keep.map((k) => values[k]!);
    const r = keep.length;
    U = new Float64Array(T * r);
    keep.forEach((k, m) => {
      const sigma = Math.sqrt(values[k]!);
      for (let t = 0; t < T; t++) {
        let q = 0;
        for (let a = 0; a < p; a++) q += Y[t * p + a]! * vectors[a * p + k]!;
        U[t * r + m] = q / sigma;
      }
    });
  }
  const r = sig2.length;
  const re = Math.sqrt(epsilon);
  let trace = (T - r) * re;
  for (const s of sig2) trace += Math.sqrt(s + epsilon);
  const omega = new Float64Array(T * T);
  const precision = new Float64Array(T * T);
  const up = sig2.map((s) => Math.sqrt(s + epsilon) - re);
  const down = sig2.map((s) => 1 / Math.sqrt(s + epsilon) - 1 / re);
  for (let s = 0; s < T; s++)
    for (let t = s; t < T; t++) {
      let a = s === t ? re : 0;
      let b = s === t ? 1 / re : 0;
      for (let m = 0; m < r; m++) {
        const uu = U[s * r + m]! * U[t * r + m]!;
        a += up[m]! * uu;
        b += down[m]! * uu;
      }
      omega[s * T + t] = omega[t * T + s] = a / trace;
      precision[s * T + t] = precision[t * T + s] = b * trace;
    }
  let trP = 0;
  for (let t = 0; t < T; t++) trP += precision[t * T + t]!;
  return { omega: { rows: T, cols: T, data: omega }, precision: { rows: T, cols: T, data: precision }, constant: epsilon * trP };
}

/** Ω's correlations: Ω_st / √(Ω_ss Ω_tt). */
export function correlations(omega: DenseMatrix): DenseMatrix {
  const T = omega.rows;
  const out = new Float64Array(T * T);
  for (let s = 0; s < T; s++)
    for (let t = 0; t < T; t++) out[s * T + t] = omega.data[s * T + t]! / Math.sqrt(omega.data[s * T + s]! * omega.data[t * T + t]!);
  return { rows: T, cols: T, data: out };
}

/** A k-means clustering of the tasks: labels 0…K−1 (numbered by first appearance) and its within-cluster sum. */
export interface Clustering {
  labels: Int32Array;
  inertia: number;
  /** Lloyd iterations of the clustering kept. */
  iterations: number;
  /** Which start it came from: the previous assignment, or restart k (1-based). */
  from: 'previous' | number;
}

/** The rows of W Λ^½ (the columns with weight 0 left out): the space both clustering and penalty measure in. */
export function weightedRows(W: DenseMatrix, weights: ArrayLike<number>): { Y: Float64Array; p: number } {
  const cols: number[] = [];
  for (let j = 0; j < W.cols; j++) if (weights[j]! > 0) cols.push(j);
  const p = cols.length;
  const Y = new Float64Array(W.rows * p);
  for (let t = 0; t < W.rows; t++) for (let k = 0; k < p; k++) Y[t * p + k] = W.data[t * W.cols + cols[k]!]! * Math.sqrt(weights[cols[k]!]!);
  return { Y, p };
}

/** Σ_t ‖y_t − m_{c(t)}‖², m_c the mean of cluster c. */
export function inertiaOf(Y: Float64Array, T: number, p: number, labels: ArrayLike<number>): number {
  const K = Math.max(0, ...Array.from(labels)) + 1;
  const sums = new Float64Array(K * p);
  const counts = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    const c = labels[t]!;
    counts[c]!++;
    for (let j = 0; j < p; j++) sums[c * p + j]! += Y[t * p + j]!;
  }
  let s = 0;
  for (let t = 0; t < T; t++) {
    const c = labels[t]!;
    for (let j = 0; j < p; j++) s += (Y[t * p + j]! - sums[c * p + j]! / counts[c]!) ** 2;
  }
  return s;
}

/** Lloyd's iterations from an assignment until it stops changing (each one lowers the inertia or keeps it). */
function lloyd(Y: Float64Array, T: number, p: number, K: number, start: Int32Array): { labels: Int32Array; iterations: number } {
  const labels = Int32Array.from(start);
  const centers = new Float64Array(K * p);
  const counts = new Float64Array(K);
  let iterations = 0;
  for (; iterations < 300; iterations++) {
    centers.fill(0);
    counts.fill(0);
    for (let t = 0; t < T; t++) {
      counts[labels[t]!]!++;
      for (let j = 0; j < p; j++) centers[labels[t]! * p + j]! += Y[t * p + j]!;
    }
    for (let c = 0; c < K; c++) if (counts[c]) for (let j = 0; j < p; j++) centers[c * p + j]! /= counts[c]!;
    let moved = false;
    for (let t = 0; t < T; t++) {
      // a task moves only to a strictly closer centre (ties keep it), so the iterations end
      let best = labels[t]!;
      let bestD = dist2(Y, t, centers, best, p);
      for (let c = 0; c < K; c++) {
        if (!counts[c] || c === best) continue;
        const d = dist2(Y, t, centers, c, p);
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      if (best !== labels[t]) {
        labels[t] = best;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return { labels, iterations };
}

function dist2(Y: Float64Array, t: number, centers: Float64Array, c: number, p: number): number {
  let s = 0;
  for (let j = 0; j < p; j++) s += (Y[t * p + j]! - centers[c * p + j]!) ** 2;
  return s;
}

/** k-means++ seeding (each next centre a task drawn with probability ∝ its squared distance to the nearest one). */
function seedPlusPlus(Y: Float64Array, T: number, p: number, K: number, rng: Rng): Int32Array {
  const chosen = [rng.int(T)];
  const d = new Float64Array(T).fill(Infinity);
  while (chosen.length < K) {
    const last = chosen[chosen.length - 1]!;
    let total = 0;
    for (let t = 0; t < T; t++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += (Y[t * p + j]! - Y[last * p + j]!) ** 2;
      if (s < d[t]!) d[t] = s;
      total += d[t]!;
    }
    if (!(total > 0)) break; // fewer distinct tasks than K
    let u = rng.next() * total;
    let pick = T - 1;
    for (let t = 0; t < T; t++) {
      u -= d[t]!;
      if (u < 0) {
        pick = t;
        break;
      }
    }
    chosen.push(pick);
  }
  const labels = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    let best = 0;
    let bestD = Infinity;
    chosen.forEach((c, k) => {
      let s = 0;
      for (let j = 0; j < p; j++) s += (Y[t * p + j]! - Y[c * p + j]!) ** 2;
      if (s < bestD) {
        bestD = s;
        best = k;
      }
    });
    labels[t] = best;
  }
  return labels;
}

/** Labels renumbered 0, 1, … in order of first appearance (so equal partitions have equal labels). */
export function canonicalLabels(labels: ArrayLike<number>): Int32Array {
  const map = new Map<number, number>();
  const out = new Int32Array(labels.length);
  for (let t = 0; t < labels.length; t++) {
    if (!map.has(labels[t]!)) map.set(labels[t]!, map.size);
    out[t] = map.get(labels[t]!)!;
  }
  return out;
}

/**
 * The best k-means clustering of the rows of Y found from `previous` (refined by Lloyd's iterations) and from
 * `restarts` seeded k-means++ starts: the one with the smallest inertia (the previous one on ties), so an update
 * never raises it.
 */
export function kmeans(Y: Float64Array, T: number, p: number, K: number, rng: Rng, restarts: number, previous?: ArrayLike<number>): Clustering {
  let best: Clustering | undefined;
  const consider = (labels: Int32Array, iterations: number, from: Clustering['from']): void => {
    const canon = canonicalLabels(labels);
    const inertia = inertiaOf(Y, T, p, canon);
    if (!best || inertia < best.inertia) best = { labels: canon, inertia, iterations, from };
  };
  if (previous) {
    const r = lloyd(Y, T, p, K, Int32Array.from(previous));
    consider(r.labels, r.iterations, 'previous');
  }
  // with nothing to refine, at least one seeded start
  for (let k = 1; k <= Math.max(restarts, previous ? 0 : 1); k++) {
    const r = lloyd(Y, T, p, K, seedPlusPlus(Y, T, p, K, rng));
    consider(r.labels, r.iterations, k);
  }
  return best!;
}

/** A with a_st = 1/|c| for two tasks s ≠ t of one cluster c, 0 across clusters, diagonal 1. */
export function clusterRelation(labels: ArrayLike<number>): DenseMatrix {
  const T = labels.length;
  const size = new Map<number, number>();
  for (let t = 0; t < T; t++) size.set(labels[t]!, (size.get(labels[t]!) ?? 0) + 1);
  const A = new Float64Array(T * T);
  for (let s = 0; s < T; s++)
    for (let t = 0; t < T; t++) A[s * T + t] = s === t ? 1 : labels[s] === labels[t] ? 1 / size.get(labels[s]!)! : 0;
  return { rows: T, cols: T, data: A };
}

/** The adjusted Rand index of two partitions (1: identical, about 0: as by chance; Hubert & Arabie 1985). */
export function adjustedRandIndex(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const pairs = (x: number): number => (x * (x - 1)) / 2;
  const table = new Map<string, number>();
  const rows = new Map<number, number>();
  const cols = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${a[i]}|${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i]!, (rows.get(a[i]!) ?? 0) + 1);
    cols.set(b[i]!, (cols.get(b[i]!) ?? 0) + 1);
  }
  let index = 0;
  for (const v of table.values()) index += pairs(v);
  let sa = 0;
  for (const v of rows.values()) sa += pairs(v);
  let sb = 0;
  for (const v of cols.values()) sb += pairs(v);
  const expected = (sa * sb) / pairs(n);
  const max = (sa + sb) / 2;
  return max === expected ? 1 : (index - expected) / (max - expected);
}
