#!/usr/bin/env node
/**
 * The distributed sweep against the local one, in one run on this machine (`node bench/distributed.mjs [--repeat N]
 * [--spec pipelines/x.yaml]`): a Redis server on 127.0.0.1 and a free port, 2 `weightshare worker` processes
 * (concurrency 1 each), and the School sweep run locally with `--jobs 2` and through Redis, alternately, N times each.
 * Reports the median wall times, the overhead, the jobs, and the bytes Redis moved (its INFO counters), and writes the
 * block between the markers in bench/RESULTS-distributed.md. Both sweeps must write the same summary.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages/cli/bin/weightshare.js');
const args = process.argv.slice(2);
const arg = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const repeat = Number(arg('--repeat', '3'));
const spec = arg('--spec', 'pipelines/school-mean-regularized.yaml');
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error('bench/distributed: --repeat takes a positive integer.\nusage: node bench/distributed.mjs [--repeat N] [--spec file]');
  process.exit(2);
}

const port = await new Promise((res) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const work = mkdtempSync(join(tmpdir(), 'ws-bench-dist-'));
const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', work], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((res, rej) => {
  let out = '';
  redis.stdout.on('data', (d) => ((out += d), /Ready to accept connections/.test(out) && res()));
  redis.once('exit', () => rej(new Error(`redis-server did not start:\n${out}`)));
});
const url = `redis://127.0.0.1:${port}`;

/** One Redis command over a raw connection (RESP), for INFO. */
function redisInfo() {
  return new Promise((res, rej) => {
    const c = connect(port, '127.0.0.1');
    let buf = '';
    c.on('data', (d) => {
      buf += d;
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (m && Buffer.byteLength(buf) >= m[0].length + Number(m[1])) {
        c.end();
        res(Object.fromEntries(buf.split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':'))));
      }
    });
    c.on('error', rej);
    c.write('INFO stats\r\n');
  });
}

const workers = [0, 1].map(() => {
  const w = spawn(process.execPath, [bin, 'worker', '--redis', url, '--concurrency', '1'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  w.ready = new Promise((res) => {
    let out = '';
    w.stderr.on('data', (d) => ((out += d), /takes jobs/.test(out) && res()));
  });
  return w;
});
await Promise.all(workers.map((w) => w.ready));

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
    const before = await redisInfo();
    remote.push(sweep(['--jobs', '2', '--executor', url]));
    const after = await redisInfo();
    bytes.push(Number(after.total_net_input_bytes) - Number(before.total_net_input_bytes) + Number(after.total_net_output_bytes) - Number(before.total_net_output_bytes));
    console.error(`round ${i + 1}: local ${local.at(-1).seconds.toFixed(1)} s, redis ${remote.at(-1).seconds.toFixed(1)} s`);
  }
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((res) => (w.exitCode !== null ? res() : w.once('exit', res)))));
  redis.kill('SIGTERM');
  await new Promise((res) => (redis.exitCode !== null ? res() : redis.once('exit', res)));
  rmSync(work, { recursive: true, force: true });
}
if (!remote.every((r) => r.summary === local[0].summary) || !local.every((r) => r.summary === local[0].summary)) {
  console.error('bench/distributed: the sweeps through Redis did not write the summary.json the local sweep wrote.');
  process.exit(1);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [l, r] = [median(local.map((x) => x.seconds)), median(remote.map((x) => x.seconds))];
const validationJobs = local[0].jobs - JSON.parse(local[0].summary).splits.length;
const block = [
  '<!-- distributed -->',
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
  '<!-- distributed -->',
].join('\n');
console.log(block);
const file = join(root, 'bench/RESULTS-distributed.md');
let doc;
try {
  doc = readFileSync(file, 'utf8');
} catch {
  doc = '# Sweeps through Redis against local sweeps\n\nGenerated by `node bench/distributed.mjs` (see docs/distributed.md).\n\n<!-- distributed -->\n<!-- distributed -->\n';
}
const parts = doc.split('<!-- distributed -->');
writeFileSync(file, `${parts[0]}${block}${parts[2] ?? '\n'}`);
