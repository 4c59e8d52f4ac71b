/**
 * The optimize problem of every task, f_t(w) = L(y_t, X_t w) + ρ‖Pw‖² + λc_t‖w − e_t‖², solved for all tasks at
 * once with batched tensors: tasks are padded to the largest row count (a mask zeroes the padding), so one batched
 * matMul serves every task. Squared loss uses the batched sufficient statistics XᵀX and Xᵀy (O(d²) per step).
 * The batch of a task set is built once per run and released by the plugin's dispose().
 */
import * as tf from '@tensorflow/tfjs-core';
import { nonFiniteLoss, type LossName, type OptimizeInput, type StageContext, type TaskData } from '@weightshare/framework';


/** Tensors of a set of tasks, padded to nmax rows. */
export interface Batch {
  T: number;
  d: number;
  nmax: number;
  n: Int32Array;
  /** The rows, T × nmax × d: built on first use (squared loss solved from XᵀX never needs them on the device). */
  readonly X: tf.Tensor3D;
  /** T × nmax × 1, built with X. */
  readonly y: tf.Tensor3D;
  /** 1 on real rows, 0 on padding, T × nmax × 1, built with X. */
  readonly mask: tf.Tensor3D;
  G: tf.Tensor3D; // T × d × d
  b: tf.Tensor3D; // T × d × 1
  yy: tf.Tensor3D; // T × 1 × 1
  /** Largest eigenvalue of each XᵀX (power iteration), T × 1 × 1. */
  lmax: tf.Tensor3D;
  /** 1 except at the bias column, 1 × d × 1. */
  P: tf.Tensor3D;
  /** Every tensor built so far. */
  tensors(): tf.Tensor[];
}

const live = new Set<Batch>();

/** Releases every batch built since the last call (the plugin's dispose). */
export function disposeBatches(): void {
  for (const b of live) tf.dispose(b.tensors());
  live.clear();
}

/**
 * XᵀX, Xᵀy (float32) and yᵀy of each task for as long as its data lives (a pure function of the rows), so runs on the
 * same in-memory data — the gd and exact fits of one dataset, a λ grid — compute them once. Keyed by the row buffer
 * and checked against the target buffer; prepared task data is never modified.
 */
const statsByRows = new WeakMap<Float64Array, { y: Float64Array; G: Float32Array; b: Float32Array; yy: number }>();

/**
 * One task's statistics, as plain 2-D products with the transpose made here: the wasm backend runs those through
 * XNNPACK (~12–20 GFLOP/s here) but batched or transposed-operand products through a generic loop (~1.5 GFLOP/s).
 */
function taskStats(t: TaskData): { G: Float32Array; b: Float32Array; yy: number } {
  const hit = statsByRows.get(t.X.data);
  if (hit && hit.y === t.y && hit.G.length === t.X.cols * t.X.cols) return hit;
  const m = t.y.length;
  const d = t.X.cols;
  const x = Float32Array.from(t.X.data);
  const xt = new Float32Array(m * d);
  for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) xt[j * m + i] = x[i * d + j]!;
  let yy = 0;
  for (let i = 0; i < m; i++) yy += t.y[i]! * t.y[i]!;
  const [G, b] = tf.tidy(() => {
    const Xt = tf.tensor2d(xt, [d, m]);
    return [tf.matMul(Xt, tf.tensor2d(x, [m, d])), tf.matMul(Xt, tf.tensor2d(Float32Array.from(t.y), [m, 1]))];
  });
  const out = { y: t.y, G: G.dataSync() as Float32Array, b: b.dataSync() as Float32Array, yy };
  tf.dispose([G, b]);
  statsByRows.set(t.X.data, out);
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The batch of `tasks`, built once per run (cached by task-set identity). */
export function batchOf(ctx: StageContext, tasks: readonly TaskData[]): Batch {
  let cache = ctx.cache.get('plugin-tfjs/batches') as WeakMap<readonly TaskData[], Batch> | undefined;
  if (!cache) ctx.cache.set('plugin-tfjs/batches', (cache = new WeakMap()));
  const hit = cache.get(tasks);
  if (hit && live.has(hit)) return hit;
  const T = tasks.length;
  const d = tasks[0]!.X.cols;
  const n = Int32Array.from(tasks, (t) => t.y.length);
  const nmax = Math.max(...n);
  const Pv = new Float32Array(d).fill(1);
  if (tasks[0]!.biasColumn >= 0) Pv[tasks[0]!.biasColumn] = 0;
  const stats = tasks.map(taskStats);
  const { G, b, lmax } = tf.tidy(() => {
    const G = tf.tensor3d(concat(stats.map((s) => s.G)), [T, d, d]);
    const b = tf.tensor3d(concat(stats.map((s) => s.b)), [T, d, 1]);
    let v = tf.div(tf.ones([T, d, 1]), Math.sqrt(d)) as tf.Tensor3D;
    let lmax = tf.zeros([T, 1, 1]) as tf.Tensor3D;
    for (let it = 0; it < 60; it++) {
      const w = tf.matMul(G, v);
      lmax = tf.sqrt(tf.sum(tf.square(w), 1, true)) as tf.Tensor3D;
      v = tf.div(w, tf.maximum(lmax, 1e-30)) as tf.Tensor3D;
    }
    return { G, b, lmax: tf.mul(lmax, 1.02) as tf.Tensor3D }; // power iteration approaches from below
  });
  let rows: { X: tf.Tensor3D; y: tf.Tensor3D; mask: tf.Tensor3D } | undefined;
  const padded = (): { X: tf.Tensor3D; y: tf.Tensor3D; mask: tf.Tensor3D } => {
    if (rows) return rows;
    const Xp = new Float32Array(T * nmax * d);
    const yp = new Float32Array(T * nmax);
    const mp = new Float32Array(T * nmax);
    tasks.forEach((t, k) => {
      Xp.set(t.X.data, k * nmax * d); // float64 → float32 on copy
      yp.set(t.y, k * nmax);
      mp.fill(1, k * nmax, k * nmax + t.y.length);
    });
    // first use may be inside a caller's tidy scope: keep them, the batch owns them until dispose
    rows = { X: tf.keep(tf.tensor3d(Xp, [T, nmax, d])), y: tf.keep(tf.tensor3d(yp, [T, nmax, 1])), mask: tf.keep(tf.tensor3d(mp, [T, nmax, 1])) };
    return rows;
  };
  const P = tf.tensor3d(Pv, [1, d, 1]);
  const yy = tf.tensor3d(Float32Array.from(stats, (s) => s.yy), [T, 1, 1]);
  const batch: Batch = {
    T,
    d,
    nmax,
    n,
    get X() {
      return padded().X;
    },
    get y() {
      return padded().y;
    },
    get mask() {
      return padded().mask;
    },
    G,
    b,
    yy,
    lmax,
    P,
    tensors: () => [G, b, yy, lmax, P, ...(rows ? [rows.X, rows.y, rows.mask] : [])],
  };
  live.add(batch);
  cache.set(tasks, batch);
  return batch;
}

/** The per-run parameters of an optimize call as tensors: targets e (T×d×1), pull λc_t (T×1×1), start w (T×d×1). */
export function parameters(input: OptimizeInput, options: Record<string, unknown>): { e: tf.Tensor3D; pull: tf.Tensor3D; w0: tf.Tensor3D } {
  const T = input.tasks.length;
  const d = input.targets.cols;
  const rows = (m: Float64Array): Float32Array => {
    const out = new Float32Array(T * d);
    input.tasks.forEach((t, k) => out.set(Float32Array.from(m.subarray(t.index * d, t.index * d + d)), k * d));
    return out;
  };
  const lambda = options.lambda as number;
  return {
    e: tf.tensor3d(rows(input.targets.data), [T, d, 1]),
    pull: tf.tensor3d(Float32Array.from(input.tasks, (t) => lambda * input.penaltyWeights[t.index]!), [T, 1, 1]),
    w0: tf.tensor3d(rows(input.start.data), [T, d, 1]),
  };
}

/**
 * f and ∇f of every task at w (T×d×1). With `rows` (a T×b index tensor into each task's rows) and `rowMask`, the data
 * part is estimated from that mini-batch, scaled by n_t / |batch_t|.
 */
export function valueAndGradient(
  B: Batch,
  loss: LossName,
  w: tf.Tensor3D,
  e: tf.Tensor3D,
  pull: tf.Tensor3D,
  ridge: number,
  rows?: { X: tf.Tensor3D; y: tf.Tensor3D; mask: tf.Tensor3D; scale: tf.Tensor3D },
): { f: tf.Tensor3D; g: tf.Tensor3D } {
  let f: tf.Tensor;
  let g: tf.Tensor;
  if (loss === 'squared' && !rows) {
    const Gw = tf.matMul(B.G, w);
    f = tf.add(tf.sub(tf.sum(tf.mul(w, Gw), 1, true), tf.mul(2, tf.sum(tf.mul(B.b, w), 1, true))), B.yy);
    g = tf.mul(2, tf.sub(Gw, B.b));
  } else {
    const X = rows?.X ?? B.X;
    const y = rows?.y ?? B.y;
    const mask = rows?.mask ?? B.mask;
    const z = tf.matMul(X, w);
    let coef: tf.Tensor;
    if (loss === 'squared') {
      const res = tf.sub(z, y);
      f = tf.sum(tf.mul(tf.square(res), mask), 1, true);
      coef = tf.mul(tf.mul(2, res), mask);
    } else {
      // log(1 + exp(−s z)), s = 2y − 1, as softplus: stable for large margins
      const m = tf.mul(tf.sub(1, tf.mul(2, y)), z);
      f = tf.sum(tf.mul(tf.softplus(m), mask), 1, true);
      coef = tf.mul(tf.sub(tf.sigmoid(z), y), mask);
    }
    g = tf.matMul(X, coef, true, false);
    if (rows) {
      f = tf.mul(f, rows.scale);
      g = tf.mul(g, rows.scale);
    }
  }
  const diff = tf.sub(w, e);
  const Pw = tf.mul(B.P, w);
  f = tf.add(f, tf.add(tf.mul(pull, tf.sum(tf.square(diff), 1, true)), tf.mul(ridge, tf.sum(tf.square(Pw), 1, true))));
  g = tf.add(g, tf.add(tf.mul(tf.mul(2, pull), diff), tf.mul(2 * ridge, Pw)));
  return { f: f as tf.Tensor3D, g: g as tf.Tensor3D };
}

/** ‖g_t‖ of every task as a T×1×1 tensor. */
export const norms = (g: tf.Tensor3D): tf.Tensor3D => tf.sqrt(tf.sum(tf.square(g), 1, true)) as tf.Tensor3D;

/** Lipschitz constant of ∇f_t per task (T×1×1) for the automatic step 1/L. */
export function lipschitz(B: Batch, loss: LossName, pull: tf.Tensor3D, ridge: number): tf.Tensor3D {
  return tf.add(tf.add(tf.mul(B.lmax, loss === 'squared' ? 2 : 0.25), tf.mul(2, pull)), 2 * ridge) as tf.Tensor3D;
}

/** Throws NON_FINITE_LOSS naming the first task whose objective is not finite. */
export function checkFinite(f: Float32Array, tasks: readonly TaskData[], ctx: StageContext, epoch: number, fix: string): void {
  for (let k = 0; k < f.length; k++) if (!Number.isFinite(f[k]!)) throw nonFiniteLoss(tasks[k]!.id, ctx.round, epoch, fix, ctx.purpose);
}

/** W (T×d, float64, rows by task index) from the batched w. */
export function weightsOf(input: OptimizeInput, w: tf.Tensor3D): Float64Array {
  const d = input.targets.cols;
  const flat = w.dataSync();
  const W = new Float64Array(input.targets.rows * d);
  input.tasks.forEach((t, k) => {
    for (let j = 0; j < d; j++) W[t.index * d + j] = flat[k * d + j]!;
  });
  return W;
}
