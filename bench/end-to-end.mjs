#!/usr/bin/env node
/**
 * Model selection on School as a user sees it: the whole `weightshare sweep pipelines/school-mean-regularized.yaml
 * --jobs 2` command (process start to exit: spec, CSV files, validation quarter, λ grid of 5 on 10 splits with the
 * rounds run to convergence, refits, baselines, the sweep folder written) against the whole NumPy script doing the
 * same model selection (bench/reference/school_select.py: the closed form per λ), each run in turn (A B A B …) so
 * that a drift of the machine's speed hits both; medians of --repeat runs (default 5) and the median of the paired
 * ratios. Both print their test MSE, which must agree.
 *   node bench/end-to-end.mjs [--repeat 5] [--write]   (--write replaces the block in bench/RESULTS.md)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkFlags, median } from './common.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
checkFlags(['--repeat', '--write'], 'usage: node bench/end-to-end.mjs [--repeat 5] [--write]');
const repeat = Number(arg('--repeat', '5'));
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) {
  console.error('--repeat: expected a whole number of runs from 1 to 100, e.g. --repeat 5.');
  process.exit(2);
}
const env = { ...process.env };
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;

/** Wall seconds of one run of a command, and what it printed. */
function run(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { seconds, stdout: r.stdout };
}

const ours = [];
const theirs = [];
let mseOurs;
let mseTheirs;
for (let i = 0; i <= repeat; i++) {
  const out = mkdtempSync(join(tmpdir(), 'weightshare-e2e-'));
  const a = run(process.execPath, ['packages/cli/bin/weightshare.js', 'sweep', 'pipelines/school-mean-regularized.yaml', '--jobs', '2', '--out', out, '--no-cache', '--json']);
  rmSync(out, { recursive: true, force: true });
  const b = run('python3', ['bench/reference/school_select.py', 'data/school/school.csv', 'data/school/school_splits.csv', '--json']);
  mseOurs = JSON.parse(a.stdout).summary.shared.mse.mean;
  mseTheirs = JSON.parse(b.stdout).mse.shared[0];
  if (i === 0) continue; // a warm-up pair (file cache, compiled modules)
  ours.push(a.seconds);
  theirs.push(b.seconds);
}
const ratios = ours.map((s, i) => s / theirs[i]);
const block = `<!-- end-to-end -->
Machine: ${cpus().length} × ${cpus()[0].model}, Node ${process.version}. Command: \`node bench/end-to-end.mjs --write\` (${repeat} runs of each, in turn, after a warm-up pair; whole processes).

| command | wall time (median; min–max) | test MSE over the 10 splits |
|---|---|---|
| \`weightshare sweep pipelines/school-mean-regularized.yaml --jobs 2\` | ${median(ours).toFixed(2)} s (${Math.min(...ours).toFixed(2)}–${Math.max(...ours).toFixed(2)}) | ${mseOurs.toFixed(3)} |
| \`python3 bench/reference/school_select.py …\` (NumPy, closed form) | ${median(theirs).toFixed(2)} s (${Math.min(...theirs).toFixed(2)}–${Math.max(...theirs).toFixed(2)}) | ${mseTheirs.toFixed(3)} |

weightshare / NumPy: ${median(ratios).toFixed(2)}× (median of the paired ratios; ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}).
<!-- /end-to-end -->`;
console.log(block);
if (process.argv.includes('--write')) {
  const file = join(root, 'bench/RESULTS.md');
  const doc = readFileSync(file, 'utf8');
  const re = /<!-- end-to-end -->[\s\S]*?<!-- \/end-to-end -->/;
  writeFileSync(file, re.test(doc) ? doc.replace(re, block) : `${doc.trimEnd()}\n\n${block}\n`);
}
