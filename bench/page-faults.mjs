#!/usr/bin/env node
/**
 * What touching fresh memory costs on this machine, and how much of it the School sweep does.
 *
 *   node bench/page-faults.mjs [--sweep]
 *
 * 1. Fresh against reused memory: a new Float64Array of 1–40 MiB filled once and then filled again, in ms per MiB.
 *    The first fill touches pages the process has not used (a page fault each, which the kernel must zero) unless
 *    the allocator hands back memory freed before; the second fill shows the memory's own speed. The previous
 *    array is garbage, but V8 returns an ArrayBuffer's memory only when a garbage collection finds it dead. The
 *    same with NumPy (np.empty + fill): with the previous array freed at once (reference counting: malloc reuses
 *    its pages), and kept alive (every array on fresh pages, as in Node between collections), with NumPy's
 *    transparent huge pages on (its default for big arrays: one fault per 2 MiB) and off
 *    (np._core.multiarray._set_madvise_hugepage(False)).
 * 2. With --sweep: the bench's school-sweep loop (bench/impl.mjs: 10 splits × 4 λ, each a pipeline run from the
 *    spec) with the minor page faults of the process counted from /proc/self/stat around it.
 * Prints a table; nothing is written.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkFlags, median } from './common.mjs';

checkFlags(['--sweep'], 'Usage: node bench/page-faults.mjs [--sweep]');
const root = fileURLToPath(new URL('..', import.meta.url));
const minorFaults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);

const SIZES = [1, 4, 16, 40];
const REPEAT = 5;
console.log('| memory | size | first fill (fresh pages) ms/MiB | second fill ms/MiB |');
console.log('|---|---|---|---|');
for (const mib of SIZES) {
  const fresh = [];
  const again = [];
  for (let r = 0; r < REPEAT; r++) {
    const n = (mib * 1048576) / 8;
    let t = performance.now();
    const a = new Float64Array(n);
    a.fill(1);
    fresh.push((performance.now() - t) / mib);
    t = performance.now();
    a.fill(2);
    again.push((performance.now() - t) / mib);
  }
  console.log(`| Node Float64Array | ${mib} MiB | ${median(fresh).toFixed(3)} | ${median(again).toFixed(3)} |`);
}
const py = `
import numpy as np, time, statistics
for huge, keep in ((True, False), (True, True), (False, True)):
    np._core.multiarray._set_madvise_hugepage(huge)
    for mib in ${JSON.stringify(SIZES)}:
        fresh, again, kept = [], [], []
        for _ in range(${REPEAT}):
            t = time.perf_counter(); a = np.empty(mib * 131072); a.fill(1); fresh.append((time.perf_counter() - t) * 1000 / mib)
            t = time.perf_counter(); a.fill(2); again.append((time.perf_counter() - t) * 1000 / mib)
            if keep: kept.append(a)
            del a
        how = ('previous arrays freed at once (reference counting)' if not keep else 'previous arrays kept alive') + (', huge pages (its default)' if huge else ', huge pages off')
        print(f"| NumPy, {how} | {mib} MiB | {statistics.median(fresh):.3f} | {statistics.median(again):.3f} |")
`;
const env = { ...process.env };
delete env.OPENBLAS_CORETYPE;
delete env.OPENBLAS_L2_SIZE;
const r = spawnSync('python3', ['-c', py], { encoding: 'utf8', env });
if (r.status === 0) process.stdout.write(r.stdout);
else console.log(`(NumPy not measured: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);

if (process.argv.includes('--sweep')) {
  process.chdir(root);
  const { loadPipeline, runPipeline } = await import('@weightshare/framework');
  const { cpuPlugin } = await import('@weightshare/plugin-cpu');
  const { tfjsPlugin } = await import('@weightshare/plugin-tfjs');
  const f0 = minorFaults();
  const t0 = performance.now();
  for (let s = 1; s <= 10; s++)
    for (const lam of [10, 30, 100, 300]) {
      const { loaded, registry } = await loadPipeline('pipelines/school-mean-regularized.yaml', [cpuPlugin, tfjsPlugin], {
        backend: 'cpu',
        set: [`split.column=split_${s}`, `stages.optimize.lambda=${lam}`, 'stages.optimize.ridge=1', 'init.ridge=1', 'rounds=30', 'evaluate.baselines=false', 'evaluate.everyRound=false', 'output.write=false'],
      });
      await runPipeline(loaded, registry, {});
    }
  const seconds = (performance.now() - t0) / 1000;
  const faults = minorFaults() - f0;
  console.log(`\nschool-sweep (plugin-cpu, 40 runs): ${seconds.toFixed(2)} s, ${faults} minor page faults (${((faults * 4096) / 1048576).toFixed(0)} MiB of fresh pages)`);
}
