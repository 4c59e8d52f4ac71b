#!/usr/bin/env node
// One implementation of one benchmark workload, in its own process (so its peak memory is its own):
//   node bench/impl.mjs <workload> <cpu|cpu-direct|tfjs-wasm|tfjs-cpu> <data-dir> <out-dir>
// cpu-direct (propagate only): plugin-cpu with solver: direct, the dense factorizations, for comparison.
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy, InProcessExecutor, loadModel, loadPipeline, loadSpecText, PluginRegistry, Rng, runPipeline, WorkerExecutor } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { tfjsPlugin } from '@weightshare/plugin-tfjs';

const [workload, impl, dataDir, outDir] = process.argv.slice(2);
/** Minor page faults of this process so far (all threads): each is a page touched for the first time. */
const minorFaults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
let faultsAtStart = 0;
/** The clock's start (and the page faults' count there). */
const start = () => {
  faultsAtStart = minorFaults();
  return performance.now();
};
const p = JSON.parse(readFileSync(join(dataDir, 'params.json'), 'utf8'));
const backend = impl.startsWith('cpu') ? 'cpu' : 'tfjs';
const device = impl === 'tfjs-cpu' ? 'cpu' : 'wasm';
const plugins = [cpuPlugin, tfjsPlugin];

/** A float64 .npy read straight into shared memory (one copy, from the file): worker threads share it. */
function npy(name) {
  const file = join(dataDir, `${name}.npy`);
  const size = statSync(file).size;
  const sab = new SharedArrayBuffer(size);
  const fd = openSync(file, 'r');
  for (let off = 0; off < size; ) off += readSync(fd, new Uint8Array(sab, off, Math.min(1 << 30, size - off)), 0, Math.min(1 << 30, size - off), off);
  closeSync(fd);
  // touch every page before the clock starts: here the first access to a page that read() filled costs ~6 µs (a
  // fault per page: ~2.6 s for squared-big's 1.6 GB, inside the timing otherwise), while NumPy's np.load leaves its
  // pages resident; both sides then start from data in memory
  const pages = new Uint8Array(sab);
  let touched = 0;
  for (let i = 0; i < size; i += 4096) touched += pages[i];
  if (Number.isNaN(touched)) throw new Error('unreachable');
  const bytes = Buffer.from(sab);
  const headerLen = bytes.readUInt16LE(8);
  const shape = /'shape': \(([^)]*)\)/.exec(bytes.subarray(10, 10 + headerLen).toString('latin1'))[1].split(',').filter((s) => s.trim()).map(Number);
  const off = 10 + headerLen; // a multiple of 64: the data is aligned
  return { rows: shape[0], cols: shape[1] ?? 1, data: new Float64Array(sab, off, (size - off) / 8) };
}

function tasksOf(X, y, T, n) {
  return Array.from({ length: T }, (_, t) => ({
    id: `t${t}`,
    index: t,
    X: { rows: n, cols: X.cols, data: X.data.subarray(t * n * X.cols, (t + 1) * n * X.cols) },
    y: y.data.subarray(t * n, (t + 1) * n),
    biasColumn: X.cols - 1,
  }));
}

const registry = new PluginRegistry(plugins);
// plugin-cpu runs heavy per-task work on both cores (the data is in shared memory); School's tasks are too small to
// be worth a thread hop; tfjs batches tasks itself
const executor = backend === 'cpu' && workload !== 'school-sweep' && workload !== 'predict' ? new WorkerExecutor(2) : undefined;
const spec = (body) => `apiVersion: weightshare/v1
name: bench
backend: ${backend}
backendOptions: { tfjs: { device: ${device} } }
data: { source: synthetic, tasks: 2, rows: 4 }
evaluate: { baselines: false, everyRound: false }
output: { write: false }
${body}`;

const outputs = {};
let seconds;
if (workload === 'logistic-many' || workload === 'squared-big' || workload === 'mlp') {
  const X = npy('X');
  const y = npy('y');
  const tasks = tasksOf(X, y, p.T, p.n);
  const data = { featureNames: Array.from({ length: p.d }, (_, j) => `x${j}`), biasColumn: p.d - 1, taskIds: tasks.map((t) => t.id), train: tasks, test: tasks.map((t) => ({ ...t, X: { ...t.X, rows: 1, data: t.X.data.subarray(0, p.d) }, y: t.y.subarray(0, 1) })), standardization: null, files: [] };
  const runs =
    workload === 'mlp'
      ? // every task starts from the model's one seeded θ0 (what the reference reads from theta0.npy), fits alone
        // (λ = 0, the same Adam), then exactly `rounds` rounds pulled towards the mean
        { W: `model: { method: mlp, hidden: [${p.hidden.join(', ')}], activation: tanh }
init: { method: independent }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: adam, lambda: ${p.lambda}, ridge: ${p.ridge}, lr: ${p.lr}, epochs: ${p.epochs}, tol: 0 }
rounds: ${p.rounds}` }
      : workload === 'logistic-many'
      ? { W: `loss: logistic
init: { method: independent, ridge: ${p.initRidge} }
relation: { method: estimate, similarity: cosine, knn: ${p.knn} }
stages:
  propagate: { method: laplacian, alpha: ${p.alpha} }
  fuse: { method: identity }
  optimize: { method: adam, lambda: ${p.lambda}, ridge: ${p.ridge}, lr: ${p.lr}, epochs: ${p.epochs}, tol: 0 }
rounds: ${p.rounds}` }
      : {
          W_gd: `init: { method: zeros }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: ${p.lambda}, ridge: ${p.ridge}, epochs: ${p.epochs}, tol: 0 }`,
          W_exact: `init: { method: zeros }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: ${p.lambda}, ridge: ${p.ridge}${impl === 'cpu' ? '' : ', tol: 1e-7'} }`,
        };
  const t0 = start();
  for (const [key, body] of Object.entries(runs)) {
    const out = await runPipeline(loadSpecText(spec(body), 'bench.yaml', registry), registry, { data, ...(executor ? { executor } : {}) });
    outputs[key] = out.weights;
    // the objective after the last round (framework code, float64), which the reference computes too
    const objective = { rows: 1, cols: 1, data: Float64Array.of(out.results.rounds.at(-1).objective.total) };
    if (workload === 'squared-big') outputs[key.replace('W_', 'objective_')] = objective;
    if (workload === 'logistic-many') outputs.objective = objective;
    if (workload === 'mlp') {
      // rounds: N runs exactly N rounds; the objective (framework, float64) after the last one
      const rounds = out.results.rounds;
      if (rounds.length !== p.rounds) throw new Error(`ran ${rounds.length} rounds, expected ${p.rounds}`);
      outputs.objective = { rows: 1, cols: 1, data: Float64Array.of(rounds.at(-1).objective.total) };
    }
  }
  seconds = (performance.now() - t0) / 1000;
} else if (workload === 'propagate') {
  const A = npy('A');
  const B = npy('B');
  const plugin = backend === 'cpu' ? cpuPlugin : tfjsPlugin;
  await plugin.setup?.({ device });
  const ctx = { round: 1, rng: new Rng(1), executor: executor ?? new InProcessExecutor(), cache: new Map(), purpose: 'stage' };
  const defaults = (m) => Object.fromEntries(Object.entries(m.options).filter(([, s]) => s.default !== undefined).map(([k, s]) => [k, s.default]));
  const t0 = start();
  for (const [key, method, extra] of [['C_solve', 'solve', {}], ['C_laplacian', 'laplacian', { alpha: p.alpha }], ['C_ppr', 'ppr', { alpha: p.pprAlpha }]]) {
    const m = plugin.stages.propagate[method];
    outputs[key] = (await m.run({ relation: A, weights: B }, { ...defaults(m), ...extra, ...(backend === 'tfjs' ? { tol: 1e-7, maxIterations: 5000 } : {}), ...(impl === 'cpu-direct' ? { solver: 'direct' } : {}) }, ctx)).propagated;
  }
  seconds = (performance.now() - t0) / 1000;
} else if (workload === 'predict') {
  const out = join(outDir, 'predictions.csv');
  rmSync(out, { force: true });
  const t0 = start();
  const report = loadModel(p.modelDir).predictCsv(p.csv, { out, keep: false });
  seconds = (performance.now() - t0) / 1000;
  if (report.rows !== p.N) throw new Error(`predicted ${report.rows} rows, expected ${p.N}`);
  // outside the clock: the predictions as an array, for the agreement check
  const lines = readFileSync(out, 'utf8').trim().split('\n').slice(1);
  outputs.pred = { rows: 1, cols: lines.length, data: Float64Array.from(lines, (l) => Number(l.split(',')[2])) };
} else if (workload === 'school-sweep') {
  const mses = [];
  const objectives = [];
  const t0 = start();
  for (let s = 1; s <= p.nSplits; s++)
    for (const lam of p.lambdas) {
      const { loaded, registry: reg } = await loadPipeline(p.spec, plugins, {
        backend,
        set: [`split.column=split_${s}`, `stages.optimize.lambda=${lam}`, `stages.optimize.ridge=${p.ridge}`, `init.ridge=${p.initRidge}`, `rounds=${p.rounds}`, 'evaluate.baselines=false', 'evaluate.everyRound=false', 'output.write=false', `backendOptions.tfjs.device=${device}`],
      });
      const { results } = await runPipeline(loaded, reg, executor ? { executor } : {});
      mses.push(results.models.shared.mse);
      objectives.push(results.rounds.at(-1).objective.total);
    }
  seconds = (performance.now() - t0) / 1000;
  outputs.mse = { rows: 1, cols: mses.length, data: Float64Array.from(mses) };
  outputs.objective = { rows: 1, cols: objectives.length, data: Float64Array.from(objectives) };
}
await executor?.close();
for (const [k, m] of Object.entries(outputs)) writeFileSync(join(outDir, `${k}.npy`), encodeNpy(m));
// VmHWM: the peak of this address space (maxRSS would include the peak of the process that forked this one)
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
writeFileSync(join(outDir, 'timing.json'), JSON.stringify({ seconds, peakRssBytes: hwm * 1024, minorFaults: minorFaults() - faultsAtStart }));
