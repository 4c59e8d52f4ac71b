/**
 * Reading numeric CSV files with errors a user can act on: every bad cell is named by its row (1-based, the header
 * being row 1) and column. Parsing itself is csv-parse's (quotes, CRLF, BOM); numbers are checked here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { csvInvalid, fileNotFound, type Problem, type SourceLocation } from '../errors.js';

/** A parsed CSV table: header names and string cells, with the file row of each record. */
export interface CsvTable {
  file: string;
  header: string[];
  records: string[][];
  /** 1-based file line of each record (header = line 1 for a one-line header). */
  lines: number[];
  /** Raw bytes of the file, for hashing. */
  bytes: Buffer;
}

/**
 * Parsed tables by file content (SHA-256 of the bytes): a sweep reads the same data file for every candidate, and
 * parsing dominates a small run. Keyed by content, never by name or time, so an edited file is always re-parsed.
 * Bounded to a few entries.
 */
const parsedByContent = new Map<string, { record: string[]; info: { lines: number } }[]>();
const PARSE_CACHE_ENTRIES = 4;

/** Most problems listed in one error (a file with a broken column would otherwise list thousands). */
const MAX_PROBLEMS = 20;

/**
 * Reads a CSV file with a header row.
 * @param from where the spec names the file, for the error when it is missing.
 * @throws WeightshareError FILE_NOT_FOUND, CSV_INVALID
 */
export function readCsv(file: string, displayName: string, from?: SourceLocation): CsvTable {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw fileNotFound(displayName, 'data file', from);
  }
  const key = createHash('sha256').update(bytes).digest('hex');
  let rows = parsedByContent.get(key);
  if (!rows) {
    try {
      rows = parse(bytes, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: false }) as never as { record: string[]; info: { lines: number } }[];
    } catch (e) {
      const err = e as { message: string; lines?: number };
      throw csvInvalid(displayName, [{ message: err.message.replace(/^Invalid Record Length: /, ''), location: { file: displayName, row: err.lines } }]);
    }
    if (parsedByContent.size >= PARSE_CACHE_ENTRIES) parsedByContent.delete(parsedByContent.keys().next().value!);
    parsedByContent.set(key, rows);
  }
  if (rows.length === 0) throw csvInvalid(displayName, [{ message: 'the file is empty; it needs a header row and at least one data row.', location: { file: displayName } }]);
  const header = rows[0]!.record;
  const seen = new Map<string, number>();
  const problems: Problem[] = [];
  header.forEach((h, i) => {
    if (h === '') problems.push({ message: `column ${i + 1} has an empty header; name every column.`, location: { file: displayName, row: 1 } });
    if (seen.has(h)) problems.push({ message: `the header "${h}" appears twice (columns ${seen.get(h)! + 1} and ${i + 1}); column names must be unique.`, location: { file: displayName, row: 1 } });
    seen.set(h, i);
  });
  if (problems.length) throw csvInvalid(displayName, problems);
  return {
    file: displayName,
    header,
    records: rows.slice(1).map((r) => r.record),
    lines: rows.slice(1).map((r) => r.info.lines),
    bytes,
  };
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parses one cell as a finite number, or returns why it is not one. */
export function parseCell(cell: string): number | string {
  if (cell === '') return 'the cell is empty';
  if (NUMBER.test(cell)) {
    const v = Number(cell);
    return Number.isFinite(v) ? v : `"${cell}" overflows to infinity`;
  }
  if (/^[+-]?(nan|inf(inity)?)$/i.test(cell)) return `"${cell}" is not a finite number (NaN and Inf are not allowed)`;
  return `"${cell}" is not a number`;
}

/** Collects cell problems and throws one CSV_INVALID error naming all of them (up to a limit). */
export class CellProblems {
  private readonly problems: Problem[] = [];
  private count = 0;
  constructor(private readonly file: string) {}

  add(row: number, column: string, message: string): void {
    this.count++;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ message, location: { file: this.file, row, csvColumn: column } });
  }

  throwIfAny(fix: string): void {
    if (!this.count) return;
    const extra = this.count > this.problems.length ? [{ message: `… and ${this.count - this.problems.length} more problems like these.` }] : [];
    const err = csvInvalid(this.file, [...this.problems, ...extra]);
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
      message: `${table.file} has no ${role} column "${name}".${hint} Its columns are: ${table.header.join(', ')}.`,
      location: from,
    });
  }
  return i;
}

/** Reads a headerless-or-headed numeric matrix file (relation A, initial weights B). */
export function readNumericMatrix(path: string, displayName: string, from?: SourceLocation): { rows: number[][]; header?: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw fileNotFound(displayName, 'matrix file', from);
  }
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as never;
  } catch (e) {
    throw csvInvalid(displayName, [{ message: (e as Error).message, location: { file: displayName } }]);
  }
  if (!rows.length) throw csvInvalid(displayName, [{ message: 'the file is empty.', location: { file: displayName } }]);
  let header: string[] | undefined;
  // A first row with no numeric cell is a header (task ids, feature names); a mixed row is data with bad cells.
  if (rows[0]!.record.every((c) => typeof parseCell(c) === 'string')) header = rows.shift()!.record;
  const problems = new CellProblems(displayName);
  const width = header?.length ?? rows[0]?.record.length ?? 0;
  const out: number[][] = [];
  for (const { record, info } of rows) {
    if (record.length !== width) problems.add(info.lines, `#${record.length}`, `this row has ${record.length} values, expected ${width}.`);
    out.push(
      record.map((c, j) => {
        const v = parseCell(c);
        if (typeof v === 'string') {
          problems.add(info.lines, header?.[j] ?? `#${j + 1}`, v + '.');
          return NaN;
        }
        return v;
      }),
    );
  }
  problems.throwIfAny('Every cell of a matrix file must be a finite number.');
  return { rows: out, header };
}
