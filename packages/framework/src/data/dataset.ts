/**
 * Data from spec to tasks: load (CSV or the synthetic generator), split each task's rows into train and test,
 * standardize features with training statistics, append the bias column.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { csvInvalid, dataInvalid, excerpt, type Problem, type SourceLocation } from '../errors.js';
import { readRegularFile } from '../io.js';
import { checkRunSize } from '../resources.js';
import { sharedFloat64, type DenseMatrix } from '../math/dense.js';
import type { LossComponent, TargetKind, TaskData } from '../plugin/types.js';
import type { Rng } from '../random.js';
import type { CsvDataSpec, DataSpec, SplitSpec, SyntheticDataSpec } from '../spec/types.js';
import { CellProblems, columnIndex, DEFAULT_MISSING_TOKENS, parseCell, readCsv, type CsvTable } from './csv.js';
import {
  centreAndScale,
  compareCategories,
  indicatorCategories,
  isConstant,
  standardizeValue,
  centreAndScaleMasked,
  type EncodedColumn,
  type FeatureTransform,
  type InputColumn,
  type MissingPolicy,
  type Preprocessing,
} from './preprocess.js';

/** One feature column as loaded, before encoding. */
export type RawFeature =
  | { name: string; kind: 'numeric'; /** values, NaN where the cell is missing */ numbers: Float64Array }
  | {
      name: string;
      kind: 'categorical';
      /** each row's category, null where the cell is missing */
      labels: (string | null)[];
      unseen: 'zeros' | 'error';
      drop: 'none' | 'first';
    };

/** How missing cells were met while loading, for the run's records. */
export interface MissingReport {
  policy: MissingPolicy;
  tokens: string[];
  /** Rows left out because a cell they need is missing (drop-rows), or their task or target is (impute-mean). */
  droppedRows: number;
  /** Missing cells per column (task, target and feature columns), whatever was done with them. */
  cells: Record<string, number>;
  /** Non-training rows per categorical column whose category the training rows do not have (encoded as zeros). */
  unseenCategories?: Record<string, number>;
}

/** Data as loaded, before the split: rows grouped by task, in file order. */
export interface RawDataset {
  /** The feature columns, in the order of the spec's `features` (or of the file). */
  columns: RawFeature[];
  taskIds: string[];
  /** Per data row (file order): its task index (−1 when its task cell is missing and the row is dropped). */
  rowTask: Int32Array;
  /** Per data row: the target, NaN where missing. */
  target: Float64Array;
  /** Per data row: 1 when the row is left out (a missing cell it needs, under drop-rows or for its task/target). */
  dropped: Uint8Array;
  missing: MissingReport;
  /** 1-based file line of each row (for error messages), when from a file. */
  lines?: number[];
  /** Values of the split column, when the split is by column. */
  splitValues?: string[];
  /** Ground truth of synthetic data. */
  truth?: { weights: number[][]; clusters: number[] };
  /** Files read, for records and cache keys. */
  files: { path: string; bytes: number }[];
  /** The data file's display name (for row/column errors), when from a file. */
  file?: string;
  /** The target column's name. */
  targetName: string;
  /** Binary losses: the two label values of the file (0/1 or −1/+1), stored as 0/1. */
  labels?: [number, number];
  /** Multi-class losses: the classes in output order (sorted: numerically when all are numbers); targets are indices. */
  classes?: (string | number)[];
  /** Multi-class losses: the target column's cells as written (the classes are read from them). */
  targetText?: string[];
}

/** Data ready for the stages. */
export interface PreparedData {
  featureNames: string[];
  biasColumn: number;
  taskIds: string[];
  train: TaskData[];
  test: TaskData[];
  standardization: { mean: number[]; std: number[]; dropped: string[] } | null;
  /** How raw rows became X (absent for data a program prepared itself). */
  preprocessing?: Preprocessing;
  /** Missing cells met while loading (absent for data a program prepared itself). */
  missing?: MissingReport;
  /** For each task, the 1-based file line of each of its train and test rows (when the data came from a file). */
  lines?: { train: Int32Array[]; test: Int32Array[] };
  /** For each task, the 0-based data row index of each of its train and test rows. */
  rowIndex?: { train: Int32Array[]; test: Int32Array[] };
  truth?: RawDataset['truth'];
  /** Binary losses: the file's two label values (the targets here are 0/1). */
  labels?: [number, number];
  /** Multi-class losses: the classes in output order (the targets here are their indices). */
  classes?: (string | number)[];
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
export function loadDataset(spec: DataSpec, split: SplitSpec, loss: LossChoice, rng: Rng, place: SpecPlace): RawDataset {
  // sizes are checked before anything of that size is allocated: the generator's from the spec, a file's once parsed
  if (spec.source === 'synthetic') checkRunSize({ tasks: spec.tasks, rows: spec.tasks * spec.rows, features: spec.features }, place.locate(['data']));
  const kind = loss.component.target;
  if (spec.source === 'synthetic' && spec.teacher === 'mlp' && kind !== 'regression')
    throw dataInvalid(`data.teacher: mlp generates a numeric target, but the ${loss.name} loss needs a ${kind} target; use a regression loss (squared or huber), or teacher: linear.`, [{ message: 'set here', location: place.locate(['data', 'teacher']) }]);
  const raw = spec.source === 'synthetic' ? generateSynthetic(spec, kind, rng.fork('data/synthetic')) : loadCsvDataset(spec, split, place, kind === 'multiclass');
  if (kind === 'binary') normalizeLabels(raw, loss.name);
  if (kind === 'multiclass' && raw.targetText) readClasses(raw, loss.name);
  if (kind === 'count') checkCounts(raw, loss.name);
  if (loss.name === 'squared') checkTargetRange(raw);
  if (loss.component.checkLabel) checkLabels(raw, loss);
  return raw;
}

/** What loading needs of the loss: its name, options and implementation (the target kind, its label check). */
export interface LossChoice {
  readonly name: string;
  readonly options: Record<string, unknown>;
  readonly component: LossComponent;
}

/** A loss's own label check, every bad row named. */
function checkLabels(raw: RawDataset, loss: LossChoice): void {
  const bad = new CellProblems(raw.file ?? 'synthetic data');
  for (let r = 0; r < raw.target.length; r++) {
    if (raw.dropped[r]) continue;
    const why = loss.component.checkLabel!(raw.target[r]!, loss.options);
    if (why) bad.add(raw.lines?.[r] ?? r + 2, raw.targetName, why + '.');
  }
  bad.throwIfAny(`Fix these labels in column ${raw.targetName}, or choose a loss for this kind of target (docs/spec.md, "loss").`);
}

/** Counts (Poisson and other count losses): finite numbers ≥ 0. */
function checkCounts(raw: RawDataset, name: string): void {
  const bad = new CellProblems(raw.file ?? 'synthetic data');
  for (let r = 0; r < raw.target.length; r++) {
    if (raw.dropped[r]) continue;
    const v = raw.target[r]!;
    if (!(v >= 0)) bad.add(raw.lines?.[r] ?? r + 2, raw.targetName, `${name} loss needs counts ≥ 0, found ${v}.`);
  }
  bad.throwIfAny(`Use counts ≥ 0 in column ${raw.targetName}, or choose a regression loss (squared, huber) for a signed target.`);
}

/**
 * Multi-class targets: the classes are the distinct cells of the target column (over all rows, so every task and
 * both splits share one class order), sorted numerically when all are numbers, else as text; each target becomes its
 * class index. One class is an error: there is nothing to tell apart.
 */
function readClasses(raw: RawDataset, name: string): void {
  const text = raw.targetText!;
  const distinct = new Set<string>();
  for (let r = 0; r < text.length; r++) if (!raw.dropped[r]) distinct.add(text[r]!);
  const cells = [...distinct];
  const numeric = cells.every((c) => typeof parseCell(c) === 'number');
  const classes: (string | number)[] = numeric
    ? [...new Set(cells.map((c) => parseCell(c) as number))].sort((a, b) => a - b)
    : cells.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (classes.length < 2)
    throw dataInvalid(
      `the target column ${excerpt(raw.targetName)} has ${classes.length === 1 ? `one class only (${JSON.stringify(excerpt(String(classes[0])))})` : 'no values'}; ${name} loss needs at least two classes to tell apart. Check data.target, or use a regression loss.`,
      [{ message: 'the target column', location: { file: raw.file ?? 'data', csvColumn: raw.targetName } }],
    );
  const index = new Map<string, number>();
  for (const c of cells) index.set(c, numeric ? classes.indexOf(parseCell(c) as number) : classes.indexOf(c));
  for (let r = 0; r < text.length; r++) raw.target[r] = raw.dropped[r] ? NaN : index.get(text[r]!)!;
  raw.classes = classes;
  delete raw.targetText;
}

/** A categorical declaration as written in the spec: a column name, or the column with its options. */
type CategoricalDecl = string | { column: string; unseen?: 'zeros' | 'error'; drop?: 'none' | 'first' };

function loadCsvDataset(spec: CsvDataSpec, split: SplitSpec, place: SpecPlace, classLabels = false): RawDataset {
  const table = readCsv(resolve(place.baseDir, spec.path), spec.path, place.locate(['data', 'path']), spec.delimiter ? { delimiter: spec.delimiter } : {});
  checkRunSize({ tasks: distinctTasks(table, spec.task), rows: table.rows, features: spec.features?.length ?? Math.max(0, table.header.length - 2 - (spec.exclude?.length ?? 0)) }, place.locate(['data', 'path']));
  const problems: Problem[] = [];
  const ti = columnIndex(table, spec.task, 'task', problems, place.locate(['data', 'task']));
  const yi = columnIndex(table, spec.target, 'target', problems, place.locate(['data', 'target']));
  const splitCol = split.method === 'column' ? columnIndex(table, split.column, 'split', problems, place.locate(['split', 'column'])) : -1;
  const declared = (spec.categorical ?? []) as CategoricalDecl[];
  const catOf = new Map<string, { unseen: 'zeros' | 'error'; drop: 'none' | 'first'; at: number }>();
  declared.forEach((c, k) => {
    const d = typeof c === 'string' ? { column: c } : c;
    catOf.set(d.column, { unseen: d.unseen ?? 'zeros', drop: d.drop ?? 'none', at: k });
    columnIndex(table, d.column, 'categorical', problems, place.locate(['data', 'categorical', k]));
  });
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
  const featureNames = new Set(featureIdx.map((i) => table.header[i]!));
  for (const [name, c] of catOf)
    if (!featureNames.has(name))
      throw dataInvalid(
        `data.categorical names "${name}", which is not a feature column (${name === spec.task ? 'it is the task column' : name === spec.target ? 'it is the target column' : spec.features ? 'it is not in data.features' : 'it is excluded'}). Remove it from data.categorical, or make it a feature.`,
        [{ message: 'declared here', location: place.locate(['data', 'categorical', c.at]) }],
      );

  const n = table.rows;
  const policy: MissingPolicy = spec.missing ?? 'error';
  const tokens = spec.missingValues ?? [...DEFAULT_MISSING_TOKENS];
  const isMissing = new Set(tokens);
  const target = new Float64Array(n);
  const rowTask = new Int32Array(n);
  const dropped = new Uint8Array(n);
  const taskIndex = new Map<string, number>();
  const taskIds: string[] = [];
  const cells = new CellProblems(spec.path);
  const missingCells: Record<string, number> = {};
  const missingProblems = new CellProblems(spec.path);
  const noteMissing = (r: number, column: string, cell: string, drop: boolean): void => {
    missingCells[column] = (missingCells[column] ?? 0) + 1;
    if (policy === 'error') missingProblems.add(table.lines[r]!, column, `missing value (${cell === '' ? 'empty cell' : JSON.stringify(cell)}).`);
    else if (drop) dropped[r] = 1;
  };
  const splitValues: string[] | undefined = splitCol >= 0 ? [] : undefined;
  const targetText: string[] | undefined = classLabels ? new Array<string>(n) : undefined;
  // tasks, targets
  for (let r = 0; r < n; r++) {
    const id = table.cell(r, ti);
    if (isMissing.has(id)) {
      noteMissing(r, spec.task, id, true);
      rowTask[r] = -1;
      dropped[r] = 1;
    } else {
      let t = taskIndex.get(id);
      if (t === undefined) {
        t = taskIds.length;
        taskIndex.set(id, t);
        taskIds.push(id);
      }
      rowTask[r] = t;
    }
    const cell = table.cell(r, yi);
    if (isMissing.has(cell)) {
      noteMissing(r, spec.target, cell, true);
      target[r] = NaN;
      if (policy !== 'error') dropped[r] = 1;
    } else if (targetText) {
      targetText[r] = cell.trim(); // class labels: text or numbers, read once all rows are known
      target[r] = 0;
    } else {
      const y = parseCell(cell);
      if (typeof y === 'string') cells.add(table.lines[r]!, spec.target, y + '.');
      else target[r] = y;
    }
    splitValues?.push(table.cell(r, splitCol));
  }
  // features, column by column: a text column is one problem with its true count, not one per cell
  const text: { column: string; count: number; example: string; line: number }[] = [];
  const columns: RawFeature[] = featureIdx.map((ci) => {
    const name = table.header[ci]!;
    const cat = catOf.get(name);
    if (cat) {
      const labels: (string | null)[] = new Array(n);
      for (let r = 0; r < n; r++) {
        const cell = table.cell(r, ci);
        if (isMissing.has(cell)) {
          noteMissing(r, name, cell, policy === 'drop-rows');
          labels[r] = null;
        } else labels[r] = cell;
      }
      return { name, kind: 'categorical', labels, unseen: cat.unseen, drop: cat.drop };
    }
    const numbers = new Float64Array(n);
    let textCount = 0;
    let firstText: { example: string; line: number } | undefined;
    for (let r = 0; r < n; r++) {
      const cell = table.cell(r, ci);
      if (isMissing.has(cell)) {
        noteMissing(r, name, cell, policy === 'drop-rows');
        numbers[r] = NaN;
        continue;
      }
      const v = parseCell(cell);
      if (typeof v === 'number') numbers[r] = v;
      else if (NOT_A_NUMBER.test(v)) {
        textCount++;
        firstText ??= { example: cell, line: table.lines[r]! };
      } else cells.add(table.lines[r]!, name, v + '.');
    }
    if (textCount) text.push({ column: name, count: textCount, ...firstText! });
    return { name, kind: 'numeric', numbers };
  });
  if (text.length) {
    const problems: Problem[] = text.map((t) => ({
      message: `column ${excerpt(t.column)} holds text (e.g. ${JSON.stringify(excerpt(t.example, 40))} at row ${t.line}; ${t.count} of ${n} cells are not numbers); declare it in data.categorical or leave it out with data.exclude.`,
      location: { file: spec.path, row: t.line, csvColumn: t.column },
    }));
    throw csvInvalid(spec.path, problems, { where: 'text in numeric feature columns' });
  }
  cells.throwIfAny('Fix or remove these rows; every feature and target cell must be a finite number.');
  missingProblems.throwIfAny('Fill in these cells, or set data.missing: drop-rows (leave such rows out) or impute-mean (use the training mean of the column); data.missingValues lists the cell values that mean missing.');
  let droppedRows = 0;
  for (let r = 0; r < n; r++) droppedRows += dropped[r]!;
  return {
    columns,
    taskIds,
    rowTask,
    target,
    dropped,
    missing: { policy, tokens, droppedRows, cells: missingCells },
    lines: table.lines,
    splitValues,
    files: [{ path: spec.path, bytes: table.bytes.length }],
    file: spec.path,
    targetName: spec.target,
    ...(targetText ? { targetText } : {}),
  };
}

/** Distinct values of the task column (0 when the column is missing: reported by the caller). */
function distinctTasks(table: CsvTable, task: string): number {
  const i = table.header.indexOf(task);
  if (i < 0) return 0;
  const ids = new Set<string>();
  for (let r = 0; r < table.rows; r++) ids.add(table.cell(r, i));
  return ids.size;
}

/**
 * Related tasks with a nonlinear truth: each cluster has a one-hidden-layer tanh network (h units; input weights
 * N(0, 1.5²/d) so that the units work in their nonlinear range, output weights N(0, 3²/h)), each task perturbs every
 * weight by `spread`·N(0, 1) scaled like it, and y = v·tanh(Wᵀx + b) + c + noise. Regression targets only. The true
 * parameters are recorded (flattened: W row-major d×h, b, v, c) for tests.
 */
function generateTeacher(spec: SyntheticDataSpec, rng: Rng): RawDataset {
  const { tasks: T, clusters: K, features: d, rows: n, teacherHidden: h } = spec;
  const sdIn = (spec.scale * 1.5) / Math.sqrt(d);
  const sdOut = (spec.scale * 3) / Math.sqrt(h);
  const p = d * h + h + h + 1;
  const sdOf = (j: number): number => (j < d * h + h ? sdIn : sdOut);
  const centers: number[][] = [];
  for (let k = 0; k < K; k++) centers.push(Array.from({ length: p }, (_, j) => sdOf(j) * rng.normal()));
  const weights: number[][] = [];
  const clusters: number[] = [];
  for (let t = 0; t < T; t++) {
    clusters.push(t % K);
    weights.push(centers[t % K]!.map((c, j) => c + spec.spread * sdOf(j) * rng.normal()));
  }
  const N = T * n;
  const features = Array.from({ length: d }, () => new Float64Array(N));
  const target = new Float64Array(N);
  const rowTask = new Int32Array(N);
  const x = new Float64Array(d);
  for (let t = 0; t < T; t++) {
    const w = weights[t]!;
    for (let i = 0; i < n; i++) {
      const r = t * n + i;
      rowTask[r] = t;
      for (let j = 0; j < d; j++) features[j]![r] = x[j] = rng.normal();
      let y = w[p - 1]!;
      for (let u = 0; u < h; u++) {
        let z = w[d * h + u]!;
        for (let j = 0; j < d; j++) z += x[j]! * w[j * h + u]!;
        y += w[d * h + h + u]! * Math.tanh(z);
      }
      target[r] = y + spec.noise * rng.normal();
    }
  }
  return {
    columns: features.map((numbers, j) => ({ name: `x${j + 1}`, kind: 'numeric', numbers })),
    taskIds: Array.from({ length: T }, (_, t) => `task-${t + 1}`),
    rowTask,
    target,
    dropped: new Uint8Array(N),
    missing: { policy: 'error', tokens: [], droppedRows: 0, cells: {} },
    truth: { weights, clusters },
    files: [],
    targetName: 'y',
  };
}

/** parseCell's reason for a cell that is text rather than a malformed number. */
const NOT_A_NUMBER = /" is not a number$/;

/**
 * Related tasks with known true weights: clusters of tasks share centre weights, each task deviates by `spread`.
 * Regression: y = w·x + noise; binary: y ~ Bernoulli(σ(w·x)); counts: y ~ Poisson(e^(w·x)) with the weights scaled
 * by 1/√(d+1) so rates stay moderate; multiclass: K weight vectors per task (Θ row-major d×K, as the linear model
 * lays it out), y ~ softmax(x·Θ).
 */
function generateSynthetic(spec: SyntheticDataSpec, kind: TargetKind, rng: Rng): RawDataset {
  if (spec.teacher === 'mlp') return generateTeacher(spec, rng);
  const { tasks: T, clusters: K, features: d, rows: n } = spec;
  const outputs = kind === 'multiclass' ? spec.classes : 1;
  const p = (d + 1) * outputs;
  const centers: number[][] = [];
  for (let k = 0; k < K; k++) centers.push(Array.from({ length: p }, () => spec.scale * rng.normal()));
  const weights: number[][] = [];
  const clusters: number[] = [];
  const shrink = kind === 'count' ? 1 / Math.sqrt(d + 1) : 1;
  for (let t = 0; t < T; t++) {
    const k = t % K;
    clusters.push(k);
    weights.push(centers[k]!.map((c) => (c + spec.spread * rng.normal()) * shrink));
  }
  const N = T * n;
  const features = Array.from({ length: d }, () => new Float64Array(N));
  const target = new Float64Array(N);
  const rowTask = new Int32Array(N);
  const z = new Float64Array(outputs);
  for (let t = 0; t < T; t++) {
    const w = weights[t]!;
    for (let i = 0; i < n; i++) {
      const r = t * n + i;
      rowTask[r] = t;
      if (kind === 'multiclass') {
        for (let c = 0; c < outputs; c++) z[c] = w[d * outputs + c]!; // bias row last
        for (let j = 0; j < d; j++) {
          const x = rng.normal();
          features[j]![r] = x;
          for (let c = 0; c < outputs; c++) z[c]! += x * w[j * outputs + c]!;
        }
        let max = -Infinity;
        for (let c = 0; c < outputs; c++) max = Math.max(max, z[c]!);
        let sum = 0;
        for (let c = 0; c < outputs; c++) sum += (z[c] = Math.exp(z[c]! - max));
        let u = rng.next() * sum;
        let c = 0;
        while (c < outputs - 1 && u >= z[c]!) u -= z[c++]!;
        target[r] = c;
        continue;
      }
      let s = w[d]!; // bias last
      for (let j = 0; j < d; j++) {
        const x = rng.normal();
        features[j]![r] = x;
        s += x * w[j]!;
      }
      target[r] =
        kind === 'binary' ? (rng.next() < 1 / (1 + Math.exp(-s)) ? 1 : 0) : kind === 'count' ? rng.poisson(Math.exp(s)) : s + spec.noise * rng.normal();
    }
  }
  return {
    columns: features.map((numbers, j) => ({ name: `x${j + 1}`, kind: 'numeric', numbers })),
    taskIds: Array.from({ length: T }, (_, t) => `task-${t + 1}`),
    rowTask,
    target,
    dropped: new Uint8Array(N),
    missing: { policy: 'error', tokens: [], droppedRows: 0, cells: {} },
    truth: { weights, clusters },
    files: [],
    targetName: 'y',
    ...(kind === 'multiclass' ? { classes: Array.from({ length: outputs }, (_, c) => c) } : {}),
  };
}

function normalizeLabels(raw: RawDataset, name: string): void {
  const bad = new CellProblems(raw.file ?? 'synthetic data');
  const values = new Set<number>();
  for (let r = 0; r < raw.target.length; r++) if (!raw.dropped[r]) values.add(raw.target[r]!);
  const minusOne = values.has(-1);
  raw.labels = minusOne ? [-1, 1] : [0, 1];
  for (let r = 0; r < raw.target.length; r++) {
    if (raw.dropped[r]) continue;
    const v = raw.target[r]!;
    if (v === 1) continue;
    if (v === 0 && !minusOne) continue;
    if (v === -1) raw.target[r] = 0;
    else bad.add(raw.lines?.[r] ?? r + 2, raw.targetName, `${name} loss needs labels 0/1 or −1/+1, found ${v}.`);
  }
  bad.throwIfAny(`Use labels 0/1 (or −1/+1) in column ${raw.targetName}, set loss: softmax for more than two classes, or loss: squared for a numeric target.`);
}

/**
 * Squared loss on targets so large that their squares overflow: the loss, MSE and the objective would be infinite.
 * Refused up front, naming the row, rather than reported as an infinite objective and null metrics. The bound leaves
 * room for residuals of twice the target's size summed over every row.
 */
function checkTargetRange(raw: RawDataset): void {
  let n = 0;
  let worst = -1;
  for (let r = 0; r < raw.target.length; r++) {
    if (raw.dropped[r]) continue;
    n++;
    if (worst < 0 || Math.abs(raw.target[r]!) > Math.abs(raw.target[worst]!)) worst = r;
  }
  if (worst < 0) return;
  const limit = Math.sqrt(Number.MAX_VALUE / (4 * n));
  const v = raw.target[worst]!;
  if (Math.abs(v) > limit)
    throw dataInvalid(
      `the target ${v} is too large for squared loss: with ${n} rows, squared errors of values beyond ±${limit.toExponential(2)} overflow float64, so the loss, the MSE and the objective could not be computed. Rescale column ${raw.targetName} (e.g. divide it by a power of ten), or check the value.`,
      [{ message: 'this value', location: { file: raw.file ?? 'synthetic data', row: raw.lines?.[worst] ?? worst + 2, csvColumn: raw.targetName } }],
    );
}

/**
 * Assigns each row to train (1), test (0) or neither (2: a row left out for a missing cell).
 * @throws WeightshareError DATA_INVALID when a task ends up with too few training or no test rows.
 */
/** A split file's column in data-row order, by the (cached, immutable) parsed table and the columns read. */
const splitColumns = new WeakMap<CsvTable, Map<string, { values: string[]; lines: number[] }>>();

export function splitRows(raw: RawDataset, split: SplitSpec, rng: Rng, place: SpecPlace): Uint8Array {
  const N = raw.rowTask.length;
  const isTrain = new Uint8Array(N);
  const T = raw.taskIds.length;
  if (split.method === 'random') {
    const byTask: number[][] = Array.from({ length: T }, () => []);
    for (let r = 0; r < N; r++) {
      if (raw.dropped[r]) isTrain[r] = 2;
      else byTask[raw.rowTask[r]!]!.push(r);
    }
    const problems: Problem[] = [];
    for (let t = 0; t < T; t++) {
      const rows = byTask[t]!;
      const nTest = Math.max(1, Math.round(split.testFraction * rows.length));
      if (rows.length - nTest < split.minTrain)
        problems.push({ message: `task "${excerpt(raw.taskIds[t]!)}" has ${rows.length} rows: too few for ${split.minTrain} training rows plus ${nTest} test row(s).` });
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
    if (ri < 0 && table.rows !== N)
      throw dataInvalid(`${split.path} has ${table.rows} rows but the data has ${N}; give one split row per data row, or name a row column with split.rowColumn.`);
    // the column's values in data-row order: the same for every run that reads this split file (cached by the table)
    const key = `${ci}:${ri}:${N}`;
    let byKey = splitColumns.get(table);
    if (!byKey) splitColumns.set(table, (byKey = new Map()));
    const hit = byKey.get(key);
    if (hit) ({ values, lines } = hit);
    else {
      values = new Array<string>(N);
      lines = new Array<number>(N);
      const cells = new CellProblems(split.path);
      for (let k = 0; k < table.rows; k++) {
        let r = k;
        if (ri >= 0) {
          const cell = table.cell(k, ri);
          const v = parseCell(cell);
          if (typeof v === 'string' || !Number.isInteger(v) || v < 0 || v >= N) {
            cells.add(table.lines[k]!, split.rowColumn!, `row index ${cell} is not an integer from 0 to ${N - 1}.`);
            continue;
          }
          r = v;
        }
        values[r] = table.cell(k, ci);
        lines[r] = table.lines[k]!;
      }
      cells.throwIfAny('Row indices are 0-based positions of data rows.');
      byKey.set(key, { values, lines });
    }
    label = split.column;
  }
  const cells = new CellProblems(split.method === 'file' ? split.path : 'data');
  for (let r = 0; r < N; r++) {
    if (raw.dropped[r]) {
      isTrain[r] = 2;
      continue;
    }
    const v = values[r];
    if (v === undefined) {
      cells.add(r + 2, label, `data row ${r} has no split assignment.`);
      continue;
    }
    if (trainSet.has(v)) isTrain[r] = 1;
    else if (!testSet.has(v)) cells.add(lines[r]!, label, `"${excerpt(v)}" is neither a train value (${[...trainSet].join(', ')}) nor a test value (${[...testSet].join(', ')}).`);
  }
  cells.throwIfAny('Set split.train and split.test to the values your column uses.');
  const nTrain = new Array<number>(T).fill(0);
  const nTest = new Array<number>(T).fill(0);
  for (let r = 0; r < N; r++) if (isTrain[r] !== 2) (isTrain[r] ? nTrain : nTest)[raw.rowTask[r]!]!++;
  const problems: Problem[] = [];
  for (let t = 0; t < T; t++) {
    if (nTrain[t]! < 1) problems.push({ message: `task "${excerpt(raw.taskIds[t]!)}" has no training rows.` });
    if (nTest[t]! < 1) problems.push({ message: `task "${excerpt(raw.taskIds[t]!)}" has no test rows.` });
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
    if (rows.length < 2) problems.push({ message: `task "${excerpt(raw.taskIds[t]!)}" has ${rows.length} training row(s): too few to hold out validation rows.` });
    const nVal = Math.min(rows.length - 1, Math.max(1, Math.round(fraction * rows.length)));
    const perm = rng.fork(`validation/${raw.taskIds[t]}`).permutation(rows.length);
    for (let i = 0; i < rows.length; i++) out[rows[perm[i]!]!] = i < nVal ? 0 : 1;
  }
  if (problems.length) throw dataInvalid('model selection needs at least two training rows in every task.', problems.slice(0, 20));
  return out;
}

/**
 * Encodes, imputes and standardizes (training statistics, pooled over tasks), drops constant columns and appends the
 * bias column. Rows marked 2 are left out. Everything the training rows decided is recorded in `preprocessing`.
 * @throws WeightshareError DATA_INVALID (a category unseen in training under `unseen: error`, a value that cannot be
 *   standardized)
 */
export function prepareData(raw: RawDataset, isTrain: Uint8Array, spec: DataSpec): PreparedData {
  const N = raw.rowTask.length;
  const train = (r: number): boolean => isTrain[r] === 1;
  const file = raw.file ?? 'synthetic data';
  const lineOf = (r: number): number => raw.lines?.[r] ?? r + 2;
  // 1. imputation values and categories, from the training rows
  const inputs: InputColumn[] = raw.columns.map((c) => {
    if (c.kind === 'numeric') {
      if (raw.missing.policy !== 'impute-mean' || !(raw.missing.cells[c.name] ?? 0)) return { column: c.name, kind: 'numeric' };
      const m = centreAndScale(N, (r) => c.numbers[r]!, (r) => train(r) && !Number.isNaN(c.numbers[r]!));
      if (m.count === 0) throw dataInvalid(`column ${c.name} has no value on any training row, so there is no training mean to impute; leave it out with data.exclude.`);
      return { column: c.name, kind: 'numeric', impute: m.center };
    }
    const counts = new Map<string, number>();
    for (let r = 0; r < N; r++) if (train(r) && c.labels[r] !== null) counts.set(c.labels[r]!, (counts.get(c.labels[r]!) ?? 0) + 1);
    const categories = [...counts.keys()].sort(compareCategories);
    if (!categories.length) throw dataInvalid(`categorical column ${c.name} has no category on any training row; leave it out with data.exclude.`);
    let impute: string | undefined;
    if (raw.missing.policy === 'impute-mean' && (raw.missing.cells[c.name] ?? 0) > 0)
      for (const k of categories) if (impute === undefined || counts.get(k)! > counts.get(impute)!) impute = k;
    return { column: c.name, kind: 'categorical', categories, drop: c.drop, unseen: c.unseen, ...(impute !== undefined ? { impute } : {}) };
  });
  // 2. the encoded columns
  const encoded: EncodedColumn[] = [];
  inputs.forEach((c, k) => {
    if (c.kind === 'numeric') encoded.push({ name: c.column, input: k });
    else for (const cat of indicatorCategories(c)) encoded.push({ name: `${c.column}=${cat}`, input: k, category: cat });
  });
  const E = encoded.length;
  // each encoded column's values by data row (read only on rows not left out): a numeric column without imputed cells
  // is the loaded column itself (no copy: a fresh megabyte-sized buffer per preparation costs more in page faults than
  // the copy), imputed and indicator columns are made here
  const enc: Float64Array[] = new Array(E);
  const unseen = new CellProblems(file);
  const unseenCounts: Record<string, number> = {};
  let col = 0;
  inputs.forEach((c, k) => {
    const rawCol = raw.columns[k]!;
    if (c.kind === 'numeric' && rawCol.kind === 'numeric') {
      enc[col] = c.impute === undefined ? rawCol.numbers : imputed(rawCol.numbers, isTrain, c.impute);
      col++;
    } else if (c.kind === 'categorical' && rawCol.kind === 'categorical') {
      const cats = indicatorCategories(c);
      const at = new Map(cats.map((cat, i) => [cat, i]));
      const known = new Set(c.categories);
      for (let i = 0; i < cats.length; i++) enc[col + i] = new Float64Array(N);
      for (let r = 0; r < N; r++) {
        if (isTrain[r] === 2) continue;
        const label = rawCol.labels[r] ?? c.impute!;
        if (!known.has(label)) {
          unseenCounts[c.column] = (unseenCounts[c.column] ?? 0) + 1;
          if (c.unseen === 'error') unseen.add(lineOf(r), c.column, `category ${JSON.stringify(excerpt(label, 40))} does not occur in the training rows (they have ${c.categories.slice(0, 8).join(', ')}${c.categories.length > 8 ? ', …' : ''}).`);
          continue; // all-zero indicators
        }
        const i = at.get(label);
        if (i !== undefined) enc[col + i]![r] = 1;
      }
      col += cats.length;
    }
  });
  unseen.throwIfAny('Remove these rows, or use unseen: zeros for the column (an unseen category then gets all-zero indicator cells).');
  // 3. centre and scale of every encoded column, from the training rows
  const transforms: FeatureTransform[] = [];
  const droppedConstant: string[] = [];
  for (let j = 0; j < E; j++) {
    if (!spec.standardize) {
      transforms.push({ name: encoded[j]!.name, encoded: j, center: 0, scale: 1 });
      continue;
    }
    const { center, scale } = centreAndScaleMasked(enc[j]!, 0, N, isTrain, 1);
    // A constant column carries no information once centered (and would make the bias collinear): drop it.
    if (isConstant(center, scale)) droppedConstant.push(encoded[j]!.name);
    else transforms.push({ name: encoded[j]!.name, encoded: j, center, scale });
  }
  const names = transforms.map((f) => f.name);
  const biasColumn = spec.bias ? names.length : -1;
  if (spec.bias) names.push('bias');
  const d = names.length;
  const T = raw.taskIds.length;
  const counts = { train: new Array<number>(T).fill(0), test: new Array<number>(T).fill(0) };
  for (let r = 0; r < N; r++) if (isTrain[r] !== 2) counts[isTrain[r] === 1 ? 'train' : 'test'][raw.rowTask[r]!]!++;
  const lines = { train: [] as Int32Array[], test: [] as Int32Array[] };
  const rowIndex = { train: [] as Int32Array[], test: [] as Int32Array[] };
  // (a function of its own: a closure in the loop below would capture its per-iteration bindings, which costs a
  // context allocation per row even when it never runs)
  const overflow = (r: number, k: number): void => {
    const f = transforms[k]!;
    standardizeValue(enc[f.encoded]![r]!, f, () => ({ message: 'this value', location: { file, row: lineOf(r), csvColumn: raw.columns[encoded[f.encoded]!.input]!.name } }));
  };
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
      lines[which].push(new Int32Array(n));
      rowIndex[which].push(new Int32Array(n));
      start += n;
    }
    // where each row of this split goes in Xall (its task's block, in file order within the task)
    const want = which === 'train' ? 1 : 0;
    const first = new Int32Array(T);
    for (let t = 1; t < T; t++) first[t] = first[t - 1]! + counts[which][t - 1]!;
    const K = transforms.length;
    const fill = new Int32Array(T);
    const rows = new Int32Array(total); // data row of each row of Xall
    for (let r = 0; r < N; r++) {
      if (isTrain[r] !== want) continue;
      const t = raw.rowTask[r]!;
      const i = fill[t]!++;
      rows[first[t]! + i] = r;
      ys[t]![i] = raw.target[r]!;
      lines[which][t]![i] = lineOf(r);
      rowIndex[which][t]![i] = r;
    }
    // then column by column: one scan of an encoded column, standardized into its place in every row
    let finite = true;
    transforms.forEach((f, k) => {
      const col = enc[f.encoded]!;
      const c = spec.standardize ? f.center : 0;
      const sc = spec.standardize ? f.scale : 1;
      for (let q = 0; q < total; q++) {
        const z = (col[rows[q]!]! - c) / sc;
        if (!Number.isFinite(z)) finite = false;
        Xall[q * d + k] = z;
      }
    });
    // (x − 0) / 1 is x itself; a value whose distance from the centre overflows is an error naming its cell (the
    // first in file order)
    if (!finite && spec.standardize) {
      let at = [Infinity, 0];
      for (let q = 0; q < total; q++) for (let k = 0; k < K; k++) if (!Number.isFinite(Xall[q * d + k]!) && rows[q]! < at[0]!) at = [rows[q]!, k];
      overflow(at[0]!, at[1]!);
    }
    if (biasColumn >= 0) for (let q = 0; q < total; q++) Xall[q * d + biasColumn] = 1;
    return raw.taskIds.map((id, t) => ({ id, index: t, X: Xs[t]! as DenseMatrix, y: ys[t]!, biasColumn }));
  };
  const preprocessing: Preprocessing = {
    format: 1,
    inputs,
    missing: { policy: raw.missing.policy, tokens: raw.missing.tokens },
    encoded,
    standardize: spec.standardize,
    ddof: 0,
    features: transforms,
    droppedConstant,
    bias: spec.bias,
  };
  const trainTasks = make('train');
  const testTasks = make('test');
  return {
    featureNames: names,
    biasColumn,
    taskIds: raw.taskIds,
    train: trainTasks,
    test: testTasks,
    standardization: spec.standardize ? { mean: transforms.map((f) => f.center), std: transforms.map((f) => f.scale), dropped: droppedConstant } : null,
    preprocessing,
    missing: { ...raw.missing, ...(Object.keys(unseenCounts).length ? { unseenCategories: unseenCounts } : {}) },
    ...(raw.lines ? { lines } : {}),
    rowIndex,
    truth: raw.truth,
    ...(raw.labels ? { labels: raw.labels } : {}),
    ...(raw.classes ? { classes: raw.classes } : {}),
    files: raw.files,
  };
}

/** The column's value of each row not left out (2), the imputed value where it is missing. */
function imputed(numbers: Float64Array, isTrain: Uint8Array, impute: number): Float64Array {
  const out = new Float64Array(numbers.length);
  for (let r = 0; r < numbers.length; r++) {
    if (isTrain[r] === 2) continue;
    const v = numbers[r]!;
    out[r] = v === v ? v : impute;
  }
  return out;
}

/** Reads a file's bytes (used to record data files in the run's output). */
export function fileBytes(path: string): Buffer {
  return readRegularFile(path);
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

/** SHA-256 of files read before, by path, with the stat it was taken at. */
const hashMemo = new Map<string, { stat: string; hash: string }>();

/**
 * The SHA-256 of a regular file, read again only when its stat (device, inode, size, modification and change time in
 * nanoseconds) differs from when it was last hashed: the runs of a sweep all hash the same data and split files.
 * Anything else (a FIFO, a device, /proc) goes through {@link readRegularFile}, which refuses it.
 */
function fileHash(path: string): string {
  let stat: string | undefined;
  try {
    const st = statSync(path, { bigint: true });
    if (st.isFile()) stat = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    // readRegularFile reports it
  }
  const hit = stat === undefined ? undefined : hashMemo.get(path);
  if (hit && hit.stat === stat) return hit.hash;
  const hash = createHash('sha256').update(readRegularFile(path)).digest('hex');
  if (stat !== undefined) {
    if (hashMemo.size >= 64) hashMemo.delete(hashMemo.keys().next().value!);
    hashMemo.set(path, { stat, hash });
  }
  return hash;
}

/** {@link loadDataset} + {@link splitRows} (+ {@link holdOutValidation}) + {@link prepareData}, memoized. */
export function loadPrepared(data: DataSpec, split: SplitSpec, loss: LossChoice, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  const files: Record<string, string> = {};
  for (const p of [data.source === 'csv' ? data.path : undefined, split.method === 'file' ? split.path : undefined]) {
    if (p === undefined) continue;
    try {
      files[p] = fileHash(resolve(place.baseDir, p));
    } catch {
      return prepareUncached(data, split, loss, rng, place, validation); // the loader reports the problem
    }
  }
  const lossKey = { name: loss.name, options: loss.options };
  const key = JSON.stringify({ data, split, loss: lossKey, seed: rng.seed, validation: validation ?? null, baseDir: place.baseDir, files });
  const hit = preparedMemo.get(key);
  if (hit) {
    preparedMemo.delete(key); // most recently used last
    preparedMemo.set(key, hit);
    return hit;
  }
  // the rows as loaded do not depend on the split unless it is a column of the data file: one parse for all the
  // published splits of a dataset
  const rawKey = JSON.stringify({ data, splitColumn: split.method === 'column' ? split.column : null, loss: lossKey, seed: rng.seed, baseDir: place.baseDir, files: data.source === 'csv' ? files[data.path] : null });
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

function prepareUncached(data: DataSpec, split: SplitSpec, loss: LossChoice, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  return prepareFrom(loadDataset(data, split, loss, rng, place), data, split, rng, place, validation);
}

function prepareFrom(raw: RawDataset, data: DataSpec, split: SplitSpec, rng: Rng, place: SpecPlace, validation?: number): PreparedData {
  const outer = splitRows(raw, split, rng.fork('split'), place);
  const isTrain = validation !== undefined ? holdOutValidation(raw, outer, validation, rng) : outer;
  return prepareData(raw, isTrain, data);
}
