#!/usr/bin/env node
/**
 * The tfjs wasm backend's rates for the products plugin-tfjs needs (float32, one thread, as in Node), measured on one
 * machine in one run: the plain 2-D product that reaches XNNPACK (XᵀX of a 4,096-row piece), and the per-task
 * matrix–vector products of a logistic epoch at logistic-many's size (1,000 tasks × 200 rows × 100 features) in
 * every formulation tfjs offers: batched matMul (the generic loop), with a transposed operand, as depthwise 2-D
 * convolutions over the rows laid out tasks-innermost, and as mul + sum. Each is the mean of 20–50 calls after
 * warm-up, the result read back (dataSync) each time; the formulations are checked to give the same numbers.
 *   node bench/tfjs-products.mjs
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

await tf.setBackend('wasm');
await tf.ready();
const ms = (f, reps = 20) => {
  for (let i = 0; i < 2; i++) tf.tidy(f).dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const out = tf.tidy(f);
    out.dataSync();
    out.dispose();
  }
  return (performance.now() - t0) / reps;
};

const m = 4096;
for (const d of [200, 100]) {
  const At = tf.randomUniform([d, m], -1, 1, 'float32', 1);
  const A = tf.randomUniform([m, d], -1, 1, 'float32', 2);
  const t = ms(() => tf.matMul(At, A), 50);
  console.log(`2-D product (${d} × ${m})·(${m} × ${d}) [XNNPACK]: ${t.toFixed(2)} ms, ${((2 * m * d * d) / t / 1e6).toFixed(1)} GFLOP/s`);
}

const T = 1000;
const n = 200;
const d = 100;
const X = tf.randomUniform([T, n, d], -1, 1, 'float32', 3);
const w = tf.randomUniform([T, d, 1], -1, 1, 'float32', 4);
const r = tf.randomUniform([T, n, 1], -1, 1, 'float32', 5);
const Xt = tf.transpose(X, [0, 2, 1]);
// tasks innermost: NHWC with H = rows, W = features, C = tasks
const Xc = tf.reshape(tf.transpose(X, [1, 2, 0]), [1, n, d, T]);
const wc = tf.reshape(tf.transpose(tf.reshape(w, [T, d])), [1, d, T, 1]);
const rc = tf.reshape(tf.transpose(tf.reshape(r, [T, n])), [n, 1, T, 1]);
const flops = 2 * T * n * d;
const rows = [
  ['z = X·w, batched matMul', () => tf.matMul(X, w)],
  ['z = X·w, depthwise conv2d (1 × 100 kernel)', () => tf.depthwiseConv2d(Xc, wc, 1, 'valid')],
  ['z = X·w, mul + sum', () => tf.sum(tf.mul(tf.reshape(Xc, [n, d, T]), tf.reshape(wc, [1, d, T])), 1)],
  ['g = Xᵀr, batched matMul of a transposed copy', () => tf.matMul(Xt, r)],
  ['g = Xᵀr, batched matMul, transposeA', () => tf.matMul(X, r, true, false)],
  ['g = Xᵀr, depthwise conv2d (200 × 1 kernel)', () => tf.depthwiseConv2d(Xc, rc, 1, 'valid')],
];
for (const [label, f] of rows) {
  const t = ms(f);
  console.log(`${label}: ${t.toFixed(1)} ms, ${(flops / t / 1e6).toFixed(2)} GFLOP/s`);
}
const gap = (a, b) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const z = tf.reshape(tf.matMul(X, w), [T, n]);
const g = tf.reshape(tf.matMul(X, r, true, false), [T, d]);
console.log(`same numbers: z ${gap(z, tf.transpose(tf.reshape(tf.depthwiseConv2d(Xc, wc, 1, 'valid'), [n, T])))} and g ${gap(g, tf.transpose(tf.reshape(tf.depthwiseConv2d(Xc, rc, 1, 'valid'), [d, T])))} apart at most (float32 sums in another order)`);
