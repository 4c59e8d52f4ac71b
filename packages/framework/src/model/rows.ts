/**
 * The raw rows of a run's split (its test rows, or its training rows) as a CSV file: what a user needs to check a
 * model on the rows it was evaluated on (`weightshare runs export <run> --rows test`). For CSV data the rows are the
 * data file's own lines, byte for byte, under its header; for synthetic data the generated values, written so that
 * they parse back to the same float64 numbers.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadDataset, splitRows, type RawDataset } from '../data/dataset.js';
import { Rng } from '../random.js';
import { componentOptions, type ResolvedSpec } from '../spec/types.js';
import { BUILTIN_LOSSES } from '../components/losses.js';

/** The CSV text of the rows of `which` split of a run (its resolved spec, and the folder its paths resolve against). */
export function splitRowsCsv(spec: ResolvedSpec, baseDir: string, which: 'train' | 'test'): { text: string; rows: number } {
  const rng = new Rng(spec.seed);
  const place = { baseDir, locate: () => ({}) };
  // the loss only decides how labels are read: a plugin's loss (not imported here) reads as the regression losses do
  const component = BUILTIN_LOSSES[spec.loss.method] ?? BUILTIN_LOSSES.squared!;
  const raw = loadDataset(spec.data, spec.split, { name: spec.loss.method, options: componentOptions(spec.loss), component }, rng, place);
  const isTrain = splitRows(raw, spec.split, rng.fork('split'), place);
  const want = which === 'train' ? 1 : 0;
  const rows: number[] = [];
  for (let r = 0; r < isTrain.length; r++) if (isTrain[r] === want && !raw.dropped[r]) rows.push(r);
  if (spec.data.source === 'csv' && raw.lines) {
    const lines = readFileSync(resolve(baseDir, spec.data.path), 'utf8').split('\n');
    const out = [lines[0]!.replace(/\r$/, '')];
    for (const r of rows) out.push(lines[raw.lines[r]! - 1]!.replace(/\r$/, ''));
    return { text: out.join('\n') + '\n', rows: rows.length };
  }
  return { text: syntheticCsv(raw, rows, spec), rows: rows.length };
}

function syntheticCsv(raw: RawDataset, rows: number[], spec: ResolvedSpec): string {
  const out = [['task', ...raw.columns.map((c) => c.name), raw.targetName].join(',')];
  for (const r of rows) {
    const cells = [raw.taskIds[raw.rowTask[r]!]!];
    for (const c of raw.columns) cells.push(c.kind === 'numeric' ? String(c.numbers[r]) : (c.labels[r] ?? ''));
    const y = raw.target[r]!;
    cells.push(String(raw.classes ? raw.classes[y] : raw.labels?.[0] === -1 && y === 0 ? -1 : y));
    out.push(cells.join(','));
  }
  return out.join('\n') + '\n';
}
