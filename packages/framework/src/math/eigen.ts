/**
 * Eigen-decomposition of a small symmetric matrix by the cyclic Jacobi method: plane rotations that zero one
 * off-diagonal entry at a time, sweeping until the off-diagonal part is negligible. Backward stable and accurate
 * to a few units in the last place for every eigenvalue; O(n³) per sweep with a handful of sweeps, so it is meant
 * for the small matrices the framework decomposes (a Gram matrix of min(T, p) rows), not for big ones.
 */

/** Eigenvalues (ascending) and the orthonormal eigenvectors as the columns of `vectors` (n×n, row-major). */
export interface SymmetricEigen {
  values: Float64Array;
  vectors: Float64Array;
}

/**
 * The eigenvalues and eigenvectors of the symmetric n×n matrix `a` (row-major; only its upper triangle is read).
 * @throws RangeError when the sweeps do not converge (not seen for finite input) or an entry is not finite.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      const v = a[i * n + j]!;
      if (!Number.isFinite(v)) throw new RangeError(`symmetricEigen: entry (${i}, ${j}) is ${v}`);
      A[i * n + j] = A[j * n + i] = v;
    }
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += A[i]! * A[i]!;
  const tiny = Number.EPSILON * Number.EPSILON * scale;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += A[i * n + j]! * A[i * n + j]!;
    if (off <= tiny || off === 0) return sorted(A, V, n);
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (apq === 0) continue;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        // the rotation angle that zeroes A[p][q]: t = tan θ, the smaller root of t² + 2θt − 1 = 0
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        A[p * n + q] = A[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!;
          const vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  throw new RangeError('symmetricEigen: the Jacobi sweeps did not converge');
}

function sorted(A: Float64Array, V: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => A[x * n + x]! - A[y * n + y]! || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = A[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = V[k * n + src]!;
  });
  return { values, vectors };
}
