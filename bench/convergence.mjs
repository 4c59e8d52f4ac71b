#!/usr/bin/env node
/**
 * Time to a converged answer: mean-regularized MTL on School (published split 1, exact optimizer, ridge 1) until the
 * relative change of W is at most 1e-8, at λ ∈ {100, 1000}:
 *   weightshare  plugin-cpu, rounds { tol: 1e-8, acceleration: anderson } (the pipelines' setting), in process
 *   NumPy plain  the batched exact solve alternated to the same tolerance (bench/reference/school_converge.py)
 *   NumPy closed the fixed point in closed form (one batched solve and one d×d solve)
 * Every side starts from the prepared training rows in memory (reading and standardizing the CSV is outside the
 * clock) and computes XᵀX itself; weightshare's clock is runPipeline on a fresh copy of the rows (so no XᵀX is
 * cached from a previous run), without baselines or per-round evaluation. Times are medians of 3. "error" is
 * max|W − W*| / max|W*| against NumPy's closed form.
 *   node bench/convergence.mjs [--write]   (--write replaces the block in bench/RESULTS.md)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeNpy, encodeNpy, loadPipeline, runPipeline } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { checkFlags, freshData, maxRelativeError, median } from './common.mjs';

checkFlags(['--write'], 'usage: node bench/convergence.mjs [--write]');

const root = fileURLToPath(new URL('..', import.meta.url));
const TOL = 1e-8;
const LAMBDAS = [100, 1000];
const RIDGE = 1;
const work = mkdtempSync(join(tmpdir(), 'weightshare-convergence-bench-'));

const load = (lambda) =>
  loadPipeline(join(root, 'pipelines/school-mean-regularized.yaml'), [cpuPlugin], {
    set: ['output.write=false', 'evaluate.baselines=false', 'evaluate.everyRound=false', `stages.optimize.lambda=${lambda}`, `stages.optimize.ridge=${RIDGE}`, `rounds={max: 100000, tol: ${TOL}, acceleration: anderson}`],
  });

const rows = [];
for (const lambda of LAMBDAS) {
  const { loaded, registry } = await load(lambda);
  const first = await runPipeline(loaded, registry);
  const { train } = first.data;
  for (const t of train) {
    writeFileSync(join(work, `X${t.index}.npy`), encodeNpy(t.X));
    writeFileSync(join(work, `y${t.index}.npy`), encodeNpy({ rows: t.y.length, cols: 1, data: Float64Array.from(t.y) }));
  }
  const times = [];
  let out;
  for (let r = 0; r < 3; r++) {
    const data = freshData(first.data);
    const t0 = performance.now();
    out = await runPipeline(loaded, registry, { data });
    times.push((performance.now() - t0) / 1000);
  }
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const py = JSON.parse(execFileSync('python3', [join(root, 'bench/reference/school_converge.py'), work, String(train.length), String(lambda), String(RIDGE), String(TOL), join(work, `W${lambda}`)], { encoding: 'utf8', env }));
  const closed = decodeNpy(readFileSync(join(work, `W${lambda}-closed.npy`))).data;
  const plain = decodeNpy(readFileSync(join(work, `W${lambda}-plain.npy`))).data;
  const ours = median(times);
  rows.push(`| ${lambda} | weightshare (Anderson) | ${out.results.convergence.rounds} | ${ours.toFixed(3)} s | ${maxRelativeError(out.weights.data, closed).toExponential(1)} | 1.00× |`);
  rows.push(`| ${lambda} | NumPy, plain alternation | ${py.plain.rounds} | ${py.plain.seconds.toFixed(3)} s | ${maxRelativeError(plain, closed).toExponential(1)} | ${(py.plain.seconds / ours).toFixed(2)}× |`);
  rows.push(`| ${lambda} | NumPy, closed form | — | ${py.closed.seconds.toFixed(3)} s | 0 (the reference) | ${(py.closed.seconds / ours).toFixed(2)}× |`);
}
rmSync(work, { recursive: true, force: true });
const machine = `${cpus().length} × ${cpus()[0].model}, Node ${process.version}, NumPy with OpenBLAS on ${cpus().length} cores`;
const block = `<!-- convergence -->
Machine: ${machine}. Command: \`node bench/convergence.mjs --write\` (medians of 3).

| λ | implementation | rounds | time | error vs closed form | its time / weightshare's |
|---:|---|---:|---:|---:|---:|
${rows.join('\n')}
<!-- /convergence -->`;
console.log(block);
if (process.argv.includes('--write')) {
  const file = join(root, 'bench/RESULTS.md');
  const doc = readFileSync(file, 'utf8');
  const re = /<!-- convergence -->[\s\S]*?<!-- \/convergence -->/;
  writeFileSync(file, re.test(doc) ? doc.replace(re, block) : `${doc.trimEnd()}\n\n${block}\n`);
}
