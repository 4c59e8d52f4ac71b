/**
 * The relation's product with a block of columns, x ↦ M·x, for the Krylov solvers of propagate. tfjs has no fast
 * sparse product on its host devices (wasm, cpu: `sparseSegmentSum` over gathered rows measured 5.6× slower than the
 * dense product on wasm), and a dense T×T product per iteration costs T²·m multiply-adds however few edges the graph
 * has. So on those devices a sparse M (at most a tenth non-zero) multiplies in JavaScript from compressed rows — the
 * tensor's values are already in this process's memory there — and everything else stays a tfjs op. On other
 * devices (tfjs-node's `tensorflow`, a GPU) the dense product stays on the device.
 */
import { tf } from './tf.js';

/** Compressed sparse rows of an n×n float32 matrix. */
export interface Csr {
  n: number;
  ptr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Density (non-zeros / n²) up to which the host product is used. */
export const SPARSE_MAX_DENSITY = 0.1;
/** Order from which it is worth it (below, one dense product is cheap). */
export const SPARSE_MIN_ORDER = 128;

/** M's non-zeros by row, or undefined when more than `maxDensity` of its entries are non-zero. */
export function csrOf(M: Float32Array, n: number, maxDensity = SPARSE_MAX_DENSITY): Csr | undefined {
  let nnz = 0;
  for (let i = 0; i < n * n; i++) if (M[i] !== 0) nnz++;
  if (nnz > maxDensity * n * n) return undefined;
  const ptr = new Int32Array(n + 1);
  const col = new Int32Array(nnz);
  const val = new Float32Array(nnz);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const v = M[i * n + j]!;
      if (v === 0) continue;
      col[k] = j;
      val[k++] = v;
    }
    ptr[i + 1] = k;
  }
  return { n, ptr, col, val };
}

/** out = A·x for x n×m (row-major): four non-zeros of a row per pass over its output row. */
export function csrTimes(A: Csr, x: Float32Array | Float64Array, m: number, out: Float32Array): void {
  const { n, ptr, col, val } = A;
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let k = ptr[i]!;
    const end = ptr[i + 1]!;
    for (; k + 3 < end; k += 4) {
      const v0 = val[k]!, v1 = val[k + 1]!, v2 = val[k + 2]!, v3 = val[k + 3]!;
      const r0 = col[k]! * m, r1 = col[k + 1]! * m, r2 = col[k + 2]! * m, r3 = col[k + 3]! * m;
      for (let j = 0; j < m; j++) out[o + j]! += v0 * x[r0 + j]! + v1 * x[r1 + j]! + v2 * x[r2 + j]! + v3 * x[r3 + j]!;
    }
    for (; k < end; k++) {
      const v = val[k]!;
      const r = col[k]! * m;
      for (let j = 0; j < m; j++) out[o + j]! += v * x[r + j]!;
    }
  }
}

/** x ↦ M·x for a 2-D block x (n×m), and what it holds. */
export interface RelationProduct {
  apply(x: tf.Tensor): tf.Tensor;
  /** Whether the product runs on the host from compressed rows. */
  readonly sparse: boolean;
  dispose(): void;
}

/** The product with the n×n float32 matrix M: on the host when M is sparse and the device keeps tensors in host memory. */
export function relationProduct(M: Float32Array, n: number): RelationProduct {
  const host = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu';
  const csr = host && n >= SPARSE_MIN_ORDER ? csrOf(M, n) : undefined;
  if (csr)
    return {
      sparse: true,
      apply(x) {
        const m = x.shape[1] ?? 1;
        const out = new Float32Array(n * m);
        csrTimes(csr, x.dataSync() as Float32Array, m, out);
        return tf.tensor2d(out, [n, m]);
      },
      dispose() {},
    };
  const dense = tf.tensor2d(M, [n, n]);
  return {
    sparse: false,
    apply: (x) => tf.matMul(dense, x as tf.Tensor2D),
    dispose: () => dense.dispose(),
  };
}
