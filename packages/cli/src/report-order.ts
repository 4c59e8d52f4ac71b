/**
 * Spectral ordering of tasks for the relation heatmap: tasks sorted by the Fiedler vector of the graph Laplacian
 * L = D − S of S = (|A| + |A|ᵀ)/2 (off-diagonal), so that tightly related tasks sit next to each other and clusters
 * show as blocks on the diagonal.
 */

/** The order (indices into 0..T-1) and how it was found. */
export interface TaskOrder {
  order: number[];
  how: string;
}

/**
 * Sorts tasks by the Fiedler vector, found by power iteration on cI − L (c ≥ the largest eigenvalue, by
 * Gershgorin) with the constant vector projected out, from a fixed start (deterministic). A graph without edges
 * keeps the tasks' own order.
 */
export function spectralOrder(A: { rows: number; data: Float64Array }): TaskOrder {
  const T = A.rows;
  const identity = Array.from({ length: T }, (_, i) => i);
  const S = new Float64Array(T * T);
  const deg = new Float64Array(T);
  let edges = 0;
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      if (i === j) continue;
      const v = (Math.abs(A.data[i * T + j]!) + Math.abs(A.data[j * T + i]!)) / 2;
      S[i * T + j] = v;
      deg[i] += v;
      if (v !== 0) edges++;
    }
  if (edges === 0 || T < 3) return { order: identity, how: 'the relation has no edges between tasks, so the tasks keep their own order' };
  const c = 2 * Math.max(...deg) + 1e-12;
  // cost T² per iteration: bounded so that large T stays within about 2·10⁸ operations
  const iterations = Math.max(30, Math.min(500, Math.floor(2e8 / (T * T))));
  let x = new Float64Array(T).map((_, i) => Math.cos(1 + 2.3 * i) + i / T);
  const project = (v: Float64Array): void => {
    let mean = 0;
    for (const e of v) mean += e;
    mean /= T;
    let norm = 0;
    for (let i = 0; i < T; i++) {
      v[i] = v[i]! - mean;
      norm += v[i]! * v[i]!;
    }
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < T; i++) v[i] = v[i]! / norm;
  };
  project(x);
  for (let k = 0; k < iterations; k++) {
    const y = new Float64Array(T);
    for (let i = 0; i < T; i++) {
      let s = (c - deg[i]!) * x[i]!;
      for (let j = 0; j < T; j++) s += S[i * T + j]! * x[j]!;
      y[i] = s;
    }
    project(y);
    x = y;
  }
  const order = identity.sort((a, b) => x[a]! - x[b]! || a - b);
  return { order, how: `tasks sorted by the Fiedler vector of the relation's graph Laplacian (spectral ordering, ${iterations} power iterations)` };
}
