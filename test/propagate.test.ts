/** propagate methods of plugin-cpu against independently computed values. */
import { describe, expect, it } from 'vitest';
import { Matrix, solve as mlSolve } from 'ml-matrix';
import { InProcessExecutor, Rng, WeightshareError, WorkerExecutor, fromRows, type DenseMatrix, type PropagateOutput, type StageContext } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';

const ctx: StageContext = { round: 1, rng: new Rng(1), executor: new InProcessExecutor(), cache: new Map(), purpose: 'stage' };
const run = async (method: string, A: DenseMatrix, B: DenseMatrix, options: Record<string, unknown> = {}): Promise<PropagateOutput> =>
  cpuPlugin.stages.propagate![method]!.run({ relation: A, weights: B }, options, ctx);

function randomMatrix(r: number, c: number, seed: number, symmetricNonNeg = false): number[][] {
  const rng = new Rng(seed);
  const M = Array.from({ length: r }, () => Array.from({ length: c }, () => rng.normal()));
  if (symmetricNonNeg) for (let i = 0; i < r; i++) for (let j = 0; j < i; j++) M[i]![j] = M[j]![i] = Math.abs(M[j]![i]!) * (rng.next() < 0.3 ? 0 : 1);
  return M;
}
const rows = (m: DenseMatrix): number[][] => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
const maxDiff = (a: number[][], b: number[][]): number => Math.max(...a.flatMap((r, i) => r.map((v, j) => Math.abs(v - b[i]![j]!))));
const singularOpts = { maxCondition: 1e12, onSingular: 'error', epsilon: 1e-6 };

describe('propagate', () => {
  const T = 12;
  const d = 4;
  const B = fromRows(randomMatrix(T, d, 2));

  it('solve and inverse agree with an independent solve on a well-conditioned A', async () => {
    const Araw = randomMatrix(T, T, 9);
    for (let i = 0; i < T; i++) Araw[i]![i]! += 6; // diagonally dominant enough
    const A = fromRows(Araw);
    const expected = mlSolve(new Matrix(Araw), new Matrix(rows(B))).to2DArray();
    const s = await run('solve', A, B, singularOpts);
    const v = await run('inverse', A, B, singularOpts);
    expect(maxDiff(rows(s.propagated), expected)).toBeLessThan(1e-12);
    expect(maxDiff(rows(v.propagated), rows(s.propagated))).toBeLessThan(1e-12);
    expect(s.diagnostics!.condition).toBeGreaterThan(1);
    expect(s.diagnostics!.fallback).toBeNull();
  });

  it('the condition estimate is within a factor 3 of the true 1-norm condition number', async () => {
    const Araw = randomMatrix(T, T, 4);
    const A = new Matrix(Araw);
    const norm1 = (m: Matrix): number => Math.max(...Array.from({ length: m.columns }, (_, j) => m.getColumn(j).reduce((s, x) => s + Math.abs(x), 0)));
    const { inverse } = await import('ml-matrix');
    const truth = norm1(A) * norm1(inverse(A));
    const est = (await run('solve', fromRows(Araw), B, singularOpts)).diagnostics!.condition as number;
    expect(est).toBeLessThanOrEqual(truth * (1 + 1e-9));
    expect(est).toBeGreaterThan(truth / 3);
  });

  it('a singular A is a clear error with the condition estimate, or the fallback the spec asks for', async () => {
    const Araw = randomMatrix(T, T, 5);
    Araw[3] = Araw[1]!.map((v, j) => v + Araw[2]![j]!); // row 3 = row 1 + row 2
    const A = fromRows(Araw);
    const err = await run('solve', A, B, singularOpts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WeightshareError);
    expect((err as WeightshareError).code).toBe('LINEAR_SYSTEM_SINGULAR');
    expect((err as WeightshareError).message).toMatch(/condition estimate/);

    const p = await run('solve', A, B, { ...singularOpts, onSingular: 'pinv' });
    expect(p.diagnostics!.fallback).toBe('pinv');
    // the pseudo-inverse solution satisfies the normal equations Aᵀ(AC − B) = 0
    const M = new Matrix(Araw);
    const resid = M.transpose().mmul(M.mmul(new Matrix(rows(p.propagated))).sub(new Matrix(rows(B))));
    expect(Math.max(...resid.to1DArray().map(Math.abs))).toBeLessThan(1e-8);

    const r = await run('solve', A, B, { ...singularOpts, onSingular: 'ridge', epsilon: 1e-6 });
    expect(r.diagnostics!.fallback).toBe('ridge');
    const eps = r.diagnostics!.epsilon as number;
    const shifted = M.clone().add(Matrix.eye(T).mul(eps));
    const ridgeSolution = mlSolve(shifted, new Matrix(rows(B))).to2DArray();
    const scale = Math.max(...ridgeSolution.flat().map(Math.abs));
    expect(maxDiff(rows(r.propagated), ridgeSolution) / scale).toBeLessThan(1e-8);
  });

  it('laplacian is argmin_C ‖C − B‖² + α·tr(CᵀLC)', async () => {
    const Araw = randomMatrix(T, T, 6, true);
    const alpha = 0.7;
    const C = rows((await run('laplacian', fromRows(Araw), B, { alpha })).propagated);
    // stationarity: (C − B) + αLC = 0, with L built here from A
    const L = Matrix.zeros(T, T);
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++)
        if (i !== j) {
          L.set(i, j, -Araw[i]![j]!);
          L.set(i, i, L.get(i, i) + Araw[i]![j]!);
        }
    const grad = new Matrix(C).sub(new Matrix(rows(B))).add(L.mmul(new Matrix(C)).mul(alpha));
    expect(Math.max(...grad.to1DArray().map(Math.abs))).toBeLessThan(1e-12);
    // and it is a minimum: the objective grows in random directions
    const obj = (X: Matrix): number => X.clone().sub(new Matrix(rows(B))).to1DArray().reduce((s, v) => s + v * v, 0) + alpha * X.transpose().mmul(L).mmul(X).trace();
    const rng = new Rng(3);
    for (let k = 0; k < 5; k++) {
      const dir = new Matrix(randomMatrix(T, d, 100 + k)).mul(1e-3 * (rng.next() + 0.1));
      expect(obj(new Matrix(C).add(dir))).toBeGreaterThan(obj(new Matrix(C)));
    }
  });

  it('ppr equals the fixed point of C ← (1−α)SC + αB', async () => {
    const Araw = randomMatrix(T, T, 8, true);
    const alpha = 0.2;
    const C = rows((await run('ppr', fromRows(Araw), B, { alpha })).propagated);
    // S from A's off-diagonal part plus self-loops, symmetrically normalized
    const At = Araw.map((r, i) => r.map((v, j) => (i === j ? 1 : v)));
    const deg = At.map((r) => r.reduce((s, v) => s + v, 0));
    const S = At.map((r, i) => r.map((v, j) => v / Math.sqrt(deg[i]! * deg[j]!)));
    let X = rows(B);
    for (let it = 0; it < 300; it++) X = X.map((_, i) => X[0]!.map((__, j) => (1 - alpha) * S[i]!.reduce((s, v, k) => s + v * X[k]![j]!, 0) + alpha * rows(B)[i]![j]!));
    expect(maxDiff(C, X)).toBeLessThan(1e-10);
  });

  it('laplacian and ppr refuse a non-symmetric or negative relation', async () => {
    const A = fromRows([
      [1, 0.5],
      [0.2, 1],
    ]);
    const B2 = fromRows([[1], [2]]);
    await expect(run('laplacian', A, B2, { alpha: 1 })).rejects.toMatchObject({ code: 'RELATION_INVALID' });
    const N = fromRows([
      [1, -0.5],
      [-0.5, 1],
    ]);
    await expect(run('ppr', N, B2, { alpha: 0.5 })).rejects.toMatchObject({ code: 'RELATION_INVALID' });
  });

  it('identity returns B unchanged and does not alias it', async () => {
    const out = await run('identity', fromRows([[1]]), B);
    expect(Array.from(out.propagated.data)).toEqual(Array.from(B.data));
    expect(out.propagated.data).not.toBe(B.data);
  });
});

describe('propagate on large sparse relations: conjugate gradients', () => {
  // a random graph on 600 tasks, ~8 neighbours each (~1.5% nonzero), diagonally dominant: every method's system is SPD
  const T = 600;
  const d = 70; // two CG chunks (64 + 6 columns)
  function sparseGraph(seed: number): DenseMatrix {
    const rng = new Rng(seed);
    const A = new Float64Array(T * T);
    for (let i = 0; i < T; i++)
      for (let k = 0; k < 4; k++) {
        const j = rng.int(T);
        if (j !== i) A[i * T + j] = A[j * T + i] = 0.1 + rng.next();
      }
    for (let i = 0; i < T; i++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += A[i * T + j]!;
      A[i * T + i] = 1 + s;
    }
    return { rows: T, cols: T, data: A };
  }
  const A = sparseGraph(3);
  const rng = new Rng(4);
  const B: DenseMatrix = { rows: T, cols: d, data: Float64Array.from({ length: T * d }, () => rng.normal()) };
  const base = { ...singularOpts, tol: 1e-10, maxIterations: 1000 };
  const methods: [string, Record<string, unknown>][] = [
    ['solve', base],
    ['laplacian', { ...base, alpha: 2 }],
    ['ppr', { ...base, alpha: 0.15 }],
  ];
  const relErr = (a: Float64Array, b: Float64Array): number => {
    let num = 0;
    let den = 0;
    for (let k = 0; k < a.length; k++) {
      num += (a[k]! - b[k]!) ** 2;
      den += b[k]! ** 2;
    }
    return Math.sqrt(num / den);
  };

  it.each(methods)('%s: auto picks CG and agrees with the dense factorization', async (method, opts) => {
    const cg = await run(method, A, B, { ...opts, solver: 'auto' });
    const direct = await run(method, A, B, { ...opts, solver: 'direct' });
    expect(cg.diagnostics!.solver).toBe('cg');
    expect(direct.diagnostics!.solver).toBe('direct');
    expect(cg.diagnostics!.iterations).toBeGreaterThan(3);
    expect(cg.diagnostics!.residual).toBeLessThanOrEqual(1e-10);
    expect(relErr(cg.propagated.data, direct.propagated.data)).toBeLessThan(1e-9);
  });

  it('CG on worker threads gives the same bits as in process (columns are independent)', async () => {
    // the built plugin: worker threads import compiled modules
    const built = (await import('../packages/plugin-cpu/dist/index.js')).cpuPlugin as typeof cpuPlugin;
    const executor = new WorkerExecutor(2);
    try {
      for (const [method, opts] of methods) {
        const local = await run(method, A, B, { ...opts, solver: 'cg' });
        const threaded = await built.stages.propagate![method]!.run({ relation: A, weights: B }, { ...opts, solver: 'cg' }, { ...ctx, executor });
        expect(Buffer.from(threaded.propagated.data.buffer).equals(Buffer.from(local.propagated.data.buffer))).toBe(true);
      }
    } finally {
      await executor.close();
    }
  });

  it('auto keeps the dense factorization for dense or small relations', async () => {
    const dense = fromRows(randomMatrix(T, T, 6, true).map((r, i) => r.map((v, j) => (i === j ? T : v))));
    expect((await run('laplacian', dense, B, { ...base, alpha: 1, solver: 'auto' })).diagnostics!.solver).toBe('direct');
    const small = fromRows([
      [2, 1],
      [1, 2],
    ]);
    expect((await run('solve', small, fromRows([[1], [1]]), { ...base, solver: 'auto' })).diagnostics!.solver).toBe('direct');
  });

  it('solve: a non-symmetric A is refused by solver: cg and solved directly by auto', async () => {
    const N = new Float64Array(A.data);
    N[5] = 0.7; // A[1][6] without its mirror
    const An = { ...A, data: N };
    const err = (await run('solve', An, B, { ...base, solver: 'cg' }).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('RELATION_INVALID');
    expect(err.message).toMatch(/A\[1\]\[6\] = 0\.7 but A\[6\]\[1\] = 0.*solver: direct/);
    const auto = await run('solve', An, B, { ...base, solver: 'auto' });
    expect(auto.diagnostics!.solver).toBe('direct');
    expect(auto.diagnostics!.cgFailed).toMatch(/A\[1\]\[6\]/);
  });

  it('solve: an indefinite symmetric A stops CG; auto falls back to LU and still gets the answer', async () => {
    const S = new Float64Array(A.data);
    for (let i = 0; i < T; i += 2) S[i * T + i] = 0.05; // positive diagonal, but far from definite
    const As = { ...A, data: S };
    const err = (await run('solve', As, B, { ...base, solver: 'cg' }).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('RELATION_INVALID');
    expect(err.message).toMatch(/not positive definite/);
    const auto = await run('solve', As, B, { ...base, solver: 'auto' });
    expect(auto.diagnostics!.solver).toBe('direct');
    expect(auto.diagnostics!.cgFailed).toMatch(/not positive definite/);
    const expected = mlSolve(new Matrix(rows(As)), new Matrix(rows(B))).to2DArray();
    expect(maxDiff(rows(auto.propagated), expected)).toBeLessThan(1e-8);
  });

  it('too few iterations: SOLVER_NOT_CONVERGED with solver: cg, a direct solve with auto', async () => {
    const err = (await run('laplacian', A, B, { ...base, alpha: 2, maxIterations: 2, solver: 'cg' }).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('SOLVER_NOT_CONVERGED');
    expect(err.message).toMatch(/after 2 iterations.*maxIterations/);
    const auto = await run('laplacian', A, B, { ...base, alpha: 2, maxIterations: 2, solver: 'auto' });
    expect(auto.diagnostics!.solver).toBe('direct');
    expect(auto.diagnostics!.cgFailed).toMatch(/did not reach tol/);
  });
});
