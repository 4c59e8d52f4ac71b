/** Pieces shared by the JavaScript and WebAssembly XᵀX: the rows past the last block of four, and the mirror. */

/** Adds rows `from` ≤ i < `to` of the n×d row-major X to the upper triangle of G as rank-1 updates. */
export function addRows(G: Float64Array, X: Float64Array, from: number, to: number, d: number): void {
  for (let i = from; i < to; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const xj = X[o + j]!;
      if (xj === 0) continue;
      const rj = j * d;
      for (let k = j; k < d; k++) G[rj + k]! += xj * X[o + k]!;
    }
  }
}

/** Copies G's upper triangle to its lower one. */
export function mirrorUpper(G: Float64Array, d: number): void {
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) G[j * d + k] = G[k * d + j]!;
}
