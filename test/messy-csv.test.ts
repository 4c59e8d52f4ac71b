/**
 * Real files in the shapes users have them (test/fixtures, made from data/ by make_fixtures.py): text categories,
 * missing cells, semicolons and tabs. Each result is checked against an independent computation on the raw file or
 * against the same data in the clean shape.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatError, WeightshareError, type RegressionMetrics } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { fail, runText, scratch } from './helpers/run.js';

const fixtures = join(root, 'test/fixtures');
const schoolCat = join(fixtures, 'school-categorical.csv');
const parkinsons = join(fixtures, 'parkinsons-missing.tsv');

/** What the CLI prints for an error: its message and every problem with its location. */
const shown = (e: WeightshareError): string => formatError(e);

/** Parses a delimited file into rows of cells (the fixtures have no quoted cells). */
const table = (file: string, sep: string): string[][] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(sep));

const stages = `stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 100, ridge: 1 }
rounds: { max: 200, tol: 1.0e-12, acceleration: anderson }
evaluate: { baselines: false }
output: { write: false }`;

const schoolSplit = (splitPath: string): string => `split: { method: file, path: ${splitPath}, column: split_1, rowColumn: row }`;

describe('School with its categories as text (semicolons, NA for the 15 students without a VR band)', () => {
  const categorical = '[year, gender, vrband, ethnicity, school_gender, denomination]';

  it('one-hot encoding the text columns gives the same model as the file that was one-hot encoded by hand', async () => {
    // reference: the hand-encoded school.csv, the same 15 students marked missing (their vrband indicators are all 0)
    const cat = table(schoolCat, ';');
    const noBand = new Set(cat.slice(1).filter((r) => r[6] === 'NA').map((r) => Number(r[0])));
    expect(noBand.size).toBe(15);
    const dir = scratch();
    const clean = readFileSync(join(root, 'data/school/school.csv'), 'utf8').split('\n');
    const header = clean[0]!.split(',');
    const band = header.findIndex((h) => h === 'vrband_vr1');
    const marked = clean.map((l, i) => {
      if (i === 0 || !noBand.has(i - 1)) return l;
      const cells = l.split(',');
      expect(cells[band]).toBe('0');
      cells[band] = 'NA';
      return cells.join(',');
    });
    writeFileSync(join(dir, 'school.csv'), marked.join('\n'));
    const splits = join(root, 'data/school/school_splits.csv');
    const ref = await runText(
      `apiVersion: weightshare/v1\nname: ref\nseed: 1\ndata: { source: csv, path: school.csv, task: task_id, target: exam_score, missing: drop-rows }\n${schoolSplit(splits)}\n${stages}`,
      { dir },
    );
    const out = await runText(
      `apiVersion: weightshare/v1\nname: cat\nseed: 1\ndata: { source: csv, path: ${schoolCat}, task: school, target: score, exclude: [row], categorical: ${categorical}, missing: drop-rows }\n${schoolSplit(splits)}\n${stages}`,
      { dir },
    );
    const a = ref.results.models.shared as RegressionMetrics;
    const b = out.results.models.shared as RegressionMetrics;
    expect(out.results.data).toMatchObject({ tasks: 139 });
    expect(out.results.data.trainRows + out.results.data.testRows).toBe(15362 - 15);
    expect(out.results.data.missing).toMatchObject({ policy: 'drop-rows', droppedRows: 15, cells: { vrband: 15 } });
    expect(ref.results.data.missing).toMatchObject({ droppedRows: 15 });
    expect(Math.abs(b.mse - a.mse) / a.mse).toBeLessThan(1e-9);
    expect(Math.abs(b.r2 - a.r2)).toBeLessThan(1e-9);
    // the encoding is recorded: vrband's categories in natural order, from the training rows
    const vr = out.data.preprocessing!.inputs.find((c) => c.column === 'vrband')!;
    expect(vr).toMatchObject({ kind: 'categorical', categories: ['VR1', 'VR2', 'VR3'] });
    expect(out.data.featureNames).toContain('vrband=VR2');
  });

  it('an undeclared text column is an error with the true count of text cells, and how to fix it', async () => {
    const e = await fail(runText(`apiVersion: weightshare/v1\nname: t\nseed: 1\ndata: { source: csv, path: ${schoolCat}, task: school, target: score, exclude: [row] }\n${stages}`));
    expect(e.code).toBe('CSV_INVALID');
    // every cell of gender is text: 15,362 of them, not "21 problems"
    const text = shown(e);
    expect(text).toContain('column gender holds text (e.g. "male" at row 2; 15362 of 15362 cells are not numbers)');
    expect(text).toContain('15347 of 15362'); // vrband: 15 cells are NA, i.e. missing, not text
    expect(text).not.toMatch(/column year holds/); // 1985 is a number
    expect(text).toContain('declare it in data.categorical or leave it out with data.exclude');
  });

  it('a category missing from the training rows is all zeros by default, or an error naming the row with unseen: error', async () => {
    // a copy of the file where one test student of school 1 is from a new denomination
    const dir = scratch();
    const rows = table(schoolCat, ';');
    const splits = table(join(root, 'data/school/school_splits.csv'), ',');
    const testRow = splits.findIndex((r, i) => i > 0 && r[1] === '0') - 1;
    rows[testRow + 1]![9] = 'quaker';
    writeFileSync(join(dir, 'd.csv'), rows.map((r) => r.join(';')).join('\n') + '\n');
    const spec = (cat: string): string =>
      `apiVersion: weightshare/v1\nname: t\nseed: 1\ndata: { source: csv, path: d.csv, task: school, target: score, exclude: [row], categorical: ${cat}, missing: drop-rows }\n${schoolSplit(join(root, 'data/school/school_splits.csv'))}\n${stages}`;
    const out = await runText(spec('[year, gender, vrband, ethnicity, school_gender, denomination]'), { dir });
    expect(out.results.data.missing!.unseenCategories).toEqual({ denomination: 1 });
    const e = await fail(runText(spec('[year, gender, vrband, ethnicity, school_gender, { column: denomination, unseen: error }]'), { dir }));
    expect(e.code).toBe('CSV_INVALID');
    expect(shown(e)).toContain('quaker');
    expect(shown(e)).toContain(`row ${testRow + 2}, column "denomination"`);
  });
});

describe('Parkinsons telemonitoring, patients 1–12 (tabs; NA and empty cells)', () => {
  const rows = table(parkinsons, '\t');
  const header = rows[0]!;
  const body = rows.slice(1);
  const jitter = header.indexOf('Jitter(%)');
  const hnr = header.indexOf('HNR');
  const isMissing = (c: string): boolean => c.trim() === '' || c.trim() === 'NA';
  const withMissing = body.filter((r) => r.some(isMissing)).length;
  const spec = (missing: string, extra = ''): string => `apiVersion: weightshare/v1
name: parkinsons
seed: 3
data: { source: csv, path: ${parkinsons}, task: task_id, target: total_UPDRS, exclude: [motor_UPDRS, test_time], missing: ${missing}${extra} }
split: { method: random, testFraction: 0.25 }
${stages}`;

  it('the fixture has the missing cells its README says', () => {
    expect(body.length).toBe(1743);
    expect(body.filter((r) => isMissing(r[jitter]!)).length).toBe(60);
    expect(body.filter((r) => isMissing(r[hnr]!)).length).toBe(43);
    expect(withMissing).toBe(102);
  });

  it('missing: error (the default) names the columns, the count and the first cells, and the fixes', async () => {
    const e = await fail(runText(spec('error')));
    expect(e.code).toBe('CSV_INVALID');
    expect(e.message).toContain('103 problems in the CSV data (60 in column "Jitter(%)", 43 in column "HNR")');
    expect(shown(e)).toContain('row 7, column "Jitter(%)": missing value ("NA")'); // the 6th recording, after the header
    expect(e.message).toContain('drop-rows');
    expect(e.message).toContain('impute-mean');
  });

  it('missing: drop-rows leaves out exactly the 102 rows with a missing cell, and says so', async () => {
    const out = await runText(spec('drop-rows'));
    expect(out.results.data.trainRows + out.results.data.testRows).toBe(1743 - 102);
    expect(out.results.data.missing).toMatchObject({ policy: 'drop-rows', droppedRows: 102, cells: { 'Jitter(%)': 60, HNR: 43 } });
  });

  it('missing: impute-mean fills a missing cell with the mean of the training rows (computed here from the file)', async () => {
    const out = await runText(spec('impute-mean'));
    expect(out.results.data.trainRows + out.results.data.testRows).toBe(1743);
    expect(out.results.data.missing).toMatchObject({ policy: 'impute-mean', droppedRows: 0, cells: { 'Jitter(%)': 60, HNR: 43 } });
    // training rows, by their 0-based data row index
    const train = new Set<number>();
    for (const idx of out.data.rowIndex!.train) for (const i of idx) train.add(i);
    const meanOf = (col: number): number => {
      let s = 0;
      let n = 0;
      body.forEach((r, i) => {
        if (train.has(i) && !isMissing(r[col]!)) {
          s += Number(r[col]);
          n++;
        }
      });
      return s / n;
    };
    const inputs = out.data.preprocessing!.inputs;
    const j = inputs.find((c) => c.column === 'Jitter(%)')!;
    const h = inputs.find((c) => c.column === 'HNR')!;
    expect(j.kind).toBe('numeric');
    expect(Math.abs((j as { impute: number }).impute - meanOf(jitter)) / meanOf(jitter)).toBeLessThan(1e-12);
    expect(Math.abs((h as { impute: number }).impute - meanOf(hnr)) / meanOf(hnr)).toBeLessThan(1e-12);
  });

  it('the tab delimiter is detected; a wrong explicit delimiter is an error that names the likely one', async () => {
    const out = await runText(spec('drop-rows', ', delimiter: tab'));
    const auto = await runText(spec('drop-rows'));
    expect((out.results.models.shared as RegressionMetrics).mse).toBe((auto.results.models.shared as RegressionMetrics).mse);
    const e = await fail(runText(spec('drop-rows', ", delimiter: ','")));
    expect(e.code).toBe('CSV_INVALID');
    expect(shown(e)).toMatch(/tab/);
    expect(shown(e)).toContain('data.delimiter');
  });

  it('from the CLI the summary says how many rows were dropped, and exit 0', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'p.yaml'), spec('drop-rows'));
    const r = cli(['run', join(dir, 'p.yaml')], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/missing +103 missing cells \(drop-rows\): 102 rows left out/);
  });
});

describe('semicolons', () => {
  it('are detected from the header line, and `delimiter: ";"` reads the same', async () => {
    const base = `apiVersion: weightshare/v1\nname: t\nseed: 1\ndata: { source: csv, path: ${schoolCat}, task: school, target: score, exclude: [row], categorical: [year, gender, vrband, ethnicity, school_gender, denomination], missing: drop-rows`;
    const a = await runText(`${base} }\nsplit: { method: random, testFraction: 0.25 }\n${stages}`);
    const b = await runText(`${base}, delimiter: ';' }\nsplit: { method: random, testFraction: 0.25 }\n${stages}`);
    expect((a.results.models.shared as RegressionMetrics).mse).toBe((b.results.models.shared as RegressionMetrics).mse);
  });
});
