/**
 * Float64 reference implementations of the standard stage methods, written for clarity rather than speed and
 * independently of any plugin: Gaussian elimination on plain arrays, Newton's method for logistic loss. They are
 * the oracles of the conformance kit, and `referencePlugin` (backend `reference`) lets the kit run one plugin's
 * stage inside a full pipeline whose other stages are these.
 */
import { relationInvalid } from '../errors.js';
import { BUILTIN_LOSSES } from '../components/losses.js';
import type { DenseMatrix } from '../math/dense.js';
import {
  PLUGIN_API_VERSION,
  type FuseInput,
  type FuseOutput,
  type LossInfo,
  type LossName,
  type ModelInfo,
  type OptimizeInput,
  type OptimizeOutput,
  type Plugin,
  type PropagateInput,
  type PropagateOutput,
  type TaskData,
  type JsonSchema,
  type StageMethod,
} from '../plugin/types.js';

type Rows = number[][];

const toRows = (m: DenseMatrix): Rows => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
const fromRows = (r: Rows): DenseMatrix => ({ rows: r.length, cols: r[0]?.length ?? 0, data: Float64Array.from(r.flat()) });

/** Solves A X = B by Gaussian elimination with partial pivoting. Throws on an exactly singular A. */
export function solveDense(A: Rows, B: Rows): Rows {
  const n = A.length;
  const a = A.map((r) => [...r]);
  const b = B.map((r) => [...r]);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i]![k]!) > Math.abs(a[p]![k]!)) p = i;
    if (a[p]![k] === 0) throw new Error('reference solve: singular matrix');
    [a[k], a[p]] = [a[p]!, a[k]!];
    [b[k], b[p]] = [b[p]!, b[k]!];
    for (let i = k + 1; i < n; i++) {
      const f = a[i]![k]! / a[k]![k]!;
      for (let j = k; j < n; j++) a[i]![j]! -= f * a[k]![j]!;
      for (let j = 0; j < b[0]!.length; j++) b[i]![j]! -= f * b[k]![j]!;
    }
  }
  const x = b.map((r) => r.map(() => 0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = 0; j < b[0]!.length; j++) {
      let s = b[i]![j]!;
      for (let k = i + 1; k < n; k++) s -= a[i]![k]! * x[k]![j]!;
      x[i]![j] = s / a[i]![i]!;
    }
  return x;
}

function offDiagonal(A: Rows, method: string): { W: Rows; deg: number[] } {
  const T = A.length;
  const W = A.map((r, i) => r.map((v, j) => (i === j ? 0 : v)));
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++)
      if (W[i]![j]! < 0 || W[i]![j] !== W[j]![i]) throw relationInvalid(`reference ${method}: the relation must be symmetric and non-negative`);
  return { W, deg: W.map((r) => r.reduce((s, v) => s + v, 0)) };
}

/** Reference propagate methods. */
export const referencePropagate = {
  identity: (A: Rows, B: Rows): Rows => B.map((r) => [...r]),
  solve: (A: Rows, B: Rows): Rows => solveDense(A, B),
  inverse: (A: Rows, B: Rows): Rows => solveDense(A, B),
  laplacian: (A: Rows, B: Rows, alpha: number): Rows => {
    const { W, deg } = offDiagonal(A, 'laplacian');
    return solveDense(W.map((r, i) => r.map((v, j) => (i === j ? 1 + alpha * deg[i]! : -alpha * v))), B);
  },
  ppr: (A: Rows, B: Rows, alpha: number): Rows => {
    const { W, deg } = offDiagonal(A, 'ppr');
    const s = deg.map((d) => 1 / Math.sqrt(d + 1));
    const M = W.map((r, i) => r.map((v, j) => (i === j ? 1 - (1 - alpha) * s[i]! * s[i]! : -(1 - alpha) * s[i]! * v * s[j]!)));
    return solveDense(M, B).map((r) => r.map((v) => alpha * v));
  },
};

const reducers: Record<string, (v: number[]) => number> = {
  mean: (v) => v.reduce((s, x) => s + x, 0) / v.length,
  median: (v) => {
    const s = [...v].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  },
  max: (v) => Math.max(...v),
  min: (v) => Math.min(...v),
};

/** Reference fuse: every standard method and scope. Returns targets and penalty weights. */
export function referenceFuse(method: string, C: Rows, A: Rows, sizes: readonly number[], options: Record<string, unknown>): { E: Rows; c: number[] } {
  const T = C.length;
  const d = C[0]!.length;
  const scope = (options.scope as string | undefined) ?? 'global';
  if (method === 'identity') return { E: C.map((r) => [...r]), c: new Array<number>(T).fill(1) };
  const nb = (t: number): number[] => A[t]!.map((v, s) => (s !== t && v > 0 ? s : -1)).filter((s) => s >= 0);
  if (method === 'weighted-mean') {
    const kind = (options.weights as string | undefined) ?? 'sizes';
    let v: number[] =
      kind === 'sizes' ? [...sizes] : kind === 'degree' ? A.map((r, t) => r.reduce((s, x, j) => s + (j === t ? 0 : x), 0)) : kind === 'given' ? [...(options.values as number[])] : new Array<number>(T).fill(1);
    if (kind !== 'edges') {
      const mean = v.reduce((s, x) => s + x, 0) / T;
      v = v.map((x) => x / mean);
    }
    if (scope === 'global') {
      const S = v.reduce((s, x) => s + x, 0);
      const e = Array.from({ length: d }, (_, j) => C.reduce((s, r, t) => s + v[t]! * r[j]!, 0) / S);
      return { E: C.map(() => [...e]), c: v };
    }
    const E: Rows = [];
    const c: number[] = [];
    for (let t = 0; t < T; t++) {
      const u = nb(t).map((s) => [s, A[t]![s]! * v[s]!] as const);
      const S = u.reduce((s, [, x]) => s + x, 0);
      E.push(S > 0 ? Array.from({ length: d }, (_, j) => u.reduce((s, [k, x]) => s + x * C[k]![j]!, 0) / S) : [...C[t]!]);
      c.push(S);
    }
    return { E, c };
  }
  const f = reducers[method]!;
  if (scope === 'global') {
    const e = Array.from({ length: d }, (_, j) => f(C.map((r) => r[j]!)));
    return { E: C.map(() => [...e]), c: new Array<number>(T).fill(1) };
  }
  const E: Rows = [];
  const c: number[] = [];
  for (let t = 0; t < T; t++) {
    const n = nb(t);
    E.push(n.length ? Array.from({ length: d }, (_, j) => f(n.map((s) => C[s]![j]!))) : [...C[t]!]);
    c.push(n.length ? 1 : 0);
  }
  return { E, c };
}

/**
 * The exact minimizer of one task's objective L(y, XΘ) + Σ_j pull_j (θ_j − e_j)² + ρ Σ_j m_j θ_j² for a linear model
 * with k outputs (θ = Θ row-major d×k), by damped Newton's method on the full (dk)×(dk) Hessian to machine
 * precision: one step for squared loss. Works from the loss's value, gradient and curvature only, in plain arrays,
 * independent of any plugin's fast paths. A loss name stands for that built-in loss.
 */
export function referenceOptimizeTask(
  task: TaskData,
  lossGiven: LossName | Pick<LossInfo, 'component' | 'options'>,
  e: readonly number[],
  pull: number | readonly number[],
  ridge: number,
  outputs = 1,
): number[] {
  const loss = typeof lossGiven === 'string' ? { component: BUILTIN_LOSSES[lossGiven]!, options: {} } : lossGiven;
  const X = toRows(task.X);
  const n = X.length;
  const d = task.X.cols;
  const k = outputs;
  const p = d * k;
  const pulls = typeof pull === 'number' ? new Array<number>(p).fill(pull) : pull;
  const penal = (j: number): boolean => Math.floor(j / k) !== task.biasColumn;
  const outputsOf = (w: number[]): Float64Array => {
    const Z = new Float64Array(n * k);
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) Z[i * k + c] = X[i]!.reduce((a, x, j) => a + x * w[j * k + c]!, 0);
    return Z;
  };
  const objective = (w: number[]): number => {
    let f = loss.component.value(task.y, outputsOf(w), k, null, loss.options);
    for (let j = 0; j < p; j++) f += pulls[j]! * (w[j]! - e[j]!) ** 2 + (penal(j) ? ridge * w[j]! ** 2 : 0);
    return f;
  };
  const gradient = (w: number[]): number[] => {
    const dZ = new Float64Array(n * k);
    loss.component.value(task.y, outputsOf(w), k, dZ, loss.options);
    return Array.from({ length: p }, (_, j) => {
      const f = Math.floor(j / k);
      const c = j % k;
      let s = 0;
      for (let i = 0; i < n; i++) s += X[i]![f]! * dZ[i * k + c]!;
      return s + 2 * pulls[j]! * (w[j]! - e[j]!) + (penal(j) ? 2 * ridge * w[j]! : 0);
    });
  };
  const hessian = (w: number[]): Rows => {
    const H = new Float64Array(n * k * k);
    loss.component.curvature!(task.y, outputsOf(w), k, H, loss.options);
    return Array.from({ length: p }, (_, a) =>
      Array.from({ length: p }, (_, b) => {
        const fa = Math.floor(a / k), ca = a % k, fb = Math.floor(b / k), cb = b % k;
        let s = 0;
        for (let i = 0; i < n; i++) s += X[i]![fa]! * X[i]![fb]! * H[i * k * k + ca * k + cb]!;
        // the softmax Hessian is singular along the all-ones direction of the unpenalized bias row: a tiny damping
        return s + (a === b ? 2 * pulls[a]! + (penal(a) ? 2 * ridge : 0) + (k > 1 ? 1e-12 : 0) : 0);
      }),
    );
  };
  let w = new Array<number>(p).fill(0);
  let f = objective(w);
  for (let it = 0; it < 200; it++) {
    const g = gradient(w);
    const step = solveDense(hessian(w), g.map((v) => [v]));
    let t = 1;
    let next = w.map((v, j) => v - step[j]![0]!);
    let fn = objective(next);
    while (!(fn <= f + 1e-12 * Math.abs(f)) && t > 1e-10) {
      t /= 2;
      next = w.map((v, j) => v - t * step[j]![0]!);
      fn = objective(next);
    }
    const moved = Math.max(...step.map((s) => Math.abs(t * s[0]!)));
    w = next;
    f = fn;
    if (moved < 1e-15 * Math.max(1, ...w.map(Math.abs))) break;
  }
  return w;
}

/** Reference optimize on every task. */
export function referenceOptimize(input: Omit<OptimizeInput, 'model' | 'lambdas'> & { model?: ModelInfo; lambdas?: Float64Array }, lambda: number, ridge: number): Rows {
  const p = input.targets.cols;
  const k = input.model?.layout.outputs ?? 1;
  return input.tasks.map((t) => {
    const c = input.penaltyWeights[t.index]!;
    const pulls = input.lambdas ? Array.from(input.lambdas, (l) => l * c) : lambda * c;
    return referenceOptimizeTask(t, input.loss, Array.from(input.targets.data.subarray(t.index * p, (t.index + 1) * p)), pulls, ridge, k);
  });
}

const propagateMethod = (name: keyof typeof referencePropagate, options: Record<string, JsonSchema> = {}): StageMethod<PropagateInput, PropagateOutput> => ({
  description: `reference ${name}`,
  options,
  run(input: PropagateInput, o: Record<string, unknown>): PropagateOutput {
    return { propagated: fromRows(referencePropagate[name](toRows(input.relation), toRows(input.weights), o.alpha as number)) };
  },
});

const scope: Record<string, JsonSchema> = { scope: { enum: ['global', 'per-task'], default: 'global' } };
const fuseMethod = (name: string, options: Record<string, JsonSchema> = scope): StageMethod<FuseInput, FuseOutput> => ({
  description: `reference ${name}`,
  options,
  run(input: FuseInput, o: Record<string, unknown>): FuseOutput {
    const { E, c } = referenceFuse(name, toRows(input.propagated), toRows(input.relation), input.taskSizes, o);
    return { targets: fromRows(E), penaltyWeights: Float64Array.from(c) };
  },
});

/** The reference implementations as a plugin (backend `reference`, float64). Slow; for tests only. */
export const referencePlugin: Plugin = {
  meta: { name: '@weightshare/framework/testing#reference', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
  backend: 'reference',
  capabilities: { precision: 'float64', features: ['deterministic'] },
  stages: {
    propagate: {
      identity: propagateMethod('identity'),
      solve: propagateMethod('solve'),
      inverse: propagateMethod('inverse'),
      laplacian: propagateMethod('laplacian', { alpha: { type: 'number', minimum: 0, default: 1 } }),
      ppr: propagateMethod('ppr', { alpha: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.15 } }),
    },
    fuse: {
      identity: fuseMethod('identity', {}),
      mean: fuseMethod('mean'),
      median: fuseMethod('median'),
      max: fuseMethod('max'),
      min: fuseMethod('min'),
      'weighted-mean': fuseMethod('weighted-mean', {
        ...scope,
        weights: { enum: ['sizes', 'degree', 'given', 'edges'], default: 'sizes' },
        values: { type: 'array', items: { type: 'number', minimum: 0 } },
      }),
    },
    optimize: {
      exact: {
        description: 'reference exact minimizer (normal equations; Newton for the other losses)',
        losses: ['squared', 'logistic', 'huber', 'poisson', 'softmax'],
        options: { lambda: { type: 'number', minimum: 0, default: 1 }, ridge: { type: 'number', minimum: 0, default: 0 } },
        run(input: OptimizeInput, o: Record<string, unknown>): OptimizeOutput {
          const W = referenceOptimize(input, o.lambda as number, o.ridge as number);
          return { weights: fromRows(W), perTask: W.map(() => ({ epochs: 1, converged: true })) };
        },
      },
    },
  },
};
