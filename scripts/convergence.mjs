#!/usr/bin/env node
// Regenerates docs/convergence.md: how many rounds plain alternation and Anderson acceleration need to reach the
// fixed point on School (published split 1), for mean-regularized MTL and for graph fusion, and how far each stopping
// point is from the closed-form oracle. The oracles are computed independently in NumPy (python3 with numpy):
// mean-regularized by its d×d system, graph-regularized by the (T·d)×(T·d) system of Σ‖y−Xw‖² + ρ‖Pw‖² + λ Σ a‖w_s−w_t‖².
// Usage: npm run build && node scripts/convergence.mjs [--tol 1e-11] [--max 60000]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeNpy, loadSpecText, PluginRegistry, runPipeline } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { tfjsPlugin } from '@weightshare/plugin-tfjs';
import { maxRelativeError } from '../bench/common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
const tol = Number(arg('--tol', '1e-11'));
const max = Number(arg('--max', '60000'));
const lambdas = [10, 100, 1000];
const ridge = 1;
const base = readFileSync(join(root, 'pipelines/school-mean-regularized.yaml'), 'utf8').replace(/^sweep:[\s\S]*$/m, '');
const fusions = {
  'mean-regularized (fuse: mean)': [],
  'graph fusion (cosine kNN-10 graph, fuse: weighted-mean per task)': [
    'relation={method: estimate, similarity: cosine, knn: 10}',
    'stages.fuse={method: weighted-mean, scope: per-task, weights: edges}',
  ],
};
const reg = new PluginRegistry([cpuPlugin, tfjsPlugin]);
const work = mkdtempSync(join(tmpdir(), 'weightshare-convergence-'));

async function run(set) {
  const loaded = loadSpecText(base, join(root, 'pipelines/school-mean-regularized.yaml'), reg, {
    set: ['output.write=false', 'evaluate.baselines=false', 'evaluate.everyRound=false', `stages.optimize.ridge=${ridge}`, ...set],
  });
  const t0 = performance.now();
  const out = await runPipeline(loaded, reg);
  return { out, seconds: (performance.now() - t0) / 1000 };
}

/** The closed-form weights, from NumPy, for the training rows and relation of `out`. */
function oracle(out, lambda, graph) {
  const { train } = out.data;
  const d = train[0].X.cols;
  for (const t of train) {
    writeFileSync(join(work, `X${t.index}.npy`), encodeNpy(t.X));
    writeFileSync(join(work, `y${t.index}.npy`), encodeNpy({ rows: t.y.length, cols: 1, data: Float64Array.from(t.y) }));
  }
  writeFileSync(join(work, 'A.npy'), encodeNpy(out.relation));
  const py = `
import numpy as np, sys
w, T, d, lam, rho, bias, graph = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == '1'
X = [np.load(f'{w}/X{t}.npy') for t in range(T)]; y = [np.load(f'{w}/y{t}.npy')[:, 0] for t in range(T)]
P = np.eye(d); P[bias, bias] = 0
G = [x.T @ x + rho * P for x in X]; b = [x.T @ v for x, v in zip(X, y)]
if graph:
    A = np.load(f'{w}/A.npy'); A = A - np.diag(np.diag(A)); L = np.diag(A.sum(1)) - A
    K = np.kron(lam * L, np.eye(d))
    for t in range(T): K[t*d:(t+1)*d, t*d:(t+1)*d] += G[t]
    W = np.linalg.solve(K, np.concatenate(b)).reshape(T, d)
else:
    H = [np.linalg.inv(g + lam * np.eye(d)) for g in G]
    E = np.linalg.solve(np.eye(d) - lam / T * sum(H), sum(h @ v for h, v in zip(H, b)) / T)
    W = np.stack([h @ (v + lam * E) for h, v in zip(H, b)])
np.save(f'{w}/oracle.npy', W)
`;
  execFileSync('python3', ['-c', py, work, String(train.length), String(d), String(lambda), String(ridge), String(train[0].biasColumn), graph ? '1' : '0']);
  const buf = readFileSync(join(work, 'oracle.npy'));
  const headerLen = buf.readUInt16LE(8);
  return new Float64Array(buf.buffer.slice(buf.byteOffset + 10 + headerLen, buf.byteOffset + buf.length));
}

const rows = [];
for (const [fusion, extra] of Object.entries(fusions)) {
  for (const lambda of lambdas) {
    const cells = {};
    let W0;
    for (const mode of ['none', 'anderson']) {
      const { out, seconds } = await run([...extra, `stages.optimize.lambda=${lambda}`, `rounds={max: ${max}, tol: ${tol}, acceleration: ${mode}}`]);
      W0 ??= oracle(out, lambda, extra.length > 0);
      const c = out.results.convergence;
      cells[mode] = { rounds: out.results.rounds.length, converged: c.converged, error: maxRelativeError(out.weights.data, W0), seconds };
      console.error(`${fusion} λ=${lambda} ${mode}: ${cells[mode].rounds} rounds${c.converged ? '' : ' (not converged)'}, error ${cells[mode].error.toExponential(1)}, ${seconds.toFixed(1)} s`);
    }
    rows.push({ fusion, lambda, ...cells });
  }
}

const roundsCell = (c) => `${c.rounds}${c.converged ? '' : ` (max, not converged)`}`;
const doc = [
  '# Convergence of the rounds',
  '',
  `Rounds alternate propagate → fuse → optimize; for the built-in combinations below their fixed point is a closed form`,
  `(mean-regularized MTL, Evgeniou & Pontil 2004; graph-regularized MTL), and the plain alternation approaches it`,
  `linearly, more slowly as λ grows. \`rounds: { max, tol, acceleration: anderson }\` stops when the relative change of W`,
  `falls below \`tol\` and accelerates the round map W → optimize(fuse(propagate(W))) by safeguarded Anderson`,
  `acceleration (memory 5; a step that does not decrease the residual falls back to the plain round).`,
  '',
  `School, published split 1 (139 tasks, 27 features + bias, 11,472 training rows), exact optimizer, ridge ${ridge},`,
  `tol ${tol} on the relative change of W, at most ${max} rounds; "error" is max|W − W*| / max|W*| against the closed`,
  `form W* computed independently in NumPy. Machine: ${cpus().length} × ${cpus()[0].model.trim()}, Node ${process.version}.`,
  '',
  '| fusion | λ | plain rounds | plain error | plain time | Anderson rounds | Anderson error | Anderson time | rounds saved |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.fusion} | ${r.lambda} | ${roundsCell(r.none)} | ${r.none.error.toExponential(1)} | ${r.none.seconds.toFixed(1)} s | ${roundsCell(r.anderson)} | ${r.anderson.error.toExponential(1)} | ${r.anderson.seconds.toFixed(1)} s | ${r.none.converged ? '' : '> '}${(r.none.rounds / r.anderson.rounds).toFixed(1)}× |`,
  ),
  '',
  'Reading the table: the plain error at its stopping point is about tol / (1 − rate), so a slow rate (large λ) stops',
  'further from the fixed point for the same tol; Anderson reaches the fixed point to the same or better accuracy in',
  'a fraction of the rounds. The pipelines in `pipelines/` use `rounds: { max: 2000, tol: 1.0e-8, acceleration: anderson }`.',
  '',
  'Produced by:',
  '',
  '```sh',
  `npm run build && node scripts/convergence.mjs --tol ${tol} --max ${max}`,
  '```',
  '',
];
writeFileSync(join(root, 'docs/convergence.md'), doc.join('\n'));
console.error('wrote docs/convergence.md');
