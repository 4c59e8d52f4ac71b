/** CSV data: loading, splits, standardization, and every kind of bad file named by row and column. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, WeightshareError } from '@weightshare/framework';
import { runText, scratch } from './helpers/run.js';

/** A CSV of `T` tasks named school-A, school-B, … with 2 features, a constant column and a split column. */
function makeCsv(T = 3, n = 12, seed = 1): string {
  const rng = new Rng(seed);
  const lines = ['school,f1,f2,const,score,part'];
  for (let t = 0; t < T; t++)
    for (let i = 0; i < n; i++) {
      const f1 = rng.normal() * 3 + 10;
      const f2 = rng.normal();
      lines.push(`school-${String.fromCharCode(65 + t)},${f1},${f2},7,${2 * f1 - f2 + t + 0.1 * rng.normal()},${i % 4 === 0 ? 'test' : 'train'}`);
    }
  return lines.join('\n') + '\n';
}

const spec = (data: string, split = 'split: { method: random, testFraction: 0.25 }', extra = ''): string => `apiVersion: weightshare/v1
name: csv
data:
  source: csv
${data
  .split('\n')
  .map((l) => '  ' + l)
  .join('\n')}
${split}
evaluate: { baselines: true }
output: { write: false }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1 }
${extra}`;

async function expectError(dir: string, text: string): Promise<WeightshareError> {
  const e = await runText(text, { dir }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(WeightshareError);
  return e as WeightshareError;
}

describe('CSV data', () => {
  it('loads tasks by name, drops constant columns, standardizes with training statistics, appends a bias', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), makeCsv());
    const out = await runText(spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]'), { dir });
    expect(out.data.taskIds).toEqual(['school-A', 'school-B', 'school-C']);
    expect(out.data.featureNames).toEqual(['f1', 'f2', 'bias']);
    expect(out.results.data.droppedConstantColumns).toEqual(['const']);
    // training columns have mean 0 and (population) variance 1 when pooled over tasks
    for (let j = 0; j < 2; j++) {
      const v = out.data.train.flatMap((t) => Array.from({ length: t.y.length }, (_, i) => t.X.data[i * 3 + j]!));
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      expect(m).toBeCloseTo(0, 12);
      expect(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length).toBeCloseTo(1, 12);
    }
    expect(out.data.train.every((t) => t.biasColumn === 2)).toBe(true);
    expect(out.results.data.trainRows + out.results.data.testRows).toBe(36);
  });

  it('split by a column of the data file and by a separate split file', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), makeCsv());
    const byCol = await runText(spec('path: d.csv\ntask: school\ntarget: score', 'split: { method: column, column: part }'), { dir });
    expect(byCol.results.data.testRows).toBe(9);
    expect(byCol.data.featureNames).not.toContain('part');
    writeFileSync(join(dir, 's.csv'), 'row,s1\n' + Array.from({ length: 36 }, (_, r) => `${r},${r % 3 === 0 ? 0 : 1}`).join('\n') + '\n');
    const byFile = await runText(spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]', 'split: { method: file, path: s.csv, column: s1, rowColumn: row }'), { dir });
    expect(byFile.results.data.testRows).toBe(12);
    const bad = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]', 'split: { method: file, path: s.csv, column: s2 }'));
    expect(bad.code).toBe('DATA_INVALID');
    expect(bad.problems[0]!.message).toMatch(/no split column "s2".*row, s1/);
  });

  it('a missing column is named with a suggestion and the spec line that asked for it', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), makeCsv());
    const err = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: Score'));
    expect(err.code).toBe('DATA_INVALID');
    expect(err.problems[0]!.message).toMatch(/no target column "Score". Did you mean "score"\?/);
    expect(err.problems[0]!.location).toMatchObject({ line: 7, column: 11, path: '/data/target' });
  });

  it.each([
    ['an empty cell', (s: string) => s.replace(/^(school-A,[^,]+),[^,]+,/m, '$1,,'), 2, 'f2', /missing value \(empty cell\)/],
    ['a non-numeric cell', (s: string) => s.replace(/^(school-B,)[^,]+,/m, '$1abc,'), 14, 'f1', /column f1 holds text \(e\.g\. "abc" at row 14; 1 of 36 cells are not numbers\); declare it in data\.categorical/],
    ['NaN', (s: string) => s.replace(/^(school-C,[^,]+,[^,]+,7,)[^,]+,/m, '$1NaN,'), 26, 'score', /missing value \("NaN"\)/],
    ['Inf', (s: string) => s.replace(/^(school-C,[^,]+,[^,]+,7,)[^,]+,/m, '$1-Inf,'), 26, 'score', /NaN and Inf are not allowed/],
  ])('%s is named by row and column', async (_name, edit, row, column, msg) => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), edit(makeCsv()));
    const err = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]'));
    expect(err.code).toBe('CSV_INVALID');
    expect(err.problems[0]!.location).toMatchObject({ file: 'd.csv', row, csvColumn: column });
    expect(err.problems[0]!.message).toMatch(msg);
  });

  it('a row with the wrong number of cells, and a duplicate header', async () => {
    const dir = scratch();
    const lines = makeCsv().split('\n');
    lines[5] += ',extra';
    writeFileSync(join(dir, 'd.csv'), lines.join('\n'));
    const err = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score'));
    expect(err.code).toBe('CSV_INVALID');
    expect(err.problems[0]!.location?.row).toBe(6);
    writeFileSync(join(dir, 'h.csv'), 'a,a,y\n1,2,3\n');
    expect((await expectError(dir, spec('path: h.csv\ntask: a\ntarget: y'))).problems[0]!.message).toMatch(/appears twice/);
  });

  it('a task with too few rows for the split is named', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), makeCsv() + 'school-Z,1,2,7,3,train\nschool-Z,1,2,7,3,train\n');
    const err = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]'));
    expect(err.code).toBe('DATA_INVALID');
    expect(err.problems[0]!.message).toMatch(/task "school-Z" has 2 rows/);
  });

  it('a missing data file, and a relation file that is not T×T', async () => {
    const dir = scratch();
    const missing = await expectError(dir, spec('path: nope.csv\ntask: school\ntarget: score'));
    expect(missing.code).toBe('FILE_NOT_FOUND');
    expect(missing.problems[0]!.location).toMatchObject({ path: '/data/path', line: 5 });
    writeFileSync(join(dir, 'd.csv'), makeCsv());
    writeFileSync(join(dir, 'A.csv'), '1,0\n0,1\n');
    const rel = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]', undefined, 'relation: { method: csv, path: A.csv }\n'));
    expect(rel.code).toBe('RELATION_INVALID');
    expect(rel.problems[0]!.message).toMatch(/the file has 2 rows, but the data has 3 tasks: one row per task, in the data's task order/);
    writeFileSync(join(dir, 'A.csv'), '1,0,x\n0,1,0\n0,0,1\n');
    const cell = await expectError(dir, spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]', undefined, 'relation: { method: csv, path: A.csv }\n'));
    expect(cell.code).toBe('CSV_INVALID');
  });

  it('logistic loss refuses labels other than 0/1 or ±1, naming the row', async () => {
    const dir = scratch();
    writeFileSync(join(dir, 'd.csv'), makeCsv());
    const err = await expectError(
      dir,
      spec('path: d.csv\ntask: school\ntarget: score\nexclude: [part]', undefined, 'loss: logistic\n').replace('method: exact, lambda: 1', 'method: gd'),
    );
    expect(err.code).toBe('CSV_INVALID');
    expect(err.problems[0]!.location?.row).toBe(2);
  });
});

describe('the plain-CSV fast path', () => {
  it('gives exactly what csv-parse gives wherever it applies, and leaves everything else to csv-parse', async () => {
    const { plainRows } = await import('../packages/framework/src/data/csv.js');
    const { parse } = await import('csv-parse/sync');
    const { readFileSync, readdirSync } = await import('node:fs');
    const viaParser = (bytes: Buffer, delimiter: string) =>
      parse(bytes, { bom: true, info: true, skip_empty_lines: true, trim: true, relax_column_count: false, delimiter }) as { record: string[]; info: { lines: number } }[];
    const same = (bytes: Buffer, delimiter: string) => {
      const fast = plainRows(bytes, delimiter);
      expect(fast).toBeDefined();
      const want = viaParser(bytes, delimiter);
      expect(fast!.map((r) => r.record)).toEqual(want.map((r) => r.record));
      expect(fast!.map((r) => r.info.lines)).toEqual(want.map((r) => r.info.lines));
    };
    // every real data file here takes the fast path
    const files = ['data/school', 'data/computer_survey', 'data/parkinsons'].flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.csv')).map((f) => `${d}/${f}`));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) same(readFileSync(f), ',');
    // small files: CRLF, a BOM, no final newline, semicolons, tabs, empty fields, non-ASCII text
    for (const [text, delimiter] of [
      ['a,b\r\n1,2\r\n3,4\r\n', ','],
      ['\uFEFFa,b\n1,2\n', ','],
      ['a,b\n1,2', ','],
      ['a;b;c\n1;;3\n', ';'],
      ['a\tb\nx\t2\n', '\t'],
      ['naïve,b\nÅ,é\n', ','],
      ['a,b\n,\n1,\n,2\n', ','],
      ['a\n1\n2', ','],
      ['a,b\n1,2\r', ','],
      ['a|b|c\nx|y|z\n', '|'],
      ['a,b\n𝔸,😀\n', ','],
    ] as const)
      same(Buffer.from(text, 'utf8'), delimiter);
    // many lines, LF and CRLF (the search for a stray CR is one pass, whichever the file has)
    const lines = Array.from({ length: 20_000 }, (_, i) => `${i},${(i * 0.37).toFixed(3)},t${i % 7}`);
    for (const eol of ['\n', '\r\n']) same(Buffer.from(['a,b,c', ...lines].join(eol) + eol), ',');
    // what the fast path leaves to csv-parse: quotes, blank lines (also of spaces, tabs or no-break spaces), padded
    // fields, ragged rows, a lone CR
    for (const text of ['a,b\n"1",2\n', 'a,b\n\n1,2\n', 'a,b\n1, 2\n', 'a,b\n1,2,3\n', 'a,b\n1\n', 'a,b\r1,2\r', 'a,b\n1,2\n\n', '\n', 'a,b\n \t\n1,2\n', 'a,b\n\u00a0\n1,2\n', 'a,b\n1\r,2\n', 'a,b\r\r\n1,2\n', 'a,b\n1,2\t\n'])
      expect(plainRows(Buffer.from(text), ','), JSON.stringify(text)).toBeUndefined();
    // a table read either way gives the same cells through cell() and records
    const { readCsv } = await import('../packages/framework/src/data/csv.js');
    for (const f of files) {
      const t = readCsv(f, f);
      const want = viaParser(readFileSync(f), ',').slice(1);
      expect(t.rows).toBe(want.length);
      for (const r of [0, 1, t.rows >> 1, t.rows - 1]) for (let c = 0; c < t.header.length; c++) expect(t.cell(r, c)).toBe(want[r]!.record[c]);
      expect(t.records).toEqual(want.map((w) => w.record));
      expect(t.lines).toEqual(want.map((w) => w.info.lines));
    }
  });
});
