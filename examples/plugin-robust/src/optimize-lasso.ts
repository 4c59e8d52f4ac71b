import { nonFiniteLoss, type OptimizeInput, type OptimizeOutput, type StageMethod, type TaskData } from '@weightshare/framework';

/**
 * Sparse task weights: each task minimizes L(w) + λc‖w − e‖² + ρ‖Pw‖² + μ‖Pw‖₁ (P leaves the bias out) by FISTA,
 * the accelerated proximal gradient method (Beck & Teboulle 2009): a gradient step on the smooth part, then
 * soft-thresholding, which sets small weights exactly to zero.
 */
export const optimizeLasso: StageMethod<OptimizeInput, OptimizeOutput> = {
  description: 'Proximal gradient (FISTA) with an L1 penalty: sparse task weights.',
  losses: ['squared', 'logistic'],
  options: {
    lambda: { type: 'number', minimum: 0, default: 1, description: 'λ: pull towards the fused target.' },
    ridge: { type: 'number', minimum: 0, default: 0, description: 'ρ: ridge penalty (not on the bias).' },
    l1: { type: 'number', minimum: 0, default: 0.1, description: 'μ: L1 penalty μ‖w‖₁ (not on the bias).' },
    epochs: { type: 'integer', minimum: 1, default: 5000, description: 'Iterations per task per round at most.' },
    tol: { type: 'number', minimum: 0, default: 1e-10, description: 'Stop when no weight moves more than tol·(1 + max|w|).' },
  },
  async run(input, options, ctx) {
    const { lambda, ridge, l1, epochs, tol } = options as { lambda: number; ridge: number; l1: number; epochs: number; tol: number };
    const d = input.targets.cols;
    const results = await ctx.executor.map(input.tasks, {
      name: 'optimize/lasso',
      run: (task) => {
        const e = input.targets.data.subarray(task.index * d, task.index * d + d);
        const pull = lambda * input.penaltyWeights[task.index]!;
        const start = input.start.data.slice(task.index * d, task.index * d + d); // warm start: the current weights
        const key = `robust/stats/${task.id}/${task.X.rows}`;
        let stats = ctx.cache.get(key) as Stats | undefined;
        if (!stats) ctx.cache.set(key, (stats = taskStats(task)));
        return fista(task, input.loss.name, start, e, pull, ridge, l1, epochs, tol, ctx.round, stats);
      },
    });
    const W = new Float64Array(input.tasks.length * d);
    results.forEach((r, k) => W.set(r.w, input.tasks[k]!.index * d));
    return { weights: { rows: input.targets.rows, cols: d, data: W }, perTask: results.map((r) => r.report) };
  },
};

/** What a task's squared loss needs, computed once per run: XᵀX, Xᵀy, and ‖X‖₂² for the step size. */
interface Stats {
  G: Float64Array;
  b: Float64Array;
  norm: number;
}

function taskStats(task: TaskData): Stats {
  const { rows: n, cols: d, data: X } = task.X;
  const G = new Float64Array(d * d);
  const b = new Float64Array(d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      b[j]! += X[i * d + j]! * task.y[i]!;
      for (let k = 0; k < d; k++) G[j * d + k]! += X[i * d + j]! * X[i * d + k]!;
    }
  // ‖X‖₂² = largest eigenvalue of XᵀX, by power iteration (padded by 1%: it approaches from below)
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  let norm = 0;
  for (let it = 0; it < 100; it++) {
    const next = new Float64Array(d);
    for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) next[j]! += G[j * d + k]! * v[k]!;
    const size = Math.hypot(...next);
    if (size === 0) break;
    v = next.map((x) => x / size);
    const done = Math.abs(size - norm) <= 1e-6 * size;
    norm = size;
    if (done) break;
  }
  return { G, b, norm: 1.01 * norm };
}

function fista(
  task: TaskData,
  loss: string,
  start: Float64Array,
  e: Float64Array,
  pull: number,
  ridge: number,
  l1: number,
  epochs: number,
  tol: number,
  round: number,
  { G, b, norm }: Stats,
) {
  const { rows: n, cols: d, data: X } = task.X;
  const smoothGradient = (w: Float64Array, g: Float64Array): number => {
    g.fill(0);
    let f = 0;
    if (loss === 'squared') {
      // ‖y − Xw‖² up to the constant yᵀy, and its gradient 2(XᵀXw − Xᵀy): O(d²) instead of O(nd)
      for (let j = 0; j < d; j++) {
        let gw = 0;
        for (let k = 0; k < d; k++) gw += G[j * d + k]! * w[k]!;
        f += w[j]! * gw - 2 * b[j]! * w[j]!;
        g[j] = 2 * (gw - b[j]!);
      }
    } else {
      for (let i = 0; i < n; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += X[i * d + j]! * w[j]!;
        const y = task.y[i]!;
        const m = y === 1 ? -z : z;
        f += m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
        const r = 1 / (1 + Math.exp(-z)) - y;
        for (let j = 0; j < d; j++) g[j]! += r * X[i * d + j]!;
      }
    }
    for (let j = 0; j < d; j++) {
      f += pull * (w[j]! - e[j]!) ** 2;
      g[j]! += 2 * pull * (w[j]! - e[j]!);
      if (j !== task.biasColumn) {
        f += ridge * w[j]! ** 2;
        g[j]! += 2 * ridge * w[j]!;
      }
    }
    return f;
  };
  // Lipschitz constant of the smooth part's gradient
  const L = (loss === 'squared' ? 2 : 0.25) * norm + 2 * pull + 2 * ridge || 1;
  let w = start;
  let y = new Float64Array(start);
  const g = new Float64Array(d);
  let t = 1;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const f = smoothGradient(y, g);
    if (!Number.isFinite(f)) throw nonFiniteLoss(task.id, round, epoch, 'Lower stages.optimize.lambda or check the data.');
    const next = new Float64Array(d);
    let move = 0;
    let size = 0;
    for (let j = 0; j < d; j++) {
      const v = y[j]! - g[j]! / L;
      next[j] = j === task.biasColumn ? v : Math.sign(v) * Math.max(0, Math.abs(v) - l1 / L); // soft threshold
      move = Math.max(move, Math.abs(next[j]! - w[j]!));
      size = Math.max(size, Math.abs(next[j]!));
    }
    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    y = next.map((v, j) => v + ((t - 1) / tNext) * (v - w[j]!));
    w = next;
    t = tNext;
    if (move <= tol * (1 + size)) return { w, report: { epochs: epoch, converged: true } };
  }
  return { w, report: { epochs, converged: false } };
}
