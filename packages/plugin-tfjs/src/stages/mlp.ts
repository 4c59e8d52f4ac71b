/**
 * The built-in `mlp` model on batched tensors, with the framework's parameter layout (so checkpoints and model
 * artifacts are interchangeable with plugin-cpu): θ is each task's blocks one after another, block l a row-major
 * [inputs, units] matrix; `layer1` multiplies X itself (X's bias column makes its row the layer's bias), later
 * blocks end with their bias row. The backward pass is written out in tensor ops (tfjs-core's Node bundle registers
 * no op gradients, so tf.grad is not available without the full tfjs package): for each block, from the output down,
 * ∂W = A_{l−1}ᵀ·δ_l (and the bias row Σ_rows δ_l), δ_{l−1} = (δ_l·W_lᵀ) ⊙ act′(pre_{l−1}).
 */
import { tf } from '../tf.js';
import type { ModelLayout } from '@weightshare/framework';

const GELU_C = Math.sqrt(2 / Math.PI);

function activate(kind: string, x: tf.Tensor): tf.Tensor {
  if (kind === 'relu') return tf.relu(x);
  if (kind === 'tanh') return tf.tanh(x);
  if (kind === 'gelu') return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(GELU_C, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))))));
  return x;
}

/** act′ at the pre-activation x (a = act(x), for tanh's 1 − a²). */
function derivative(kind: string, x: tf.Tensor, a: tf.Tensor): tf.Tensor {
  if (kind === 'relu') return tf.cast(tf.greater(x, 0), 'float32');
  if (kind === 'tanh') return tf.sub(1, tf.square(a));
  if (kind === 'gelu') {
    const t = tf.tanh(tf.mul(GELU_C, tf.add(x, tf.mul(0.044715, tf.mul(x, tf.square(x))))));
    return tf.add(tf.mul(0.5, tf.add(1, t)), tf.mul(tf.mul(tf.mul(0.5, x), tf.sub(1, tf.square(t))), tf.mul(GELU_C, tf.add(1, tf.mul(3 * 0.044715, tf.square(x))))));
  }
  return tf.onesLike(x);
}

/** A forward pass, kept for the backward pass (its tensors belong to the caller's tidy scope). */
export interface Pass {
  Z: tf.Tensor3D;
  /** Per block: its input A_{l−1}, its weight matrix without the bias row, and (hidden blocks) pre-activation and activation. */
  layers: { input: tf.Tensor3D; W: tf.Tensor3D; pre?: tf.Tensor3D; out?: tf.Tensor3D }[];
  /** A pass of {@link mlpForwardTasks}: per task, per hidden block, its pre-activation and activation; θ on the host; the rows. */
  tasks?: { pre: tf.Tensor2D[]; out: tf.Tensor2D[] }[];
  theta?: Float32Array;
  rows?: TaskRows;
}

/**
 * Every task's rows as 2-D tensors (nmax × d, padded with zero rows as the batch is) and their transposes (d × nmax),
 * for {@link mlpForwardTasks}: built once per batch from the host rows.
 */
export interface TaskRows {
  xs: tf.Tensor2D[];
  xts: tf.Tensor2D[];
}

/** Z (T×n×k) of every task's rows X (T×n×d) under its parameters θ (T×p×1), with what the backward pass needs. */
export function mlpForward(layout: ModelLayout, activation: string, X: tf.Tensor3D, theta: tf.Tensor3D): Pass {
  const T = theta.shape[0];
  const flat = tf.reshape(theta, [T, layout.size]);
  let A: tf.Tensor3D = X;
  const layers: Pass['layers'] = [];
  for (const b of layout.blocks) {
    const [rows, units] = b.shape as [number, number];
    const M = tf.reshape(tf.slice(flat, [0, b.offset], [T, b.size]), [T, rows, units]) as tf.Tensor3D;
    const first = b.name === 'layer1';
    const W = first ? M : (tf.slice(M, [0, 0, 0], [T, rows - 1, units]) as tf.Tensor3D);
    let pre: tf.Tensor3D = tf.matMul(A, W);
    if (!first) pre = tf.add(pre, tf.slice(M, [0, rows - 1, 0], [T, 1, units])) as tf.Tensor3D;
    if (b.name === 'output') {
      layers.push({ input: A, W });
      A = pre;
    } else {
      const out = activate(activation, pre) as tf.Tensor3D;
      layers.push({ input: A, W, pre, out });
      A = out;
    }
  }
  return { Z: A, layers };
}

/** ∂(Σ ∂L/∂Z ⊙ Z)/∂θ (T×p×1) at the parameters of `pass`: the data loss's gradient given dZ = ∂L/∂Z (T×n×k, zero on padded rows). */
export function mlpBackward(layout: ModelLayout, activation: string, pass: Pass, dZ: tf.Tensor3D): tf.Tensor3D {
  if (pass.tasks) return mlpBackwardTasks(layout, activation, pass, pass.rows!, dZ);
  const T = dZ.shape[0];
  const { layers } = pass;
  const parts: tf.Tensor[] = new Array(layout.blocks.length);
  let delta: tf.Tensor3D = dZ;
  for (let l = layout.blocks.length - 1; l >= 0; l--) {
    const b = layout.blocks[l]!;
    const layer = layers[l]!;
    if (b.name !== 'output') delta = tf.mul(delta, derivative(activation, layer.pre!, layer.out!)) as tf.Tensor3D;
    let gW: tf.Tensor = tf.matMul(layer.input, delta, true, false); // [T, inputs, units]
    if (b.name !== 'layer1') gW = tf.concat([gW, tf.sum(delta, 1, true)], 1);
    parts[l] = tf.reshape(gW, [T, b.size]);
    if (l > 0) delta = tf.matMul(delta, layer.W, false, true);
  }
  return tf.reshape(tf.concat(parts, 1), [T, layout.size, 1]);
}

/**
 * The forward pass of {@link mlpForward} task by task, on plain 2-D tensors: the wasm backend runs 2-D matMuls
 * through XNNPACK (~20 GFLOP/s here) but batched ones through a generic loop (~1.3 GFLOP/s). Each task's blocks are
 * made from θ on the host (one download of θ per pass: slicing a batched tensor apart costs more on this backend
 * than the products, ~0.5 µs a value). Z is the same T × nmax × k as the batched pass's.
 */
export function mlpForwardTasks(layout: ModelLayout, activation: string, rows: TaskRows, theta: tf.Tensor3D): Pass {
  const T = theta.shape[0];
  const p = layout.size;
  const th = theta.dataSync() as Float32Array;
  const Zs: tf.Tensor2D[] = [];
  const tasks: NonNullable<Pass['tasks']> = [];
  for (let t = 0; t < T; t++) {
    const o = t * p;
    let A: tf.Tensor2D = rows.xs[t]!;
    const pre: tf.Tensor2D[] = [];
    const out: tf.Tensor2D[] = [];
    for (const b of layout.blocks) {
      const [inputs, units] = b.shape as [number, number];
      const first = b.name === 'layer1';
      const a = first ? inputs : inputs - 1;
      let z: tf.Tensor2D = tf.matMul(A, tf.tensor2d(th.subarray(o + b.offset, o + b.offset + a * units), [a, units]));
      if (!first) z = tf.add(z, tf.tensor2d(th.subarray(o + b.offset + a * units, o + b.offset + inputs * units), [1, units])) as tf.Tensor2D;
      if (b.name === 'output') A = z;
      else {
        pre.push(z);
        A = activate(activation, z) as tf.Tensor2D;
        out.push(A);
      }
    }
    Zs.push(A);
    tasks.push({ pre, out });
  }
  const nmax = rows.xs[0]!.shape[0];
  return { Z: tf.reshape(tf.concat(Zs, 0), [T, nmax, layout.outputs]) as tf.Tensor3D, layers: [], tasks, theta: th, rows };
}

/** The backward pass of {@link mlpBackward} for a pass of {@link mlpForwardTasks}, task by task on 2-D tensors. */
function mlpBackwardTasks(layout: ModelLayout, activation: string, pass: Pass, rows: TaskRows, dZ: tf.Tensor3D): tf.Tensor3D {
  const [T, nmax, k] = dZ.shape;
  const p = layout.size;
  const th = pass.theta!;
  const dz = dZ.dataSync() as Float32Array;
  const grads: tf.Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const o = t * p;
    const { pre, out } = pass.tasks![t]!;
    const parts: tf.Tensor[] = new Array(layout.blocks.length);
    let delta: tf.Tensor2D = tf.tensor2d(dz.subarray(t * nmax * k, (t + 1) * nmax * k), [nmax, k]);
    for (let l = layout.blocks.length - 1; l >= 0; l--) {
      const b = layout.blocks[l]!;
      const [inputs, units] = b.shape as [number, number];
      if (b.name !== 'output') delta = tf.mul(delta, derivative(activation, pre[l]!, out[l]!)) as tf.Tensor2D;
      // ∂W = Aᵀ·δ: layer 1 from the kept Xᵀ; a one-unit block as (δᵀ·A)ᵀ, which for one column is a reshape
      let gW: tf.Tensor;
      if (l === 0) gW = tf.matMul(rows.xts[t]!, delta);
      else if (units === 1) gW = tf.reshape(tf.matMul(tf.reshape(delta, [1, nmax]), out[l - 1]!), [inputs - 1, 1]);
      else gW = tf.matMul(tf.transpose(out[l - 1]!), delta);
      if (b.name !== 'layer1') gW = tf.concat([gW, tf.sum(delta, 0, true)], 0);
      parts[l] = tf.reshape(gW, [b.size]);
      if (l > 0) {
        // δ·W_lᵀ, W_lᵀ (units × inputs − 1, no bias row) transposed on the host
        const a = inputs - 1;
        const wt = new Float32Array(units * a);
        for (let j = 0; j < a; j++) for (let c = 0; c < units; c++) wt[c * a + j] = th[o + b.offset + j * units + c]!;
        delta = tf.matMul(delta, tf.tensor2d(wt, [units, a]));
      }
    }
    grads.push(...parts);
  }
  return tf.reshape(tf.concat(grads, 0), [T, p, 1]) as tf.Tensor3D;
}
