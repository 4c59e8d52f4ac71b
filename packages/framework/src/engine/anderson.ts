/**
 * Anderson acceleration (type II, Walker & Ni 2011) of the round map G: W → optimize(fuse(propagate(W))), with a
 * safeguard. The rounds are a fixed-point iteration x ← G(x) that converges linearly (slowly for large λ); Anderson
 * extrapolates from the last m residuals f_i = G(x_i) − x_i:
 *
 *   γ = argmin ‖f_k − ΔF γ‖₂,   x_{k+1} = G(x_k) − ΔG γ,
 *
 * ΔF, ΔG the differences of consecutive residuals and outputs. For an affine G (squared loss, exact optimizer) this
 * is a restarted GMRES on the fixed-point equation; fixed points are unchanged. Safeguard: a step whose residual is
 * larger than the last accepted one is rejected, the history cleared, and the plain step G(x_k) of the last accepted
 * point taken instead. Everything here is deterministic float64 arithmetic on stage outputs, so a resumed run (whose
 * stages come from checkpoints) makes exactly the same decisions.
 */

/** One point of the iteration: its input and output. */
interface Point {
  x: Float64Array;
  g: Float64Array;
  f: Float64Array;
  fnorm: number;
  /**
   * The differences to the next point of the history (Δf, Δg, ‖Δf‖), kept once computed: consecutive points stay
   * consecutive as the history shifts, so each pair's difference is computed once, not once per step (the same
   * numbers either way). Cleared when another point becomes the next one.
   */
  next?: { dF: Float64Array; dG: Float64Array; norm: number };
}

/** The step after one evaluation of G. */
export interface AndersonStep {
  /** The next input: an extrapolation, or (plain step) the output just computed, or the last accepted output. */
  next: Float64Array;
  /** Whether `next` is an extrapolation. */
  extrapolated: boolean;
  /** Whether the point just evaluated was an extrapolation that the safeguard rejected. */
  rejected: boolean;
}

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

export class Anderson {
  private history: Point[] = [];
  private lastExtrapolated = false;

  /** @param memory m: residual differences kept (≥ 1). */
  constructor(private readonly memory: number) {}

  /** The whole state, for a checkpoint: the points kept (input and output of G) and whether the last proposal extrapolated. */
  snapshot(): { points: { x: Float64Array; g: Float64Array }[]; lastExtrapolated: boolean } {
    return { points: this.history.map((p) => ({ x: p.x, g: p.g })), lastExtrapolated: this.lastExtrapolated };
  }

  /** An Anderson mixer in the state {@link snapshot} gave (the residuals are recomputed with the same operations). */
  static restore(memory: number, state: ReturnType<Anderson['snapshot']>): Anderson {
    const a = new Anderson(memory);
    a.history = state.points.map(({ x, g }) => {
      const f = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) f[i] = g[i]! - x[i]!;
      return { x, g, f, fnorm: norm(f) };
    });
    a.lastExtrapolated = state.lastExtrapolated;
    return a;
  }

  /**
   * Records G(x) = g for the input x the previous step proposed, and proposes the next input.
   * `x` must be the `next` of the previous call (or the starting point on the first).
   */
  step(x: Float64Array, g: Float64Array): AndersonStep {
    const f = new Float64Array(g.length);
    for (let i = 0; i < g.length; i++) f[i] = g[i]! - x[i]!;
    const point: Point = { x, g, f, fnorm: norm(f) };
    const last = this.history[this.history.length - 1];
    if (this.lastExtrapolated && last && !(point.fnorm <= last.fnorm)) {
      // the extrapolation made things worse: restart from the last accepted point with a plain step
      this.history = [last];
      this.lastExtrapolated = false;
      return { next: last.g, extrapolated: false, rejected: true };
    }
    if (last) last.next = undefined; // its successor is now `point`
    this.history.push(point);
    if (this.history.length > this.memory + 1) this.history.shift();
    if (this.history.length < 2) {
      this.lastExtrapolated = false;
      return { next: g, extrapolated: false, rejected: false };
    }
    const next = this.extrapolate();
    this.lastExtrapolated = next !== undefined;
    return { next: next ?? g, extrapolated: next !== undefined, rejected: false };
  }

  /** Scratch columns of the differences and of Q, reused from round to round (the arithmetic is the same). */
  private scratch: Float64Array[] = [];

  private column(i: number, n: number): Float64Array {
    let c = this.scratch[i];
    if (!c || c.length !== n) this.scratch[i] = c = new Float64Array(n);
    return c;
  }

  /** x_{k+1} = g_k − ΔG γ with γ from a least-squares solve by modified Gram–Schmidt; undefined if degenerate. */
  private extrapolate(): Float64Array | undefined {
    const h = this.history;
    const k = h.length - 1;
    const n = h[k]!.f.length;
    const m = k;
    // columns Δf_i = f_{i+1} − f_i and Δg_i, i = 0 … m−1 (each pair's kept on its first point)
    const dF: Float64Array[] = [];
    const dG: Float64Array[] = [];
    const norms: number[] = [];
    for (let i = 0; i < m; i++) {
      const p0 = h[i]!;
      if (!p0.next) {
        const a = new Float64Array(n);
        const b = new Float64Array(n);
        const f0 = p0.f;
        const f1 = h[i + 1]!.f;
        const g0 = p0.g;
        const g1 = h[i + 1]!.g;
        for (let j = 0; j < n; j++) {
          a[j] = f1[j]! - f0[j]!;
          b[j] = g1[j]! - g0[j]!;
        }
        p0.next = { dF: a, dG: b, norm: norm(a) };
      }
      dF.push(p0.next.dF);
      dG.push(p0.next.dG);
      norms.push(p0.next.norm);
    }
    // QR of ΔF by modified Gram–Schmidt, dropping columns that are (nearly) dependent on the previous ones
    const Q: Float64Array[] = [];
    const R: number[][] = [];
    const kept: number[] = [];
    let scale = -Infinity;
    for (const c of norms) scale = Math.max(scale, c);
    if (!(scale > 0)) return undefined;
    for (let i = 0; i < m; i++) {
      const v = this.column(Q.length, n);
      v.set(dF[i]!);
      const r: number[] = [];
      for (let q = 0; q < Q.length; q++) {
        const u = Q[q]!;
        let s = 0;
        for (let j = 0; j < n; j++) s += u[j]! * v[j]!;
        r.push(s);
        for (let j = 0; j < n; j++) v[j]! -= s * u[j]!;
      }
      const vn = norm(v);
      if (!(vn > 1e-10 * scale)) continue;
      for (let j = 0; j < n; j++) v[j]! /= vn;
      r.push(vn);
      Q.push(v);
      R.push(r);
      kept.push(i);
    }
    if (!Q.length) return undefined;
    // γ solves R γ = Qᵀ f_k (R upper triangular, stored by columns)
    const fk = h[k]!.f;
    const qtf = Q.map((q) => {
      let s = 0;
      for (let j = 0; j < n; j++) s += q[j]! * fk[j]!;
      return s;
    });
    const p = Q.length;
    const gamma = new Float64Array(p);
    for (let i = p - 1; i >= 0; i--) {
      let s = qtf[i]!;
      for (let c = i + 1; c < p; c++) s -= R[c]![i]! * gamma[c]!;
      gamma[i] = s / R[i]![i]!;
    }
    for (let c = 0; c < p; c++) if (!Number.isFinite(gamma[c]!)) return undefined;
    const next = new Float64Array(h[k]!.g);
    for (let c = 0; c < p; c++) {
      const col = dG[kept[c]!]!;
      const gc = gamma[c]!;
      for (let j = 0; j < n; j++) next[j]! -= gc * col[j]!;
    }
    for (let j = 0; j < n; j++) if (!Number.isFinite(next[j]!)) return undefined;
    return next;
  }
}
