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
import { parse } from 'csv-parse/sync';
import { ErrorCode, invalidArgument, runCorrupt, WeightshareError, type Problem } from '../errors.js';
import type { DenseMatrix } from '../math/dense.js';
import { detectDelimiter, parseCell } from '../data/csv.js';
import { standardizeValue, indicatorCategories, type InputColumn } from '../data/preprocess.js';
import { scorePredictions, type Metrics } from '../eval/metrics.js';
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
  /** Regression: the prediction in the target's units. Logistic: the linear score (log-odds). */
  output: Float64Array;
  /** Logistic loss: the probability of the second label, and the predicted label. */
  probability?: Float64Array;
  label?: Float64Array;
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
  if (description.model.name !== 'linear') throw modelInvalid(`${jsonFile}: model "${description.model.name}" cannot be applied by this weightshare (it knows: linear).`);
  const parameters = decodeNpy(verified(join(modelDir, 'parameters.npy'), description.files['parameters.npy']));
  for (const f of Object.keys(description.files)) if (f !== 'parameters.npy') verified(join(modelDir, f), description.files[f]);
  if (parameters.rows !== description.tasks.length || parameters.cols !== description.features.length)
    throw runCorrupt(join(modelDir, 'parameters.npy'), `is ${parameters.rows}×${parameters.cols}, but model.json describes ${description.tasks.length} tasks × ${description.features.length} parameters`);
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
    this.missing = new Set(description.preprocessing.missing.tokens);
    const pre = description.preprocessing;
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
    for (let i = 0; i < n; i++) {
      const r = input.rows[i]!;
      this.predictRow(String(input.taskIds[i]), (k) => r[cols[k]!], i, out, i, place, opts.unseen ?? 'fused');
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
    const logistic = d.loss.name === 'logistic';
    writer?.write([d.columns.task, 'row', ...(logistic ? ['probability', 'label'] : ['prediction']), 'unseen'].join(',') + '\n');
    const keep = opts.keep !== false;
    const all: Predictions[] = [];
    // targets and predictions grouped by task, in file order: the grouping a run's evaluation uses
    const T = d.tasks.length;
    const byTask = targetCol === undefined ? undefined : { y: Array.from({ length: T }, () => [] as number[]), p: Array.from({ length: T }, () => [] as number[]), uy: [] as number[], up: [] as number[] };
    const unseenTasks = new Set<string>();
    let rows = 0;
    let unseenRows = 0;
    try {
      for (let chunk = reader.next(); chunk; chunk = reader.next()) {
        const { records, lines } = chunk;
        const n = records.length;
        const pred = this.emptyPredictions(n);
        const place: RowPlace = { file, line: (i) => lines[i]! };
        for (let i = 0; i < n; i++) {
          const rec = records[i]!;
          if (rec.length !== header.length)
            throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: row ${lines[i]} has ${rec.length} fields, the header ${header.length}. Fix that row (a quote or a delimiter too many?).`, {
              problems: [{ message: 'this row', location: { file, row: lines[i] } }],
            });
          const task = rec[taskCol]!;
          this.predictRow(task, (k) => rec[inputCols[k]!], i, pred, lines[i]!, place, opts.unseen ?? 'fused');
          if (pred.unseen[i]) unseenTasks.add(task);
        }
        let text = '';
        for (let i = 0; i < n; i++) {
          const rec = records[i]!;
          const u = pred.unseen[i]!;
          unseenRows += u;
          text += `${csvField(rec[taskCol]!)},${rows + i},${logistic ? `${pred.probability![i]},${labelText(pred.label![i]!)}` : pred.output[i]},${u}\n`;
          if (byTask) {
            const y = this.target(rec[targetCol!]!, lines[i]!, file);
            const v = logistic ? pred.output[i]! : pred.output[i]!;
            if (u) {
              byTask.uy.push(y);
              byTask.up.push(v);
            } else {
              const t = this.taskIndex.get(rec[taskCol]!)!;
              byTask.y[t]!.push(y);
              byTask.p[t]!.push(v);
            }
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
      const loss = logistic ? 'logistic' : 'squared';
      const metrics: NonNullable<CsvPredictionReport['metrics']> = {};
      const seen = d.tasks.map((id, t) => ({ id, y: Float64Array.from(byTask.y[t]!) }));
      if (rows > unseenRows) metrics.seen = scorePredictions(seen, byTask.p.map((p) => Float64Array.from(p)), loss).overall;
      if (unseenRows) metrics.unseen = scorePredictions([{ id: '(unseen)', y: Float64Array.from(byTask.uy) }], [Float64Array.from(byTask.up)], loss).overall;
      report.metrics = metrics;
    }
    if (opts.out !== undefined && !toStdout) report.out = opts.out;
    if (keep) report.predictions = concat(all, logistic);
    return report;
  }

  private emptyPredictions(n: number): Predictions {
    const logistic = this.description.loss.name === 'logistic';
    return { output: new Float64Array(n), unseen: new Uint8Array(n), ...(logistic ? { probability: new Float64Array(n), label: new Float64Array(n) } : {}) };
  }

  /** The target cell of a row, as a run reads it (logistic: −1/+1 stored as 0/1). */
  private target(cell: string, line: number, file: string): number {
    const v = parseCell(cell);
    if (typeof v !== 'number')
      throw new WeightshareError(ErrorCode.CSV_INVALID, `${file}: row ${line}, column "${this.description.columns.target}": ${v}; the target column is optional for predictions, but when present every cell must be a number (remove the column to predict only).`, {
        problems: [{ message: 'this cell', location: { file, row: line, csvColumn: this.description.columns.target } }],
      });
    if (this.description.loss.name === 'logistic') return v === this.description.loss.labels[1] ? 1 : 0;
    return v;
  }

  /** Encodes, standardizes and predicts one row into `out[i]`. */
  private predictRow(task: string, cell: (k: number) => Cell, i: number, out: Predictions, line: number, place: RowPlace, unseen: UnseenTaskPolicy): void {
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
    let s = 0;
    const features = pre.features;
    for (let k = 0; k < features.length; k++) {
      const f = features[k]!;
      const x = enc[f.encoded]!;
      const z = pre.standardize ? standardizeValue(x, f, () => ({ message: 'this value', location: { file: place.file, row: line, csvColumn: pre.inputs[pre.encoded[f.encoded]!.input]!.column } })) : x;
      s += z * theta[k]!;
    }
    if (pre.bias) s += 1 * theta[features.length]!;
    out.output[i] = s;
    if (out.probability) {
      const prob = 1 / (1 + Math.exp(-s));
      out.probability[i] = prob;
      const labels = (d.loss as { labels: [number, number] }).labels;
      out.label![i] = s >= 0 ? labels[1] : labels[0];
    }
  }

  private readonly scratch: Float64Array[] = [];

  /** The encoded inputs of one row (numbers, imputed values, category indicators), before standardization. */
  private encodeRow(cell: (k: number) => Cell, line: number, place: RowPlace): Float64Array {
    const pre = this.description.preprocessing;
    const enc = (this.scratch[0] ??= new Float64Array(pre.encoded.length));
    enc.fill(0);
    const where = (k: number): Problem => ({ message: 'this cell', location: { file: place.file, row: line, csvColumn: pre.inputs[k]!.column } });
    const fail = (k: number, what: string): never => {
      throw new WeightshareError(ErrorCode.CSV_INVALID, `${place.file}: row ${line}, column "${pre.inputs[k]!.column}": ${what}`, { problems: [where(k)] });
    };
    for (let k = 0; k < pre.inputs.length; k++) {
      const c: InputColumn = pre.inputs[k]!;
      const raw = cell(k);
      const isMissing = raw === null || raw === undefined || (typeof raw === 'string' && this.missing.has(raw.trim()));
      if (c.kind === 'numeric') {
        let v: number;
        if (isMissing) {
          if (c.impute === undefined) fail(k, `the value is missing, and the model has no value to impute for this column (trained with data.missing: ${pre.missing.policy}). Fill in the cell or leave the row out.`);
          v = c.impute!;
        } else if (typeof raw === 'number') {
          if (!Number.isFinite(raw)) fail(k, `${raw} is not a finite number.`);
          v = raw;
        } else {
          const p = parseCell(raw as string);
          if (typeof p !== 'number') fail(k, `${p}; the model needs a number here.`);
          v = p as number;
        }
        enc[this.encodedStart[k]!] = v;
      } else {
        let label: string;
        if (isMissing) {
          if (c.impute === undefined) fail(k, `the category is missing, and the model has none to impute for this column (trained with data.missing: ${pre.missing.policy}). Fill in the cell or leave the row out.`);
          label = c.impute!;
        } else label = String(raw).trim();
        const j = this.indicatorIndex[k]!.get(label);
        if (j !== undefined) enc[this.encodedStart[k]! + j] = 1;
        else if (!c.categories.includes(label) && c.unseen === 'error')
          fail(k, `category ${JSON.stringify(label.slice(0, 40))} does not occur in the training rows (they have ${c.categories.slice(0, 8).join(', ')}${c.categories.length > 8 ? ', …' : ''}), and the model was trained with unseen: error.`);
        // an unseen category (unseen: zeros) or the reference category (drop: first) has all-zero indicators
      }
    }
    return enc;
  }
}

const labelText = (v: number): string => String(v);
const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function concat(parts: Predictions[], logistic: boolean): Predictions {
  const n = parts.reduce((a, p) => a + p.output.length, 0);
  const out: Predictions = { output: new Float64Array(n), unseen: new Uint8Array(n), ...(logistic ? { probability: new Float64Array(n), label: new Float64Array(n) } : {}) };
  let o = 0;
  for (const p of parts) {
    out.output.set(p.output, o);
    out.unseen.set(p.unseen, o);
    if (logistic) {
      out.probability!.set(p.probability!, o);
      out.label!.set(p.label!, o);
    }
    o += p.output.length;
  }
  return out;
}

/**
 * Reads a CSV file a chunk of bytes at a time, yielding whole records with their 1-based line numbers. Lines without
 * a double quote are split directly (fast path); lines with quotes go through csv-parse (a quoted field may not span
 * lines here). Cells are trimmed, a UTF-8 BOM is skipped; blank lines are skipped.
 */
class ChunkedCsv {
  private readonly fd: number;
  private readonly buf: Buffer;
  private rest = '';
  private line = 0;
  private eof = false;
  private delimiter = ',';
  readonly header: string[] | undefined;

  constructor(path: string, private readonly chunkBytes: number) {
    this.fd = openSync(path, 'r');
    if (!fstatSync(this.fd).isFile()) throw invalidArgument(`"${path}" is not a regular file.`);
    this.buf = Buffer.allocUnsafe(chunkBytes);
    // the header: read until the first line is complete
    let first: string | undefined;
    while (first === undefined && !this.eof) {
      this.fill();
      const nl = this.rest.indexOf('\n');
      if (nl >= 0 || this.eof) first = nl >= 0 ? this.rest.slice(0, nl) : this.rest;
    }
    if (first === undefined || first.replace(/^\uFEFF/, '').trim() === '') {
      this.header = undefined;
      return;
    }
    this.rest = this.rest.slice(first.length + 1);
    this.line = 1;
    first = first.replace(/^\uFEFF/, '').replace(/\r$/, '');
    this.delimiter = detectDelimiter(first);
    this.header = this.split(first);
  }

  private fill(): void {
    const n = readSync(this.fd, this.buf, 0, this.chunkBytes, null);
    if (n === 0) this.eof = true;
    else this.rest += this.buf.toString('utf8', 0, n);
  }

  private split(line: string): string[] {
    if (line.includes('"')) return ((parse(line, { delimiter: this.delimiter, trim: true, relax_quotes: true }) as string[][])[0] ?? []) as string[];
    const cells = line.split(this.delimiter);
    for (let j = 0; j < cells.length; j++) cells[j] = cells[j]!.trim();
    return cells;
  }

  /** The next chunk of records, or undefined at the end. */
  next(): { records: string[][]; lines: number[] } | undefined {
    if (this.header === undefined) return undefined;
    if (!this.eof) this.fill();
    if (this.rest === '' && this.eof) return undefined;
    let end = this.rest.lastIndexOf('\n');
    let text: string;
    if (end < 0 && !this.eof) return this.next();
    if (this.eof) {
      text = this.rest;
      this.rest = '';
      end = text.length;
    } else {
      text = this.rest.slice(0, end);
      this.rest = this.rest.slice(end + 1);
    }
    const records: string[][] = [];
    const lines: number[] = [];
    let start = 0;
    while (start <= text.length) {
      let nl = text.indexOf('\n', start);
      if (nl < 0) nl = text.length;
      this.line++;
      let l = text.slice(start, nl);
      if (l.endsWith('\r')) l = l.slice(0, -1);
      if (l.trim() !== '') {
        records.push(this.split(l));
        lines.push(this.line);
      }
      start = nl + 1;
    }
    if (!records.length) return this.eof ? undefined : this.next();
    return { records, lines };
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
