/**
 * The WebAssembly SIMD kernels (kernels.wat), one instance per thread, made on first use. Operands are copied into
 * the instance's memory in chunks (the task data lives in JavaScript or shared buffers the module cannot address).
 * Where WebAssembly SIMD is missing, `kernels()` is null and callers use their JavaScript loops.
 */
import { addRows, mirrorUpper } from '../gram-parts.js';
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

interface Exports {
  memory: WebAssembly.Memory;
  gram(x: number, n: number, d: number, g: number): void;
  xty(x: number, n: number, d: number, y: number, b: number): void;
}

let instance: Exports | null | undefined;

/** The kernels of this thread, or null when this runtime cannot run them (or WEIGHTSHARE_NO_WASM is set). */
export function kernels(): Exports | null {
  if (instance !== undefined) return instance;
  instance = null;
  if (process.env.WEIGHTSHARE_NO_WASM) return instance;
  try {
    const bytes = Buffer.from(KERNELS_WASM_BASE64, 'base64');
    if (WebAssembly.validate(bytes)) instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Exports;
  } catch {
    instance = null;
  }
  return instance;
}

/** The instance's memory with at least `bytes` bytes, as a float64 view. */
function reserve(k: Exports, bytes: number): Float64Array {
  const have = k.memory.buffer.byteLength;
  if (have < bytes) k.memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float64Array(k.memory.buffer);
}

/** Bytes of X copied per kernel call: a chunk that stays in the L2 cache with G. */
const CHUNK_BYTES = 1 << 18;

/**
 * XᵀX of the n×d row-major X with the SIMD kernel: G's upper triangle accumulated over chunks of four-row blocks,
 * the rows past the last full block and (for odd d) G's last diagonal entry in JavaScript, then mirrored.
 */
export function gramSimd(k: Exports, X: Float64Array, n: number, d: number): Float64Array {
  return statsSimd(k, X, undefined, n, d).G;
}

/**
 * XᵀX as {@link gramSimd}, and Xᵀy in the same pass over the chunks when `y` is given (the chunk is already in the
 * kernel's memory).
 */
export function statsSimd(k: Exports, X: Float64Array, y: Float64Array | undefined, n: number, d: number): { G: Float64Array; b: Float64Array } {
  const chunkRows = Math.max(4, Math.floor(CHUNK_BYTES / (8 * d)) & ~3);
  const yOff = chunkRows * d; // in float64s
  const gOff = yOff + chunkRows;
  const bOff = gOff + d * d;
  const mem = reserve(k, (bOff + d) * 8);
  mem.fill(0, gOff, bOff + d);
  const n4 = n & ~3;
  for (let i0 = 0; i0 < n; i0 += chunkRows) {
    const rows = Math.min(chunkRows, n - i0);
    mem.set(X.subarray(i0 * d, (i0 + rows) * d), 0);
    const full = Math.max(0, Math.min(rows, n4 - i0)); // rows of this chunk inside the blocks of four
    if (full > 0) k.gram(0, full, d, gOff * 8);
    if (y) {
      mem.set(y.subarray(i0, i0 + rows), yOff);
      k.xty(0, rows, d, yOff * 8, bOff * 8);
    }
  }
  const G = mem.slice(gOff, gOff + d * d);
  const b = mem.slice(bOff, bOff + d);
  if (d % 2 === 1) {
    const j = d - 1;
    let s = 0;
    for (let i = 0; i < n4; i++) s += X[i * d + j]! * X[i * d + j]!;
    G[j * d + j] = s;
  }
  addRows(G, X, n4, n, d);
  mirrorUpper(G, d);
  return { G, b };
}
