/**
 * Dense float64 matrix products that add into their output, C += A·B and C += Aᵀ·B (row-major), for the framework's
 * float64 models (the mlp's forward and backward passes).
 *
 * Each runs in the SIMD kernel `gemmAdd` when this thread has the kernels (operands copied into the kernel's memory
 * in pieces of rows), else in JavaScript loops that do the same operations in the same order: every entry of C gets
 * c + (((0 + a₀b₀) + a₁b₁) + …), its products summed in the order of the shared dimension, and C += Aᵀ·B sums over
 * A's rows in pieces of {@link SUM_ROWS} rows, each piece's sum added to C in turn. Both paths give the same bits
 * (test/mlp.test.ts compares them), so whether a thread has WebAssembly SIMD changes speed, not numbers.
 *
 * C must not overlap A or B, and no operand may be a view of the kernel's memory (a `reserve` view or a kernel
 * result): the kernel path copies operands into that memory first, the JavaScript path works in place.
 */
import { kernels, reserve, scratchBase, type Kernels } from './wasm/kernels.js';

/** Rows of A (and B) per piece of the summed dimension of C += Aᵀ·B: fixed, so both paths sum in the same pieces. */
export const SUM_ROWS = 1024;

/** Float64s of operands per kernel call of C += A·B, before it is cut into pieces of A's rows (bytes/8: 1 MiB). */
const PIECE_FLOATS = 1 << 17;

/** C (m×n) += A (m×q) · B (q×n). */
export function addProduct(C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  checkSizes(C, m * n, A, m * q, B, q * n);
  if (m === 0 || n === 0 || q === 0) return;
  const k = kernels();
  if (k) addProductKernel(k, C, A, m, q, B, n);
  else addProductJs(C, A, m, q, B, n);
}

/** C (q×n) += Aᵀ·B for A m×q and B m×n: the sum over A's m rows, in pieces of {@link SUM_ROWS} rows. */
export function addProductT(C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  checkSizes(C, q * n, A, m * q, B, m * n);
  if (m === 0 || n === 0 || q === 0) return;
  const k = kernels();
  if (k) addProductTKernel(k, C, A, m, q, B, n);
  else addProductTJs(C, A, m, q, B, n);
}

function checkSizes(C: Float64Array, c: number, A: Float64Array, a: number, B: Float64Array, b: number): void {
  if (C.length < c || A.length < a || B.length < b) throw new RangeError(`matrix product: operands of ${C.length}, ${A.length} and ${B.length} values, the shapes need ${c}, ${a} and ${b}`);
}

function addProductJs(C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  const s = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    s.fill(0);
    const ao = i * q;
    for (let p = 0; p < q; p++) {
      const a = A[ao + p]!;
      const bo = p * n;
      for (let j = 0; j < n; j++) s[j]! += a * B[bo + j]!;
    }
    const co = i * n;
    for (let j = 0; j < n; j++) C[co + j]! += s[j]!;
  }
}

function addProductTJs(C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  const s = new Float64Array(q * n);
  for (let r0 = 0; r0 < m; r0 += SUM_ROWS) {
    const r1 = Math.min(m, r0 + SUM_ROWS);
    s.fill(0);
    for (let r = r0; r < r1; r++) {
      const ao = r * q;
      const bo = r * n;
      for (let i = 0; i < q; i++) {
        const a = A[ao + i]!;
        const so = i * n;
        for (let j = 0; j < n; j++) s[so + j]! += a * B[bo + j]!;
      }
    }
    for (let e = 0; e < q * n; e++) C[e]! += s[e]!;
  }
}

function addProductKernel(k: Kernels, C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  // scratch: B (q×n), then a piece of A's rows (rows×q) and of C's (rows×n), then the kernel's 4q
  const rows = Math.max(4, Math.min(m, Math.floor(PIECE_FLOATS / (q + n))));
  const aOff = q * n;
  const cOff = aOff + rows * q;
  const sOff = cOff + rows * n;
  const mem = reserve(k, sOff + 4 * q);
  const at = scratchBase();
  mem.set(B.subarray(0, q * n), 0);
  for (let i0 = 0; i0 < m; i0 += rows) {
    const r = Math.min(rows, m - i0);
    mem.set(A.subarray(i0 * q, (i0 + r) * q), aOff);
    mem.set(C.subarray(i0 * n, (i0 + r) * n), cOff);
    k.gemmAdd(at + cOff * 8, n, at + aOff * 8, q, 1, at, n, r, n, q, at + sOff * 8, 0);
    C.set(mem.subarray(cOff, cOff + r * n), i0 * n);
  }
}

function addProductTKernel(k: Kernels, C: Float64Array, A: Float64Array, m: number, q: number, B: Float64Array, n: number): void {
  // scratch: C (q×n), then a piece of A's rows (SUM_ROWS×q) and of B's (SUM_ROWS×n), then the kernel's 4·SUM_ROWS
  const rows = Math.min(m, SUM_ROWS);
  const aOff = q * n;
  const bOff = aOff + rows * q;
  const sOff = bOff + rows * n;
  const mem = reserve(k, sOff + 4 * rows);
  const at = scratchBase();
  mem.set(C.subarray(0, q * n), 0);
  for (let r0 = 0; r0 < m; r0 += SUM_ROWS) {
    const r = Math.min(SUM_ROWS, m - r0);
    mem.set(A.subarray(r0 * q, (r0 + r) * q), aOff);
    mem.set(B.subarray(r0 * n, (r0 + r) * n), bOff);
    // Aᵀ as the kernel's left operand: row i of Aᵀ is column i of the piece (stride 1 between rows, q between steps)
    k.gemmAdd(at, n, at + aOff * 8, 1, q, at + bOff * 8, n, q, n, r, at + sOff * 8, 0);
  }
  C.set(mem.subarray(0, q * n), 0);
}
