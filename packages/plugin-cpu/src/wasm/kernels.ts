/**
 * The WebAssembly SIMD kernels (kernels.wat), one instance per thread, made on first use. Operands are copied into
 * the instance's memory in chunks (the task data lives in JavaScript or shared buffers the module cannot address).
 * Where WebAssembly SIMD is missing, `kernels()` is null and callers use their JavaScript loops.
 */
import { mirrorUpper } from '../gram-parts.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.js';

// the parts of the WebAssembly JS API used here (the project's TypeScript lib has no DOM/WebAssembly typings)
declare namespace WebAssembly {
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: object);
    readonly exports: Record<string, unknown>;
  }
  function validate(bytes: Uint8Array): boolean;
}

/** The kernels of one instance (one per thread). */
export interface Kernels {
  memory: WebAssembly.Memory;
  gram(x: number, n: number, d: number, g: number): void;
  gemmSub(c: number, ldc: number, a: number, ars: number, acs: number, b: number, ldb: number, m: number, n: number, k: number, s: number, lower: number): void;
  xty(x: number, n: number, d: number, y: number, b: number): void;
  cholSolves(m: number, t: number, p: number, r: number, w: number): void;
  cholFactors(a: number, t: number, p: number): number;
  xw(x: number, n: number, d: number, w: number, z: number): void;
}

let instance: Kernels | null | undefined;

/** The kernels of this thread, or null when this runtime cannot run them (or WEIGHTSHARE_NO_WASM is set). */
export function kernels(): Kernels | null {
  if (instance !== undefined) return instance;
  instance = null;
  if (process.env.WEIGHTSHARE_NO_WASM) return instance;
  try {
    const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    if (WebAssembly.validate(bytes)) instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Kernels;
  } catch {
    instance = null;
  }
  return instance;
}

/**
 * The kernel memory holds at most one resident block at its start (see {@link residentBlock}); scratch for each call
 * comes after it. Offsets that callers compute in a view from {@link reserve} are relative to this base.
 */
let residentOwner: WeakRef<object> | undefined;
let residentVersion = -1;
let base = 0; // bytes, a multiple of 64

/**
 * Scratch of at least `floats` float64s after the resident block, as a float64 view that starts there (a new view:
 * growing the memory detaches old ones). Kernel calls take byte offsets from the memory's start: add {@link scratchBase}.
 */
export function reserve(k: Kernels, floats: number): Float64Array {
  const bytes = base + floats * 8;
  const have = k.memory.buffer.byteLength;
  if (have < bytes) k.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float64Array(k.memory.buffer, base, floats);
}

/** The byte offset where the views of {@link reserve} start. */
export function scratchBase(): number {
  return base;
}

/**
 * `data` resident at the start of the kernel memory, copied there only when another owner, or another version of
 * this one, was there before (a factor block that every round of a run solves with: one copy per change, not per
 * round). Returns the block's byte offset (0); scratch from {@link reserve} then starts after it.
 */
export function residentBlock(k: Kernels, owner: object, version: number, data: Float64Array): number {
  if (residentOwner?.deref() !== owner || residentVersion !== version || base < data.length * 8) {
    base = Math.ceil((data.length * 8) / 64) * 64;
    const have = k.memory.buffer.byteLength;
    if (have < base) k.memory.grow(Math.ceil((base - have) / 65536));
    new Float64Array(k.memory.buffer, 0, data.length).set(data);
    residentOwner = new WeakRef(owner);
    residentVersion = version;
  }
  return 0;
}

/** Bytes of X copied per kernel call: a chunk that stays in the L2 cache while every 4×4 block of G passes over it. */
const CHUNK_BYTES = 1 << 18;

/**
 * XᵀX of the n×d row-major X with the SIMD kernel: G's 4×4 blocks on and above the diagonal accumulated over
 * chunks of rows, the last d mod 4 columns in JavaScript, then mirrored.
 */
export function gramSimd(k: Kernels, X: Float64Array, n: number, d: number): Float64Array {
  return statsSimd(k, X, undefined, n, d).G;
}

/**
 * XᵀX as {@link gramSimd}, and Xᵀy in the same pass over the chunks when `y` is given (the chunk is already in the
 * kernel's memory).
 */
export function statsSimd(k: Kernels, X: Float64Array, y: Float64Array | undefined, n: number, d: number): { G: Float64Array; b: Float64Array } {
  const chunkRows = Math.max(4, Math.floor(CHUNK_BYTES / (8 * d)));
  const yOff = chunkRows * d; // in float64s
  const gOff = yOff + chunkRows;
  const bOff = gOff + d * d;
  const mem = reserve(k, bOff + d);
  const at = scratchBase();
  mem.fill(0, gOff, bOff + d);
  const d4 = d & ~3;
  for (let i0 = 0; i0 < n; i0 += chunkRows) {
    const rows = Math.min(chunkRows, n - i0);
    mem.set(X.subarray(i0 * d, (i0 + rows) * d), 0);
    if (d4 > 0) k.gram(at, rows, d, at + gOff * 8);
    // the last d mod 4 columns: G[j][c] for j ≤ c
    for (let c = d4; c < d; c++)
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        const xc = mem[o + c]!;
        if (xc === 0) continue;
        for (let j = 0; j <= c; j++) mem[gOff + j * d + c]! += mem[o + j]! * xc;
      }
    if (y) {
      mem.set(y.subarray(i0, i0 + rows), yOff);
      k.xty(at, rows, d, at + yOff * 8, at + bOff * 8);
    }
  }
  const G = mem.slice(gOff, gOff + d * d);
  const b = mem.slice(bOff, bOff + d);
  mirrorUpper(G, d);
  return { G, b };
}

/**
 * C −= A·B on the view of {@link reserve} (offsets are the view's): C is m×n at element offset `c` with row stride `ldc`; A is m×q with A[i][p] at `a + i·ars + p·acs` (a
 * transposed view when ars = 1); B is q×n at `b` with row stride `ldb`. `scratch` is an element offset with 4q free
 * float64s. `lower`: only C's lower triangle is needed (and entries above the diagonal inside the diagonal 4×4 blocks
 * may change).
 */
export function gemmSub(
  k: Kernels,
  c: number,
  ldc: number,
  a: number,
  ars: number,
  acs: number,
  b: number,
  ldb: number,
  m: number,
  n: number,
  q: number,
  scratch: number,
  lower = false,
): void {
  if (m <= 0 || n <= 0 || q <= 0) return;
  k.gemmSub(base + c * 8, ldc, base + a * 8, ars, acs, base + b * 8, ldb, m, n, q, base + scratch * 8, lower ? 1 : 0);
}
