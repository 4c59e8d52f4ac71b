#!/usr/bin/env node
/**
 * A per-task-sharded run through Redis against the same run on local threads, in one run on this machine
 * (`node bench/distributed-run.mjs [--repeat N] [--tasks T --rows n --features d]`). The workload is squared-big's
 * size (bench/run.mjs workload 3): T = 20 tasks × 50,000 training rows × 200 features of synthetic data, squared loss
 * by gradient descent from XᵀX (200 epochs a round), mean-regularized (fuse: mean, λ = 1).
 *
 * Each run has R2 rounds, timed one by one from the --progress lines (so data generation and start-up drop out;
 * round 1, which computes XᵀX, is reported apart). Bytes per round: the coordinator's own count of job payloads and
 * blobs (a run of R1 rounds subtracted) and Redis's INFO counters (in + out) read at each round's line. Local:
 * `--threads 2`. Redis: 2 worker processes (`--concurrency 1`), `--shards 2`, after one warm-up run that lets the
 * workers prepare the data (they keep it, and their XᵀX, from one run to the next; said in the report). Both must
 * print the same results. Writes its block in bench/RESULTS-distributed.md.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { bin, median, netBytes, root, startLab, writeBlock } from './redis-lab.mjs';

const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
// --no-write: print the block only (the smoke test), leave bench/RESULTS-distributed.md as it is
const write = !args.includes('--no-write');
const repeat = arg('--repeat', 3);
const T = arg('--tasks', 20);
const n = arg('--rows', 50000);
const d = arg('--features', 200);
const [R1, R2] = [arg('--rounds-low', 2), arg('--rounds-high', 10)];
for (const [k, v] of Object.entries({ repeat, T, n, d, R1, R2 }))
  if (!Number.isInteger(v) || v < 1 || (k === 'R2' && v < R1 + 2)) {
    console.error(`bench/distributed-run: ${k} must be a positive integer.\nusage: node bench/distributed-run.mjs [--repeat N] [--tasks T] [--rows n] [--features d] [--rounds-low R1] [--rounds-high R2] [--no-write]`);
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

/**
 * One run, timed round by round: the moments its --progress lines for "round r · propagate" arrive (a round is the
 * time from its propagate line to the next one; the last round is not timed). Redis's INFO is read at each of those
 * moments too (for the bytes each round moved through it).
 */
function run(rounds, extra, info) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, 'run', spec, '--json', '--no-cache', '--progress', '--set', `rounds=${rounds}`, ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const marks = [];
    child.stdout.on('data', (x) => (stdout += x));
    child.stderr.on('data', (x) => {
      const at = performance.now();
      for (const line of String(x).split('\n')) if (/round \d+\/\d+ · propagate/.test(line)) marks.push({ at, redis: info ? info() : undefined });
      stderr += x;
    });
    child.on('exit', async (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`run failed:\n${stderr}`));
      const m = /per-task work through Redis: (\d+) jobs for (\d+) calls \(([\d.]+) MiB sent, ([\d.]+) MiB received\)/.exec(stderr);
      const rounds = [];
      const bytes = [];
      for (let i = 1; i < marks.length; i++) {
        rounds.push((marks[i].at - marks[i - 1].at) / 1000);
        if (info) bytes.push(netBytes(await marks[i - 1].redis, await marks[i].redis));
      }
      resolve({ seconds, rounds, bytes, results: stdout, jobs: m ? Number(m[1]) : 0, calls: m ? Number(m[2]) : 0, sent: m ? Number(m[3]) * 1048576 : 0, received: m ? Number(m[4]) * 1048576 : 0 });
    });
  });
}

const remoteArgs = ['--executor', lab.url, '--shards', '2'];
const local = [];
const remote = [];
let warm;
let low;
try {
  warm = await run(R1, remoteArgs);
  console.error(`warm-up through Redis (the workers prepare the data): ${warm.seconds.toFixed(1)} s`);
  low = await run(R1, remoteArgs); // the coordinator's bytes of R1 rounds (exact counts: R2 − R1 rounds by difference)
  for (let i = 0; i < repeat; i++) {
    local.push(await run(R2, ['--threads', '2']));
    remote.push(await run(R2, remoteArgs, () => lab.info()));
    console.error(`repeat ${i + 1}: local ${local.at(-1).seconds.toFixed(1)} s (rounds ${local.at(-1).rounds.map((x) => x.toFixed(2)).join(' ')}), redis ${remote.at(-1).seconds.toFixed(1)} s (rounds ${remote.at(-1).rounds.map((x) => x.toFixed(2)).join(' ')})`);
  }
} finally {
  await lab.stop();
}
// the same numbers, wherever the work ran (the JSON has no times)
const all = [...local, ...remote].map((x) => x.results);
if (!all.every((x) => x === all[0])) {
  console.error('bench/distributed-run: the runs did not all print the same results.');
  process.exit(1);
}
// rounds 2 … R2 − 1 (round 1 computes XᵀX from the rows; the last one is not timed)
const steady = (xs) => xs.flatMap((x) => x.rounds.slice(1));
const [lr, rr] = [median(steady(local)), median(steady(remote))];
const [l1, r1] = [median(local.map((x) => x.rounds[0])), median(remote.map((x) => x.rounds[0]))];
const W = T * (d + 1) * 8;
const last = remote.at(-1);
const sentPerRound = (last.sent - low.sent) / (R2 - R1);
const recvPerRound = (last.received - low.received) / (R2 - R1);
const redisPerRound = median(remote.flatMap((x) => x.bytes.slice(1)));
const jobsPerRound = (last.jobs - low.jobs) / (R2 - R1);
const s = (x) => x.toFixed(2);
const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
const block = [
  `Machine: ${cpus().length} × ${cpus()[0].model.replace(/ \d+-Core Processor/, '')}, Node ${process.version}. Command: \`node bench/distributed-run.mjs --repeat ${repeat}\``,
  `(T = ${T} tasks × ${n.toLocaleString('en')} training rows × ${d} features, squared loss, gd 200 epochs a round from XᵀX, fuse: mean,`,
  `${R2} rounds; a round is timed from its progress line to the next; medians over rounds 2–${R2 - 1} of ${repeat} runs each; Redis on 127.0.0.1,`,
  '2 worker processes with `--concurrency 1`, `--shards 2`).',
  '',
  '| run | whole run (median) | round 1 (see below) | later rounds (median) | jobs per round |',
  '|---|---|---|---|---|',
  `| local, \`--threads 2\` | ${s(median(local.map((x) => x.seconds)))} s | ${s(l1)} s | ${(1000 * lr).toFixed(0)} ms | — |`,
  `| Redis, 2 workers | ${s(median(remote.map((x) => x.seconds)))} s | ${s(r1)} s | ${(1000 * rr).toFixed(0)} ms | ${jobsPerRound} |`,
  '',
  `Overhead per round: **${((100 * (rr - lr)) / lr).toFixed(1)}%** (target ≤ 25%).`,
  `Bytes per round, W = ${T} × ${d + 1} float64 = ${kib(W)}: the coordinator sent ${kib(sentPerRound)} and received ${kib(recvPerRound)} (jobs, blobs, results;`,
  `its own exact count, runs of ${R2} and ${R1} rounds differenced): **${((sentPerRound + recvPerRound) / W).toFixed(2)}× W** (target ≤ 2×). Through Redis, in + out, everything`,
  `counted (each byte enters and leaves it; the workers' reads of the rows they returned; BullMQ's locks and events): ${kib(redisPerRound)} a round = ${(redisPerRound / W).toFixed(2)}× W.`,
  `Warm-up run (the workers generate and prepare the data, and compute XᵀX, once): ${s(warm.seconds)} s; later runs reuse both on the workers, while`,
  'each run generates the data anew on the coordinator (most of "whole run"). All runs printed the same results (checked).',
].join('\n');
console.log(block);
if (write) writeBlock(readFileSync, writeFileSync, 'distributed-run', block);
