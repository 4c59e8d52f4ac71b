/**
 * The framework's matrix vocabulary: a dense, row-major float64 matrix. Stages exchange data in this form, so a
 * pipeline can mix backends (each plugin converts to its own representation inside its methods).
 */
export interface DenseMatrix {
  readonly rows: number;
  readonly cols: number;
  /** Row-major values, length rows × cols. */
  readonly data: Float64Array;
}

/**
 * A zeroed Float64Array in shared memory: worker threads see it without a copy (structured cloning shares a
 * SharedArrayBuffer), which is how task data reaches a WorkerExecutor for free.
 */
export function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(length * 8));
}

/** A new zero matrix. */
export function zeros(rows: number, cols: number): DenseMatrix {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/**
 * A rows×cols matrix of zeros for a stage's output: the engine's spare buffer `out` when it has that shape (a stage
 * input's `out`, see the plugin contract), else a new one. Fill every entry; return it as the output.
 */
export function outputMatrix(out: DenseMatrix | undefined, rows: number, cols: number): DenseMatrix {
  return out && out.rows === rows && out.cols === cols && out.data.length === rows * cols ? out : zeros(rows, cols);
}

/** The n×n identity. */
export function identity(n: number): DenseMatrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

/** Builds a matrix from an array of equal-length rows. Throws RangeError on ragged input. */
export function fromRows(rows: ArrayLike<number>[]): DenseMatrix {
  const r = rows.length;
  const c = r ? rows[0]!.length : 0;
  const m = zeros(r, c);
  for (let i = 0; i < r; i++) {
    const row = rows[i]!;
    if (row.length !== c) throw new RangeError(`fromRows: row ${i} has ${row.length} values, expected ${c}`);
    for (let j = 0; j < c; j++) m.data[i * c + j] = row[j]!;
  }
  return m;
}

/** Rows as plain arrays (for JSON and CSV output). */
export function toRows(m: DenseMatrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

/** A view (no copy) of row i. */
export function row(m: DenseMatrix, i: number): Float64Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** A deep copy. */
export function clone(m: DenseMatrix): DenseMatrix {
  return { rows: m.rows, cols: m.cols, data: new Float64Array(m.data) };
}

/** Dot product of two equal-length vectors. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
}

/** y = X w for row-major X (n×d). */
export function matVec(X: DenseMatrix, w: ArrayLike<number>, out = new Float64Array(X.rows)): Float64Array {
  const { rows, cols, data } = X;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s += data[o + j]! * w[j]!;
    out[i] = s;
  }
  return out;
}

/** Largest absolute difference between two matrices of equal shape. */
export function maxAbsDiff(a: DenseMatrix, b: DenseMatrix): number {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
}

/** Frobenius norm. */
export function frobenius(a: DenseMatrix): number {
  return Math.sqrt(dot(a.data, a.data));
}

/** True when every entry is finite. */
export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/**
 * Whether the symmetric matrix A is positive semi-definite, up to rounding: the Cholesky factorization of
 * A + δI, δ = 1e-10 · max |A_ii| (and at least 1e-300), does not break down.
 */
export function isPositiveSemidefinite(A: DenseMatrix): boolean {
  const n = A.rows;
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(A.data[i * n + i]!));
  const delta = Math.max(1e-10 * scale, 1e-300);
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = A.data[j * n + j]! + delta;
    for (let k = 0; k < j; k++) d -= L[j * n + k]! * L[j * n + k]!;
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let v = A.data[i * n + j]!;
      for (let k = 0; k < j; k++) v -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = v / ljj;
    }
  }
  return true;
}
