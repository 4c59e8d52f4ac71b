/**
 * Data from spec to tasks: load (CSV or the synthetic generator), split each task's rows into train and test,
 * standardize features with training statistics, append the bias column.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { dataInvalid, type Problem, type SourceLocation } from '../errors.js';
import { sharedFloat64, type DenseMatrix } from '../math/dense.js';
import type { LossName, TaskData } from '../plugin/types.js';
import type { Rng } from '../random.js';
import type { CsvDataSpec, DataSpec, SplitSpec, SyntheticDataSpec } from '../spec/types.js';
import { CellProblems, columnIndex, parseCell, readCsv, type CsvTable } from './csv.js';

/** Data as loaded, before the split: rows grouped by task, in file order. */
export interface RawDataset {
  featureNames: string[];
  taskIds: string[];
  /** Per data row (file order): task index, features, target. */
  rowTask: Int32Array;
  features: Float64Array; // rows × features, row-major
  target: Float64Array;
  /** 1-based file line of each row (for error messages), when from a file. */
  lines?: number[];
  /** Values of the split column, when the split is by column. */
  splitValues?: string[];
  /** Ground truth of synthetic data. */
  truth?: { weights: number[][]; clusters: number[] };
  /** Files read, for records and cache keys. */
  files: { path: string; bytes: number }[];
}

/** Data ready for the stages. */
export interface PreparedData {
  featureNames: string[];
  biasColumn: number;
  taskIds: string[];
  train: TaskData[];
  test: TaskData[];
  standardization: { mean: number[]; std: number[]; dropped: string[] } | null;
  truth?: RawDataset['truth'];
  files: RawDataset['files'];
}

/** Where relative paths in the spec are resolved, and how to point at spec keys. */
export interface SpecPlace {
  baseDir: string;
  locate(path: readonly (string | number)[]): SourceLocation;
}

/**
 * Loads the data the spec names.
 * @throws WeightshareError FILE_NOT_FOUND, CSV_INVALID, DATA_INVALID
 */
export function loadDataset(spec: DataSpec, split: SplitSpec, loss: LossName, rng: Rng, place: SpecPlace): RawDataset {
  const raw = spec.source === 'synthetic' ? generateSynthetic(spec, loss, rng.fork('data/synthetic')) : loadCsvDataset(spec, split, place);
  if (loss === 'logistic') normalizeLabels(raw, spec.source === 'csv' ? spec.path : 'synthetic data');
  return raw;
}

function loadCsvDataset(spec: CsvDataSpec, split: SplitSpec, place: SpecPlace): RawDataset {
  const table = readCsv(resolve(place.baseDir, spec.path), spec.path, place.locate(['data', 'path']));
  const problems: Problem[] = [];
  const ti = columnIndex(table, spec.task, 'task', problems, place.locate(['data', 'task']));
  const yi = columnIndex(table, spec.target, 'target', problems, place.locate(['data', 'target']));
  const splitCol = split.method === 'column' ? columnIndex(table, split.column, 'split', problems, place.locate(['split', 'column'])) : -1;
  let featureIdx: number[];
  if (spec.features) {
    featureIdx = spec.features.map((f, k) => columnIndex(table, f, 'feature', problems, place.locate(['data', 'features', k])));
  } else {
    const skip = new Set([spec.task, spec.target, ...(spec.exclude ?? []), ...(split.method === 'column' ? [split.column] : [])]);
    (spec.exclude ?? []).forEach((f, k) => columnIndex(table, f, 'excluded', problems, place.locate(['data', 'exclude', k])));
    featureIdx = table.header.map((_, i) => i).filter((i) => !skip.has(table.header[i]!));
  }
  if (problems.length) throw dataInvalid(`${spec.path}: columns named in the spec are missing from the file.`, problems);
  for (const i of featureIdx) if (i === ti || i === yi) throw dataInvalid(`column "${table.header[i]}" is both a feature and the task or target column; remove it from data.features.`, [{ message: 'features listed here', location: place.locate(['data', 'features']) }]);
  if (featureIdx.length === 0) throw dataInvalid(`${spec.path}: no feature columns are left; list them in data.features.`, [{ message: 'data declared here', location: place.locate(['data']) }]);

  const n = table.records.length;
  const d = featureIdx.length;
  const features = new Float64Array(n * d);
  const target = new Float64Array(n);
  const rowTask = new Int32Array(n);
  const taskIndex = new Map<string, number>();
  const taskIds: string[] = [];
  const cells = new CellProblems(spec.path);
  const splitValues: string[] | undefined = splitCol >= 0 ? [] : undefined;
  for (let r = 0; r < n; r++) {
    const rec = table.records[r]!;
    const line = table.lines[r]!;
    const id = rec[ti]!;
    if (id === '') cells.add(line, spec.task, 'the task cell is empty.');
    let t = taskIndex.get(id);
    if (t === undefined) {
      t = taskIds.length;
      taskIndex.set(id, t);
      taskIds.push(id);
    }
    rowTask[r] = t;
    const y = parseCell(rec[yi]!);
    if (typeof y === 'string') cells.add(line, spec.target, y + '.');
    else target[r] = y;
    for (let j = 0; j < d; j++) {
      const v = parseCell(rec[featureIdx[j]!]!);
      if (typeof v === 'string') cells.add(line, table.header[featureIdx[j]!]!, v + '.');
      else features[r * d + j] = v;
    }
    splitValues?.push(rec[splitCol]!);
  }
  cells.throwIfAny('Fix or remove these rows; every feature and target cell must be a finite number.');
  return {
    featureNames: featureIdx.map((i) => table.header[i]!),
    taskIds,
    rowTask,
    features,
    target,
    lines: table.lines,
    splitValues,
    files: [{ path: spec.path, bytes: table.bytes.length }],
  };
}

function generateSynthetic(spec: SyntheticDataSpec, loss: LossName, rng: Rng): RawDataset {
  const { tasks: T, clusters: K, features: d, rows: n } = spec;
  const centers: number[][] = [];
  for (let k = 0; k < K; k++) centers.push(Array.from({ length: d + 1 }, () => spec.scale * rng.normal()));
  const weights: number[][] = [];
  const clusters: number[] = [];
  for (let t = 0; t < T; t++) {
    const k = t % K;
    clusters.push(k);
    weights.push(centers[k]!.map((c) => c + spec.spread * rng.normal()));
  }
  const N = T * n;
  const features = new Float64Array(N * d);
  const target = new Float64Array(N);
  const rowTask = new Int32Array(N);
  for (let t = 0; t < T; t++) {
    const w = weights[t]!;
    for (let i = 0; i < n; i++) {
      const r = t * n + i;
      rowTask[r] = t;
      let s = w[d]!; // bias last
      for (let j = 0; j < d; j++) {
        const x = rng.normal();
        features[r * d + j] = x;
        s += x * w[j]!;
      }
      target[r] = loss === 'logistic' ? (rng.next() < 1 / (1 + Math.exp(-s)) ? 1 : 0) : s + spec.noise * rng.normal();
    }
  }
  return {
    featureNames: Array.from({ length: d }, (_, j) => `x${j + 1}`),
    taskIds: Array.from({ length: T }, (_, t) => `task-${t + 1}`),
    rowTask,
    features,
    target,
    truth: { weights, clusters },
    files: [],
  };
}

function normalizeLabels(raw: RawDataset, file: string): void {
  const bad = new CellProblems(file);
  const values = new Set<number>();
  for (let r = 0; r < raw.target.length; r++) values.add(raw.target[r]!);
  const minusOne = values.has(-1);
  for (let r = 0; r < raw.target.length; r++) {
    const v = raw.target[r]!;
    if (v === 1) continue;
    if (v === 0 && !minusOne) continue;
    if (v === -1) raw.target[r] = 0;
    else bad.add(raw.lines?.[r] ?? r + 2, 'target', `logistic loss needs labels 0/1 or −1/+1, found ${v}.`);
  }
  bad.throwIfAny('Use labels 0/1 (or −1/+1), or set loss: squared for a numeric target.');
}

/**
 * Assigns each row to train or test. Returns a boolean per row (true = train).
 * @throws WeightshareError DATA_INVALID when a task ends up with too few training or no test rows.
 */
export function splitRows(raw: RawDataset, split: SplitSpec, rng: Rng, place: SpecPlace): Uint8Array {
  const N = raw.rowTask.length;
  const isTrain = new Uint8Array(N);
  const T = raw.taskIds.length;
  if (split.method === 'random') {
    const byTask: number[][] = Array.from({ length: T }, () => []);
    for (let r = 0; r < N; r++) byTask[raw.rowTask[r]!]!.push(r);
    const problems: Problem[] = [];
    for (let t = 0; t < T; t++) {
      const rows = byTask[t]!;
      const nTest = Math.max(1, Math.round(split.testFraction * rows.length));
      if (rows.length - nTest < split.minTrain)
        problems.push({ message: `task "${raw.taskIds[t]}" has ${rows.length} rows: too few for ${split.minTrain} training rows plus ${nTest} test row(s).` });
      const perm = rng.fork(`split/${raw.taskIds[t]}`).permutation(rows.length);
      for (let i = nTest; i < rows.length; i++) isTrain[rows[perm[i]!]!] = 1;
    }
    if (problems.length)
      throw dataInvalid(`some tasks are too small for the split. Remove them from the data, lower split.minTrain, or lower split.testFraction.`, [
        ...problems.slice(0, 20),
        { message: 'split declared here', location: place.locate(['split']) },
      ]);
    return isTrain;
  }
  const trainSet = new Set(split.train.map(String));
  const testSet = new Set(split.test.map(String));
  let values: string[];
  let lines: number[];
  let label: string;
  if (split.method === 'column') {
    values = raw.splitValues!;
    lines = raw.lines ?? values.map((_, i) => i + 2);
    label = split.column;
  } else {
    const table: CsvTable = readCsv(resolve(place.baseDir, split.path), split.path, place.locate(['split', 'path']));
    const problems: Problem[] = [];
    const ci = columnIndex(table, split.column, 'split', problems, place.locate(['split', 'column']));
    const ri = split.rowColumn ? columnIndex(table, split.rowColumn, 'row', problems, place.locate(['split', 'rowColumn'])) : -1;
    if (problems.length) throw dataInvalid(`${split.path}: the split column is missing.`, problems);
    values = new Array<string>(N);
    lines = new Array<number>(N);
    const cells = new CellProblems(split.path);
    if (ri < 0 && table.records.length !== N)
      throw dataInvalid(`${split.path} has ${table.records.length} rows but the data has ${N}; give one split row per data row, or name a row column with split.rowColumn.`);
    table.records.forEach((rec, k) => {
      let r = k;
      if (ri >= 0) {
        const v = parseCell(rec[ri]!);
        if (typeof v === 'string' || !Number.isInteger(v) || v < 0 || v >= N) {
          cells.add(table.lines[k]!, split.rowColumn!, `row index ${rec[ri]} is not an integer from 0 to ${N - 1}.`);
          return;
        }
        r = v;
      }
      values[r] = rec[ci]!;
      lines[r] = table.lines[k]!;
    });
    cells.throwIfAny('Row indices are 0-based positions of data rows.');
    label = split.column;
  }
  const cells = new CellProblems(split.method === 'file' ? split.path : 'data');
  for (let r = 0; r < N; r++) {
    const v = values[r];
    if (v === undefined) {
      cells.add(r + 2, label, `data row ${r} has no split assignment.`);
      continue;
    }
    if (trainSet.has(v)) isTrain[r] = 1;
    else if (!testSet.has(v)) cells.add(lines[r]!, label, `"${v}" is neither a train value (${[...trainSet].join(', ')}) nor a test value (${[...testSet].join(', ')}).`);
  }
  cells.throwIfAny('Set split.train and split.test to the values your column uses.');
  const nTrain = new Array<number>(T).fill(0);
  const nTest = new Array<number>(T).fill(0);
  for (let r = 0; r < N; r++) (isTrain[r] ? nTrain : nTest)[raw.rowTask[r]!]!++;
  const problems: Problem[] = [];
  for (let t = 0; t < T; t++) {
    if (nTrain[t]! < 1) problems.push({ message: `task "${raw.taskIds[t]}" has no training rows.` });
    if (nTest[t]! < 1) problems.push({ message: `task "${raw.taskIds[t]}" has no test rows.` });
  }
  if (problems.length) throw dataInvalid('every task needs at least one training row and one test row under this split.', problems.slice(0, 20));
  return isTrain;
}

/**
 * Carves a validation set out of the training rows, for model selection: in every task a seeded `fraction` of its
 * training rows (at least one, leaving at least one) becomes "test" (0), and the real test rows are excluded (2), so
 * nothing downstream can see them. Each task has its own stream (`validation/<task>`).
 */
export function holdOutValidation(raw: RawDataset, isTrain: Uint8Array, fraction: number, rng: Rng): Uint8Array {
  const T = raw.taskIds.length;
  const byTask: number[][] = Array.from({ length: T }, () => []);
  const out = new Uint8Array(isTrain.length);
  for (let r = 0; r < isTrain.length; r++) {
    if (isTrain[r] === 1) byTask[raw.rowTask[r]!]!.push(r);
    else out[r] = 2;
  }
  const problems: Problem[] = [];
  for (let t = 0; t < T; t++) {
    const rows = byTask[t]!;
    if (rows.length < 2) problems.push({ message: `task "${raw.taskIds[t]}" has ${rows.length} training row(s): too few to hold out validation rows.` });
    const nVal = Math.min(rows.length - 1, Math.max(1, Math.round(fraction * rows.length)));
    const perm = rng.fork(`validation/${raw.taskIds[t]}`).permutation(rows.length);
    for (let i = 0; i < rows.length; i++) out[rows[perm[i]!]!] = i < nVal ? 0 : 1;
  }
  if (problems.length) throw dataInvalid('model selection needs at least two training rows in every task.', problems.slice(0, 20));
  return out;
}

/** Splits, standardizes (training statistics, pooled over tasks) and appends the bias column. Rows marked 2 are left out. */
export function prepareData(raw: RawDataset, isTrain: Uint8Array, spec: DataSpec): PreparedData {
  const N = raw.rowTask.length;
  const d0 = raw.featureNames.length;
  let mean = new Array<number>(d0).fill(0);
  let std = new Array<number>(d0).fill(1);
  let keep = raw.featureNames.map((_, j) => j);
  let dropped: string[] = [];
  if (spec.standardize) {
    let nTr = 0;
    const sum = new Float64Array(d0);
    for (let r = 0; r < N; r++) {
      if (isTrain[r] !== 1) continue;
      nTr++;
      for (let j = 0; j < d0; j++) sum[j] += raw.features[r * d0 + j]!;
    }
    mean = Array.from(sum, (s) => s / nTr);
    const ss = new Float64Array(d0);
    for (let r = 0; r < N; r++) {
      if (isTrain[r] !== 1) continue;
      for (let j = 0; j < d0; j++) {
        const dv = raw.features[r * d0 + j]! - mean[j]!;
        ss[j] += dv * dv;
      }
    }
    std = Array.from(ss, (s) => Math.sqrt(s / nTr));
    // A constant column carries no information once centered (and would make the bias collinear): drop it.
    keep = keep.filter((j) => std[j]! > 1e-12 * Math.max(1, Math.abs(mean[j]!)));
    dropped = raw.featureNames.filter((_, j) => !keep.includes(j));
  }
  const names = keep.map((j) => raw.featureNames[j]!);
  const biasColumn = spec.bias ? names.length : -1;
  if (spec.bias) names.push('bias');
  const d = names.length;
  const T = raw.taskIds.length;
  const counts = { train: new Array<number>(T).fill(0), test: new Array<number>(T).fill(0) };
  for (let r = 0; r < N; r++) if (isTrain[r] !== 2) counts[isTrain[r] === 1 ? 'train' : 'test'][raw.rowTask[r]!]!++;
  const make = (which: 'train' | 'test'): TaskData[] => {
    // one shared buffer per split, a view per task: worker threads read the rows without copying them
    const total = counts[which].reduce((a, b) => a + b, 0);
    const Xall = sharedFloat64(total * d);
    const yall = sharedFloat64(total);
    let start = 0;
    const Xs: DenseMatrix[] = [];
    const ys: Float64Array[] = [];
    for (const n of counts[which]) {
      Xs.push({ rows: n, cols: d, data: Xall.subarray(start * d, (start + n) * d) });
      ys.push(yall.subarray(start, start + n));
      start += n;
    }
    const fill = new Array<number>(T).fill(0);
    for (let r = 0; r < N; r++) {
      if (isTrain[r] !== (which === 'train' ? 1 : 0)) continue;
      const t = raw.rowTask[r]!;
      const i = fill[t]!++;
      const X = Xs[t]!;
      for (let k = 0; k < keep.length; k++) {
        const j = keep[k]!;
        X.data[i * d + k] = spec.standardize ? (raw.features[r * d0 + j]! - mean[j]!) / std[j]! : raw.features[r * d0 + j]!;
      }
      if (biasColumn >= 0) X.data[i * d + biasColumn] = 1;
      ys[t]![i] = raw.target[r]!;
    }
    return raw.taskIds.map((id, t) => ({ id, index: t, X: Xs[t]! as DenseMatrix, y: ys[t]!, biasColumn }));
  };
  return {
    featureNames: names,
    biasColumn,
    taskIds: raw.taskIds,
    train: make('train'),
    test: make('test'),
    standardization: spec.standardize ? { mean: keep.map((j) => mean[j]!), std: keep.map((j) => std[j]!), dropped } : null,
    truth: raw.truth,
    files: raw.files,
  };
}

/** Reads a file's bytes (used to record data files in the run's output). */
export function fileBytes(path: string): Buffer {
  return readFileSync(path);
}

/**
 * Prepared data of the last few runs, by everything it is a pure function of: the data and split sections, the loss,
 * the seed (every random choice here is a labelled fork of it), the validation fraction, the folder paths resolve
 * from, and the SHA-256 of every file read. A λ grid or a sweep over one split then loads, splits and standardizes
 * once, and every run gets the same task objects (so a plugin's per-task caches, e.g. XᵀX, carry over). Prepared data
 * is never modified after this point (worker threads read it from shared memory).
 */
const preparedMemo = new Map<string, PreparedData>();
/** The rows of the last dataset loaded (read-only after loading: splitting and preparing copy what they keep). */
const rawMemo = new Map<string, RawDataset>();
const PREPARED_MEMO_SIZE = 4;

/** {@link loadDataset} + {@link splitRows} (+ {@link holdOutValidation}) + {@link prepareData}, memoized. */
export function loadPrepared(data: DataSpec, split: SplitSpec, loss: LossName, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  const files: Record<string, string> = {};
  for (const p of [data.source === 'csv' ? data.path : undefined, split.method === 'file' ? split.path : undefined]) {
    if (p === undefined) continue;
    try {
      files[p] = createHash('sha256').update(readFileSync(resolve(place.baseDir, p))).digest('hex');
    } catch {
      return prepareUncached(data, split, loss, rng, place, validation); // the loader reports the problem
    }
  }
  const key = JSON.stringify({ data, split, loss, seed: rng.seed, validation: validation ?? null, baseDir: place.baseDir, files });
  const hit = preparedMemo.get(key);
  if (hit) {
    preparedMemo.delete(key); // most recently used last
    preparedMemo.set(key, hit);
    return hit;
  }
  // the rows as loaded do not depend on the split unless it is a column of the data file: one parse for all the
  // published splits of a dataset
  const rawKey = JSON.stringify({ data, splitColumn: split.method === 'column' ? split.column : null, loss, seed: rng.seed, baseDir: place.baseDir, files: data.source === 'csv' ? files[data.path] : null });
  let raw = rawMemo.get(rawKey);
  if (!raw) {
    raw = loadDataset(data, split, loss, rng, place);
    rawMemo.clear(); // the latest one only
    rawMemo.set(rawKey, raw);
  }
  const prepared = prepareFrom(raw, data, split, rng, place, validation);
  preparedMemo.set(key, prepared);
  if (preparedMemo.size > PREPARED_MEMO_SIZE) preparedMemo.delete(preparedMemo.keys().next().value!);
  return prepared;
}

/** Forgets the memoized prepared data (frees its memory). */
export function clearPreparedData(): void {
  preparedMemo.clear();
  rawMemo.clear();
}

function prepareUncached(data: DataSpec, split: SplitSpec, loss: LossName, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  return prepareFrom(loadDataset(data, split, loss, rng, place), data, split, rng, place, validation);
}

function prepareFrom(raw: RawDataset, data: DataSpec, split: SplitSpec, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  const outer = splitRows(raw, split, rng.fork('split'), place);
  const isTrain = validation !== undefined ? holdOutValidation(raw, outer, validation, rng) : outer;
  return prepareData(raw, isTrain, data);
}
