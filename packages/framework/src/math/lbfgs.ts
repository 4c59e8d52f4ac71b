/**
 * The L-BFGS search direction d = −H·∇f by the two-loop recursion (Nocedal & Wright 2006, algorithm 7.4), shared by
 * the optimizers of every backend: pairs s_k = θ_{k+1} − θ_k, y_k = ∇f_{k+1} − ∇f_k (oldest first) with
 * ρ_k = 1/(s_kᵀy_k), and the initial matrix H₀ = (sᵀy / yᵀy)·I from the newest pair — or, without pairs, a move of
 * unit length along −∇f (the scale of θ is not known yet): H₀ = I / max(‖∇f‖, 1).
 */
export function lbfgsDirection(g: ArrayLike<number>, S: readonly Float64Array[], Y: readonly Float64Array[], rho: readonly number[], alpha: Float64Array, d: Float64Array): void {
  const P = d.length;
  for (let j = 0; j < P; j++) d[j] = -g[j]!;
  for (let k = S.length - 1; k >= 0; k--) {
    let a = 0;
    for (let j = 0; j < P; j++) a += S[k]![j]! * d[j]!;
    a *= rho[k]!;
    alpha[k] = a;
    for (let j = 0; j < P; j++) d[j]! -= a * Y[k]![j]!;
  }
  if (S.length) {
    const last = S.length - 1;
    let sy = 0;
    let yy = 0;
    for (let j = 0; j < P; j++) {
      sy += S[last]![j]! * Y[last]![j]!;
      yy += Y[last]![j]! * Y[last]![j]!;
    }
    const gamma = sy / yy;
    for (let j = 0; j < P; j++) d[j]! *= gamma;
  } else {
    let gg = 0;
    for (let j = 0; j < P; j++) gg += g[j]! * g[j]!;
    const scale = Math.max(Math.sqrt(gg), 1);
    for (let j = 0; j < P; j++) d[j]! /= scale;
  }
  for (let k = 0; k < S.length; k++) {
    let b = 0;
    for (let j = 0; j < P; j++) b += Y[k]![j]! * d[j]!;
    b *= rho[k]!;
    for (let j = 0; j < P; j++) d[j]! += (alpha[k]! - b) * S[k]![j]!;
  }
}
