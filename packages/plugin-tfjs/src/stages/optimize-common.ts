/**
 * The optimize problem of every task, f_t(W) = L(y_t, X_t W) + ρ‖PW‖² + λc_t‖W − E_t‖², solved for all tasks at
 * once with batched tensors: tasks are padded to the largest row count (a mask zeroes the padding), so one batched
 * matMul serves every task. W is d×K per task (K = 1 but for softmax; Θ row-major, so T×d×K is the T×p matrix).
 * Squared loss uses the batched sufficient statistics XᵀX and Xᵀy (O(d²) per step). The built-in losses are tensor
 * versions of the framework's reference formulas, chosen by name (a plugin's loss has no tensor form here).
 * The batch of a task set is built once per run and released by the plugin's dispose().
 */
import { tf } from '../tf.js';
import { mlpBackward, mlpForward, mlpForwardTasks, type Pass, type TaskRows } from './mlp.js';
import { halfOf, pieceRows, rowFeed, type RowFeed } from '../row-feed.js';
import { BUILTIN_LOSSES, nonFiniteLoss, type LossName, type OptimizeInput, type StageContext, type TaskData } from '@weightshare/framework';

/** The losses with tensor formulas here: the built-in ones plugin-tfjs's gd, sgd and adam declare. */
export const TENSOR_LOSSES: readonly LossName[] = ['squared', 'logistic', 'huber', 'poisson', 'softmax'];

/** The run's loss as the tensor formulas need it. */
export interface TensorLoss {
  name: LossName;
  /** Huber's δ. */
  delta: number;
  /** Outputs per row: K for softmax, else 1. */
  outputs: number;
  /** Bound on the loss's second derivative (Infinity for Poisson, or any loss of an mlp: steps are then searched). */
  curvature: number;
  /** Z = f(X, θ) of a model that is not linear (the mlp), with its pass; undefined: Z = X·Θ. */
  forward?: (X: tf.Tensor3D, theta: tf.Tensor3D) => Pass;
  /** The same from the batch's rows task by task (2-D products: full-batch passes on wasm). */
  forwardTasks?: (rows: TaskRows, theta: tf.Tensor3D) => Pass;
  /** Its gradient Σ dZ ⊙ ∂Z/∂θ (T×p×1) from either pass. */
  backward?: (pass: Pass, dZ: tf.Tensor3D) => tf.Tensor3D;
}

/** The models whose tensor forward pass is here, for the optimizers' `models`. */
export const TENSOR_MODELS: readonly string[] = ['linear', 'mlp'];

/** θ of every task as a tensor shape: T × d × K for a linear model (Θ row-major), T × p × 1 otherwise. */
export function thetaShape(input: OptimizeInput): [number, number, number] {
  const { layout } = input.model;
  const T = input.tasks.length;
  return layout.linear ? [T, layout.size / layout.outputs, layout.outputs] : [T, layout.size, 1];
}

/** Flops of one task's mlp pass from which the wasm device runs full-batch passes task by task (see lossOf). */
export const PER_TASK_FLOPS = 1e6;

/** The loss of an optimize call. */
export function lossOf(input: OptimizeInput): TensorLoss {
  const { name, options } = input.loss;
  const { layout } = input.model;
  const bound = layout.linear ? (BUILTIN_LOSSES[name]?.curvatureBound?.(options) ?? Infinity) : Infinity;
  const activation = (input.model.options.activation as string | undefined) ?? 'relu';
  // per task only where it pays: each task costs ~20 small ops a pass (~0.3 ms), each flop moved from the batched
  // loop to XNNPACK saves ~0.7 ns, so a task's pass must be well over 4 × 10⁵ flops (~6 per parameter per row)
  const nmax = Math.max(0, ...input.tasks.map((t) => t.y.length));
  const perTask = tf.getBackend() === 'wasm' && 6 * nmax * layout.size >= PER_TASK_FLOPS;
  return {
    name,
    delta: (options?.delta as number | undefined) ?? 1,
    outputs: layout.outputs,
    curvature: bound,
    ...(layout.linear
      ? {}
      : {
          forward: (X: tf.Tensor3D, theta: tf.Tensor3D) => mlpForward(layout, activation, X, theta),
          // task by task only on wasm, whose fast products are plain 2-D matMuls (XNNPACK), and for tasks big enough;
          // tfjs-node's and the GPU's batched products are fast, and pure-JS tfjs runs the same loop either way
          ...(perTask ? { forwardTasks: (rows: TaskRows, theta: tf.Tensor3D) => mlpForwardTasks(layout, activation, rows, theta) } : {}),
          backward: (pass: Pass, dZ: tf.Tensor3D) => mlpBackward(layout, activation, pass, dZ),
        }),
  };
}

/** Σ over each task's parameters (axes 1 and 2 of T×d×K), T×1×1; one axis when K = 1, as always before K. */
const total = (x: tf.Tensor): tf.Tensor => tf.sum(x, x.shape[2] === 1 ? 1 : [1, 2], true);


/** Tensors of a set of tasks, padded to nmax rows. */
export interface Batch {
  T: number;
  d: number;
  nmax: number;
  n: Int32Array;
  /** The rows, T × nmax × d: built on first use (squared loss solved from XᵀX never needs them on the device). */
  readonly X: tf.Tensor3D;
  /**
   * Xᵀ of every task, T × d × nmax, built on first use: Xᵀ·r as a plain batched product runs ~1.6× faster on the
   * wasm backend than the transposed-operand product matMul(X, r, true, false) (22 against 36 ms at 1,000 × 200 × 100).
   */
  readonly Xt: tf.Tensor3D;
  /** Every task's rows as 2-D tensors and their transposes (for the mlp's per-task passes), built on first use. */
  readonly taskRows: TaskRows;
  /** T × nmax × 1, built with X. */
  readonly y: tf.Tensor3D;
  /** 1 on real rows, 0 on padding, T × nmax × 1, built with X. */
  readonly mask: tf.Tensor3D;
  G: tf.Tensor3D; // T × d × d
  b: tf.Tensor3D; // T × d × 1
  yy: tf.Tensor3D; // T × 1 × 1
  /** Largest eigenvalue of each XᵀX (power iteration), T × 1 × 1. */
  lmax: tf.Tensor3D;
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
 * The statistics of each task, computed for those not cached: XᵀX as plain 2-D products of pieces of the rows (the
 * wasm backend runs those through XNNPACK, ~20–25 GFLOP/s here, but batched or transposed-operand products through a
 * generic loop, ~1.5 GFLOP/s), summed on the device. The pieces — float32, transposed, split into column halves — come
 * from a {@link rowFeed}, which prepares them on a helper thread while this thread multiplies. XᵀX is symmetric: with
 * the columns split in halves A | B, its blocks AᵀA, AᵀB and BᵀB (BᵀA is AᵀB transposed) are three quarters of the
 * full product's work (for wide X only: below 64 columns, three products cost more than one).
 */
export function statsOfTasks(tasks: readonly TaskData[]): { G: Float32Array; b: Float32Array; yy: number }[] {
  const out = tasks.map((t) => {
    const hit = statsByRows.get(t.X.data);
    return hit && hit.y === t.y && hit.G.length === t.X.cols * t.X.cols ? hit : undefined;
  });
  // the tasks to compute, by width (a feed's pieces share one layout)
  const widths = new Map<number, number[]>();
  out.forEach((hit, k) => {
    if (hit) return;
    const d = tasks[k]!.X.cols;
    widths.set(d, [...(widths.get(d) ?? []), k]);
  });
  for (const [d, ks] of widths) {
    const feed = rowFeed(ks.map((k) => ({ X: tasks[k]!.X.data, y: tasks[k]!.y, m: tasks[k]!.y.length })), d);
    try {
      for (const k of ks) {
        const s = statsFromFeed(tasks[k]!, d, feed);
        statsByRows.set(tasks[k]!.X.data, s);
        out[k] = s;
      }
    } finally {
      feed.close();
    }
  }
  return out as { G: Float32Array; b: Float32Array; yy: number }[];
}

/** XᵀX, Xᵀy from the next pieces of `feed` (those of task `t`), and yᵀy. */
function statsFromFeed(t: TaskData, d: number, feed: RowFeed): { y: Float64Array; G: Float32Array; b: Float32Array; yy: number } {
  const m = t.y.length;
  let yy = 0;
  for (let i = 0; i < m; i++) yy += t.y[i]! * t.y[i]!;
  const h = halfOf(d);
  const w = d - h;
  const cap = pieceRows(d);
  let sums: tf.Tensor2D[] | undefined;
  try {
    for (let i0 = 0; i0 < m; i0 += cap) {
      const { slot, mc } = feed.next();
      // the slot's layout: fillPiece (row-feed.ts); the cpu backend keeps a reference to what tf.tensor2d is given, so
      // the slot is handed back only once this piece's tensors are disposed
      const next = tf.tidy((): tf.Tensor2D[] => {
        const yc = tf.tensor2d(slot.subarray(2 * cap * d, 2 * cap * d + mc), [mc, 1]);
        let products: tf.Tensor2D[];
        if (!w) {
          const Xt = tf.tensor2d(slot.subarray(0, mc * d), [d, mc]);
          products = [tf.matMul(Xt, tf.tensor2d(slot.subarray(cap * d, cap * d + mc * d), [mc, d])), tf.matMul(Xt, yc)];
        } else {
          const At = tf.tensor2d(slot.subarray(0, h * mc), [h, mc]);
          const Bt = tf.tensor2d(slot.subarray(h * mc, d * mc), [w, mc]);
          const B = tf.tensor2d(slot.subarray(cap * d + cap * h, cap * d + cap * h + mc * w), [mc, w]);
          products = [tf.matMul(At, tf.tensor2d(slot.subarray(cap * d, cap * d + mc * h), [mc, h])), tf.matMul(At, B), tf.matMul(Bt, B), tf.matMul(At, yc), tf.matMul(Bt, yc)];
        }
        return sums ? products.map((p, k) => tf.add(sums![k]!, p) as tf.Tensor2D) : products;
      });
      feed.done();
      if (sums) tf.dispose(sums);
      sums = next;
    }
  } catch (e) {
    if (sums) tf.dispose(sums);
    throw e;
  }
  const parts = sums!.map((p) => p.dataSync() as Float32Array);
  tf.dispose(sums!);
  let G: Float32Array;
  let b: Float32Array;
  if (!w) [G, b] = parts as [Float32Array, Float32Array];
  else {
    const [AA, AB, BB, bA, bB] = parts as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    G = new Float32Array(d * d);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < d; j++) G[i * d + j] = j < h ? AA[i * h + j]! : AB[i * w + j - h]!;
    for (let i = 0; i < w; i++)
      for (let j = 0; j < d; j++) G[(h + i) * d + j] = j < h ? AB[j * w + i]! : BB[i * w + j - h]!;
    b = new Float32Array(d);
    b.set(bA, 0);
    b.set(bB, h);
  }
  return { y: t.y, G, b, yy };
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
  const stats = statsOfTasks(tasks);
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
  // first use may be inside a caller's tidy scope: keep them, the batch owns them until dispose
  let padX: tf.Tensor3D | undefined;
  const paddedX = (): tf.Tensor3D => {
    if (padX) return padX;
    const Xp = new Float32Array(T * nmax * d);
    tasks.forEach((t, k) => Xp.set(t.X.data, k * nmax * d)); // float64 → float32 on copy
    return (padX = tf.keep(tf.tensor3d(Xp, [T, nmax, d])));
  };
  // the targets and the mask apart from X: the mlp's per-task passes need them but not the padded X
  let targets: { y: tf.Tensor3D; mask: tf.Tensor3D } | undefined;
  const paddedTargets = (): { y: tf.Tensor3D; mask: tf.Tensor3D } => {
    if (targets) return targets;
    const yp = new Float32Array(T * nmax);
    const mp = new Float32Array(T * nmax);
    tasks.forEach((t, k) => {
      yp.set(t.y, k * nmax);
      mp.fill(1, k * nmax, k * nmax + t.y.length);
    });
    return (targets = { y: tf.keep(tf.tensor3d(yp, [T, nmax, 1])), mask: tf.keep(tf.tensor3d(mp, [T, nmax, 1])) });
  };
  let transposed: tf.Tensor3D | undefined;
  let perTask: TaskRows | undefined;
  const taskRows = (): TaskRows => {
    if (perTask) return perTask;
    const xs: tf.Tensor2D[] = [];
    const xts: tf.Tensor2D[] = [];
    for (const t of tasks) {
      const X = new Float32Array(nmax * d); // float64 → float32 on copy, zero rows past the task's own
      X.set(t.X.data);
      const Xt = new Float32Array(d * nmax);
      for (let i = 0; i < t.y.length; i++) for (let j = 0; j < d; j++) Xt[j * nmax + i] = X[i * d + j]!;
      xs.push(tf.keep(tf.tensor2d(X, [nmax, d])));
      xts.push(tf.keep(tf.tensor2d(Xt, [d, nmax])));
    }
    perTask = { xs, xts };
    return perTask;
  };
  const yy = tf.tensor3d(Float32Array.from(stats, (s) => s.yy), [T, 1, 1]);
  const batch: Batch = {
    T,
    d,
    nmax,
    n,
    get X() {
      return paddedX();
    },
    get Xt() {
      transposed ??= tf.keep(tf.transpose(paddedX(), [0, 2, 1]));
      return transposed;
    },
    get taskRows() {
      return taskRows();
    },
    get y() {
      return paddedTargets().y;
    },
    get mask() {
      return paddedTargets().mask;
    },
    G,
    b,
    yy,
    lmax,
    tensors: () => [G, b, yy, lmax, ...(padX ? [padX] : []), ...(targets ? [targets.y, targets.mask] : []), ...(transposed ? [transposed] : []), ...(perTask ? [...perTask.xs, ...perTask.xts] : [])],
  };
  live.add(batch);
  cache.set(tasks, batch);
  return batch;
}

/** The per-run parameters of an optimize call as tensors: targets e (T×d×K), pull λc_t (T×1×1), start w (T×d×K). */
export function parameters(input: OptimizeInput, options: Record<string, unknown>): { e: tf.Tensor3D; pull: tf.Tensor3D; w0: tf.Tensor3D; P: tf.Tensor3D } {
  const T = input.tasks.length;
  const d = input.targets.cols;
  const shape = thetaShape(input);
  const rows = (m: Float64Array): Float32Array => {
    const out = new Float32Array(T * d);
    input.tasks.forEach((t, k) => out.set(Float32Array.from(m.subarray(t.index * d, t.index * d + d)), k * d));
    return out;
  };
  // λ per parameter (input.lambdas: one λ everywhere, or one per block); one λ makes the pull λc_t per task (T×1×1),
  // several a pull per entry, λ_j c_t (T×d/K×K)
  const lambdas = input.lambdas ?? new Float64Array(d).fill(options.lambda as number);
  const uniform = lambdas.every((l) => l === lambdas[0]);
  let pull: tf.Tensor3D;
  if (uniform) pull = tf.tensor3d(Float32Array.from(input.tasks, (t) => lambdas[0]! * input.penaltyWeights[t.index]!), [T, 1, 1]);
  else {
    const out = new Float32Array(T * d);
    input.tasks.forEach((t, k) => {
      for (let j = 0; j < d; j++) out[k * d + j] = lambdas[j]! * input.penaltyWeights[t.index]!;
    });
    pull = tf.tensor3d(out, shape);
  }
  return {
    e: tf.tensor3d(rows(input.targets.data), shape),
    pull,
    w0: tf.tensor3d(rows(input.start.data), shape),
    // the model layout's ridge mask (1 × d/K × K): 0 at the bias row, unless this fit penalizes every entry
    P: tf.tensor3d(Float32Array.from(input.model.layout.penalized), [1, shape[1], shape[2]]),
  };
}

/**
 * f and ∇f of every task at w (T×d×K). With `rows` (a T×b index tensor into each task's rows) and `rowMask`, the data
 * part is estimated from that mini-batch, scaled by n_t / |batch_t|. Row losses as in the framework's reference
 * components, written to stay finite wherever the math is (softplus; log Σ e^z shifted by the row's largest z);
 * Poisson's e^z can overflow, and the non-finite f that follows is for the caller's {@link checkFinite}.
 */
export function valueAndGradient(
  B: Batch,
  loss: TensorLoss,
  w: tf.Tensor3D,
  e: tf.Tensor3D,
  pull: tf.Tensor3D,
  P: tf.Tensor3D,
  ridge: number,
  rows?: { X: tf.Tensor3D; y: tf.Tensor3D; mask: tf.Tensor3D; scale: tf.Tensor3D },
): { f: tf.Tensor3D; g: tf.Tensor3D } {
  let f: tf.Tensor;
  let g: tf.Tensor;
  if (loss.name === 'squared' && !rows && !loss.forward) {
    const Gw = tf.matMul(B.G, w);
    f = tf.add(tf.sub(tf.sum(tf.mul(w, Gw), 1, true), tf.mul(2, tf.sum(tf.mul(B.b, w), 1, true))), B.yy);
    g = tf.mul(2, tf.sub(Gw, B.b));
  } else {
    const y = rows?.y ?? B.y;
    const mask = rows?.mask ?? B.mask;
    // the mlp: full-batch passes task by task where that is faster (wasm), mini-batches batched; the padded X is read
    // only by the passes that use it
    const pass = loss.forward ? (rows || !loss.forwardTasks ? loss.forward(rows?.X ?? B.X, w) : loss.forwardTasks(B.taskRows, w)) : undefined;
    const z = pass ? pass.Z : tf.matMul(rows?.X ?? B.X, w);
    let coef: tf.Tensor;
    if (loss.name === 'squared') {
      const res = tf.sub(z, y);
      f = tf.sum(tf.mul(tf.square(res), mask), 1, true);
      coef = tf.mul(tf.mul(2, res), mask);
    } else if (loss.name === 'logistic') {
      // log(1 + exp(−s z)), s = 2y − 1, as softplus: stable for large margins
      const m = tf.mul(tf.sub(1, tf.mul(2, y)), z);
      f = tf.sum(tf.mul(tf.softplus(m), mask), 1, true);
      coef = tf.mul(tf.sub(tf.sigmoid(z), y), mask);
    } else if (loss.name === 'huber') {
      // r² within δ, δ(2|r| − δ) beyond; the derivative 2r clipped to ±2δ is both branches at once
      const res = tf.sub(z, y);
      const a = tf.abs(res);
      const row = tf.where(tf.lessEqual(a, loss.delta), tf.square(res), tf.mul(loss.delta, tf.sub(tf.mul(2, a), loss.delta)));
      f = tf.sum(tf.mul(row, mask), 1, true);
      coef = tf.mul(tf.clipByValue(tf.mul(2, res), -2 * loss.delta, 2 * loss.delta), mask);
    } else if (loss.name === 'poisson') {
      const mu = tf.exp(z);
      f = tf.sum(tf.mul(tf.sub(mu, tf.mul(y, z)), mask), 1, true);
      coef = tf.mul(tf.sub(mu, y), mask);
    } else {
      // softmax over the K outputs of each row: log Σ_c e^(z_c) − z_y, with e^(z − max z) so nothing overflows
      const K = loss.outputs;
      const [T, n] = z.shape;
      const Y = tf.cast(tf.reshape(tf.oneHot(tf.cast(tf.reshape(y, [T, n]), 'int32'), K), [T, n, K]), 'float32');
      const top = tf.max(z, 2, true);
      const ez = tf.exp(tf.sub(z, top));
      const sum = tf.sum(ez, 2, true);
      const row = tf.sub(tf.add(top, tf.log(sum)), tf.sum(tf.mul(Y, z), 2, true));
      f = tf.sum(tf.mul(row, mask), 1, true);
      coef = tf.mul(tf.sub(tf.div(ez, sum), Y), mask);
    }
    // ∂f/∂θ = Xᵀ·∂L/∂Z for a linear model; the network's backward pass otherwise
    g = pass ? loss.backward!(pass, coef as tf.Tensor3D) : rows ? tf.matMul(rows.X, coef, true, false) : tf.matMul(B.Xt, coef as tf.Tensor3D);
    if (rows) {
      f = tf.mul(f, rows.scale);
      g = tf.mul(g, rows.scale);
    }
  }
  const diff = tf.sub(w, e);
  const Pw = tf.mul(P, w);
  f = tf.add(f, tf.add(total(tf.mul(pull, tf.square(diff))), tf.mul(ridge, total(tf.square(Pw)))));
  g = tf.add(g, tf.add(tf.mul(tf.mul(2, pull), diff), tf.mul(2 * ridge, Pw)));
  return { f: f as tf.Tensor3D, g: g as tf.Tensor3D };
}

/** ‖g_t‖ of every task as a T×1×1 tensor. */
export const norms = (g: tf.Tensor3D): tf.Tensor3D => tf.sqrt(total(tf.square(g))) as tf.Tensor3D;

/**
 * Lipschitz constant of ∇f_t per task (T×1×1) for the automatic step 1/L: the loss's curvature bound times the
 * largest eigenvalue of XᵀX (the bound holds for softmax's K×K Hessian blocks too). Only for a finite bound.
 */
export function lipschitz(B: Batch, loss: TensorLoss, pull: tf.Tensor3D, ridge: number): tf.Tensor3D {
  // a pull per entry (λ per block) is bounded by its largest entry
  const top = pull.shape[1] === 1 && pull.shape[2] === 1 ? pull : tf.max(pull, [1, 2], true);
  return tf.add(tf.add(tf.mul(B.lmax, loss.curvature), tf.mul(2, top)), 2 * ridge) as tf.Tensor3D;
}

/** Relative change of a float32 objective below which {@link armijoSteps} trusts the slope, not the values. */
export const RESOLUTION = 1e-5;

/**
 * Backtracking (Armijo) steps along −g for every task, as plugin-cpu's `backtrack`: per task the largest of s, s/2, …
 * (80 tries) with f(w − s·g) ≤ f − s/2·‖g‖², a non-finite trial value counting as too far (robust to an overflowing
 * loss); 0 where none is accepted (w is optimal to the precision) and for the tasks in `skip`. `f` and `g` are at w.
 *
 * Near the minimum a float32 f cannot resolve the decrease (its rounding, ~1e-7·|f|, exceeds s/2·‖g‖²) long before
 * the float64 search would stop, so a trial within {@link RESOLUTION}·|f| of f is judged by the slope instead: accepted
 * when g(w − s·g)·g ≥ 0 (the step has not passed the line's minimum; f then decreased, the losses being convex).
 * On a quadratic that is the same step as Armijo's with c = 1/2; gradients keep their relative accuracy in float32.
 */
export function armijoSteps(
  B: Batch,
  loss: TensorLoss,
  w: tf.Tensor3D,
  at: { f: tf.Tensor; g: tf.Tensor3D },
  e: tf.Tensor3D,
  pull: tf.Tensor3D,
  P: tf.Tensor3D,
  ridge: number,
  start: Float32Array,
  skip?: Uint8Array,
): Float32Array {
  const T = start.length;
  const [fT, ggT] = tf.tidy(() => [at.f.clone(), total(tf.square(at.g))]);
  const f0 = fT!.dataSync() as Float32Array;
  const gg = ggT!.dataSync() as Float32Array;
  tf.dispose([fT!, ggT!]);
  const step = Float32Array.from(start);
  const open = Uint8Array.from(step, (_, t) => (skip?.[t] ? 0 : 1));
  for (let t = 0; t < T; t++) if (!open[t]) step[t] = 0;
  for (let tries = 0; tries < 80 && open.some((o) => o); tries++) {
    const [fT, slopeT] = tf.tidy(() => {
      const trial = valueAndGradient(B, loss, tf.sub(w, tf.mul(tf.tensor3d(step, [T, 1, 1]), at.g)) as tf.Tensor3D, e, pull, P, ridge);
      return [trial.f, total(tf.mul(trial.g, at.g))];
    });
    const fn = fT!.dataSync() as Float32Array;
    const slope = slopeT!.dataSync() as Float32Array;
    tf.dispose([fT!, slopeT!]);
    for (let t = 0; t < T; t++) {
      if (!open[t]) continue;
      const f = fn[t]!;
      const armijo = f <= f0[t]! - 0.5 * step[t]! * gg[t]!;
      const unresolved = Math.abs(f - f0[t]!) <= RESOLUTION * Math.abs(f0[t]!) && Number.isFinite(slope[t]!) && slope[t]! >= 0;
      if (Number.isFinite(f) && (armijo || unresolved)) open[t] = 0;
      else step[t] = step[t]! / 2;
    }
  }
  for (let t = 0; t < T; t++) if (open[t]) step[t] = 0;
  return step;
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
