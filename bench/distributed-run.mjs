#!/usr/bin/env node
/**
 * A per-task-sharded run through Redis against the same run on local threads, in one run on this machine
 * (`node bench/distributed-run.mjs [--repeat N] [--tasks T --rows n --features d]`). The workload is squared-big's
 * size (bench/run.mjs workload 3): T = 20 tasks × 50,000 training rows × 200 features of synthetic data, squared loss
 * by gradient descent from XᵀX (200 epochs a round), mean-regularized (fuse: mean, λ = 1).
 *
 * Each configuration runs with R1 and R2 rounds; the cost of a round is the difference of their wall times over
 * R2 − R1 (so data generation, start-up and the first computation of XᵀX drop out), and so are the bytes per
 * round (the coordinator's own count of job payloads and blobs, and Redis's INFO counters, in + out). Local:
 * `--threads 2`. Redis: 2 worker processes (`--concurrency 1`), `--shards 2`, after one warm-up run that lets the
 * workers prepare the data (they keep it, and their XᵀX, from one run to the next; said in the report). Both must
 * print the same results. Writes its block in bench/RESULTS-distributed.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { bin, median, netBytes, root, startLab, writeBlock } from './redis-lab.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const repeat = arg('--repeat', 3);
const T = arg('--tasks', 20);
const n = arg('--rows', 50000);
const d = arg('--features', 200);
const [R1, R2] = [arg('--rounds-low', 2), arg('--rounds-high', 8)];
for (const [k, v] of Object.entries({ repeat, T, n, d, R1, R2 }))
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bench/distributed-run: ${k} must be a positive integer.\nusage: node bench/distributed-run.mjs [--repeat N] [--tasks T] [--rows n] [--features d] [--rounds-low R1] [--rounds-high R2]`);
    process.exit(2);
  }

const lab = await startLab({ workers: 2, concurrency: 1 });
// 20% of each task's rows are test rows: n training rows
const spec = join(lab.work, 'big.yaml');
writeFileSync(
  spec,
  `apiVersion: weightshare/v1
name: big-run
seed: 11
data: { source: synthetic, tasks: ${T}, clusters: 2, features: ${d}, rows: ${Math.round(n / 0.8)}, noise: 1 }
split: { method: random, testFraction: 0.2 }
init: { method: zeros }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, epochs: 200, tol: 0, lambda: 1, ridge: 0.1 }
evaluate: { baselines: false }
output: { write: false }
`,
);

function run(rounds, extra) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, 'run', spec, '--json', '--no-cache', '--set', `rounds=${rounds}`, ...extra], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`run failed:\n${r.stderr}`);
  const m = /per-task work through Redis: (\d+) jobs for (\d+) calls \(([\d.]+) MiB sent, ([\d.]+) MiB received\)/.exec(r.stderr);
  return { seconds, results: r.stdout, jobs: m ? Number(m[1]) : 0, calls: m ? Number(m[2]) : 0, sent: m ? Number(m[3]) * 1048576 : 0, received: m ? Number(m[4]) * 1048576 : 0 };
}

const remoteArgs = ['--executor', lab.url, '--shards', '2'];
const rows = { local: { [R1]: [], [R2]: [] }, redis: { [R1]: [], [R2]: [] } };
const redisBytes = { [R1]: [], [R2]: [] };
let warm;
try {
  const w0 = performance.now();
  warm = run(R1, remoteArgs);
  console.error(`warm-up through Redis (the workers prepare the data): ${((performance.now() - w0) / 1000).toFixed(1)} s`);
  for (let i = 0; i < repeat; i++) {
    for (const R of [R1, R2]) {
      rows.local[R].push(run(R, ['--threads', '2']));
      const before = await lab.info();
      rows.redis[R].push(run(R, remoteArgs));
      redisBytes[R].push(netBytes(before, await lab.info()));
      console.error(`repeat ${i + 1}, ${R} rounds: local ${rows.local[R].at(-1).seconds.toFixed(1)} s, redis ${rows.redis[R].at(-1).seconds.toFixed(1)} s`);
    }
  }
} finally {
  await lab.stop();
}
// the same numbers, wherever the work ran (the JSON has no times)
for (const R of [R1, R2]) {
  const all = [...rows.local[R], ...rows.redis[R]].map((x) => x.results);
  if (!all.every((x) => x === all[0])) {
    console.error(`bench/distributed-run: the runs of ${R} rounds did not all print the same results.`);
    process.exit(1);
  }
}
const med = (xs, f) => median(xs.map(f));
const perRound = (kind) => (med(rows[kind][R2], (x) => x.seconds) - med(rows[kind][R1], (x) => x.seconds)) / (R2 - R1);
const [lr, rr] = [perRound('local'), perRound('redis')];
const W = T * (d + 1) * 8;
const coordPerRound = (med(rows.redis[R2], (x) => x.sent + x.received) - med(rows.redis[R1], (x) => x.sent + x.received)) / (R2 - R1);
const sentPerRound = (med(rows.redis[R2], (x) => x.sent) - med(rows.redis[R1], (x) => x.sent)) / (R2 - R1);
const recvPerRound = (med(rows.redis[R2], (x) => x.received) - med(rows.redis[R1], (x) => x.received)) / (R2 - R1);
const redisPerRound = (median(redisBytes[R2]) - median(redisBytes[R1])) / (R2 - R1);
const jobsPerRound = (rows.redis[R2][0].jobs - rows.redis[R1][0].jobs) / (R2 - R1);
const s = (x) => x.toFixed(2);
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
const block = [
  `Machine: ${cpus().length} × ${cpus()[0].model.replace(/ \d+-Core Processor/, '')}, Node ${process.version}. Command: \`node bench/distributed-run.mjs --repeat ${repeat}\``,
  `(T = ${T} tasks × ${n.toLocaleString('en')} training rows × ${d} features, squared loss, gd 200 epochs a round from XᵀX, fuse: mean;`,
  `medians of ${repeat}; a round's cost = (time of ${R2} rounds − time of ${R1}) / ${R2 - R1}; Redis on 127.0.0.1, 2 worker processes with \`--concurrency 1\`, \`--shards 2\`).`,
  '',
  `| run | ${R1} rounds (median) | ${R2} rounds (median) | per round | jobs per round |`,
  '|---|---|---|---|---|',
  `| local, \`--threads 2\` | ${s(med(rows.local[R1], (x) => x.seconds))} s | ${s(med(rows.local[R2], (x) => x.seconds))} s | ${(1000 * lr).toFixed(0)} ms | — |`,
  `| Redis, 2 workers | ${s(med(rows.redis[R1], (x) => x.seconds))} s | ${s(med(rows.redis[R2], (x) => x.seconds))} s | ${(1000 * rr).toFixed(0)} ms | ${jobsPerRound} |`,
  '',
  `Overhead per round: **${((100 * (rr - lr)) / lr).toFixed(1)}%** (target ≤ 25%).`,
  `Bytes per round, W = ${T} × ${d + 1} float64 = ${kib(W)}: the coordinator sent ${kib(sentPerRound)} and received ${kib(recvPerRound)} (jobs, blobs, results):`,
  `**${(coordPerRound / W).toFixed(2)}× W** (target ≤ 2×); through Redis, in + out, all counted (each byte enters and leaves it; BullMQ's locks and events): ${kib(redisPerRound)} = ${(redisPerRound / W).toFixed(2)}× W.`,
  `Warm-up run (the workers generate and prepare the data, and compute XᵀX, once): ${s(warm.seconds)} s. All runs printed the same results (checked).`,
].join('\n');
console.log(block);
writeBlock(readFileSync, writeFileSync, 'distributed-run', block);
