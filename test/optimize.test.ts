/** optimize: logistic loss optimality, NaN detection, seeded SGD, and the objective the engine records. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Rng, WeightshareError, logistic, type TaskExecutor } from '@weightshare/framework';
import { runText, syntheticSpec } from './helpers/run.js';

/** t symmetric positive definite p×p matrices one after the other: RᵀR + shift·I, R standard normal. */
function spdSystems(rng: Rng, t: number, p: number, shift: number): Float64Array {
  const P2 = p * p;
  const A = new Float64Array(t * P2);
  for (let s = 0; s < t; s++) {
    const R = Float64Array.from({ length: P2 }, () => rng.normal());
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) for (let q = 0; q < p; q++) A[s * P2 + i * p + j]! += R[q * p + i]! * R[q * p + j]!;
    for (let i = 0; i < p; i++) A[s * P2 + i * p + i]! += shift;
  }
  return A;
}

describe('optimize', () => {
  it('logistic loss with gd reaches a point where the full gradient of every task vanishes', async () => {
    const text = syntheticSpec(
      `loss: logistic
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: 0.5, ridge: 0.1, epochs: 20000, tol: 1e-9 }
rounds: 3
`,
      'tasks: 6\n  clusters: 2\n  features: 3\n  rows: 60',
    );
    const out = await runText(text);
    const { weights: W, targets: E } = out;
    const d = W.cols;
    for (const t of out.data.train) {
      const w = W.data.subarray(t.index * d, t.index * d + d);
      const e = E.data.subarray(t.index * d, t.index * d + d);
      const g = new Array<number>(d).fill(0);
      for (let i = 0; i < t.y.length; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += t.X.data[i * d + j]! * w[j]!;
        const r = 1 / (1 + Math.exp(-z)) - t.y[i]!;
        for (let j = 0; j < d; j++) g[j]! += r * t.X.data[i * d + j]!;
      }
      for (let j = 0; j < d; j++) g[j]! += 2 * 0.5 * (w[j]! - e[j]!) + (j === t.biasColumn ? 0 : 2 * 0.1 * w[j]!);
      expect(Math.max(...g.map(Math.abs))).toBeLessThan(1e-6);
    }
    expect(out.results.models.shared).toHaveProperty('accuracy');
    const acc = (out.results.models.shared as { accuracy: number }).accuracy;
    expect(acc).toBeGreaterThan(0.6);
  });

  it('a diverging optimizer stops with NON_FINITE_LOSS naming the task, round and epoch', async () => {
    const text = syntheticSpec(`init: { method: zeros }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: 1, lr: 10, epochs: 5000 }
rounds: 2
`);
    const err = (await runText(text).catch((e: unknown) => e)) as WeightshareError;
    expect(err).toBeInstanceOf(WeightshareError);
    expect(err.code).toBe('NON_FINITE_LOSS');
    expect(err.context.task).toBe('task-1');
    expect(err.context.round).toBe(1);
    expect(err.context.epoch).toBeGreaterThan(1);
    expect(err.message).toMatch(/task "task-1".*round 1, epoch \d+/);
    // the same divergence in the initial independent fits says so
    const initErr = (await runText(text, { set: ['init.method=independent'] }).catch((e: unknown) => e)) as WeightshareError;
    expect(initErr.code).toBe('NON_FINITE_LOSS');
    expect(initErr.message).toMatch(/initial independent fits \(init\), epoch \d+/);
  });

  it('sgd is seeded: same seed, same weights; another seed, other weights', async () => {
    const text = syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: sgd, lambda: 1, epochs: 30, batchSize: 8 }
rounds: 2
`);
    const a = await runText(text);
    const b = await runText(text);
    const c = await runText(text, { set: ['seed=8'] });
    expect(Buffer.from(a.weights.data.buffer).equals(Buffer.from(b.weights.data.buffer))).toBe(true);
    expect(Buffer.from(a.weights.data.buffer).equals(Buffer.from(c.weights.data.buffer))).toBe(false);
  });

  it('the recorded objective equals an independent computation from the final weights and targets', async () => {
    const out = await runText(
      syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1.5, ridge: 0.25 }
rounds: 4
`),
    );
    const { weights: W, targets: E } = out;
    const d = W.cols;
    let J = 0;
    for (const t of out.data.train) {
      for (let i = 0; i < t.y.length; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += t.X.data[i * d + j]! * W.data[t.index * d + j]!;
        J += (t.y[i]! - z) ** 2;
      }
      for (let j = 0; j < d; j++) {
        J += 1.5 * (W.data[t.index * d + j]! - E.data[t.index * d + j]!) ** 2;
        if (j !== t.biasColumn) J += 0.25 * W.data[t.index * d + j]! ** 2;
      }
    }
    expect(out.results.rounds[3]!.objective!.total).toBeCloseTo(J, 8);
  });

  it('an executor that runs tasks concurrently, finishing in scrambled order, gives the same bytes', async () => {
    const { loadSpecText, runPipeline } = await import('@weightshare/framework');
    const { registry } = await import('./helpers/run.js');
    const text = syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: sgd, lambda: 1, epochs: 10, batchSize: 8 }
rounds: 3
`);
    const scrambled: TaskExecutor = {
      async map(inputs, work) {
        const rng = new Rng(17);
        return Promise.all(
          inputs.map(async (input, i) => {
            await new Promise((r) => setTimeout(r, rng.int(5)));
            return work.run(input, i);
          }),
        );
      },
    };
    const reg = registry();
    const a = await runPipeline(loadSpecText(text, 'a.yaml', reg), reg);
    const b = await runPipeline(loadSpecText(text, 'a.yaml', reg), reg, { executor: scrambled });
    expect(Buffer.from(b.weights.data.buffer).equals(Buffer.from(a.weights.data.buffer))).toBe(true);
    expect(JSON.stringify(b.results)).toBe(JSON.stringify(a.results));
  });

  it('logistic() is stable for large margins', () => {
    expect(logistic(800, 1)).toBe(0);
    expect(logistic(-800, 1)).toBeCloseTo(800, 10);
    expect(logistic(0, 0)).toBeCloseTo(Math.log(2), 15);
  });
});

describe('plugin-cpu kernels against plain loops', () => {
  it('gram (WebAssembly SIMD kernel, and the register-blocked JavaScript) equals the textbook triple loop for every remainder of n and d', async () => {
    const { linalg } = await import('@weightshare/plugin-cpu');
    const { gramSimd, kernels, statsSimd } = await import('../packages/framework/src/math/wasm/kernels.js');
    const k = kernels();
    expect(k, 'WebAssembly SIMD runs on Node 20: the kernel path must be the one tested').not.toBeNull();
    const rng = new Rng(11);
    for (const [n, d] of [
      [1, 1],
      [3, 2],
      [4, 4],
      [7, 5],
      [13, 11],
      [16, 8], // the smallest the kernel takes
      [40, 9],
      [101, 16],
      [203, 31],
      [2051, 40], // several chunks, 3 rows past the last block of four
      [1251, 201], // n·d² ≥ GRAM_SIMD_MIN: gram itself takes the kernel
    ] as const) {
      const X = Float64Array.from({ length: n * d }, () => (rng.next() < 0.2 ? 0 : rng.normal()));
      const y = Float64Array.from({ length: n }, () => rng.normal());
      for (const [name, b] of [
        ['gramAndXty', linalg.gramAndXty(X, y, n, d).b],
        ['statsSimd', statsSimd(k!, X, y, n, d).b],
      ] as const)
        for (let j = 0; j < d; j++) {
          let s = 0;
          for (let i = 0; i < n; i++) s += X[i * d + j]! * y[i]!;
          expect(Math.abs(b[j]! - s), `${name} n=${n} d=${d} b[${j}]`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(s)) * Math.sqrt(n));
        }
      for (const [name, G] of [
        ['gram', linalg.gram(X, n, d)],
        ['gramJs', linalg.gramJs(X, n, d)],
        ['gramSimd', gramSimd(k!, X, n, d)],
        ['gramAndXty', linalg.gramAndXty(X, y, n, d).G],
      ] as const)
        for (let j = 0; j < d; j++)
          for (let k = 0; k < d; k++) {
            let s = 0;
            for (let i = 0; i < n; i++) s += X[i * d + j]! * X[i * d + k]!;
            expect(Math.abs(G[j * d + k]! - s), `${name} n=${n} d=${d} [${j}][${k}]`).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(s)) * Math.sqrt(n));
            expect(G[j * d + k]).toBe(G[k * d + j]);
          }
    }
  });

  it('Cholesky and LU solves with many right-hand sides (four rows per pass; from order 64 the SIMD kernel\'s blocked updates) match an independent solve', async () => {
    const { linalg } = await import('@weightshare/plugin-cpu');
    const { Matrix, solve } = await import('ml-matrix');
    const rng = new Rng(13);
    expect(linalg.KERNEL_MIN_ORDER).toBe(64);
    for (const [n, m] of [
      [1, 3],
      [5, 2],
      [32, 1],
      [33, 2],
      [37, 5],
      [64, 9],
      [67, 1],
      [130, 7],
      [203, 33],
    ] as const) {
      const R = Float64Array.from({ length: n * n }, () => (rng.next() < 0.3 ? 0 : rng.normal()));
      const A = new Float64Array(n * n); // RᵀR + I: symmetric positive definite
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) A[i * n + j]! += R[k * n + i]! * R[k * n + j]!;
      for (let i = 0; i < n; i++) A[i * n + i]! += 1;
      const B = Float64Array.from({ length: n * m }, () => rng.normal());
      const rows = (x: Float64Array, c: number) => Array.from({ length: x.length / c }, (_, i) => Array.from(x.subarray(i * c, i * c + c)));
      const expected = solve(new Matrix(rows(A, n)), new Matrix(rows(B, m))).to1DArray();
      const viaCholesky = linalg.choleskySolve(linalg.cholesky(A, n)!, n, B, m);
      const N = Float64Array.from(A, (v, k) => v + (k % 7 === 3 ? 0.5 : 0)); // not symmetric any more: LU
      const expectedN = solve(new Matrix(rows(N, n)), new Matrix(rows(B, m))).to1DArray();
      const viaLu = linalg.luSolve(linalg.luFactor(N, n), B, m);
      for (let k = 0; k < n * m; k++) {
        expect(Math.abs(viaCholesky[k]! - expected[k]!), `cholesky n=${n} m=${m}`).toBeLessThan(1e-9 * (1 + Math.abs(expected[k]!)));
        expect(Math.abs(viaLu[k]! - expectedN[k]!), `lu n=${n} m=${m}`).toBeLessThan(1e-9 * (1 + Math.abs(expectedN[k]!)));
      }
    }
    // not positive definite (one negative eigenvalue), on every path: null, never a factor of something else
    for (const n of [3, 29, 32, 33, 100]) {
      const A = new Float64Array(n * n);
      for (let i = 0; i < n; i++) A[i * n + i] = i === n - 2 ? -1 : 2;
      A[1] = A[n] = 0.5;
      expect(linalg.cholesky(A, n), `n=${n}`).toBeNull();
      A[(n - 2) * n + n - 2] = NaN;
      expect(linalg.cholesky(A, n), `n=${n}, NaN`).toBeNull();
    }
  });

  it('the kernel\'s batched Cholesky factorizations (four interleaved, the rest one by one) give each system the bits of factoring it alone, and name the first that is not positive definite', async () => {
    const { simd } = await import('@weightshare/framework');
    const k = simd.kernels()!;
    const rng = new Rng(19);
    const factor = (A: Float64Array, count: number, p: number): { bad: number; L: Float64Array } => {
      const mem = simd.reserve(k, A.length);
      mem.set(A);
      const bad = k.cholFactors(simd.scratchBase(), count, p);
      return { bad, L: mem.slice(0, A.length) };
    };
    for (const p of [1, 2, 5, 29])
      for (const t of [1, 3, 4, 5, 8, 9, 139]) {
        const P2 = p * p;
        const A = spdSystems(rng, t, p, 0.5);
        const all = factor(A, t, p);
        expect(all.bad).toBe(0);
        for (let s = 0; s < t; s++) {
          const alone = factor(A.slice(s * P2, (s + 1) * P2), 1, p);
          for (let j = 0; j < P2; j++) expect(Object.is(all.L[s * P2 + j], alone.L[j]), `t=${t} p=${p} system ${s}`).toBe(true);
        }
        // systems 1 and (in a later row) 0 of a group not positive definite: the first one is named, as one by one
        if (t >= 2 && p >= 2) {
          const B = A.slice();
          B[1 * P2] = -1; // fails at row 0
          B[0 * P2 + (p - 1) * p + p - 1] = -1; // fails at the last row
          expect(factor(B, t, p).bad, `t=${t} p=${p}`).toBe(1);
          B[0 * P2 + (p - 1) * p + p - 1] = A[(p - 1) * p + p - 1]!;
          expect(factor(B, t, p).bad, `t=${t} p=${p}`).toBe(2);
        }
      }
  });

  it('the kernel\'s batched Cholesky solves (four systems interleaved, the rest one by one) give each system the bits of solving it alone', async () => {
    const { simd, choleskyMirrored, choleskySolveMirrored } = await import('@weightshare/framework');
    const k = simd.kernels()!;
    const rng = new Rng(17);
    for (const p of [1, 3, 29, 30])
      for (const t of [1, 2, 3, 4, 5, 6, 7, 8, 9, 139]) {
        const P2 = p * p;
        const L = spdSystems(rng, t, p, 1);
        for (let s = 0; s < t; s++) expect(choleskyMirrored(L, s * P2, p)).toBe(true);
        const rhs = Float64Array.from({ length: t * p }, () => rng.normal());
        const solveIn = (first: number, count: number): Float64Array => {
          const mem = simd.reserve(k, count * P2 + 2 * count * p);
          mem.set(L.subarray(first * P2, (first + count) * P2), 0);
          mem.set(rhs.subarray(first * p, (first + count) * p), count * P2);
          const at = simd.scratchBase();
          k.cholSolves(at, count, p, at + count * P2 * 8, at + (count * P2 + count * p) * 8);
          return mem.slice(count * P2 + count * p, count * P2 + 2 * count * p);
        };
        const all = solveIn(0, t);
        for (let s = 0; s < t; s++) {
          const alone = solveIn(s, 1);
          for (let j = 0; j < p; j++) expect(Object.is(all[s * p + j], alone[j]), `t=${t} p=${p} system ${s}`).toBe(true);
          const w = new Float64Array(p);
          choleskySolveMirrored(L, s * P2, p, rhs.slice(s * p, s * p + p), 0, w, 0);
          for (let j = 0; j < p; j++) expect(Math.abs(all[s * p + j]! - w[j]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(w[j]!)));
        }
      }
  });

  it('the committed kernel bytes are what kernels.wat compiles to', () => {
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the logistic gradient (four rows at a time, one exp per row; the SIMD kernel for bigger tasks) equals the direct formula, also for huge |z|', async () => {
    const { valueAndGradient } = await import('../packages/plugin-cpu/src/stages/optimize-common.js');
    // the data part alone: no pull (λ = 0), no ridge, no bias column
    const valueAndGradientForTest = async (X: Float64Array, y: Float64Array, w: Float64Array, n: number, d: number) => {
      const g = new Float64Array(d);
      const task = { id: 't', index: 0, X: { rows: n, cols: d, data: X }, y, biasColumn: -1 };
      const stats = { n, d, G: new Float64Array(0), b: new Float64Array(0), yy: 0, lmax: 0 };
      const { BUILTIN_LOSSES, linearModel, linearLayout } = await import('../packages/framework/src/components/index.js');
      const problem = {
        task,
        loss: { name: 'logistic', options: {}, component: BUILTIN_LOSSES.logistic! },
        model: { name: 'linear', options: {}, component: linearModel, layout: linearLayout(d, 1, -1) },
        stats,
        e: new Float64Array(d),
        pulls: new Float64Array(d),
        ridge: 0,
        fast: 1,
      };
      return { f: valueAndGradient(problem, w, g), g };
    };
    const rng = new Rng(12);
    // the last two are big enough (n·d ≥ 4,096) for the SIMD kernel's z = Xw and Xᵀc, with remainders of four rows and two columns
    for (const [n, d] of [
      [1, 6],
      [5, 6],
      [8, 6],
      [23, 6],
      [997, 7],
      [1001, 13],
    ] as const) {
      const X = Float64Array.from({ length: n * d }, () => rng.normal() * 30); // |z| up to hundreds: exp overflows naively
      const y = Float64Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0));
      const w = Float64Array.from({ length: d }, () => rng.normal());
      const { f, g } = await valueAndGradientForTest(X, y, w, n, d);
      let F = 0;
      const G = new Array<number>(d).fill(0);
      for (let i = 0; i < n; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += X[i * d + j]! * w[j]!;
        // log(1 + e^{-z}) for y = 1, log(1 + e^{z}) for y = 0, written stably; σ(z) − y
        const m = y[i] === 1 ? -z : z;
        F += Math.max(m, 0) + Math.log1p(Math.exp(-Math.abs(m)));
        const s = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
        for (let j = 0; j < d; j++) G[j]! += (s - y[i]!) * X[i * d + j]!;
      }
      expect(Number.isFinite(f)).toBe(true);
      expect(Math.abs(f - F)).toBeLessThanOrEqual(1e-12 * Math.abs(F));
      for (let j = 0; j < d; j++) expect(Math.abs(g[j]! - G[j]!)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(G[j]!)));
    }
  });
});

describe('plugin-cpu without WebAssembly SIMD', () => {
  // the same computations in a child process with WEIGHTSHARE_NO_WASM=1 (the JavaScript loops every kernel falls back
  // to) and in one without (the kernels): the same numbers up to the order of summation
  const script = `
    import { Rng, loadSpecText, PluginRegistry, runPipeline } from '@weightshare/framework';
    import { cpuPlugin, linalg } from '@weightshare/plugin-cpu';
    import { kernels } from './packages/framework/dist/math/wasm/kernels.js';
    const rng = new Rng(5);
    const out = { kernels: kernels() !== null };
    const n = 2000, d = 160; // n·d² ≥ GRAM_SIMD_MIN
    const X = Float64Array.from({ length: n * d }, () => rng.normal());
    const y = Float64Array.from({ length: n }, () => rng.normal());
    const s = linalg.gramAndXty(X, y, n, d);
    out.G = Array.from(s.G); out.b = Array.from(s.b);
    const m = 100, k = 8;
    const A = Float64Array.from({ length: m * m }, (_, i) => (i % (m + 1) === 0 ? m : 0) + Math.sin(i));
    const S = Float64Array.from(A, (_, i) => (A[i] + A[(i % m) * m + Math.floor(i / m)]) / 2);
    const B = Float64Array.from({ length: m * k }, () => rng.normal());
    out.lu = Array.from(linalg.luSolve(linalg.luFactor(A, m), B, k));
    out.chol = Array.from(linalg.choleskySolve(linalg.cholesky(S, m), m, B, k));
    // conjugate gradients on a sparse SPD matrix: rows with 1, 3, 6 and more nonzeros (every branch of the product),
    // an even block of columns (the kernels) and an odd one (the loops in both processes)
    const { conjugateGradient, csrFromPattern } = await import('./packages/plugin-cpu/dist/sparse.js');
    const T = 300, S2 = new Float64Array(T * T);
    for (let i = 0; i < T; i++) for (let q = 0; q < (i % 4) * 3; q++) { const j = rng.int(T); if (j !== i) S2[i * T + j] = S2[j * T + i] = 0.1 + rng.next(); }
    for (let i = 0; i < T; i++) { let deg = 0; for (let j = 0; j < T; j++) deg += S2[i * T + j]; S2[i * T + i] = 1 + deg; }
    const csr = csrFromPattern(S2, T, (i, j, a) => a);
    const rhs = Float64Array.from({ length: T * 12 }, () => rng.normal());
    const cg = conjugateGradient(csr, rhs, 12, 1e-12, 500);
    const cgOdd = conjugateGradient(csr, rhs.subarray(0, T * 7), 7, 1e-12, 500);
    out.cg = [...cg.x, cg.iterations, cg.residual, ...cgOdd.x];
    const registry = new PluginRegistry([cpuPlugin]);
    const run = async (data, body) => (await runPipeline(loadSpecText('apiVersion: weightshare/v1\\nname: t\\nseed: 7\\ndata: { source: synthetic, ' + data + ' }\\noutput: { write: false }\\n' + body, 'spec.yaml', registry), registry)).weights.data;
    out.exact = Array.from(await run('tasks: 12, clusters: 3, features: 10, rows: 30', 'stages:\\n  propagate: { method: identity }\\n  fuse: { method: mean }\\n  optimize: { method: exact, lambda: 3 }\\nrounds: 5\\n'));
    out.adam = Array.from(await run('tasks: 4, clusters: 2, features: 20, rows: 300', 'loss: logistic\\nstages:\\n  propagate: { method: identity }\\n  fuse: { method: mean }\\n  optimize: { method: adam, lambda: 1, epochs: 200, lr: 0.01, tol: 0 }\\nrounds: 2\\n'));
    process.stdout.write(JSON.stringify(out));
  `;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Record<string, number[]> & { kernels: boolean };
  };

  it('gives the numbers the kernels give (XᵀX, LU and Cholesky solves, exact rounds, logistic Adam, conjugate gradients)', () => {
    const withKernels = run({ WEIGHTSHARE_NO_WASM: '' });
    const without = run({ WEIGHTSHARE_NO_WASM: '1' });
    expect([withKernels.kernels, without.kernels]).toEqual([true, false]);
    for (const [name, tol] of [
      ['G', 1e-12],
      ['b', 1e-12],
      ['lu', 1e-12],
      ['chol', 1e-12],
      ['exact', 1e-12],
      ['adam', 1e-9],
      ['cg', 0], // the same operations in the same order: the same bits
    ] as const) {
      const a = withKernels[name]!;
      const b = without[name]!;
      expect(b.length, name).toBe(a.length);
      if (tol === 0) {
        expect(a, name).toEqual(b);
        continue;
      }
      const scale = Math.max(...a.map(Math.abs));
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!))) / scale, name).toBeLessThan(tol);
    }
  });
});
