/**
 * Applying a trained model to new rows: {@link loadModel} reads `model/` of a completed run (verifying every file
 * against the SHA-256 recorded for it) and gives a {@link Model} whose `predict` and `predictCsv` apply the recorded
 * preprocessing and each task's parameters. `weightshare predict` is a thin layer over this.
 *
 * Predictions are computed with exactly the operations a run uses for its own test rows — the same parsing of a cell,
 * z = (x − center) / scale, the same order of the dot product — so predicting a run's test rows reproduces its test
 * metrics bit for bit.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCode, invalidArgument, runCorrupt, WeightshareError, type Problem } from '../errors.js';
import type { DenseMatrix } from '../math/dense.js';
import { detectDelimiter, parse, parseCell } from '../data/csv.js';
import { standardizeValue, indicatorCategories, type InputColumn } from '../data/preprocess.js';
import { scoreOutputs, type Metrics } from '../eval/metrics.js';
import { BUILTIN_LOSSES } from '../components/losses.js';
import { BUILTIN_MODELS } from '../components/models.js';
import type { LossComponent, ModelComponent, ModelLayout, TargetKind } from '../plugin/types.js';
import { decodeNpy } from '../store/npy.js';
import { readVerified } from '../store/verify.js';
import { MODEL_FORMAT, type ModelDescription } from './artifact.js';

/** What to do with a row whose task the model was not trained on. */
export type UnseenTaskPolicy = 'fused' | 'error';

/** Rows given in memory: a task id and the raw cells of each row, by column name. */
export interface PredictInput {
  taskIds: readonly string[];
  rows: readonly Readonly<Record<string, string | number | null | undefined>>[];
}

/** Predictions, one entry per input row. */
export interface Predictions {
  /**
   * The model's raw outputs, k per row (row-major): for the squared and Huber losses the prediction in the target's
   * units; logistic the log-odds; Poisson the log of the mean; softmax the K class scores.
   */
  output: Float64Array;
  /** Regression and count losses: the prediction on the target's scale (the inverse link of the output). */
  prediction?: Float64Array;
  /** Binary losses: the probability of the second label, and the predicted label. */
  probability?: Float64Array;
  /** Binary: the predicted label value; multi-class: the index of the predicted class in `classes`. */
  label?: Float64Array;
  /** Multi-class losses: the probability of each class, K per row (row-major, in the order of the model's classes). */
  probabilities?: Float64Array;
  /** 1 where the row's task was not seen in training and the fused model was used. */
  unseen: Uint8Array;
}

/** What {@link Model.predictCsv} reports. */
export interface CsvPredictionReport {
  file: string;
  rows: number;
  /** Rows whose task was not seen in training (predicted with the fused model). */
  unseenRows: number;
  unseenTasks: string[];
  /** Columns of the file the model does not use (listed once). */
  ignoredColumns: string[];
  /** When the file has the target column: the metrics over rows of known tasks (computed as a run computes them), and over rows of unseen tasks. */
  metrics?: { seen?: Metrics; unseen?: Metrics };
  /** The file written (with `out`; `-` writes to stdout). */
  out?: string;
  /** All predictions (unless `keep: false`). */
  predictions?: Predictions;
}

const modelInvalid = (message: string): WeightshareError => new WeightshareError(ErrorCode.MODEL_INVALID, message);
/** Reads a file of a model folder and checks it against its recorded SHA-256. */
const verified = (file: string, expected: string | undefined): Buffer =>
  readVerified(file, expected, () => modelInvalid(`${file} is missing: the model folder is incomplete. Point at a completed run (weightshare runs ls) or run the spec again.`));

/** Finds model/ for a run folder or a model folder, and checks the run completed. */
function locate(dir: string): { modelDir: string; manifestSha?: string } {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new WeightshareError(ErrorCode.RUN_NOT_FOUND, `no run or model folder at "${dir}". List runs with "weightshare runs ls".`);
  if (existsSync(join(abs, 'model.json'))) {
    // a model folder; when it sits in a run folder, that run's manifest vouches for model.json
    const parentManifest = join(dirname(abs), 'manifest.json');
    return { modelDir: abs, manifestSha: existsSync(parentManifest) ? manifestSha(parentManifest, `${basename(abs)}/model.json`) : undefined };
  }
  const manifestFile = join(abs, 'manifest.json');
  if (!existsSync(manifestFile)) throw new WeightshareError(ErrorCode.RUN_NOT_FOUND, `"${dir}" is neither a run folder (no manifest.json) nor a model folder (no model.json). List runs with "weightshare runs ls".`);
  let manifest: { status?: string; outputs?: { file: string; sha256: string }[] };
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as typeof manifest;
  } catch {
    throw runCorrupt(manifestFile, 'is not valid JSON');
  }
  if (manifest.status !== 'completed')
    throw modelInvalid(`the run "${dir}" is ${manifest.status ?? 'not completed'}: only a completed run has a model. Resume it first (weightshare resume ${dir}).`);
  if (!existsSync(join(abs, 'model', 'model.json')))
    throw modelInvalid(`the run "${dir}" has no model/ folder (it was written by a weightshare older than the model format, or model/ was removed). Run the spec again to get one.`);
  return { modelDir: join(abs, 'model'), manifestSha: manifestSha(manifestFile, 'model/model.json') };
}

function manifestSha(manifestFile: string, file: string): string | undefined {
  try {
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as { outputs?: { file: string; sha256: string }[] };
    return m.outputs?.find((o) => o.file === file)?.sha256;
  } catch {
    return undefined;
  }
}

/** Loads the model of a completed run (its folder, or its `model/` folder). */
export function loadModel(dir: string): Model {
  const { modelDir, manifestSha: expected } = locate(dir);
  const jsonFile = join(modelDir, 'model.json');
  const bytes = verified(jsonFile, expected);
  let description: ModelDescription;
  try {
    description = JSON.parse(bytes.toString('utf8')) as ModelDescription;
  } catch {
    throw runCorrupt(jsonFile, 'is not valid JSON');
  }
  if (description.kind !== 'weightshare-model' || typeof description.format !== 'number') throw modelInvalid(`${jsonFile} is not a weightshare model description.`);
  if (description.format > MODEL_FORMAT)
    throw modelInvalid(`${jsonFile} has model format ${description.format}, newer than this weightshare reads (${MODEL_FORMAT}). Upgrade weightshare to use this model.`);
  if (!BUILTIN_MODELS[description.model.name])
    throw modelInvalid(`${jsonFile}: model "${description.model.name}" cannot be applied by this weightshare (it knows: ${Object.keys(BUILTIN_MODELS).join(', ')}); a model family from a plugin is applied from a program that loads that plugin (docs/plugins.md).`);
  if (!BUILTIN_LOSSES[description.loss.name])
    throw modelInvalid(`${jsonFile}: loss "${description.loss.name}" cannot be applied by this weightshare (it knows: ${Object.keys(BUILTIN_LOSSES).join(', ')}); a loss from a plugin is applied from a program that loads that plugin (docs/plugins.md).`);
  const parameters = decodeNpy(verified(join(modelDir, 'parameters.npy'), description.files['parameters.npy']));
  for (const f of Object.keys(description.files)) if (f !== 'parameters.npy') verified(join(modelDir, f), description.files[f]);
  const p = description.model.parameters ?? description.features.length;
  if (parameters.rows !== description.tasks.length || parameters.cols !== p)
    throw runCorrupt(join(modelDir, 'parameters.npy'), `is ${parameters.rows}×${parameters.cols}, but model.json describes ${description.tasks.length} tasks × ${p} parameters`);
  return new Model(description, parameters, modelDir);
}

/** A cell as given: text from a file, or a value from a program. */
type Cell = string | number | null | undefined;

/** Where a row came from, for messages. */
interface RowPlace {
  file: string;
  line: (i: number) => number;
}

/** A trained model: the recorded preprocessing and each task's parameters. */
export class Model {
  private readonly taskIndex: Map<string, number>;
  /** The loss and model as the metrics use them. */
  readonly lossC: { name: string; component: LossComponent; options: Record<string, unknown> };
  readonly modelC: { component: ModelComponent; layout: ModelLayout; options: Record<string, unknown> };
  /** What the target holds. */
  readonly kind: TargetKind;
  /** Scratch: one row's model inputs, outputs and their inverse link. */
  private readonly x: Float64Array;
  private readonly z: Float64Array;
  private readonly zl: Float64Array;
  /** Multi-class: class label (as text) → index. */
  private readonly classIndex: Map<string, number>;
  private readonly missing: Set<string>;
  private readonly indicatorIndex: Map<string, number>[];
  /** Offset of each input's first encoded column. */
  private readonly encodedStart: number[];

  constructor(
    readonly description: ModelDescription,
    readonly parameters: DenseMatrix,
    readonly dir: string,
  ) {
    this.taskIndex = new Map(description.tasks.map((id, t) => [id, t]));
    const loss = BUILTIN_LOSSES[description.loss.name]!;
    this.lossC = { name: description.loss.name, component: loss, options: description.loss.options ?? {} };
    this.kind = description.loss.target ?? loss.target;
    const k = description.model.outputs ?? 1;
    const modelC = BUILTIN_MODELS[description.model.name]!;
    const inputs = description.features.length;
    const layout = modelC.layout({ features: inputs, outputs: k, biasColumn: description.preprocessing.bias ? inputs - 1 : -1 }, description.model.options ?? {});
    this.modelC = { component: modelC, layout, options: description.model.options ?? {} };
    this.x = new Float64Array(inputs);
    this.z = new Float64Array(k);
    this.zl = new Float64Array(k);
    this.classIndex = new Map((description.loss.classes ?? []).map((c, i) => [String(c), i]));
    this.missing = new Set(description.preprocessing.missing.tokens);
    const pre = description.preprocessing;
    this.encoded = new Float64Array(pre.encoded.length);
    this.encodedStart = [];
    this.indicatorIndex = pre.inputs.map((c, k) => {
      this.encodedStart[k] = pre.encoded.findIndex((e) => e.input === k);
      return c.kind === 'categorical' ? new Map(indicatorCategories(c).map((cat, i) => [cat, i])) : new Map();
    });
  }

  /** The raw input columns a row needs (besides the task column). */
  get inputColumns(): string[] {
    return this.description.preprocessing.inputs.map((c) => c.column);
  }

  /** Predicts rows given in memory. */
  predict(input: PredictInput, opts: { unseen?: UnseenTaskPolicy } = {}): Predictions {
    if (input.taskIds.length !== input.rows.length) throw invalidArgument(`predict: taskIds has ${input.taskIds.length} entries but rows has ${input.rows.length}; give one task id per row.`);
    const cols = this.inputColumns;
    const n = input.rows.length;
    const out = this.emptyPredictions(n);
    const place: RowPlace = { file: 'rows', line: (i) => i };
    let r: PredictInput['rows'][number] = {};
    const source: CellSource = {
      number: (k) => {
        const v = r[cols[k]!];
        return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
      },
      value: (k) => r[cols[k]!],
    };
    for (let i = 0; i < n; i++) {
      r = input.rows[i]!;
      this.predictRow(String(input.taskIds[i]), source, i, out, i, place, opts.unseen ?? 'fused');
    }
    return out;
  }

  /**
   * Predicts every row of a CSV file, reading it in chunks (memory: one chunk plus the predictions); with `out`,
   * writes one line per row (atomically: a temporary file renamed into place; an existing file is refused unless
   * `force`).
   */
  predictCsv(path: string, opts: { out?: string; force?: boolean; unseen?: UnseenTaskPolicy; keep?: boolean; chunkBytes?: number } = {}): CsvPredictionReport {
    const file = path;
    if (!existsSync(path)) throw new WeightshareError(ErrorCode.FILE_NOT_FOUND, `data file "${path}" does not exist or cannot be read. Check the path (relative paths are resolved against the current folder).`);
    if (!statSync(path).isFile()) throw invalidArgument(`--data "${path}" is not a regular file; give a CSV file.`);
    const toStdout = opts.out === '-';
    if (opts.out !== undefined && !toStdout && existsSync(opts.out) && !opts.force) throw invalidArgument(`--out "${opts.out}" already exists; choose another file, or add --force to replace it.`);
    const d = this.description;
    const reader = new ChunkedCsv(path, opts.chunkBytes ?? 1 << 22);
    const header = reader.header;
    if (!header) throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: the file is empty; it needs a header row and at least one data row.`);
    const at = new Map(header.map((h, j) => [h, j]));
    const needed = [d.columns.task, ...this.inputColumns];
    const absent = needed.filter((c) => !at.has(c));
    if (absent.length)
      throw new WeightshareError(
        ErrorCode.CSV_INVALID,
        `${file}: ${absent.length === 1 ? 'column' : 'columns'} ${absent.map((c) => `"${c}"`).join(', ')} ${absent.length === 1 ? 'is' : 'are'} missing from the header; the model needs the task column "${d.columns.task}" and the input columns ${this.inputColumns.map((c) => `"${c}"`).join(', ')} (any order; other columns are ignored).`,
        { problems: [{ message: `the header has: ${header.slice(0, 12).join(', ')}${header.length > 12 ? ', …' : ''}`, location: { file, row: 1 } }] },
      );
    const taskCol = at.get(d.columns.task)!;
    const inputCols = this.inputColumns.map((c) => at.get(c)!);
    const targetCol = at.get(d.columns.target);
    const used = new Set([d.columns.task, d.columns.target, ...this.inputColumns]);
    const ignoredColumns = header.filter((h) => !used.has(h));
    const writer = opts.out === undefined ? undefined : toStdout ? new StdoutWriter() : new AtomicWriter(opts.out);
    const k = this.modelC.layout.outputs;
    writer?.write([d.columns.task, 'row', ...this.predictionColumns(), 'unseen'].join(',') + '\n');
    const keep = opts.keep !== false;
    const all: Predictions[] = [];
    // targets and predictions grouped by task, in file order: the grouping a run's evaluation uses
    const T = d.tasks.length;
    const byTask = targetCol === undefined ? undefined : { y: Array.from({ length: T }, () => [] as number[]), p: Array.from({ length: T }, () => [] as number[]), uy: [] as number[], up: [] as number[] };
    const unseenTasks = new Set<string>();
    let rows = 0;
    let unseenRows = 0;
    try {
      const cells = new RowCells(header.length, reader.delimiter);
      const source: CellSource = { number: (k) => cells.number(inputCols[k]!), value: (k) => cells.string(inputCols[k]!) };
      const unseenPolicy = opts.unseen ?? 'fused';
      const quoted = new Map<string, string>(); // each task id as a CSV field, escaped once
      for (let chunk = reader.next(); chunk; chunk = reader.next()) {
        const { bytes: chunkBytes, starts, ends, lines, n } = chunk;
        const pred = this.emptyPredictions(n);
        const place: RowPlace = { file, line: (i) => lines[i]! };
        let text = '';
        for (let i = 0; i < n; i++) {
          cells.set(chunkBytes, starts[i]!, ends[i]!);
          if (cells.count !== header.length)
            throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: row ${lines[i]} has ${cells.count} fields, the header ${header.length}. Fix that row (a quote or a delimiter too many?).`, {
              problems: [{ message: 'this row', location: { file, row: lines[i] } }],
            });
          const task = cells.string(taskCol);
          this.predictRow(task, source, i, pred, lines[i]!, place, unseenPolicy);
          const u = pred.unseen[i]!;
          if (u) unseenTasks.add(task);
          unseenRows += u;
          let field = quoted.get(task);
          if (field === undefined) quoted.set(task, (field = csvField(task)));
          text += `${field},${rows + i},${this.predictionCells(pred, i)},${u}\n`;
          if ((i & 4095) === 4095) {
            writer?.write(text); // small pieces: the text dies young instead of piling up
            text = '';
          }
          if (byTask) {
            const y = this.target(cells.string(targetCol!), lines[i]!, file);
            const to = u ? byTask.up : byTask.p[this.taskIndex.get(task)!]!;
            (u ? byTask.uy : byTask.y[this.taskIndex.get(task)!]!).push(y);
            for (let c = 0; c < k; c++) to.push(pred.output[i * k + c]!);
          }
        }
        writer?.write(text);
        if (keep) all.push(pred);
        rows += n;
      }
      if (rows === 0) throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: the file has a header but no data rows.`);
      writer?.commit(opts.force === true);
    } finally {
      writer?.abort();
      reader.close();
    }
    const report: CsvPredictionReport = { file, rows, unseenRows, unseenTasks: [...unseenTasks], ignoredColumns };
    if (byTask) {
      const loss = { loss: this.lossC, model: this.modelC };
      const metrics: NonNullable<CsvPredictionReport['metrics']> = {};
      const seen = d.tasks.map((id, t) => ({ id, y: Float64Array.from(byTask.y[t]!) }));
      if (rows > unseenRows) metrics.seen = scoreOutputs(seen, byTask.p.map((p) => Float64Array.from(p)), loss).overall;
      if (unseenRows) metrics.unseen = scoreOutputs([{ id: '(unseen)', y: Float64Array.from(byTask.uy) }], [Float64Array.from(byTask.up)], loss).overall;
      report.metrics = metrics;
    }
    if (opts.out !== undefined && !toStdout) report.out = opts.out;
    if (keep) report.predictions = concat(all, this.emptyPredictions(0));
    return report;
  }

  private emptyPredictions(n: number): Predictions {
    const k = this.modelC.layout.outputs;
    const kind = this.kind;
    return {
      output: new Float64Array(n * k),
      unseen: new Uint8Array(n),
      ...(kind === 'regression' || kind === 'count' ? { prediction: new Float64Array(n) } : {}),
      ...(kind === 'binary' ? { probability: new Float64Array(n), label: new Float64Array(n) } : {}),
      ...(kind === 'multiclass' ? { probabilities: new Float64Array(n * k), label: new Float64Array(n) } : {}),
    };
  }

  /** The prediction columns of a CSV of predictions. */
  predictionColumns(): string[] {
    if (this.kind === 'binary') return ['probability', 'label'];
    if (this.kind === 'multiclass') return [...(this.description.loss.classes ?? []).map((c) => csvField(`p:${c}`)), 'label'];
    return ['prediction'];
  }

  /** The prediction cells of row i (joined by commas). */
  private predictionCells(pred: Predictions, i: number): string {
    if (this.kind === 'binary') return `${pred.probability![i]},${pred.label![i]}`;
    if (this.kind === 'multiclass') {
      const k = this.modelC.layout.outputs;
      let s = '';
      for (let c = 0; c < k; c++) s += `${pred.probabilities![i * k + c]},`;
      return s + csvField(String(this.description.loss.classes![pred.label![i]!]));
    }
    return String(pred.prediction![i]);
  }

  /** The target cell of a row, as a run reads it (binary: −1/+1 stored as 0/1; multi-class: the class index). */
  private target(cell: string, line: number, file: string): number {
    if (this.kind === 'multiclass') {
      const numeric = parseCell(cell);
      const c = this.classIndex.get(typeof numeric === 'number' ? String(numeric) : cell.trim());
      if (c === undefined)
        throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: row ${line}, column "${this.description.columns.target}": class ${JSON.stringify(cell.slice(0, 40))} was not among the training classes (${(this.description.loss.classes ?? []).slice(0, 10).join(', ')}); remove the row, or the target column to predict only.`, {
          problems: [{ message: 'this cell', location: { file, row: line, csvColumn: this.description.columns.target } }],
        });
      return c;
    }
    const v = parseCell(cell);
    if (typeof v !== 'number')
      throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: row ${line}, column "${this.description.columns.target}": ${v}; the target column is optional for predictions, but when present every cell must be a number (remove the column to predict only).`, {
        problems: [{ message: 'this cell', location: { file, row: line, csvColumn: this.description.columns.target } }],
      });
    if (this.kind === 'binary') return v === this.description.loss.labels![1] ? 1 : 0;
    return v;
  }

  /** Encodes, standardizes and predicts one row into `out[i]`. */
  private predictRow(task: string, cell: CellSource, i: number, out: Predictions, line: number, place: RowPlace, unseen: UnseenTaskPolicy): void {
    const d = this.description;
    const pre = d.preprocessing;
    let t = this.taskIndex.get(task);
    let theta: ArrayLike<number>;
    if (t === undefined) {
      if (unseen === 'error')
        throw new WeightshareError(ErrorCode.DATA_INVALID, `${place.file}: row ${line}: task "${task.slice(0, 60)}" was not in the training data (it has ${d.tasks.length} tasks). Use --unseen fused to predict it with the shared (fused) model, or remove the row.`, {
          problems: [{ message: 'this cell', location: { file: place.file, row: line, csvColumn: d.columns.task } }],
        });
      out.unseen[i] = 1;
      theta = d.unseen.parameters;
      t = -1;
    } else theta = this.parameters.data.subarray(t * this.parameters.cols, (t + 1) * this.parameters.cols);
    const enc = this.encodeRow(cell, line, place);
    const { layout } = this.modelC;
    if (!(layout.linear && layout.outputs === 1)) {
      this.modelInputs(enc, line, place);
      this.outputsOf(theta, i, out);
      return;
    }
    let s = 0;
    const features = pre.features;
    for (let k = 0; k < features.length; k++) {
      const f = features[k]!;
      const x = enc[f.encoded]!;
      let z = x;
      if (pre.standardize) {
        z = (x - f.center) / f.scale; // standardizeValue's formula; it names the cell when the result overflows
        if (!Number.isFinite(z)) standardizeValue(x, f, () => ({ message: 'this value', location: { file: place.file, row: line, csvColumn: pre.inputs[pre.encoded[f.encoded]!.input]!.column } }));
      }
      s += z * theta[k]!;
    }
    if (pre.bias) s += 1 * theta[features.length]!;
    out.output[i] = s;
    if (out.probability) {
      const prob = this.lossC.name === 'logistic' ? 1 / (1 + Math.exp(-s)) : this.link1(s);
      out.probability[i] = prob;
      const labels = d.loss.labels!;
      out.label![i] = (this.lossC.name === 'logistic' ? s >= 0 : prob >= 0.5) ? labels[1] : labels[0];
    }
    if (out.prediction) out.prediction[i] = this.lossC.name === 'squared' ? s : this.link1(s);
  }

  /** The inverse link of one output. */
  private link1(z: number): number {
    this.z[0] = z;
    this.lossC.component.link(this.z, 1, this.zl, this.lossC.options);
    return this.zl[0]!;
  }

  /** The standardized model inputs of a row (with the bias) into this.x. */
  private modelInputs(enc: Float64Array, line: number, place: RowPlace): void {
    const pre = this.description.preprocessing;
    const features = pre.features;
    for (let k = 0; k < features.length; k++) {
      const f = features[k]!;
      const v = enc[f.encoded]!;
      let z = v;
      if (pre.standardize) {
        z = (v - f.center) / f.scale;
        if (!Number.isFinite(z)) standardizeValue(v, f, () => ({ message: 'this value', location: { file: place.file, row: line, csvColumn: pre.inputs[pre.encoded[f.encoded]!.input]!.column } }));
      }
      this.x[k] = z;
    }
    if (pre.bias) this.x[features.length] = 1;
  }

  /** The model's outputs for this.x and what the loss makes of them, into row i of `out`. */
  private outputsOf(theta: ArrayLike<number>, i: number, out: Predictions): void {
    const { component, layout, options } = this.modelC;
    const k = layout.outputs;
    const th = theta instanceof Float64Array ? theta : Float64Array.from(theta);
    component.forward(layout, th, this.x, 1, this.z, options);
    out.output.set(this.z, i * k);
    this.lossC.component.link(this.z, k, this.zl, this.lossC.options);
    if (this.kind === 'multiclass') {
      out.probabilities!.set(this.zl, i * k);
      let best = 0;
      for (let c = 1; c < k; c++) if (this.zl[c]! > this.zl[best]!) best = c;
      out.label![i] = best;
    } else if (this.kind === 'binary') {
      out.probability![i] = this.zl[0]!;
      out.label![i] = this.zl[0]! >= 0.5 ? this.description.loss.labels![1] : this.description.loss.labels![0];
    } else out.prediction![i] = this.zl[0]!;
  }

  /** The encoded inputs of one row (numbers, imputed values, category indicators), before standardization. */
  private encodeRow(cell: CellSource, line: number, place: RowPlace): Float64Array {
    const pre = this.description.preprocessing;
    const enc = this.encoded;
    enc.fill(0);
    for (let k = 0; k < pre.inputs.length; k++) {
      const c: InputColumn = pre.inputs[k]!;
      if (c.kind === 'numeric') {
        const fast = cell.number(k);
        enc[this.encodedStart[k]!] = Number.isNaN(fast) ? this.numericCell(k, cell.value(k), line, place) : fast;
        continue;
      }
      const raw = cell.value(k);
      let label: string;
      if (this.isMissing(raw)) {
        if (c.impute === undefined) this.cellError(k, line, place, `the category is missing, and the model has none to impute for this column (trained with data.missing: ${pre.missing.policy}). Fill in the cell or leave the row out.`);
        label = c.impute!;
      } else label = String(raw).trim();
      const j = this.indicatorIndex[k]!.get(label);
      if (j !== undefined) enc[this.encodedStart[k]! + j] = 1;
      else if (!c.categories.includes(label) && c.unseen === 'error')
        this.cellError(k, line, place, `category ${JSON.stringify(label.slice(0, 40))} does not occur in the training rows (they have ${c.categories.slice(0, 8).join(', ')}${c.categories.length > 8 ? ', …' : ''}), and the model was trained with unseen: error.`);
      // an unseen category (unseen: zeros) or the reference category (drop: first) has all-zero indicators
    }
    return enc;
  }

  private readonly encoded: Float64Array;

  private isMissing(raw: Cell): boolean {
    return raw === null || raw === undefined || (typeof raw === 'string' && this.missing.has(raw.trim()));
  }

  /** A numeric cell that is not a plain decimal number: missing (imputed when the model can), or an error. */
  private numericCell(k: number, raw: Cell, line: number, place: RowPlace): number {
    const c = this.description.preprocessing.inputs[k] as Extract<InputColumn, { kind: 'numeric' }>;
    if (this.isMissing(raw)) {
      if (c.impute === undefined) this.cellError(k, line, place, `the value is missing, and the model has no value to impute for this column (trained with data.missing: ${this.description.preprocessing.missing.policy}). Fill in the cell or leave the row out.`);
      return c.impute!;
    }
    if (typeof raw === 'number') return this.cellError(k, line, place, `${raw} is not a finite number.`);
    const v = parseCell(raw as string);
    return typeof v === 'number' ? v : this.cellError(k, line, place, `${v}; the model needs a number here.`);
  }

  private cellError(k: number, line: number, place: RowPlace, what: string): never {
    const column = this.description.preprocessing.inputs[k]!.column;
    throw new WeightshareError(ErrorCode.CSV_INVALID, `${place.file}: row ${line}, column "${column}": ${what}`, { problems: [{ message: 'this cell', location: { file: place.file, row: line, csvColumn: column } }] });
  }
}

/** The cells of one row by input index: `number` is the value of a plain decimal cell (NaN otherwise, then `value` is read). */
interface CellSource {
  number(k: number): number;
  value(k: number): Cell;
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact in float64 up to 1e22

/**
 * The number a plain decimal cell `bytes[s, e)` (ASCII) denotes — [+-]digits[.digits][e[+-]digits] — bit for bit what
 * `Number()` gives, without making a string: when the digits, read as an integer, are below 2^53 and the power of ten is at most 22, one
 * correctly rounded multiplication or division of two exact values is the correctly rounded result (Clinger's fast
 * path). NaN for anything else (the caller then parses the cell as text).
 */
export function fastDecimal(bytes: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  const c0 = bytes[i]!;
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    i++;
  }
  let m = 0;
  let scale = 0;
  let any = false;
  for (; i < e; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) break;
    any = true;
    m = m * 10 + d;
  }
  if (i < e && bytes[i]! === 46) {
    for (i++; i < e; i++) {
      const d = bytes[i]! - 48;
      if (d < 0 || d > 9) break;
      any = true;
      m = m * 10 + d;
      scale--;
    }
  }
  if (!any) return NaN;
  if (i < e) {
    const c = bytes[i]!;
    if (c !== 101 && c !== 69) return NaN;
    i++;
    let eneg = false;
    const cs = bytes[i]!;
    if (cs === 45 || cs === 43) {
      eneg = cs === 45;
      i++;
    }
    let x = 0;
    let ed = 0;
    for (; i < e; i++) {
      const d = bytes[i]! - 48;
      if (d < 0 || d > 9) return NaN;
      x = x * 10 + d;
      if (++ed > 4) return NaN;
    }
    if (ed === 0) return NaN;
    scale += eneg ? -x : x;
  }
  // m is exact while below 2^53 (once past it, it stays past it); beyond that or 10^±22 Number() decides
  if (m >= 9007199254740992 || scale < -22 || scale > 22) return NaN;
  const v = scale < 0 ? m / POW10[-scale]! : m * POW10[scale]!;
  return neg ? -v : v;
}

/**
 * The fields of one CSV line, as offsets into the chunk's text (no strings made until a cell is read as text),
 * trimmed like the data loader trims them. A line with a double quote goes through csv-parse instead.
 */
class RowCells {
  count = 0;
  private bytes: Uint8Array = new Uint8Array(0);
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private record: string[] | undefined;
  private readonly delim: number;

  constructor(
    width: number,
    private readonly delimiter: string,
  ) {
    this.starts = new Int32Array(width + 1);
    this.ends = new Int32Array(width + 1);
    this.delim = delimiter.charCodeAt(0);
  }

  set(bytes: Uint8Array, s: number, e: number): void {
    this.bytes = bytes;
    this.record = undefined;
    let n = 0;
    let start = s;
    const cap = this.starts.length;
    for (let i = s; i <= e; i++) {
      const c = i === e ? -1 : bytes[i]!;
      if (c === 34) {
        // a quoted field: the whole line goes through csv-parse
        this.record = ((parse(Buffer.from(bytes.buffer, bytes.byteOffset + s, e - s).toString('utf8'), { delimiter: this.delimiter, trim: true, relax_quotes: true }) as string[][])[0] ?? []) as string[];
        this.count = this.record.length;
        return;
      }
      if (c === -1 || c === this.delim) {
        if (n < cap) {
          let a = start;
          let b = i;
          while (a < b && isSpace(bytes[a]!)) a++;
          while (b > a && isSpace(bytes[b - 1]!)) b--;
          this.starts[n] = a;
          this.ends[n] = b;
        }
        n++;
        start = i + 1;
      }
    }
    this.count = n;
  }

  string(j: number): string {
    if (this.record) return this.record[j]!;
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.starts[j]!, this.ends[j]! - this.starts[j]!).toString('utf8');
  }

  number(j: number): number {
    if (this.record) return NaN;
    const a = this.starts[j]!;
    const b = this.ends[j]!;
    return a < b ? fastDecimal(this.bytes, a, b) : NaN;
  }
}

const isSpace = (c: number): boolean => c === 32 || c === 9;

const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The predictions of all chunks, in order (`like`: an empty Predictions with the fields to keep). */
function concat(parts: Predictions[], like: Predictions): Predictions {
  const out: Record<string, Float64Array | Uint8Array> = {};
  for (const key of Object.keys(like) as (keyof Predictions)[]) {
    const n = parts.reduce((a, p) => a + p[key]!.length, 0);
    const arr = key === 'unseen' ? new Uint8Array(n) : new Float64Array(n);
    let o = 0;
    for (const p of parts) {
      arr.set(p[key]! as Float64Array & Uint8Array, o);
      o += p[key]!.length;
    }
    out[key] = arr;
  }
  return out as unknown as Predictions;
}

/**
 * Reads a CSV file a chunk of bytes at a time, yielding whole records with their 1-based line numbers. Lines without
 * a double quote are split directly (fast path); lines with quotes go through csv-parse (a quoted field may not span
 * lines here). Cells are trimmed, a UTF-8 BOM is skipped; blank lines are skipped.
 */
class ChunkedCsv {
  private readonly fd: number;
  private buf: Buffer;
  /** Bytes of `buf` not yet handed out (a partial line from the last read), from 0 to `kept`. */
  private kept = 0;
  private line = 0;
  private eof = false;
  delimiter = ',';
  readonly header: string[] | undefined;

  constructor(
    path: string,
    private readonly chunkBytes: number,
  ) {
    this.fd = openSync(path, 'r');
    if (!fstatSync(this.fd).isFile()) throw invalidArgument(`"${path}" is not a regular file.`);
    this.buf = Buffer.allocUnsafe(chunkBytes);
    // the header: read until the first line is complete
    let nl = -1;
    while (nl < 0 && !this.eof) {
      this.fill();
      nl = this.buf.subarray(0, this.kept).indexOf(10);
    }
    const end = nl < 0 ? this.kept : nl;
    let first = this.buf.toString('utf8', 0, end).replace(/^\uFEFF/, '').replace(/\r$/, '');
    this.shift(nl < 0 ? this.kept : nl + 1);
    if (first.trim() === '') {
      this.header = undefined;
      return;
    }
    this.line = 1;
    this.delimiter = detectDelimiter(first);
    const bytes = Buffer.from(first, 'utf8');
    const cells = new RowCells(bytes.length + 1, this.delimiter);
    cells.set(bytes, 0, bytes.length);
    this.header = Array.from({ length: cells.count }, (_, j) => cells.string(j));
    first = '';
  }

  /** Reads more of the file after the kept bytes (growing the buffer when one line fills it). */
  private fill(): void {
    if (this.kept === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.kept);
      this.buf = bigger;
    }
    const n = readSync(this.fd, this.buf, this.kept, this.buf.length - this.kept, null);
    if (n === 0) this.eof = true;
    this.kept += n;
  }

  /** Drops the first `n` kept bytes. */
  private shift(n: number): void {
    this.buf.copy(this.buf, 0, n, this.kept);
    this.kept -= n;
  }

  private carry = 0;

  private starts: Int32Array<ArrayBuffer> = new Int32Array(1 << 16);
  private ends: Int32Array<ArrayBuffer> = new Int32Array(1 << 16);
  private lines: Int32Array<ArrayBuffer> = new Int32Array(1 << 16);

  /**
   * The next chunk: its bytes and, per non-blank line, where it starts and ends and its 1-based line number (`n`
   * lines; the arrays are reused: valid until the next call).
   */
  next(): { bytes: Uint8Array; starts: Int32Array; ends: Int32Array; lines: Int32Array; n: number } | undefined {
    if (this.header === undefined) return undefined;
    if (this.carry) this.shift(this.carry);
    this.carry = 0;
    for (;;) {
      if (!this.eof) this.fill();
      if (this.kept === 0 && this.eof) return undefined;
      const cut = this.eof ? this.kept : this.buf.subarray(0, this.kept).lastIndexOf(10);
      if (cut < 0) continue; // a line longer than the buffer: read on (fill grows it)
      const bytes = this.buf.subarray(0, cut);
      let n = 0;
      for (let start = 0; start <= cut; ) {
        let nl = bytes.indexOf(10, start);
        if (nl < 0) nl = cut;
        this.line++;
        let end = nl;
        if (end > start && bytes[end - 1] === 13) end--;
        let a = start;
        while (a < end && isSpace(bytes[a]!)) a++;
        if (a < end) {
          if (n === this.starts.length) this.grow();
          this.starts[n] = start;
          this.ends[n] = end;
          this.lines[n] = this.line;
          n++;
        }
        start = nl + 1;
      }
      this.carry = this.eof ? this.kept : cut + 1;
      if (n) return { bytes, starts: this.starts, ends: this.ends, lines: this.lines, n };
      this.shift(this.carry);
      this.carry = 0;
      if (this.eof) return undefined;
    }
  }

  private grow(): void {
    const g = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.starts = g(this.starts);
    this.ends = g(this.ends);
    this.lines = g(this.lines);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Writes the predictions to stdout as they are computed. */
class StdoutWriter {
  write(text: string): void {
    let buf = Buffer.from(text, 'utf8');
    while (buf.length) {
      try {
        buf = buf.subarray(writeSync(1, buf));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
    }
  }
  commit(): void {}
  abort(): void {}
}

/** Writes a file under a temporary name next to it and renames it into place on commit; abort removes it. */
class AtomicWriter {
  private readonly tmp: string;
  private fd: number | undefined;

  constructor(private readonly path: string) {
    this.tmp = join(dirname(resolve(path)), `.${basename(path)}.tmp-${process.pid}`);
    try {
      this.fd = openSync(this.tmp, 'wx');
    } catch (e) {
      throw new WeightshareError(ErrorCode.OUTPUT_ERROR, `cannot write "${path}": ${(e as Error).message}. Check that its folder exists and is writable.`);
    }
  }

  write(text: string): void {
    writeSync(this.fd!, text);
  }

  commit(force: boolean): void {
    fsyncSync(this.fd!);
    closeSync(this.fd!);
    this.fd = undefined;
    if (existsSync(this.path) && !force) throw invalidArgument(`--out "${this.path}" appeared while predicting; it is left as it is. Choose another file, or add --force.`);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    rmSync(this.tmp, { force: true });
  }
}
