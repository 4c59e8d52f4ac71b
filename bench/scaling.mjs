#!/usr/bin/env node
/**
 * How the per-round work scales: time per round against the number of tasks T (rows per task fixed) and against the
 * rows per task n (T fixed), on synthetic data (20 features with the bias), plugin-cpu in process (one thread), for
 *   exact    mean-regularized, the exact optimizer from cached XᵀX: a round is T solves of order d (O(T·d²), no rows)
 *   gd rows  logistic loss, 10 epochs of full-batch gd a round: O(T·n·d) per epoch
 * A round's time is (time of 2 + k rounds − time of 2 rounds) / k on the same prepared data (k = 10, or more so that
 * the k rounds take at least 0.5 s, after a warm-up run), so data preparation, the initial fits and the final evaluation cancel out; each
 * is the median of 3. The fitted exponent is the slope of
 * log(time) against log(size), least squares over the points. Writes bench/scaling.svg (log-log, the report's chart
 * format: Vega-Lite rendered to SVG), the measured points to bench/scaling.json and, with --write, the table in
 * bench/RESULTS.md. --redraw draws the chart and the table again from bench/scaling.json without measuring.
 *   node bench/scaling.mjs [--quick] [--write] [--redraw]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSpecText, PluginRegistry, runPipeline } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { renderSvg } from '../packages/cli/dist/report-charts.js';
import { checkFlags, freshData, median } from './common.mjs';

checkFlags(['--quick', '--write', '--redraw'], 'usage: node bench/scaling.mjs [--quick] [--write] [--redraw]');

const root = fileURLToPath(new URL('..', import.meta.url));
const quick = process.argv.includes('--quick');
const registry = new PluginRegistry([cpuPlugin]);
const FEATURES = 19;
const VARIANTS = {
  exact: 'stages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact, lambda: 10, ridge: 1 }\n',
  'gd rows': 'loss: logistic\nstages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: gd, lambda: 1, ridge: 0.1, epochs: 10, tol: 0 }\ninit: { method: independent, ridge: 0.1 }\n',
};
const SWEEPS = quick
  ? { tasks: { values: [100, 400], fixed: 50 }, rows: { values: [50, 400], fixed: 50 } }
  : { tasks: { values: [100, 300, 1000, 3000, 10000, 20000], fixed: 50 }, rows: { values: [50, 200, 1000, 5000, 20000], fixed: 100 } };

const spec = (variant, T, n, rounds) =>
  loadSpecText(
    `apiVersion: weightshare/v1\nname: scaling\nseed: 3\ndata: { source: synthetic, tasks: ${T}, clusters: 5, features: ${FEATURES}, rows: ${Math.ceil(n / 0.75)} }\nevaluate: { baselines: false, everyRound: false }\noutput: { write: false }\nrounds: ${rounds}\n${VARIANTS[variant]}`,
    join(root, 'bench/scaling.yaml'),
    registry,
  );

/** Seconds per round of `variant` at T tasks × n training rows each. */
async function perRound(variant, T, n) {
  const first = await runPipeline(spec(variant, T, n, 2), registry);
  const time = async (rounds) => {
    // a fresh copy of the rows each time: nothing cached from an earlier run (XᵀX) is reused
    const data = freshData(first.data);
    const t0 = performance.now();
    await runPipeline(spec(variant, T, n, rounds), registry, { data });
    return (performance.now() - t0) / 1000;
  };
  await time(2); // warm: the first run of a size pays for compiling and first allocations
  // enough extra rounds that they take ≥ 0.5 s (a run's fixed cost varies by more than a few rounds at large T)
  let extra = 10;
  for (;;) {
    const took = (await time(2 + extra)) - (await time(2));
    if (took >= 0.5 || extra >= 100000) break;
    extra = Math.min(100000, Math.ceil((extra * 0.6) / Math.max(took, 0.005)));
  }
  const diffs = [];
  for (let r = 0; r < 3; r++) diffs.push(((await time(2 + extra)) - (await time(2))) / extra);
  return Math.max(median(diffs), 1e-9);
}

/** Least-squares slope of log y against log x. */
function slope(points) {
  const xs = points.map((p) => Math.log(p.size));
  const ys = points.map((p) => Math.log(p.seconds));
  const mx = xs.reduce((a, b) => a + b) / xs.length;
  const my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

const redraw = process.argv.includes('--redraw');
const saved = join(root, 'bench/scaling.json');
if (redraw && !existsSync(saved)) {
  console.error('bench/scaling.json is missing: run node bench/scaling.mjs (without --redraw) to measure first.');
  process.exit(2);
}
const measured = redraw ? JSON.parse(readFileSync(saved, 'utf8')) : { machine: `${cpus().length} × ${cpus()[0].model}`, node: process.version, results: [] };
const results = measured.results;
if (!redraw)
  for (const [axis, { values, fixed }] of Object.entries(SWEEPS))
    for (const variant of Object.keys(VARIANTS)) {
      const points = [];
      for (const size of values) {
        const [T, n] = axis === 'tasks' ? [size, fixed] : [fixed, size];
        const seconds = await perRound(variant, T, n);
        points.push({ size, seconds });
        console.error(`${variant}, ${axis} ${size} (T ${T}, n ${n}): ${(seconds * 1000).toFixed(3)} ms per round`);
      }
      results.push({ axis, variant, fixed, points, exponent: slope(points) });
    }
if (!quick && !redraw) writeFileSync(saved, `${JSON.stringify(measured, null, 1)}\n`);

const fmt = (s) => (s >= 0.1 ? `${s.toFixed(2)} s` : s >= 1e-3 ? `${(s * 1000).toFixed(1)} ms` : `${(s * 1e6).toFixed(0)} µs`);
const table = [
  '| per-round work | varied | fixed | sizes → time per round | fitted exponent |',
  '|---|---|---|---|---:|',
  ...results.map(
    (r) =>
      `| ${r.variant} | ${r.axis === 'tasks' ? 'tasks T' : 'training rows per task n'} | ${r.axis === 'tasks' ? `n = ${r.fixed}` : `T = ${r.fixed}`} | ${r.points.map((p) => `${p.size}: ${fmt(p.seconds)}`).join(', ')} | ${r.exponent.toFixed(2)} |`,
  ),
];
const values = results.flatMap((r) => r.points.map((p) => ({ size: p.size, seconds: p.seconds, series: `${r.variant}, against ${r.axis === 'tasks' ? 'T' : 'n'} (exponent ${r.exponent.toFixed(2)})` })));
const svg = await renderSvg({
  width: 520,
  height: 300,
  title: 'Time per round (plugin-cpu, one thread), log-log',
  data: { values },
  mark: { type: 'line', point: true },
  encoding: {
    x: { field: 'size', type: 'quantitative', title: 'tasks T, or training rows per task n', scale: { type: 'log' } },
    y: { field: 'seconds', type: 'quantitative', title: 'seconds per round', scale: { type: 'log' } },
    color: { field: 'series', type: 'nominal', title: null, scale: { scheme: 'viridis' }, legend: { orient: 'bottom', columns: 2, labelLimit: 400 } },
    strokeDash: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2, labelLimit: 400 } },
  },
});
if (!quick) writeFileSync(join(root, 'bench/scaling.svg'), svg);
const block = `<!-- scaling -->
Machine: ${measured.machine}, Node ${measured.node}. Command: \`node bench/scaling.mjs --write\` (synthetic data, ${FEATURES} features and the bias; medians of 3).

${table.join('\n')}

![Time per round against T and n, log-log](scaling.svg)
<!-- /scaling -->`;
console.log(block);
if (process.argv.includes('--write') && !quick) {
  const file = join(root, 'bench/RESULTS.md');
  const doc = readFileSync(file, 'utf8');
  const re = /<!-- scaling -->[\s\S]*?<!-- \/scaling -->/;
  writeFileSync(file, re.test(doc) ? doc.replace(re, block) : `${doc.trimEnd()}\n\n${block}\n`);
}
