/** The benchmark harness at tiny sizes: every implementation runs and agrees with the reference (NumPy, or cpu). */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { root } from './helpers/cli.js';

it('bench --smoke: all implementations of all workloads agree', () => {
  const r = spawnSync(process.execPath, ['bench/run.mjs', '--smoke'], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  const rows = r.stdout.split('\n').filter((l) => /^\| (school-sweep|logistic-many|squared-big|propagate) /.test(l));
  expect(rows.length).toBeGreaterThanOrEqual(12); // 4 workloads × (cpu, tfjs-wasm, tfjs-cpu) at least
  for (const row of rows) expect(row).toMatch(/\| yes \(rel\. err/);
}, 300_000);

it.each([
  [['--repeat', 'x'], /--repeat x is not a positive integer/],
  [['--repeat'], /--repeat needs a value/],
  [['--workloads', 'nope'], /unknown workload "nope"; choose from school-sweep/],
  [['--impls', 'cpu,gpu'], /unknown implementation "gpu"/],
  [['--fast'], /unknown argument "--fast"/],
])('bench %j: a clear one-paragraph error, exit 2, nothing run', (flags, message) => {
  const r = spawnSync(process.execPath, ['bench/run.mjs', ...flags], { cwd: root, encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toMatch(/^bench: .*\nusage: node bench\/run\.mjs/);
  expect(r.stderr).not.toMatch(/at .*\.mjs:\d+/); // no stack trace
  expect(r.stdout).toBe('');
});

it('bench/distributed-run.mjs at a tiny size: a sharded run through a real Redis and 2 workers prints the same results as local threads', () => {
  const r = spawnSync(process.execPath, ['bench/distributed-run.mjs', '--repeat', '1', '--tasks', '4', '--rows', '300', '--features', '5', '--rounds-high', '5', '--no-write'], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toMatch(/Overhead per round: \*\*-?\d+\.\d%\*\*/);
  expect(r.stdout).toMatch(/\*\*\d+\.\d\d× W\*\* \(target ≤ 2×\)/);
  expect(r.stdout).toMatch(/All runs printed the same results \(checked\)/);
}, 300_000);
