/** Matrices as CSV for run outputs. */
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

export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
