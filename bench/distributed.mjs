#!/usr/bin/env node
/**
 * The distributed sweep against the local one, in one run on this machine (`node bench/distributed.mjs [--repeat N]
 * [--spec pipelines/x.yaml]`): a Redis server on 127.0.0.1 and a free port, 2 `weightshare worker` processes
 * (concurrency 1 each), and the School sweep run locally with `--jobs 2` and through Redis, alternately, N times each.
 * Reports the median wall times, the overhead, the jobs, and the bytes Redis moved (its INFO counters), and writes the
 * block between the markers in bench/RESULTS-distributed.md. Both sweeps must write the same summary.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { bin, median, netBytes, root, startLab, writeBlock } from './redis-lab.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const repeat = Number(arg('--repeat', '3'));
const spec = arg('--spec', 'pipelines/school-mean-regularized.yaml');
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error('bench/distributed: --repeat takes a positive integer.\nusage: node bench/distributed.mjs [--repeat N] [--spec file]');
  process.exit(2);
}

const lab = await startLab({ workers: 2, concurrency: 1 });
const { url, work } = lab;

function sweep(extra) {
  const out = mkdtempSync(join(work, 'out-'));
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, 'sweep', spec, '--out', out, '--no-cache', ...extra], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sweep failed:\n${r.stderr}`);
  const dir = join(out, readdirSync(out).find((n) => n.includes('-sweep-')));
  const summary = readFileSync(join(dir, 'summary.json'), 'utf8');
  const jobs = readdirSync(join(dir, 'jobs')).length;
  rmSync(out, { recursive: true, force: true });
  return { seconds, summary, jobs };
}

const local = [];
const remote = [];
const bytes = [];
try {
  for (let i = 0; i < repeat; i++) {
    local.push(sweep(['--jobs', '2']));
    const before = await lab.info();
    remote.push(sweep(['--jobs', '2', '--executor', url]));
    bytes.push(netBytes(before, await lab.info()));
    console.error(`round ${i + 1}: local ${local.at(-1).seconds.toFixed(1)} s, redis ${remote.at(-1).seconds.toFixed(1)} s`);
  }
} finally {
  await lab.stop();
}
if (!remote.every((r) => r.summary === local[0].summary) || !local.every((r) => r.summary === local[0].summary)) {
  console.error('bench/distributed: the sweeps through Redis did not write the summary.json the local sweep wrote.');
  process.exit(1);
}
const [l, r] = [median(local.map((x) => x.seconds)), median(remote.map((x) => x.seconds))];
const validationJobs = local[0].jobs - JSON.parse(local[0].summary).splits.length;
const block = [
  `Machine: ${cpus().length} × ${cpus()[0].model}, Node ${process.version}. Command: \`node bench/distributed.mjs --repeat ${repeat}\``,
  `(\`${spec}\`, \`--no-cache\`; medians of ${repeat} alternating runs; Redis on 127.0.0.1, 2 worker processes with \`--concurrency 1\`).`,
  '',
  '| sweep | wall time (median) | all runs | jobs |',
  '|---|---|---|---|',
  `| local, \`--jobs 2\` | ${l.toFixed(1)} s | ${local.map((x) => x.seconds.toFixed(1)).join(', ')} s | ${local[0].jobs} (all on 2 threads) |`,
  `| Redis, 2 workers | ${r.toFixed(1)} s | ${remote.map((x) => x.seconds.toFixed(1)).join(', ')} s | ${validationJobs} on the workers, ${local[0].jobs - validationJobs} refits on the coordinator |`,
  '',
  `Overhead: **${((100 * (r - l)) / l).toFixed(1)}%** of the local wall time (target ≤ 15%). Bytes through Redis per sweep (in + out,`,
  `its INFO counters; jobs, results, locks and events): median ${(median(bytes) / 1024).toFixed(0)} KiB, ${(median(bytes) / validationJobs / 1024).toFixed(1)} KiB per job.`,
  'Both write the same summary.json (checked).',
].join('\n');
console.log(block);
writeBlock(readFileSync, writeFileSync, 'distributed', block);
