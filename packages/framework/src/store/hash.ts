/** Content hashes: SHA-256 of bytes, of matrices (shape + float64 bytes), and of JSON values with sorted keys. */
import { createHash } from 'node:crypto';
import type { DenseMatrix } from '../math/dense.js';

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A hash of a matrix's shape and exact float64 bytes. */
export function matrixHash(m: DenseMatrix): string {
  const h = createHash('sha256');
  h.update(`${m.rows}x${m.cols}:`);
  h.update(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  return h.digest('hex');
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(ArrayBuffer.isView(v)))
      return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
    return v;
  });
}

/** The hash of a JSON value (canonical form). */
export function jsonHash(value: unknown): string {
  return sha256(canonicalJson(value));
}
