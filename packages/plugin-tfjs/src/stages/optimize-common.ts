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
  X: tf.Tensor3D; // T × nmax × d
  y: tf.Tensor3D; // T × nmax × 1
  mask: tf.Tensor3D; // T × nmax × 1
  G: tf.Tensor3D; // T × d × d
  b: tf.Tensor3D; // T × d × 1
  yy: tf.Tensor3D; // T × 1 × 1
  /** Largest eigenvalue of each XᵀX (power iteration), T × 1 × 1. */
  lmax: tf.Tensor3D;
  /** 1 except at the bias column, 1 × d × 1. */
  P: tf.Tensor3D;
}

const live = new Set<Batch>();

/** Releases every batch built since the last call (the plugin's dispose). */
export function disposeBatches(): void {
  for (const b of live) tf.dispose([b.X, b.y, b.mask, b.G, b.b, b.yy, b.lmax, b.P]);
  live.clear();
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
  const Xp = new Float32Array(T * nmax * d);
  const yp = new Float32Array(T * nmax);
  const mp = new Float32Array(T * nmax);
  tasks.forEach((t, k) => {
    Xp.set(Float32Array.from(t.X.data), k * nmax * d);
    yp.set(Float32Array.from(t.y), k * nmax);
    mp.fill(1, k * nmax, k * nmax + t.y.length);
  });
  const Pv = new Float32Array(d).fill(1);
  if (tasks[0]!.biasColumn >= 0) Pv[tasks[0]!.biasColumn] = 0;
  const batch: Batch = tf.tidy(() => {
    const X = tf.tensor3d(Xp, [T, nmax, d]);
    const y = tf.tensor3d(yp, [T, nmax, 1]);
    const G = tf.matMul(X, X, true, false) as tf.Tensor3D;
    let v = tf.div(tf.ones([T, d, 1]), Math.sqrt(d)) as tf.Tensor3D;
    let lmax = tf.zeros([T, 1, 1]) as tf.Tensor3D;
    for (let it = 0; it < 60; it++) {
      const w = tf.matMul(G, v);
      lmax = tf.sqrt(tf.sum(tf.square(w), 1, true)) as tf.Tensor3D;
      v = tf.div(w, tf.maximum(lmax, 1e-30)) as tf.Tensor3D;
    }
    return {
      T,
      d,
      nmax,
      n,
      X,
      y,
      mask: tf.tensor3d(mp, [T, nmax, 1]),
      G,
      b: tf.matMul(X, y, true, false) as tf.Tensor3D,
      yy: tf.sum(tf.square(y), 1, true) as tf.Tensor3D,
      lmax: tf.mul(lmax, 1.02) as tf.Tensor3D, // power iteration approaches from below
      P: tf.tensor3d(Pv, [1, d, 1]),
    };
  });
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
