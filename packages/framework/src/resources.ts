/**
 * Memory a run needs, estimated before anything big is allocated, against what the machine has: a spec that asks for
 * 100000 tasks (a T×T relation of 80 GB) or 100000 features (a d×d product per task) is refused with how much it
 * would need, instead of exhausting the machine or dying inside an allocation.
 */
import { totalmem } from 'node:os';
import { formatBytes, resourceLimit, type SourceLocation } from './errors.js';

/** The sizes a run's memory follows. */
export interface RunSize {
  tasks: number;
  /** Rows over all tasks (train and test). */
  rows: number;
  /** Feature columns (after encoding, before the bias). */
  features: number;
}

/** Most elements one typed array can hold. */
const MAX_ARRAY_ELEMENTS = 2 ** 32 - 1;
const F64 = 8;

/** Bytes of memory a run may use: the machine's, or less when the process is constrained (a container, a cgroup). */
export function memoryAvailable(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = totalmem();
  return constrained > 0 && constrained < total ? constrained : total;
}

/**
 * The big allocations of a run and their bytes. The rows are held three times (as loaded, encoded, and prepared
 * per task); the relation up to three times (A and a factorization's copies); weight-sized matrices about ten times
 * (B, C, E, W of a round, the baselines, acceleration history); the optimizers cache XᵀX (d×d) per task.
 */
export function runFootprint(size: RunSize): { what: string; bytes: number; elements: number }[] {
  const { tasks: T, rows: N } = size;
  const d = size.features + 1;
  return [
    { what: `the data (${N} rows × ${d + 1} columns)`, bytes: 3 * N * (d + 1) * F64, elements: N * d },
    { what: `the relation matrix A (${T}×${T})`, bytes: 3 * T * T * F64, elements: T * T },
    { what: `the task weights (${T}×${d}, about ten copies)`, bytes: 10 * T * d * F64, elements: T * d },
    { what: `the optimizers' per-task products XᵀX (${T} × ${d}×${d})`, bytes: T * d * d * F64, elements: d * d },
  ];
}

/**
 * Refuses a run that would not fit in memory (or needs a matrix larger than an array can hold).
 * @param where the spec key that sets the size.
 * @throws WeightshareError RESOURCE_LIMIT
 */
export function checkRunSize(size: RunSize, where?: SourceLocation): void {
  const parts = runFootprint(size);
  const total = parts.reduce((a, p) => a + p.bytes, 0);
  const available = memoryAvailable();
  const largest = parts.reduce((a, p) => (p.bytes > a.bytes ? p : a));
  const fix = `Use fewer tasks, rows or features (data.exclude, data.features, or smaller synthetic sizes): ${size.tasks} tasks, ${size.rows} rows and ${size.features} features here.`;
  const tooLong = parts.find((p) => p.elements > MAX_ARRAY_ELEMENTS);
  if (tooLong)
    throw resourceLimit(`${tooLong.what}, one array of ${tooLong.elements.toExponential(2)} values (at most ${MAX_ARRAY_ELEMENTS} fit in one)`, Math.max(total, tooLong.elements * F64), available, fix, where);
  if (!(total <= available * 0.8)) throw resourceLimit(`${largest.what} (${formatBytes(largest.bytes)}) and the rest`, total, available, fix, where);
}
