/**
 * NumPy `.npy` format, version 1.0 (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * the magic string `\x93NUMPY`, version bytes, a little-endian uint16 header length, a Python-literal header
 * `{'descr': '<f8', 'fortran_order': False, 'shape': (r, c), }` padded with spaces and a newline so the data starts
 * at a multiple of 64 bytes, then the values, row-major, little-endian. `numpy.load` reads these files.
 */
import { endianness } from 'node:os';
import type { DenseMatrix } from '../math/dense.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Typed arrays hold little-endian values here (every platform Node ships on but s390x and ppc64): `.npy` bytes are
 * then the values' own bytes, copied in one go rather than value by value. */
const LITTLE = endianness() === 'LE';

/** Encodes a matrix as float64 (`<f8`) or float32 (`<f4`) `.npy` bytes. */
export function encodeNpy(m: DenseMatrix, dtype: 'float64' | 'float32' = 'float64'): Buffer {
  const descr = dtype === 'float64' ? '<f8' : '<f4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${m.rows}, ${m.cols}), }`;
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const size = dtype === 'float64' ? 8 : 4;
  const n = m.rows * m.cols;
  if (!(m.data.length >= n)) throw new Error(`encodeNpy: a ${m.rows}×${m.cols} matrix needs ${n} values, its data has ${m.data.length}`);
  const values = m.data instanceof Float64Array ? m.data.subarray(0, n) : Float64Array.from({ length: n }, (_, i) => Number(m.data[i]));
  const offset = head.length + header.length; // a multiple of 64
  // a buffer of its own (never a slice of the shared pool), so the values start aligned; every byte is written below
  const out = Buffer.allocUnsafeSlow(offset + n * size);
  head.copy(out, 0);
  out.write(header, head.length, 'latin1');
  if (LITTLE) {
    if (size === 8) new Float64Array(out.buffer, out.byteOffset + offset, n).set(values);
    else new Float32Array(out.buffer, out.byteOffset + offset, n).set(values);
  } else
    for (let i = 0; i < n; i++) {
      if (size === 8) out.writeDoubleLE(values[i]!, offset + i * 8);
      else out.writeFloatLE(values[i]!, offset + i * 4);
    }
  return out;
}

/**
 * Decodes `.npy` bytes written by {@link encodeNpy} (or by NumPy for a C-ordered 2-D `<f8`/`<f4` array).
 * @throws Error describing what is wrong with the bytes
 */
export function decodeNpy(buf: Buffer): DenseMatrix {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error('not a .npy file (bad magic string)');
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shape === undefined) throw new Error(`unreadable .npy header: ${header.trim()}`);
  if (fortran === 'True') throw new Error('Fortran-ordered .npy arrays are not supported');
  if (descr !== '<f8' && descr !== '<f4') throw new Error(`unsupported dtype ${descr} (expected <f8 or <f4)`);
  const dims = shape.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const [rows, cols] = dims.length === 2 ? dims : dims.length === 1 ? [1, dims[0]!] : [NaN, NaN];
  if (!Number.isInteger(rows) || !Number.isInteger(cols)) throw new Error(`unsupported shape (${shape})`);
  const size = descr === '<f8' ? 8 : 4;
  const offset = start + headerLen;
  if (buf.length !== offset + rows! * cols! * size) throw new Error(`truncated: ${buf.length - offset} data bytes for shape (${rows}, ${cols})`);
  const n = rows! * cols!;
  const data = new Float64Array(n);
  if (LITTLE && size === 8) new Uint8Array(data.buffer).set(buf.subarray(offset, offset + n * 8));
  else if (LITTLE) {
    const values = new Float32Array(n);
    new Uint8Array(values.buffer).set(buf.subarray(offset, offset + n * 4));
    data.set(values);
  } else for (let i = 0; i < n; i++) data[i] = size === 8 ? buf.readDoubleLE(offset + i * 8) : buf.readFloatLE(offset + i * 4);
  return { rows: rows!, cols: cols!, data };
}
