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
