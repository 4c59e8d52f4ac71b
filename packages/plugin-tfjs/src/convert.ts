/** Crossing the plugin boundary: float64 DenseMatrix in, float32 tensors inside, float64 DenseMatrix out. */
import { tf } from './tf.js';
import type { DenseMatrix } from '@weightshare/framework';

export function toTensor(m: DenseMatrix): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(m.data), [m.rows, m.cols], 'float32');
}

export function fromTensor(t: tf.Tensor): DenseMatrix {
  const [rows, cols] = t.shape.length === 2 ? (t.shape as [number, number]) : [1, t.size];
  return { rows: rows!, cols: cols!, data: Float64Array.from(t.dataSync()) };
}

export function vector(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync());
}
