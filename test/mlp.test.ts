/**
 * The `mlp` model (plugin API v2 on a nonlinear model): its gradient against central finite differences for every
 * activation and loss, a linear network reaching the linear model's least-squares fit, one seeded initialization
 * shared by all tasks, predictions of a saved MLP run reproducing its test metrics bit for bit, and the optimizers
 * that cannot fit it refusing with the ones that can.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_LOSSES, loadSpecText, mlpLayout, mlpModel, Rng, tanh64, tanhInto, WeightshareError } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { registry, runText, scratch, syntheticSpec } from './helpers/run.js';

/** f(θ) = Σ L(y, mlp(X, θ)) and its gradient by the backward pass. */
function lossAndGrad(loss: string, lo: Record<string, unknown>, o: Record<string, unknown>, layout: ReturnType<typeof mlpLayout>, X: Float64Array, y: Float64Array, n: number, theta: Float64Array, grad?: Float64Array): number {
  const k = layout.outputs;
  const Z = new Float64Array(n * k);
  const dZ = new Float64Array(n * k);
  const tape = mlpModel.forward(layout, theta, X, n, Z, o);
  const f = BUILTIN_LOSSES[loss]!.value(y, Z, k, grad ? dZ : null, lo);
  if (grad) mlpModel.backward(layout, theta, X, n, tape, dZ, grad, o);
  return f;
}

describe('mlp gradients against central finite differences (float64)', () => {
  const n = 7;
  const d = 4; // three features and the bias column (last)
  const cases: [string, string, number, Record<string, unknown>][] = [];
  for (const activation of ['relu', 'tanh', 'gelu', 'identity'])
    for (const [loss, k, lo] of [['squared', 1, {}], ['logistic', 1, {}], ['huber', 1, { delta: 0.7 }], ['poisson', 1, {}], ['softmax', 3, {}]] as const)
      cases.push([activation, loss, k, lo]);

  it.each(cases)('%s with %s loss: every parameter within 1e-7 relative', (activation, loss, k, lo) => {
    const rng = new Rng(99);
    const o = { hidden: [5, 3], activation };
    const layout = mlpLayout(d, k, d - 1, [5, 3]);
    expect(layout.blocks.map((b) => `${b.name}:${b.shape.join('x')}`)).toEqual(['layer1:4x5', 'layer2:6x3', `output:4x${k}`]);
    const X = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d - 1; j++) X[i * d + j] = rng.normal();
      X[i * d + d - 1] = 1;
    }
    const y = Float64Array.from({ length: n }, () => (loss === 'logistic' ? rng.int(2) : loss === 'softmax' ? rng.int(3) : loss === 'poisson' ? rng.poisson(2) : 2 * rng.normal()));
    const theta = mlpModel.init(layout, rng, o);
    for (let j = 0; j < theta.length; j++) if (!layout.penalized[j]) theta[j] = 0.3 * rng.normal(); // nonzero biases too
    const g = new Float64Array(layout.size);
    lossAndGrad(loss, lo, o, layout, X, y, n, theta, g);
    let worst = 0;
    let scale = 0;
    for (let j = 0; j < theta.length; j++) {
      const h = 1e-6 * Math.max(1, Math.abs(theta[j]!));
      const plus = Float64Array.from(theta);
      const minus = Float64Array.from(theta);
      plus[j]! += h;
      minus[j]! -= h;
      const fd = (lossAndGrad(loss, lo, o, layout, X, y, n, plus) - lossAndGrad(loss, lo, o, layout, X, y, n, minus)) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - g[j]!));
      scale = Math.max(scale, Math.abs(g[j]!));
    }
    expect(worst / scale).toBeLessThan(1e-7);
  });

  it('the layout marks exactly the bias rows as unpenalized, and init is seeded (Glorot for tanh, He for relu)', () => {
    const layout = mlpLayout(4, 2, 3, [6]);
    // layer1 4×6 (row 3 is the bias column of X), output 7×2 (row 6 is its bias)
    const unpenalized = [...layout.penalized].flatMap((m, j) => (m ? [] : [j]));
    expect(unpenalized).toEqual([18, 19, 20, 21, 22, 23, 24 + 12, 24 + 13]);
    const a = mlpModel.init(layout, new Rng(5), { hidden: [6], activation: 'relu' });
    const b = mlpModel.init(layout, new Rng(5), { hidden: [6], activation: 'relu' });
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    for (const j of unpenalized) expect(a[j]).toBe(0);
    const big = mlpLayout(201, 1, 200, [400]);
    const he = mlpModel.init(big, new Rng(6), { hidden: [400], activation: 'relu' });
    const glorot = mlpModel.init(big, new Rng(6), { hidden: [400], activation: 'tanh' });
    const sd = (v: Float64Array, from: number, to: number) => Math.sqrt(v.subarray(from, to).reduce((s, x) => s + x * x, 0) / (to - from));
    expect(sd(he, 0, 200 * 400) / Math.sqrt(2 / 201)).toBeCloseTo(1, 1);
    expect(sd(glorot, 0, 200 * 400) / Math.sqrt(2 / 601)).toBeCloseTo(1, 1); // uniform(±√(6/(in+out))) has sd √(2/(in+out))
  });
});

const spec = (model: string, optimize: string, rounds = 1, extra = ''): string =>
  syntheticSpec(`model: ${model}
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { ${optimize} }
rounds: ${rounds}
${extra}`);

describe('mlp runs', () => {
  it('a one-hidden-layer linear network (identity activation) reaches the least-squares fit of the linear model', async () => {
    const linear = await runText(spec('linear', 'method: exact, lambda: 0, ridge: 0'));
    const net = await runText(spec('{ method: mlp, hidden: [2], activation: identity }', 'method: lbfgs, lambda: 0, ridge: 0, epochs: 5000, tol: 1e-12'));
    const a = linear.results.rounds.at(-1)!.objective!.loss;
    const b = net.results.rounds.at(-1)!.objective!.loss;
    expect(Math.abs(b - a) / a).toBeLessThan(1e-8);
    expect(net.weights.cols).toBe(5 * 2 + 3 * 1);
  });

  it('every task starts from one initialization, so a huge λ pulls all tasks to one network (averaging is meaningful)', async () => {
    const out = await runText(spec('{ method: mlp, hidden: [4], activation: tanh }', 'method: adam, lambda: 1e6, ridge: 0.1, epochs: 300', 10));
    const W = out.weights;
    let spread = 0;
    for (let t = 1; t < W.rows; t++) for (let j = 0; j < W.cols; j++) spread = Math.max(spread, Math.abs(W.data[t * W.cols + j]! - W.data[j]!));
    expect(spread).toBeLessThan(1e-3);
  });

  it('exact and newton refuse an mlp and name the methods that fit it', () => {
    const reg = registry();
    for (const method of ['exact', 'newton']) {
      let e: unknown;
      try {
        loadSpecText(spec('{ method: mlp, hidden: [4] }', `method: ${method}`), join(scratch(), 's.yaml'), reg);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(WeightshareError);
      expect((e as WeightshareError).problems[0]!.message).toMatch(new RegExp(`optimize method "${method}" fits linear models only, but the spec's model is mlp; on backend "cpu" use one of: adam, gd, lbfgs, sgd`));
    }
  });

  it('a saved mlp run predicts its own test rows bit for bit, and model.json documents its layout', () => {
    const dir = scratch('ws-mlp-');
    writeFileSync(
      join(dir, 'm.yaml'),
      spec('{ method: mlp, hidden: [6, 3], activation: gelu }', 'method: adam, lambda: 2, ridge: 0.1, epochs: 200', 3).replace('output:\n  write: false\n', ''),
    );
    expect(cli(['run', 'm.yaml', '--out', 'runs'], { cwd: dir }).code).toBe(0);
    const model = JSON.parse(readFileSync(join(dir, 'runs/test-1/model/model.json'), 'utf8'));
    expect(model.model).toMatchObject({ name: 'mlp', options: { hidden: [6, 3], activation: 'gelu' }, outputs: 1, parameters: 5 * 6 + 7 * 3 + 4 });
    expect(model.model.blocks.map((b: { name: string }) => b.name)).toEqual(['layer1', 'layer2', 'output']);
    expect(cli(['runs', 'export', 'runs/test-1', '--rows', 'test', '--out', 'test.csv'], { cwd: dir }).code).toBe(0);
    const p = cli(['predict', 'runs/test-1', '--data', 'test.csv', '--out', 'p.csv', '--json'], { cwd: dir });
    expect(p.code, p.stderr).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'runs/test-1/results.json'), 'utf8'));
    expect(JSON.parse(p.stdout).metrics.seen).toEqual(results.models.shared);
    expect(readFileSync(join(dir, 'runs/test-1/weights.csv'), 'utf8').split('\n')[0]).toMatch(/^task_id,layer1\[0\],layer1\[1\],/);
    // docs/runs.md's NumPy recipe with its mlp forward pass reproduces the predictions to 1e-12
    const doc = readFileSync(join(root, 'docs/runs.md'), 'utf8');
    const recipe = /### From Python \(NumPy\)\n\n```python\n([\s\S]*?)```/.exec(doc)![1]!;
    const forward = /For an `mlp`[\s\S]*?```python\n([\s\S]*?)```/.exec(doc)![1]!;
    writeFileSync(join(dir, 'predict.py'), recipe.slice(0, recipe.indexOf('pred = np.einsum')) + forward);
    const out = execFileSync('python3', [join(dir, 'predict.py'), join(dir, 'runs/test-1/model'), join(dir, 'test.csv')], { encoding: 'utf8' }).trim().split('\n').map(Number);
    const ours = readFileSync(join(dir, 'p.csv'), 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[2]));
    expect(out).toHaveLength(ours.length);
    let worst = 0;
    ours.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - out[i]!) / Math.max(1, Math.abs(v)))));
    expect(worst).toBeLessThan(1e-12);
  });
});

describe('pipelines/quickstart-mlp.yaml: a nonlinear truth', () => {
  it('MLP sharing beats independent MLPs, one pooled MLP and linear sharing on test MSE, each by more than 10%', async () => {
    const load = (name: string) => readFileSync(join(root, 'pipelines', name), 'utf8') + 'output: { write: false }\n';
    const mlp = await runText(load('quickstart-mlp.yaml'), { dir: join(root, 'pipelines') });
    const linear = await runText(load('quickstart-mlp-linear.yaml'), { dir: join(root, 'pipelines') });
    const mse = (o: typeof mlp, m: 'shared' | 'independent' | 'pooled') => (o.results.models[m] as { mse: number }).mse;
    const shared = mse(mlp, 'shared');
    expect(shared).toBeLessThan(0.9 * mse(mlp, 'independent'));
    expect(shared).toBeLessThan(0.9 * mse(mlp, 'pooled'));
    expect(shared).toBeLessThan(0.9 * mse(linear, 'shared'));
  }, 60_000);
});

describe('training curves', () => {
  it('an mlp round records the summed objective per epoch (gd: never rising); linear runs record none', async () => {
    const out = await runText(spec('{ method: mlp, hidden: [4], activation: tanh }', 'method: gd, lambda: 1, ridge: 0.1, epochs: 40, tol: 0', 2));
    for (const r of out.results.rounds) {
      const c = (r.diagnostics!.optimize as { curve: number[] }).curve;
      expect(c).toHaveLength(40);
      for (let i = 1; i < c.length; i++) expect(c[i]!).toBeLessThanOrEqual(c[i - 1]! * (1 + 1e-12));
    }
    const adam = await runText(spec('{ method: mlp, hidden: [4] }', 'method: adam, lambda: 1, epochs: 2500, tol: 0', 1));
    const c = (adam.results.rounds[0]!.diagnostics!.optimize as { curve: number[]; curveEvery: number });
    expect([c.curve.length, c.curveEvery]).toEqual([834, 3]); // at most 1000 points: every 3rd of 2500 epochs
    const linear = await runText(spec('linear', 'method: gd, lambda: 1, epochs: 40', 2));
    expect(linear.results.rounds[0]!.diagnostics!.optimize).not.toHaveProperty('curve');
  });
});

const mlp = '{ method: mlp, hidden: [4], activation: tanh }';
/** The largest difference between any task's entries from..to and the first task's. */
const spreadOf = (W: { rows: number; cols: number; data: Float64Array }, from: number, to: number): number => {
  let s = 0;
  for (let t = 1; t < W.rows; t++) for (let j = from; j < to; j++) s = Math.max(s, Math.abs(W.data[t * W.cols + j]! - W.data[j]!));
  return s;
};

describe('lambda per parameter block', () => {

  it('the same λ for every block is the scalar λ, to the byte', async () => {
    const a = await runText(spec(mlp, 'method: adam, lambda: 2, ridge: 0.1, epochs: 100', 3));
    const b = await runText(spec(mlp, 'method: adam, lambda: { layer1: 2, output: 2 }, ridge: 0.1, epochs: 100', 3));
    expect(Buffer.from(b.weights.data.buffer).equals(Buffer.from(a.weights.data.buffer))).toBe(true);
    expect(b.results.rounds.map((r) => r.objective)).toEqual(a.results.rounds.map((r) => r.objective));
  });

  it('a huge λ on layer1 ties the hidden layer across tasks while the output layers stay apart; the objective weighs each block by its λ', async () => {
    const out = await runText(spec(mlp, 'method: lbfgs, lambda: { layer1: 1e5, output: 0.01 }, ridge: 0.1, epochs: 500', 20));
    const [l1, o] = out.results.model!.blocks;
    expect(spreadOf(out.weights, l1!.offset, l1!.offset + l1!.size)).toBeLessThan(1e-3);
    expect(spreadOf(out.weights, o!.offset, o!.offset + o!.size)).toBeGreaterThan(0.05);
    // the recorded penalty, recomputed from W: Σ_j λ_j Σ_t (θ_tj − mean_t θ_tj)² (mean fusion with equal task sizes)
    const W = out.weights;
    let pen = 0;
    for (let j = 0; j < W.cols; j++) {
      const lam = j < l1!.offset + l1!.size ? 1e5 : 0.01;
      let mean = 0;
      for (let t = 0; t < W.rows; t++) mean += W.data[t * W.cols + j]! / W.rows;
      for (let t = 0; t < W.rows; t++) pen += lam * (W.data[t * W.cols + j]! - mean) ** 2;
    }
    const recorded = out.results.rounds.at(-1)!.objective!.penalty;
    expect(Math.abs(recorded - pen) / pen).toBeLessThan(1e-9);
  });
});

describe('hard sharing: a block with { shared: true } is one copy for all tasks', () => {

  it('every block shared is one pooled network: the same fit as the pooled baseline, on test too', async () => {
    for (const method of ['lbfgs', 'gd', 'adam']) {
      const opts = method === 'adam' ? 'epochs: 400, lr: 0.02' : method === 'gd' ? 'epochs: 400' : 'epochs: 2000, tol: 1e-12';
      const out = await runText(spec(mlp, `method: ${method}, lambda: { layer1: { shared: true }, output: { shared: true } }, ridge: 0.3, ${opts}`, 1, 'init: { method: model }'), { set: ['evaluate.baselines=true'] });
      expect(spreadOf(out.weights, 0, out.weights.cols)).toBe(0);
      const m = out.results.models as unknown as Record<'shared' | 'pooled', { mse: number }>;
      // the same objective (Σ over all rows, the ridge once) from the same start by the same method: the paths differ
      // only by the order of the sums (measured: lbfgs 3.7e-8, which stops at tol; gd and adam far below)
      expect(Math.abs(m.shared.mse - m.pooled.mse) / m.pooled.mse, method).toBeLessThan(method === 'lbfgs' ? 1e-6 : 1e-9);
    }
  }, 60_000);

  it('a shared trunk and per-task heads: layer1 identical in every task, heads apart; the fit is stationary for the joint objective', async () => {
    const lambda = 0.5;
    const ridge = 0.2;
    const out = await runText(spec(mlp, `method: lbfgs, lambda: { layer1: { shared: true }, output: ${lambda} }, ridge: ${ridge}, epochs: 3000, tol: 1e-13`, 200));
    const [l1, o] = out.results.model!.blocks;
    const W = out.weights;
    expect(spreadOf(W, l1!.offset, l1!.offset + l1!.size)).toBe(0);
    expect(spreadOf(W, o!.offset, o!.offset + o!.size)).toBeGreaterThan(0.01);
    expect(out.results.convergence.converged).toBe(true);
    // J(trunk, heads) = Σ_t L_t + λ Σ_t ‖h_t − mean h‖² + ρ(‖trunk‖² once + Σ_t ‖head_t‖²), biases unpenalized:
    // its gradient, by central differences of J computed here from the model's forward pass, vanishes at the fit
    const layout = mlpLayout(W.cols === 0 ? 0 : out.data.train[0]!.X.cols, 1, out.data.train[0]!.biasColumn, [4]);
    const o2 = { hidden: [4], activation: 'tanh' };
    const J = (trunk: Float64Array, heads: Float64Array[]): number => {
      let f = 0;
      const theta = new Float64Array(layout.size);
      out.data.train.forEach((t, k) => {
        theta.set(trunk, 0);
        theta.set(heads[k]!, l1!.size);
        f += lossAndGrad('squared', {}, o2, layout, t.X.data, t.y, t.y.length, theta);
      });
      for (let j = 0; j < o!.size; j++) {
        const mean = heads.reduce((s, h) => s + h[j]!, 0) / heads.length;
        for (const h of heads) f += lambda * (h[j]! - mean) ** 2;
      }
      for (let j = 0; j < l1!.size; j++) if (layout.penalized[j]) f += ridge * trunk[j]! ** 2;
      for (const h of heads) for (let j = 0; j < o!.size; j++) if (layout.penalized[l1!.size + j]) f += ridge * h[j]! ** 2;
      return f;
    };
    const trunk = W.data.slice(0, l1!.size);
    const heads = Array.from({ length: W.rows }, (_, t) => W.data.slice(t * W.cols + l1!.size, (t + 1) * W.cols));
    const f0 = J(trunk, heads);
    expect(Math.abs(out.results.rounds.at(-1)!.objective!.total - f0) / f0).toBeLessThan(1e-9);
    let worst = 0;
    const h = 1e-5;
    for (let j = 0; j < l1!.size; j++) {
      const p = Float64Array.from(trunk);
      const m = Float64Array.from(trunk);
      p[j]! += h;
      m[j]! -= h;
      worst = Math.max(worst, Math.abs(J(p, heads) - J(m, heads)) / (2 * h));
    }
    for (const t of [0, 3, 7])
      for (let j = 0; j < o!.size; j++) {
        const hp = heads.map((x) => Float64Array.from(x));
        const hm = heads.map((x) => Float64Array.from(x));
        hp[t]![j]! += h;
        hm[t]![j]! -= h;
        worst = Math.max(worst, Math.abs(J(trunk, hp) - J(trunk, hm)) / (2 * h));
      }
    expect(worst / f0).toBeLessThan(1e-7);
  }, 60_000);

  it('methods that cannot train a tied block, tfjs, and mini-batches are refused at the spec line', () => {
    const reg = registry();
    const problem = (optimize: string, backend?: string): string => {
      try {
        loadSpecText(spec(mlp, optimize), join(scratch(), 's.yaml'), reg, backend ? { backend } : {});
      } catch (x) {
        return (x as WeightshareError).problems.map((p) => p.message).join(' | ');
      }
      return 'accepted';
    };
    expect(problem('method: sgd, lambda: { layer1: { shared: true }, output: 1 }')).toMatch(/lambda ties block layer1 \(\{ shared: true \}: one copy for all tasks\), which optimize method "sgd" on backend "cpu" cannot train; use one of: adam, gd, lbfgs/);
    expect(problem('method: adam, batchSize: 8, lambda: { layer1: { shared: true }, output: 1 }')).toMatch(/full-batch gradient of all tasks together; remove batchSize/);
    expect(problem('method: adam, lambda: { layer1: { shared: yes }, output: 1 }')).not.toBe('accepted');
    expect(problem('method: adam, lambda: { layer1: { shared: true }, output: 1 }')).toBe('accepted');
  });
});

describe('the mlp on plugin-tfjs (float32)', () => {
  const cases: [string, string][] = [];
  for (const activation of ['relu', 'tanh', 'gelu', 'identity'])
    for (const loss of ['squared', 'logistic', '{ method: huber, delta: 0.7 }', 'poisson', 'softmax']) cases.push([activation, loss]);

  // one gd step of a fixed size from the model's one initialization: W1 = θ0 − lr·∇f(θ0), so W1 − θ0 is the gradient
  it.each(cases)('%s with %s loss: the gradient at the same parameters agrees with plugin-cpu within 1e-4', async (activation, loss) => {
    const text = syntheticSpec(
      `model: { method: mlp, hidden: [5, 3], activation: ${activation} }
loss: ${loss}
init: { method: model }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: 1.5, ridge: 0.2, epochs: 1, lr: 1.0e-2 }
rounds: 1
`,
      `tasks: 4\n  clusters: 2\n  features: 3\n  rows: 25${loss === 'softmax' ? '\n  classes: 3' : ''}`,
    );
    const cpu = await runText(text);
    const tfjs = await runText(text, { backend: 'tfjs' });
    const k = cpu.results.model!.outputs;
    const layout = mlpLayout(cpu.data.train[0]!.X.cols, k, cpu.data.train[0]!.biasColumn, [5, 3]);
    const theta0 = mlpModel.init(layout, new Rng(7).fork('model/init'), { hidden: [5, 3], activation });
    let num = 0;
    let den = 0;
    const P = layout.size;
    for (let t = 0; t < cpu.weights.rows; t++)
      for (let j = 0; j < P; j++) {
        const a = cpu.weights.data[t * P + j]! - theta0[j]!;
        const b = tfjs.weights.data[t * P + j]! - theta0[j]!;
        num = Math.max(num, Math.abs(a - b));
        den = Math.max(den, Math.abs(a));
      }
    expect(den).toBeGreaterThan(0); // the step moved, and θ0 is the engine's initialization
    expect(num / den).toBeLessThan(1e-4);
  });

  it('tasks big enough for the per-task passes: one gd step gives plugin-cpu\'s gradient within 1e-4', async () => {
    const { PER_TASK_FLOPS } = await import('../packages/plugin-tfjs/dist/stages/optimize-common.js');
    const text = syntheticSpec(
      `model: { method: mlp, hidden: [48], activation: tanh }
init: { method: model }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: 1.5, ridge: 0.2, epochs: 1, lr: 1.0e-3 }
rounds: 1
`,
      'tasks: 3\n  clusters: 1\n  features: 9\n  rows: 500',
    );
    const cpu = await runText(text);
    const layout = mlpLayout(cpu.data.train[0]!.X.cols, 1, cpu.data.train[0]!.biasColumn, [48]);
    const rows = Math.max(...cpu.data.train.map((t) => t.y.length));
    expect(6 * rows * layout.size).toBeGreaterThanOrEqual(PER_TASK_FLOPS); // the wasm device takes the per-task passes
    const tfjs = await runText(text, { backend: 'tfjs' });
    const theta0 = mlpModel.init(layout, new Rng(7).fork('model/init'), { hidden: [48], activation: 'tanh' });
    let num = 0;
    let den = 0;
    for (let i = 0; i < cpu.weights.data.length; i++) {
      const a = cpu.weights.data[i]! - theta0[i % layout.size]!;
      const b = tfjs.weights.data[i]! - theta0[i % layout.size]!;
      num = Math.max(num, Math.abs(a - b));
      den = Math.max(den, Math.abs(a));
    }
    expect(den).toBeGreaterThan(0);
    expect(num / den).toBeLessThan(1e-4);
  });

  it('the full-batch passes task by task (2-D products) give the batched passes\' Z and gradient, every activation, one and several outputs, padded rows included', async () => {
    const { loadTf } = await import('../packages/plugin-tfjs/dist/tf.js');
    const { mlpForward, mlpForwardTasks, mlpBackward } = await import('../packages/plugin-tfjs/dist/stages/mlp.js');
    const { batchOf, disposeBatches } = await import('../packages/plugin-tfjs/dist/stages/optimize-common.js');
    const tf = await loadTf();
    await import('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend('wasm');
    const d = 4;
    const counts = [7, 5, 6]; // tasks 2 and 3 are padded with zero rows in the batch
    const [T, nmax] = [counts.length, Math.max(...counts)];
    const rng = new Rng(21);
    // the batch's own per-task rows (and their padding) from the tasks' float64 rows, as the optimizers get them
    const tasks = counts.map((n, index) => {
      const data = new Float64Array(n * d);
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = j === d - 1 ? 1 : rng.normal();
      return { id: String(index), index, X: { rows: n, cols: d, data }, y: Float64Array.from({ length: n }, () => rng.normal()), biasColumn: d - 1 };
    });
    const batch = batchOf({ cache: new Map() } as never, tasks);
    try {
      for (const [k, hidden] of [[2, [5, 3]], [1, [6]]] as const) {
        const layout = mlpLayout(d, k, d - 1, [...hidden]);
        const dZ = new Float32Array(T * nmax * k);
        counts.forEach((n, t) => {
          for (let i = 0; i < n * k; i++) dZ[t * nmax * k + i] = rng.normal();
        });
        const theta = Float32Array.from({ length: T * layout.size }, () => 0.5 * rng.normal());
        for (const activation of ['relu', 'tanh', 'gelu', 'identity']) {
          const [batched, perTask] = tf.tidy(() => {
            const th = tf.tensor3d(theta, [T, layout.size, 1]);
            const dz = tf.tensor3d(dZ, [T, nmax, k]);
            const a = mlpForward(layout, activation, batch.X, th);
            const b = mlpForwardTasks(layout, activation, batch.taskRows, th);
            return [a, b].map((pass) => [Float64Array.from(pass.Z.dataSync()), Float64Array.from(mlpBackward(layout, activation, pass, dz).dataSync())]);
          });
          for (const part of [0, 1]) {
            const [u, v] = [batched![part]!, perTask![part]!];
            expect(v.length, activation).toBe(u.length);
            const scale = Math.max(...u.map(Math.abs));
            expect(scale, activation).toBeGreaterThan(0);
            expect(Math.max(...u.map((x, i) => Math.abs(x - v[i]!))) / scale, `${activation} ${part ? 'gradient' : 'Z'}`).toBeLessThan(1e-5);
          }
        }
      }
    } finally {
      disposeBatches();
    }
  });

  it('tfjs records the same training curves as cpu (adam: f at the start of each epoch; lbfgs: after each step)', async () => {
    for (const optimize of ['method: adam, lambda: 1, ridge: 0.1, epochs: 60, lr: 0.01', 'method: lbfgs, lambda: 1, ridge: 0.1, epochs: 30']) {
      const text = spec('{ method: mlp, hidden: [4], activation: tanh }', optimize, 2, 'init: { method: model }');
      const [cpu, tfjs] = [await runText(text), await runText(text, { backend: 'tfjs' })];
      const curve = (o: typeof cpu, r: number) => (o.results.rounds[r]!.diagnostics!.optimize as { curve: number[] }).curve;
      for (const r of [0, 1]) {
        expect(curve(tfjs, r).length, optimize).toBe(curve(cpu, r).length);
        curve(cpu, r).forEach((v, i) => expect(Math.abs(curve(tfjs, r)[i]! - v) / v, `${optimize} round ${r + 1} epoch ${i + 1}`).toBeLessThan(1e-3));
      }
    }
  });

  it('lbfgs on tfjs fits an mlp to the test MSE of the cpu fit within 1e-3, with the same parameter layout', async () => {
    const text = (rounds: number) =>
      syntheticSpec(
        `model: { method: mlp, hidden: [6], activation: tanh }
init: { method: model }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: lbfgs, lambda: 2, ridge: 0.1, epochs: 200 }
rounds: ${rounds}
`,
        'tasks: 5\n  clusters: 1\n  features: 3\n  rows: 30',
      );
    const cpu = await runText(text(4));
    const tfjs = await runText(text(4), { backend: 'tfjs' });
    expect(tfjs.weights.cols).toBe(cpu.weights.cols);
    const m = [cpu, tfjs].map((o) => (o.results.models.shared as unknown as { mse: number }).mse);
    expect(Math.abs(m[0]! - m[1]!) / m[0]!).toBeLessThan(1e-3);
  });
});

describe('the float64 mlp passes through the matrix-product kernel', () => {
  // forward and backward passes (and the products under them) in a child process with the SIMD kernels and in one
  // with WEIGHTSHARE_NO_WASM=1: the same bits; and both against NumPy's float64 forward and backward passes
  const script = `
    import { Rng, mlpLayout, mlpModel } from '@weightshare/framework';
    import { addProduct, addProductT, SUM_ROWS } from './packages/framework/dist/math/products.js';
    import { kernels } from './packages/framework/dist/math/wasm/kernels.js';
    import { tanhInto } from './packages/framework/dist/math/tanh.js';
    const rng = new Rng(11);
    const normal = (len) => Float64Array.from({ length: len }, () => rng.normal());
    const out = { kernels: kernels() !== null, sumRows: SUM_ROWS, nets: [], products: [] };
    // three pieces of the summed rows and tails of every 4×4 block; a wide relu layer; the smallest net
    const bits = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64'); // JSON has no −0
    for (const [n, d, hidden, k, activation] of [[2500, 7, [6, 5], 1, 'tanh'], [37, 4, [64], 3, 'relu'], [301, 6, [7, 5], 2, 'gelu'], [1, 2, [1], 1, 'identity']]) {
      const layout = mlpLayout(d, k, d - 1, hidden);
      const X = normal(n * d);
      for (let i = 0; i < n; i++) X[i * d + d - 1] = 1;
      const theta = normal(layout.size).map((v) => 0.5 * v);
      const Z = new Float64Array(n * k);
      const dZ = normal(n * k);
      const g = new Float64Array(layout.size);
      const o = { hidden, activation };
      mlpModel.backward(layout, theta, X, n, mlpModel.forward(layout, theta, X, n, Z, o), dZ, g, o);
      out.nets.push({ n, d, hidden, k, activation, X: [...X], theta: [...theta], dZ: [...dZ], Z: [...Z], g: [...g], bits: bits(Z) + bits(g) });
    }
    // tails of the 4×4 tiles in both products, A·B over two pieces of rows, Aᵀ·B over three pieces of summed rows
    for (const [m, q, n, t] of [[9, 5, 7, false], [4, 8, 4, false], [5000, 20, 7, false], [2100, 6, 3, true], [2100, 6, 5, true], [3, 1, 1, true]]) {
      const A = normal(m * q), B = normal(t ? m * n : q * n), C0 = normal(t ? q * n : m * n), C = C0.slice();
      (t ? addProductT : addProduct)(C, A, m, q, B, n);
      out.products.push({ m, q, n, t, A: [...A], B: [...B], C0: [...C0], C: [...C], bits: bits(C) });
    }
    // tanh on a grid of [−25, 25], on log-spaced magnitudes down to 1e-13 and on the edge cases (as bytes: JSON has
    // no NaN or −0)
    const xs = [0, -0, NaN, Infinity, -Infinity, 22, -22, 22.000000000000004, 2 ** -28, -(2 ** -28), 2 ** -29, 5e-324, 1e300, 1, 0.9999999999999999, -22.5];
    for (let i = 0; i <= 20000; i++) xs.push(-25 + i / 400);
    for (let i = 0; i <= 20000; i++) xs.push(Math.exp(-30 + i * 0.0017), -Math.exp(-30 + i * 0.0017));
    // 60,019 values: a piece of 32,768, then an odd one (the kernel works in pairs and the caller pads)
    const x = Float64Array.from(xs), t = new Float64Array(x.length + 1);
    t[x.length] = 7;
    tanhInto(x, t, x.length);
    out.tanhOdd = x.length % 2 === 1 && (x.length - 32768) % 2 === 1;
    out.tanhX = Buffer.from(x.buffer).toString('base64');
    out.tanh = Buffer.from(t.buffer).toString('base64');
    process.stdout.write(JSON.stringify(out));
  `;
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { kernels: boolean; sumRows: number; nets: Record<string, number[] & number>[]; products: Record<string, number[] & number>[]; tanhX: string; tanh: string; tanhOdd: boolean };
  };

  it('gives the same bits with and without WebAssembly SIMD, and NumPy float64 values to 1e-12', () => {
    const withKernels = run({ WEIGHTSHARE_NO_WASM: '' });
    const without = run({ WEIGHTSHARE_NO_WASM: '1' });
    expect([withKernels.kernels, without.kernels]).toEqual([true, false]);
    expect(withKernels.nets[0]!.n).toBeGreaterThan(2 * withKernels.sumRows); // the summed rows come in three pieces
    expect({ ...without, kernels: true }).toEqual(withKernels);
    const dir = scratch('mlp-numpy');
    writeFileSync(join(dir, 'in.json'), JSON.stringify(withKernels));
    const py = `
import json, sys
import numpy as np
d = json.load(open(sys.argv[1]))
c = np.sqrt(2 / np.pi)
gelu = lambda z: 0.5 * z * (1 + np.tanh(c * (z + 0.044715 * z ** 3)))
dgelu = lambda z, a: 0.5 * (1 + np.tanh(c * (z + 0.044715 * z ** 3))) + 0.5 * z * (1 - np.tanh(c * (z + 0.044715 * z ** 3)) ** 2) * c * (1 + 3 * 0.044715 * z ** 2)
act = {'tanh': (np.tanh, lambda z, a: 1 - a * a), 'relu': (lambda z: np.maximum(z, 0), lambda z, a: (z > 0) * 1.0), 'gelu': (gelu, dgelu), 'identity': (lambda z: z, lambda z, a: np.ones_like(z))}
worst = []
for net in d['nets']:
    n, dd, k = net['n'], net['d'], net['k']
    X = np.array(net['X']).reshape(n, dd); th = np.array(net['theta']); f, df = act[net['activation']]
    shapes = []; inputs = dd
    for h in net['hidden']: shapes.append((inputs, h)); inputs = h + 1
    shapes.append((inputs, k))
    Ws = []; off = 0
    for s in shapes: Ws.append(th[off:off + s[0] * s[1]].reshape(s)); off += s[0] * s[1]
    A = X; pres = []; acts = [X]
    for l, W in enumerate(Ws[:-1]):
        pre = A @ W if l == 0 else A @ W[:-1] + W[-1]
        A = f(pre); pres.append(pre); acts.append(A)
    Z = A @ Ws[-1][:-1] + Ws[-1][-1]
    dZ = np.array(net['dZ']).reshape(n, k); grads = [None] * len(Ws); D = dZ
    for l in range(len(Ws) - 1, -1, -1):
        Ain = acts[l]
        grads[l] = Ain.T @ D if l == 0 else np.vstack([Ain.T @ D, D.sum(0)])
        if l > 0: D = (D @ Ws[l][:-1].T) * df(pres[l - 1], acts[l])
    g = np.concatenate([x.ravel() for x in grads])
    worst.append(np.abs(Z.ravel() - net['Z']).max() / np.abs(Z).max())
    worst.append(np.abs(g - net['g']).max() / np.abs(g).max())
for p in d['products']:
    m, q, n = p['m'], p['q'], p['n']; A = np.array(p['A']).reshape(m, q); C0 = np.array(p['C0'])
    C = C0 + (A.T @ np.array(p['B']).reshape(m, n) if p['t'] else A @ np.array(p['B']).reshape(q, n)).ravel()
    worst.append(np.abs(C - p['C']).max() / np.abs(C).max())
print(json.dumps(worst))
`;
    writeFileSync(join(dir, 'ref.py'), py);
    const worst = JSON.parse(execFileSync('python3', [join(dir, 'ref.py'), join(dir, 'in.json')], { encoding: 'utf8' })) as number[];
    expect(worst).toHaveLength(14);
    for (const w of worst) expect(w).toBeLessThan(1e-12);
  });

  it('tanhInto refuses a count its arrays do not hold (no values read from past their ends)', () => {
    expect(() => tanhInto(new Float64Array(3), new Float64Array(5), 4)).toThrow(RangeError);
    expect(() => tanhInto(new Float64Array(5), new Float64Array(3), 4)).toThrow(RangeError);
    expect(() => tanhInto(new Float64Array(5), new Float64Array(5), -1)).toThrow(RangeError);
    const out = new Float64Array(2);
    tanhInto(Float64Array.of(0.5, 100, 7), out, 2);
    expect([...out]).toEqual([tanh64(0.5), 1]);
  });

  it('tanh: the same bits with and without SIMD, within 2.5 ulp of a long-double reference, and exact at the edges', () => {
    const a = run({ WEIGHTSHARE_NO_WASM: '' });
    const dir = scratch('mlp-tanh');
    writeFileSync(join(dir, 'x.bin'), Buffer.from(a.tanhX, 'base64'));
    writeFileSync(join(dir, 't.bin'), Buffer.from(a.tanh, 'base64'));
    const t = new Float64Array(new Uint8Array(readFileSync(join(dir, 't.bin'))).buffer);
    expect(a.tanhOdd).toBe(true);
    expect(t[t.length - 1]).toBe(7); // the value past the count is not written
    expect(t[t.length - 2]).toBe(tanh64(Math.exp(-30 + 20000 * 0.0017) * -1)); // the last value, from the padded pair
    // ±0 keep their sign, NaN stays NaN, ±∞ and |x| > 22 give ±1, tiny values are themselves
    expect([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]]).toEqual([0, -0, NaN, 1, -1, 1, -1, 1]);
    expect([t[8], t[9], t[10], t[11], t[12]]).toEqual([2 ** -28, -(2 ** -28), 2 ** -29, 5e-324, 1]);
    const ulps = JSON.parse(
      execFileSync(
        'python3',
        ['-c', `
import json, sys
import numpy as np
x = np.fromfile(sys.argv[1]); t = np.fromfile(sys.argv[2])[:len(x)]
ok = np.isfinite(x)
ref = np.tanh(x[ok].astype(np.longdouble))
u = np.abs((t[ok].astype(np.longdouble) - ref) / np.spacing(np.abs(ref).astype(np.float64)).astype(np.longdouble)).astype(float)
print(json.dumps([float(u.max()), float(u.mean()), np.finfo(np.longdouble).nmant]))
`, join(dir, 'x.bin'), join(dir, 't.bin')],
        { encoding: 'utf8' },
      ),
    ) as [number, number, number];
    expect(ulps[2]).toBeGreaterThan(52); // the reference is more precise than float64
    expect(ulps[0]).toBeLessThan(2.5);
    expect(ulps[1]).toBeLessThan(0.3);
  });
});
