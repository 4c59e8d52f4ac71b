/**
 * The `.npy` files of checkpoints, models and exports: the bytes NumPy writes and reads, checked against NumPy itself
 * (python3 with numpy, the machines' independent reference) and against a value-by-value little-endian writer.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, Rng } from '@weightshare/framework';

/** Values that a copy of bytes and a value-by-value write could treat differently. */
function awkward(n: number): Float64Array {
  const rng = new Rng(5);
  const special = [0, -0, 1, -1, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, Number.MAX_VALUE, 1e-40, 3.4028235677973366e38, 0.1, 1 / 3, 16777217, 2 ** -149, 2 ** -150];
  return Float64Array.from({ length: n }, (_, i) => (i < special.length ? special[i]! : rng.normal() * 10 ** Math.round(rng.normal() * 20)));
}

/** The value-by-value writer (what the encoder did before copying bytes): the reference for the data part. */
function slowBody(data: Float64Array, size: 4 | 8): Buffer {
  const body = Buffer.alloc(data.length * size);
  data.forEach((v, i) => (size === 8 ? body.writeDoubleLE(v, i * 8) : body.writeFloatLE(v, i * 4)));
  return body;
}

describe('.npy files', () => {
  it('float64 and float32 bytes equal a value-by-value little-endian write and what NumPy writes for the same values; NumPy reads them back bit for bit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ws-npy-'));
    const data = awkward(7 * 13);
    writeFileSync(join(dir, 'values.bin'), Buffer.from(data.buffer)); // the values as NumPy will read them (raw float64)
    for (const [dtype, size] of [['float64', 8], ['float32', 4]] as const) {
      const bytes = encodeNpy({ rows: 7, cols: 13, data }, dtype);
      const offset = bytes.length - data.length * size;
      expect(offset % 64).toBe(0);
      expect(bytes.subarray(offset).equals(slowBody(data, size)), dtype).toBe(true);
      writeFileSync(join(dir, `${dtype}.npy`), bytes);
      // longer data than the shape: only rows × cols values are written
      const longer = new Float64Array(7 * 13 + 5);
      longer.set(data);
      expect(encodeNpy({ rows: 7, cols: 13, data: longer }, dtype).equals(bytes)).toBe(true);
    }
    const py = spawnSync(
      'python3',
      [
        '-c',
        `import numpy as np, sys, warnings
warnings.simplefilter('ignore')  # float64 values beyond float32's range overflow to infinity in the cast, as intended
d = sys.argv[1]
v = np.fromfile(d + '/values.bin', dtype='<f8').reshape(7, 13)
for dt, name in (('<f8', 'float64'), ('<f4', 'float32')):
    a = np.load(d + '/' + name + '.npy')
    assert a.dtype == np.dtype(dt) and a.shape == (7, 13), (a.dtype, a.shape)
    assert a.tobytes() == v.astype(dt).tobytes(), name
    np.save(d + '/numpy-' + name + '.npy', v.astype(dt))
print('ok')`,
        dir,
      ],
      { encoding: 'utf8' },
    );
    expect(py.stderr).toBe('');
    expect(py.stdout.trim()).toBe('ok');
    // NumPy's own files decode to the same values (float32 ones to the float32 roundings), bit for bit
    const f64 = decodeNpy(readFileSync(join(dir, 'numpy-float64.npy')));
    expect([f64.rows, f64.cols]).toEqual([7, 13]);
    expect(Buffer.from(f64.data.buffer).equals(Buffer.from(data.buffer))).toBe(true);
    const f32 = decodeNpy(readFileSync(join(dir, 'numpy-float32.npy')));
    expect(Buffer.from(f32.data.buffer).equals(Buffer.from(Float64Array.from(Float32Array.from(data)).buffer))).toBe(true);
  });

  it('refuses a matrix with fewer values than its shape, and takes plain arrays of numbers', () => {
    expect(() => encodeNpy({ rows: 2, cols: 2, data: Float64Array.of(1, 2, 3) })).toThrow(/a 2×2 matrix needs 4 values, its data has 3/);
    const typed = encodeNpy({ rows: 2, cols: 2, data: Float64Array.of(1.5, -0, 3, 4) }, 'float32');
    expect(encodeNpy({ rows: 2, cols: 2, data: [1.5, -0, 3, 4] as unknown as Float64Array }, 'float32').equals(typed)).toBe(true);
  });

  it('decodes a file whose bytes sit at any offset of a larger buffer (as reads from a pool hand them out)', () => {
    const data = awkward(40);
    const bytes = encodeNpy({ rows: 5, cols: 8, data });
    for (const shift of [0, 1, 3, 8, 13]) {
      const pool = Buffer.alloc(bytes.length + 32);
      bytes.copy(pool, shift);
      const got = decodeNpy(pool.subarray(shift, shift + bytes.length));
      expect(Buffer.from(got.data.buffer).equals(Buffer.from(data.buffer)), `shift ${shift}`).toBe(true);
    }
  });
});
