/** Writing a finished run to its own folder: resolved spec, results, weights, relation, fused targets. */
import { join } from 'node:path';
import type { RunOutcome } from './engine/engine.js';
import { createRunDir, writeFileAtomic } from './io.js';
import type { DenseMatrix } from './math/dense.js';

/** Formats a matrix as CSV with a header and a leading task id column. Numbers keep full float64 precision. */
export function matrixCsv(M: DenseMatrix, rowIds: readonly string[], header: readonly string[], idColumn = 'task_id'): string {
  const lines = [[idColumn, ...header].map(csvField).join(',')];
  for (let i = 0; i < M.rows; i++) {
    const cells = [csvField(rowIds[i]!)];
    for (let j = 0; j < M.cols; j++) cells.push(String(M.data[i * M.cols + j]));
    lines.push(cells.join(','));
  }
  return lines.join('\n') + '\n';
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Writes the run into a new folder under `root` and returns its path. Existing folders are never touched.
 * @throws WeightshareError OUTPUT_ERROR
 */
export function writeRun(root: string, outcome: RunOutcome): string {
  const dir = createRunDir(root, outcome.spec.name);
  const { data } = outcome;
  writeFileAtomic(join(dir, 'spec.resolved.json'), JSON.stringify(outcome.spec, null, 2) + '\n');
  writeFileAtomic(join(dir, 'weights.csv'), matrixCsv(outcome.weights, data.taskIds, data.featureNames));
  writeFileAtomic(join(dir, 'targets.csv'), matrixCsv(outcome.targets, data.taskIds, data.featureNames));
  writeFileAtomic(join(dir, 'relation.csv'), matrixCsv(outcome.relation, data.taskIds, data.taskIds));
  writeFileAtomic(join(dir, 'results.json'), JSON.stringify(outcome.results, null, 2) + '\n');
  return dir;
}
