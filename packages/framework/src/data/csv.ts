/**
 * Reading numeric CSV files with errors a user can act on: every bad cell is named by its row (1-based, the header
 * being row 1) and column. Parsing itself is csv-parse's (quotes, CRLF, BOM); numbers are checked here.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { parse as Parse } from 'csv-parse/sync';

// csv-parse (~20 ms to import) is loaded on first use: the fast path reads most files without it, and commands that
// read no CSV file (validate, --help) never load it
let csvParse: typeof Parse | undefined;
/** csv-parse's synchronous `parse`, imported on the first call. */
export const parse: typeof Parse = ((input: never, options: never) => (csvParse ??= (createRequire(import.meta.url)('csv-parse/sync') as { parse: typeof Parse }).parse)(input, options)) as typeof Parse;
import { csvInvalid, dataInvalid, excerpt, fileNotFound, type Problem, type SourceLocation, type WeightshareError } from '../errors.js';
import { NotARegularFile, readRegularFile } from '../io.js';

/** A parsed CSV table: header names and string cells, with the file row of each record. */
export interface CsvTable {
  file: string;
  header: string[];
  /** Number of data rows (records). */
  rows: number;
  /** The cell of data row r (0-based, after the header) in column c. */
  cell(r: number, c: number): string;
  /**
   * Every record's cells. A file the fast path read keeps only its text and where each field starts and ends, and
   * builds these on first use: a table of many small strings costs more in memory and garbage collection than
   * parsing it, and the loaders read each cell once with {@link CsvTable.cell}.
   */
  readonly records: string[][];
  /** 1-based file line of each record (header = line 1 for a one-line header). */
  lines: number[];
  /** Raw bytes of the file, for hashing. */
  bytes: Buffer;
}

/**
 * Parsed tables by file content (SHA-256 of the bytes, with the delimiter and the name errors use): a sweep reads the
 * same data and split files for every candidate, and parsing dominates a small run. Keyed by content, never by time,
 * so an edited file is always re-parsed. The same (frozen, never modified) table is returned for the same content,
 * so values derived from it can be cached by the table. Bounded to a few entries.
 */
const parsedByContent = new Map<string, CsvTable>();
const PARSE_CACHE_ENTRIES = 4;

/** Most problems listed in one error (a file with a broken column would otherwise list thousands). */
const MAX_PROBLEMS = 20;

/**
 * Reads a CSV file with a header row.
 * @param from where the spec names the file, for the error when it is missing.
 * @throws WeightshareError FILE_NOT_FOUND, CSV_INVALID
 */
export function readCsv(file: string, displayName: string, from?: SourceLocation, options: { delimiter?: Delimiter } = {}): CsvTable {
  const bytes = readInputFile(file, displayName, 'data file', from);
  const delimiter = options.delimiter === undefined ? detectDelimiter(bytes) : delimiterChar(options.delimiter);
  const key = createHash('sha256').update(bytes).update(delimiter).update(displayName).update(String(options.delimiter)).digest('hex');
  const hit = parsedByContent.get(key);
  if (hit) return hit;
  const plain = plainFields(bytes, delimiter);
  let rows: ParsedRow[] | undefined;
  if (!plain)
    try {
      rows = parse(bytes, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: false, delimiter }) as never as ParsedRow[];
    } catch (e) {
      const err = e as { message: string; lines?: number };
      throw csvInvalid(displayName, [{ message: parseMessage(err.message.replace(/^Invalid Record Length: /, '')), location: { file: displayName, row: err.lines } }]);
    }
  if ((plain ? plain.count : rows!.length) === 0) throw csvInvalid(displayName, [{ message: 'the file is empty; it needs a header row and at least one data row.', location: { file: displayName } }]);
  const header = plain ? Array.from({ length: plain.width }, (_, c) => plain.field(0, c)) : rows![0]!.record;
  if (header.length === 1 && options.delimiter !== undefined) {
    const likely = likelyDelimiter(header[0]!);
    if (likely && likely !== delimiter)
      throw csvInvalid(displayName, [
        {
          message: `the header has a single column ("${excerpt(header[0]!)}") that contains ${delimiterName(likely)}: the file looks ${delimiterName(likely)}-separated, but data.delimiter is ${delimiterName(delimiter)}. Set data.delimiter: ${likely === '\t' ? 'tab' : `"${likely}"`} (or leave it out to detect it).`,
          location: { file: displayName, row: 1 },
        },
      ]);
  }
  const seen = new Map<string, number>();
  const problems: Problem[] = [];
  header.forEach((h, i) => {
    if (h === '') problems.push({ message: `column ${i + 1} has an empty header; name every column.`, location: { file: displayName, row: 1 } });
    if (seen.has(h)) problems.push({ message: `the header "${excerpt(h)}" appears twice (columns ${seen.get(h)! + 1} and ${i + 1}); column names must be unique.`, location: { file: displayName, row: 1 } });
    seen.set(h, i);
  });
  if (problems.length) throw csvInvalid(displayName, problems.slice(0, MAX_PROBLEMS));
  let table: CsvTable;
  if (plain) {
    let records: string[][] | undefined;
    const n = plain.count - 1;
    table = Object.freeze({
      file: displayName,
      header,
      rows: n,
      cell: (r: number, c: number) => plain.field(r + 1, c),
      get records() {
        return (records ??= Array.from({ length: n }, (_, r) => Array.from({ length: plain.width }, (_, c) => plain.field(r + 1, c))));
      },
      lines: Array.from({ length: n }, (_, r) => r + 2), // no record spans lines, none is blank: header = line 1
      bytes,
    });
  } else {
    const records = rows!.slice(1).map((r) => r.record);
    table = Object.freeze({
      file: displayName,
      header,
      rows: records.length,
      cell: (r: number, c: number) => records[r]![c]!,
      records,
      lines: rows!.slice(1).map((r) => r.info.lines),
      bytes,
    });
  }
  if (parsedByContent.size >= PARSE_CACHE_ENTRIES) parsedByContent.delete(parsedByContent.keys().next().value!);
  parsedByContent.set(key, table);
  return table;
}

/** One record as csv-parse gives it (with `info`): its fields and the file line it ends on. */
interface ParsedRow {
  record: string[];
  info: { lines: number };
}

/** A file read by the fast path: its text and where each field of each line (the header is line 0) starts and ends. */
export interface PlainCsv {
  text: string;
  /** Lines (the header included). */
  count: number;
  /** Fields per line. */
  width: number;
  /** The field of line i (0 = the header) in column c. */
  field(i: number, c: number): string;
}

/**
 * A file that needs none of a CSV parser's rules — no double quote anywhere, lines ending in LF or CRLF, no empty or
 * blank line before the last, no field with space or tab at either end, every line with the header's number of
 * fields — as its text and the start and end of every field (what csv-parse gives for such a file, cell for cell, ~10×
 * faster, and no string per cell until one is asked for). Anything else returns undefined, and csv-parse reads the
 * file (and names any problem).
 */
export function plainFields(bytes: Buffer, delimiter: string): PlainCsv | undefined {
  if (bytes.includes(0x22)) return undefined; // a double quote
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // the lines: text.split('\n') without the final newline's empty line, as positions
  let stop = text.length;
  if (stop > 0 && text.charCodeAt(stop - 1) === 10) stop--;
  if (stop === 0 && text.length === 0) return { text, count: 0, width: 0, field: () => '' };
  let count = 1;
  for (let at = text.indexOf('\n'); at >= 0 && at < stop; at = text.indexOf('\n', at + 1)) count++;
  const header = text.slice(0, Math.max(0, Math.min(stop, text.indexOf('\n') < 0 ? stop : text.indexOf('\n'))));
  const width = header.split(delimiter).length;
  const start = new Int32Array(count * width);
  const end = new Int32Array(count * width);
  const D = delimiter.charCodeAt(0);
  let from = 0;
  let cr = text.indexOf('\r');
  for (let i = 0; i < count; i++) {
    let to = text.indexOf('\n', from);
    if (to < 0 || to > stop) to = stop;
    const next = to + 1;
    if (to > from && text.charCodeAt(to - 1) === 13) to--; // CRLF
    // a lone CR, a blank line: csv-parse's rules (the next CR is searched for once it is behind: one pass over a file
    // without any, not one per line)
    if (cr >= 0 && cr < from) cr = text.indexOf('\r', from);
    if (cr >= 0 && cr < to) return undefined;
    let blank = true;
    for (let q = from; q < to && blank; q++) if (!isSpace(text.charCodeAt(q))) blank = false;
    if (blank) return undefined;
    let c = 0;
    let f = from;
    for (let q = from; q <= to; q++) {
      if (q < to && text.charCodeAt(q) !== D) continue;
      if (c >= width) return undefined; // more fields than the header
      start[i * width + c] = f;
      end[i * width + c] = q;
      if (q > f) {
        const a = text.charCodeAt(f);
        const b = text.charCodeAt(q - 1);
        if (a === 32 || a === 9 || b === 32 || b === 9) return undefined;
      }
      c++;
      f = q + 1;
    }
    if (c !== width) return undefined;
    from = next;
  }
  return { text, count, width, field: (i, c) => text.slice(start[i * width + c]!, end[i * width + c]!) };
}

/** What String.prototype.trim removes (a line of only these is blank). */
function isSpace(ch: number): boolean {
  return ch === 32 || (ch >= 9 && ch <= 13) || ch === 0xa0 || ch === 0x1680 || (ch >= 0x2000 && ch <= 0x200a) || ch === 0x2028 || ch === 0x2029 || ch === 0x202f || ch === 0x205f || ch === 0x3000 || ch === 0xfeff;
}

/** {@link plainFields} as csv-parse's records (with `info.lines`), or undefined where csv-parse must read the file. */
export function plainRows(bytes: Buffer, delimiter: string): ParsedRow[] | undefined {
  const plain = plainFields(bytes, delimiter);
  if (!plain) return undefined;
  return Array.from({ length: plain.count }, (_, i) => ({ record: Array.from({ length: plain.width }, (_, c) => plain.field(i, c)), info: { lines: i + 1 } }));
}

/** A field delimiter as a spec writes it (`tab` for a tab). */
export type Delimiter = ',' | ';' | '\t' | 'tab' | '|';

/** The delimiters detection chooses from, most preferred first. */
const CANDIDATES = [',', ';', '\t', '|'] as const;

export function delimiterChar(d: Delimiter): string {
  return d === 'tab' ? '\t' : d;
}

function delimiterName(d: string): string {
  return d === '\t' ? 'tabs' : d === ',' ? 'commas' : d === ';' ? 'semicolons' : `"${d}"`;
}

/** Counts each candidate delimiter outside double quotes in one line. */
function countOutsideQuotes(line: string): Map<string, number> {
  const counts = new Map<string, number>(CANDIDATES.map((c) => [c, 0]));
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  return counts;
}

/** The delimiter a single-column header line betrays, if any (semicolons or tabs inside it). */
function likelyDelimiter(line: string): string | undefined {
  const counts = countOutsideQuotes(line);
  let best: string | undefined;
  for (const c of CANDIDATES) if (counts.get(c)! > 0 && (best === undefined || counts.get(c)! > counts.get(best)!)) best = c;
  return best;
}

/**
 * The field delimiter of a CSV file, read from its header line: the candidate (`,` `;` tab `|`) that occurs most
 * often outside quotes; a comma when none does (a one-column file) or on a tie with the comma.
 */
export function detectDelimiter(bytes: Buffer | string): string {
  const text = typeof bytes === 'string' ? bytes : bytes.subarray(0, Math.min(bytes.length, 1 << 16)).toString('utf8');
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const counts = countOutsideQuotes(first);
  let best = ',';
  for (const c of CANDIDATES) if (counts.get(c)! > counts.get(best)!) best = c;
  return best;
}

/** The cell values that mean "missing" unless a spec says otherwise (`data.missingValues`). */
export const DEFAULT_MISSING_TOKENS: readonly string[] = ['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None', '?'];

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses one cell as a finite number, or returns why it is not one. */
export function parseCell(cell: string): number | string {
  if (cell === '') return 'the cell is empty';
  if (NUMBER.test(cell)) {
    const v = Number(cell);
    return Number.isFinite(v) ? v : `"${excerpt(cell)}" overflows to infinity`;
  }
  if (/^[+-]?(nan|inf(inity)?)$/i.test(cell)) return `"${cell}" is not a finite number (NaN and Inf are not allowed)`;
  return `"${excerpt(cell)}" is not a number`;
}

/** Collects cell problems and throws one CSV_INVALID error naming all of them (up to a limit). */
export class CellProblems {
  private readonly problems: Problem[] = [];
  private count = 0;
  private readonly perColumn = new Map<string, number>();
  constructor(private readonly file: string) {}

  add(row: number, column: string, message: string): void {
    this.count++;
    this.perColumn.set(column, (this.perColumn.get(column) ?? 0) + 1);
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ message, location: { file: this.file, row, csvColumn: column } });
  }

  throwIfAny(fix: string): void {
    if (!this.count) return;
    const extra = this.count > this.problems.length ? [{ message: `… and ${this.count - this.problems.length} more problems like these.` }] : [];
    const where = this.perColumn.size > 1 ? [...this.perColumn].slice(0, 10).map(([c, k]) => `${k} in column "${excerpt(c)}"`).join(', ') + (this.perColumn.size > 10 ? `, … (${this.perColumn.size} columns)` : '') : undefined;
    const err = csvInvalid(this.file, [...this.problems, ...extra], { count: this.count, where });
    (err as { message: string }).message += ` ${fix}`;
    throw err;
  }
}

/** Finds a column by name or adds a problem with a suggestion. */
export function columnIndex(table: CsvTable, name: string, role: string, problems: Problem[], from?: SourceLocation): number {
  const i = table.header.indexOf(name);
  if (i < 0) {
    const lower = table.header.map((h) => h.toLowerCase());
    const ci = lower.indexOf(name.toLowerCase());
    const hint = ci >= 0 ? ` Did you mean "${table.header[ci]}"?` : '';
    problems.push({
      message: `${table.file} has no ${role} column "${name}".${hint} Its columns are: ${columnList(table.header)}.`,
      location: from,
    });
  }
  return i;
}

/**
 * Reads a user's input file (data, split, relation, init) as bytes.
 * @throws WeightshareError FILE_NOT_FOUND
 */
export function readInputFile(path: string, displayName: string, what: string, from?: SourceLocation): Buffer {
  try {
    return readRegularFile(path);
  } catch (e) {
    throw fileNotFound(displayName, what, from, e instanceof NotARegularFile ? e.kind : undefined);
  }
}

/** Most characters of a file's header echoed in an error. */
const HEADER_EXCERPT = 200;

/** A header's column names for a message: a short excerpt, never the whole line of an arbitrary file. */
function columnList(header: readonly string[]): string {
  const names: string[] = [];
  let length = 0;
  for (const h of header) {
    const name = excerpt(h, 40);
    if (length + name.length > HEADER_EXCERPT) break;
    names.push(name);
    length += name.length + 2;
  }
  return names.length < header.length ? `${names.join(', ')}, … (${header.length} in all)` : names.join(', ');
}

/** csv-parse's message for a syntax error, with any field value it quotes cut to an excerpt. */
function parseMessage(message: string): string {
  return excerpt(message.replace(/"((?:[^"\\]|\\.){60,})"/g, (_, v: string) => `"${excerpt(v)}"`), 300);
}

/** What a matrix file is expected to hold: one row per `rowIds` entry, one column per `colIds` entry. */
export interface MatrixExpectation {
  /** Ids of the rows in the order the result must have (task ids). */
  rowIds: readonly string[];
  /** Ids of the columns in result order (task ids for a relation, feature names for weights). */
  colIds: readonly string[];
  /** What the rows and columns are, for messages: e.g. `tasks` and `tasks`, or `tasks` and `features`. */
  rowsAre: string;
  colsAre: string;
  /** How the order is defined without a header, for messages. */
  order: string;
}

/**
 * Reads a numeric matrix file — a relation A or initial weights B — and returns it in the order the expectation
 * gives. A header row (the first row when it has a non-numeric cell, or when the file has one row more than
 * expected) names the columns, which are then matched by id in any order; a leading column of row ids (a header
 * one cell wider than expected, or rows one cell wider without a header) matches the rows by id. Without ids the
 * matrix is read positionally, in the expectation's order. Unknown, missing and repeated ids are errors naming them.
 * @throws WeightshareError FILE_NOT_FOUND, CSV_INVALID, DATA_INVALID (ids that do not match)
 */
export function readMatrixFile(
  path: string,
  displayName: string,
  expect: MatrixExpectation,
  from?: SourceLocation,
  invalid: (message: string, problems: Problem[]) => WeightshareError = dataInvalid,
): { data: Float64Array; byId: boolean } {
  const bytes = readInputFile(path, displayName, 'matrix file', from);
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(bytes, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: true, delimiter: detectDelimiter(bytes) }) as never;
  } catch (e) {
    throw csvInvalid(displayName, [{ message: parseMessage((e as Error).message), location: { file: displayName } }]);
  }
  if (!rows.length) throw csvInvalid(displayName, [{ message: 'the file is empty.', location: { file: displayName } }]);
  const R = expect.rowIds.length;
  const Cn = expect.colIds.length;
  const numeric = (c: string): boolean => typeof parseCell(c) === 'number';
  const first = rows[0]!.record;
  // a header: a first row of text (an empty corner cell allowed), or exactly one row more than expected (numeric ids);
  // a first row mixing numbers and text is data with bad cells
  const hasHeader = first.every((c, j) => (j === 0 && c === '') || !numeric(c)) || rows.length === R + 1;
  const header = hasHeader ? rows.shift()!.record : undefined;
  const idColumn = header ? header.length === Cn + 1 : rows.length > 0 && rows.every((r) => r.record.length === Cn + 1);
  const width = Cn + (idColumn ? 1 : 0);
  const where = (row?: number): SourceLocation => ({ file: displayName, ...(row !== undefined ? { row } : {}) });
  const problems: Problem[] = [];
  const match = (ids: readonly string[], expected: readonly string[], what: string, row?: number): number[] => {
    const index = new Map(expected.map((id, k) => [id, k]));
    const seen = new Map<string, number>();
    const out: number[] = [];
    ids.forEach((id, k) => {
      const at = index.get(id);
      if (at === undefined) problems.push({ message: `"${excerpt(id)}" is not a ${what} of the data${idList(expected)}.`, location: where(row ?? rows[k]?.info.lines) });
      else if (seen.has(id)) problems.push({ message: `${what} "${excerpt(id)}" appears twice (positions ${seen.get(id)! + 1} and ${k + 1}).`, location: where(row ?? rows[k]?.info.lines) });
      else seen.set(id, k);
      out.push(at ?? -1);
    });
    const missing = expected.filter((id) => !seen.has(id) && !ids.includes(id));
    if (missing.length && ids.length > 0)
      problems.push({ message: `no ${what} for ${missing.slice(0, 10).map((m) => `"${excerpt(m)}"`).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}: every one of the ${expected.length} must appear once.`, location: where(row) });
    return out;
  };
  const colIds = header ? header.slice(idColumn ? 1 : 0) : undefined;
  const colOrder = colIds ? match(colIds, expect.colIds, expect.colsAre.replace(/s$/, ''), 1) : expect.colIds.map((_, k) => k);
  if (rows.length !== R)
    problems.push({
      message: `the file has ${rows.length} ${header ? 'data rows (after the header)' : 'rows'}, but the data has ${R} ${expect.rowsAre}: one row per ${expect.rowsAre.replace(/s$/, '')}${header || idColumn ? '' : `, in ${expect.order}`}.`,
      location: where(),
    });
  // rows: by their id column; or, for a square matrix of one kind of id (a relation) with a header, in header order
  const rowOrder = idColumn
    ? match(rows.map((r) => r.record[0]!), expect.rowIds, expect.rowsAre.replace(/s$/, ''))
    : header && expect.rowsAre === expect.colsAre && rows.length === colOrder.length
      ? colOrder
      : expect.rowIds.map((_, k) => k);
  if (problems.length) throw invalid(`${displayName} does not match the data: ${problems.length === 1 ? 'a problem' : `${problems.length} problems`} with its ${header ? 'header' : 'shape'}.${header || idColumn ? '' : ` Without a header row of ids, rows and columns are read in ${expect.order}; add a header row of ids to match them by id instead.`}`, problems.slice(0, 20));
  const cells = new CellProblems(displayName);
  const data = new Float64Array(R * Cn);
  rows.forEach(({ record, info }, k) => {
    if (record.length !== width) {
      cells.add(info.lines, `#${record.length}`, `this row has ${record.length} values, expected ${width}${idColumn ? ` (a row id and ${Cn} values)` : ''}.`);
      return;
    }
    const r = rowOrder[k]!;
    for (let j = 0; j < Cn; j++) {
      const cell = record[j + (idColumn ? 1 : 0)]!;
      const v = parseCell(cell);
      if (typeof v === 'string') cells.add(info.lines, colIds?.[j] ?? `#${j + 1 + (idColumn ? 1 : 0)}`, v + '.');
      else data[r * Cn + colOrder[j]!] = v;
    }
  });
  cells.throwIfAny('Every cell of a matrix file must be a finite number.');
  return { data, byId: Boolean(header || idColumn) };
}

function idList(expected: readonly string[]): string {
  const shown = expected.slice(0, 8).map((e) => `"${excerpt(e)}"`).join(', ');
  return ` (they are ${shown}${expected.length > 8 ? `, … ${expected.length} in all` : ''})`;
}
