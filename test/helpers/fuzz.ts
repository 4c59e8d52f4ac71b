/**
 * A seeded, bounded adversarial tester: mutated specs and CSV files (wrong types, out-of-range and huge numbers,
 * missing and extra keys, unicode, NaN/Inf/1e308 cells, ragged rows, duplicate headers, empty files, BOMs, quotes …)
 * go through validation and a run — in process, and a sample through the real CLI — and every outcome is judged:
 * a user error (one paragraph, never INTERNAL, no stack trace, no long echo of a file), or a success whose every
 * reported number is finite; nothing may take longer than the time limit. Same seed, same cases.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatError, loadSpecText, Rng, runPipeline, WeightshareError, type RunResults } from '@weightshare/framework';
import { bin, hasStackTrace } from './cli.js';
import { registry, scratch } from './run.js';

/** One generated input: a spec, and the files next to it. */
export interface FuzzCase {
  id: string;
  /** What was mutated, for the report. */
  mutations: string[];
  spec: string;
  files: Record<string, string | Buffer>;
}

/** A broken promise: what happened, for which case. */
export interface Violation {
  id: string;
  mutations: string[];
  problem: string;
}

/** The time limit of one case. */
export const CASE_LIMIT_MS = 20_000;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)]!;

const BASE = {
  apiVersion: 'weightshare/v1',
  name: 'fuzz',
  seed: 5,
  data: { source: 'synthetic', tasks: 5, clusters: 2, features: 3, rows: 12 },
  split: { method: 'random', testFraction: 0.25 },
  relation: { method: 'estimate', knn: 2 },
  init: { method: 'independent' },
  stages: { propagate: { method: 'solve' }, fuse: { method: 'mean' }, optimize: { method: 'exact', lambda: 1 } },
  rounds: 2,
  evaluate: { baselines: true },
  output: { write: false },
};

/** Spec paths the mutations aim at. */
const PATHS = [
  'apiVersion', 'name', 'seed', 'backend', 'loss', 'rounds', 'rounds.max', 'rounds.tol', 'rounds.acceleration',
  'data', 'data.source', 'data.tasks', 'data.clusters', 'data.features', 'data.rows', 'data.noise', 'data.spread', 'data.scale',
  'data.standardize', 'data.bias', 'split', 'split.method', 'split.testFraction', 'split.minTrain', 'split.column',
  'relation', 'relation.method', 'relation.knn', 'relation.threshold', 'relation.similarity', 'relation.gamma', 'relation.matrix',
  'init', 'init.method', 'init.ridge', 'stages', 'stages.propagate', 'stages.propagate.method', 'stages.fuse.method',
  'stages.optimize', 'stages.optimize.method', 'stages.optimize.lambda', 'stages.optimize.ridge', 'stages.optimize.lr',
  'stages.optimize.epochs', 'evaluate.baselines', 'evaluate.everyRound', 'output', 'output.write', 'plugins', 'sweep',
];

/** Hostile values, as YAML text. Sizes stay either small or far beyond any machine, so that every case is quick. */
const VALUES = [
  '-1', '0', '1', '2', '3', '7', '0.5', '-0.0', '1e308', '-1e308', '1e-320', '.nan', '.inf', '-.inf', '9007199254740993',
  '2147483648', '1e9', '100000', '""', '"x"', '"ü∂≈ç√"', '"\\u0000"', '"' + 'z'.repeat(5000) + '"', 'null', '[]', '{}', 'true',
  '[1, 2]', '[[1, 0], [0, 1]]', '{method: identity}', '{method: gd, epochs: 3}', '{method: sgd, lr: 1e308}', '{method: column, column: t}',
  '{method: file, path: nowhere.csv}', '{method: csv, path: data.csv}', 'cpu', 'tfjs', 'logistic', 'solve', 'inverse', 'laplacian',
  'ppr', 'mean', 'median', 'adam', '"../../etc/passwd"', '"/dev/zero"', '__proto__', '{__proto__: {x: 1}}', '{constructor: 1}',
  '&a [*a, *a]', '"\\t\\n"', "'quoted: #not'", '0x10', '1_000', '+5', '~',
];

/**
 * Values a spec may well hold, by path: valid specs at the edges (overflowing scales, extreme λ and learning rates,
 * tiny tasks, every method), which reach the engine rather than stop at validation.
 */
const PLAUSIBLE: Record<string, readonly string[]> = {
  'stages.propagate': ['{method: identity}', '{method: solve}', '{method: inverse}', '{method: laplacian}', '{method: ppr}', '{method: solve, onSingular: pinv}'],
  'stages.fuse': ['{method: mean}', '{method: median}', '{method: weighted}'],
  'stages.optimize': ['{method: gd, lambda: 1e308}', '{method: adam, epochs: 1}', '{method: sgd, lr: 1e308, epochs: 2}', '{method: exact, lambda: 0, ridge: 0}', '{method: exact, lambda: 1e-300}', '{method: gd, lr: 1e-300, epochs: 2}'],
  relation: ['{method: uniform}', '{method: given, matrix: [[1, 2], [3, 4]]}', '{method: estimate, similarity: rbf, gamma: 1e308}', '{method: estimate, threshold: 1e308}', '{method: estimate, knn: 1000}', '{method: estimate, similarity: correlation, negative: keep}', '{method: identity, threshold: -1e308}'],
  init: ['{method: zeros}', '{method: independent, ridge: 1e308}', '{method: independent, ridge: 0}'],
  'data.noise': ['0', '1e308', '1e150'],
  'data.scale': ['1e308', '1e200', '0', '1e-300'],
  'data.spread': ['0', '1e308'],
  'data.features': ['1', '2'],
  'data.tasks': ['2', '3'],
  'data.rows': ['2', '3', '4'],
  'data.clusters': ['1', '5', '100000'],
  'split.testFraction': ['0.01', '0.99'],
  'split.minTrain': ['1', '11'],
  loss: ['logistic', 'squared'],
  rounds: ['{max: 5, acceleration: anderson}', '3', '{max: 4, tol: 1e-300}'],
  'evaluate.everyRound': ['false'],
  'data.standardize': ['false'],
  'data.bias': ['false'],
  seed: ['0', '4294967295'],
};

/** Keys to add where they do not belong. */
const EXTRA_KEYS = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'métod', 'method ', 'Method', '', '0', 'x'.repeat(300)];

/** A YAML text of a value (plain data only). */
function yamlOf(v: unknown): string {
  return JSON.stringify(v);
}

/** Sets (or with `value` undefined, deletes) a dot path in a plain copy. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const s of segs.slice(0, -1)) {
    if (typeof cur[s] !== 'object' || cur[s] === null || Array.isArray(cur[s])) cur[s] = {};
    cur = cur[s] as Record<string, unknown>;
  }
  const last = segs[segs.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

/** Marks a value to be spliced into the YAML text verbatim. */
const RAW = '\u0001raw:';

/** A mutated spec, from the base spec (synthetic data, or the CSV file next to it). */
export function mutateSpec(rng: Rng, id: string): FuzzCase {
  const spec = structuredClone(BASE) as Record<string, unknown>;
  const mutations: string[] = [];
  const files: Record<string, string | Buffer> = {};
  if (rng.next() < 0.3) {
    spec.data = { source: 'csv', path: 'data.csv', task: 't', target: 'y' };
    files['data.csv'] = baseCsv(rng);
    mutations.push('csv data');
  }
  const n = 1 + rng.int(3);
  for (let k = 0; k < n; k++) {
    const kind = rng.int(14);
    const path = pick(rng, PATHS);
    if (kind >= 10) {
      const at = pick(rng, Object.keys(PLAUSIBLE));
      const v = pick(rng, PLAUSIBLE[at]!);
      setPath(spec, at, RAW + v);
      mutations.push(`${at}=${v}`);
    } else if (kind < 6) {
      const v = pick(rng, VALUES);
      setPath(spec, path, RAW + v);
      mutations.push(`${path}=${v.length > 40 ? v.slice(0, 40) + '…' : v}`);
    } else if (kind < 8) {
      setPath(spec, path, undefined);
      mutations.push(`delete ${path}`);
    } else {
      const key = pick(rng, EXTRA_KEYS);
      const parent = pick(rng, ['', 'data', 'split', 'relation', 'init', 'stages.optimize', 'output']);
      setPath(spec, parent ? `${parent}.${key}` : key, 1);
      mutations.push(`extra key ${JSON.stringify(key.slice(0, 20))} in ${parent || 'top level'}`);
    }
  }
  let text = toYaml(spec);
  const textual = rng.int(12);
  if (textual === 0) {
    text = text.slice(0, rng.int(text.length));
    mutations.push('truncated');
  } else if (textual === 1) {
    text = '\uFEFF' + text;
    mutations.push('BOM');
  } else if (textual === 2) {
    text += 'seed: 9\n';
    mutations.push('duplicate key');
  } else if (textual === 3) {
    text = text.replace(/\n {2}/, '\n\t');
    mutations.push('tab indent');
  }
  return { id, mutations, spec: text, files };
}

/** Plain data as block YAML, with raw values spliced in. */
function toYaml(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return '';
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => {
      const key = /^[A-Za-z_][\w.-]*$/.test(k) ? k : JSON.stringify(k);
      if (typeof x === 'string' && x.startsWith(RAW)) return `${indent}${key}: ${x.slice(RAW.length)}\n`;
      if (x !== null && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length) return `${indent}${key}:\n${toYaml(x, indent + '  ')}`;
      return `${indent}${key}: ${yamlOf(x)}\n`;
    })
    .join('');
}

/** A clean CSV: 4 tasks × 12 rows, three features. */
function baseCsv(rng: Rng): string {
  const lines = ['t,y,x1,x2,x3'];
  for (let t = 0; t < 4; t++)
    for (let i = 0; i < 12; i++) {
      const x = [rng.normal(), rng.normal(), rng.normal()];
      lines.push([`task${t}`, (x[0]! * (t + 1) - x[1]! + 0.1 * rng.normal()).toFixed(4), ...x.map((v) => v.toFixed(4))].join(','));
    }
  return lines.join('\n') + '\n';
}

const CELLS = ['NaN', 'nan', 'Inf', '-Infinity', '1e308', '-1e308', '1e309', '', 'NA', '?', 'abc', 'ü', '"', '""', '"a,b"', '1,5', ' 3 ', '0x1F', '1e-320', '-0', 'null', 'z'.repeat(3000), '\u0000', '=cmd()'];

/** A spec over a mutated CSV file. */
export function mutateCsv(rng: Rng, id: string): FuzzCase {
  const mutations: string[] = [];
  const rows = baseCsv(rng).trimEnd().split('\n').map((l) => l.split(','));
  let raw: string | Buffer | undefined;
  const n = 1 + rng.int(3);
  for (let k = 0; k < n; k++) {
    const kind = rng.int(12);
    const r = 1 + rng.int(rows.length - 1);
    const c = rng.int(5);
    if (kind < 4) {
      const v = pick(rng, CELLS);
      rows[r]![c] = v;
      mutations.push(`cell ${r + 1},${c + 1}=${v.slice(0, 12)}`);
    } else if (kind === 4) {
      rows[r]!.push('9');
      mutations.push(`row ${r + 1} one cell too many`);
    } else if (kind === 5) {
      rows[r]!.pop();
      mutations.push(`row ${r + 1} one cell short`);
    } else if (kind === 6) {
      rows[0]![c] = rows[0]![(c + 1) % 5]!;
      mutations.push('duplicate header');
    } else if (kind === 7) {
      rows[0]![c] = pick(rng, ['', 'ü', '"t"', 'x'.repeat(500), 'constructor', '__proto__']);
      mutations.push(`header ${c + 1} renamed`);
    } else if (kind === 8) {
      for (const row of rows.slice(1)) row[c] = c === 0 ? 'same' : '1';
      mutations.push(`column ${c + 1} constant`);
    } else if (kind === 9) {
      rows.splice(2);
      mutations.push('one data row');
    } else if (kind === 10) {
      for (let i = 0; i < 2000; i++) rows[0]!.push(`extra${i}`);
      mutations.push('2000 extra header columns');
    } else {
      raw = pick(rng, ['', '\uFEFF', '\n\n\n', 't,y,x1\n', '\uFEFFt,y,x1,x2,x3\r\n' + rows.slice(1).map((l) => l.join(',')).join('\r\n'), Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a]), '"t,y\n1,2\n']);
      mutations.push(`file replaced (${typeof raw === 'string' ? JSON.stringify(raw.slice(0, 12)) : 'binary'})`);
    }
  }
  const spec = structuredClone(BASE) as Record<string, unknown>;
  spec.data = { source: 'csv', path: 'data.csv', task: 't', target: 'y', ...(rng.next() < 0.3 ? { missing: pick(rng, ['drop-rows', 'impute-mean']) } : {}) };
  if (rng.next() < 0.3) spec.loss = 'logistic';
  return { id, mutations, spec: toYaml(spec), files: { 'data.csv': raw ?? rows.map((l) => l.join(',')).join('\n') + '\n' } };
}

/** Every number in a value that is not finite, by path. */
function nonFinite(v: unknown, path = ''): string[] {
  if (typeof v === 'number') return Number.isFinite(v) ? [] : [`${path || '/'} = ${v}`];
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return [];
  return Object.entries(v).flatMap(([k, x]) => nonFinite(x, `${path}/${k}`));
}

/**
 * Whether a non-finite number of results.json is a metric the results say is undefined, with the reason: a model's
 * metric (and the same metric of the shared model in the rounds) under `undefinedMetrics`, a task's (of any model)
 * under its `undefined`.
 */
function explained(results: RunResults, at: string): boolean {
  const path = at.split(' = ')[0]!.split('/').slice(1);
  const why = results.undefinedMetrics as Record<string, Record<string, string> | undefined> | undefined;
  if (path[0] === 'models') return Boolean(why?.[path[1]!]?.[path[2]!]);
  if (path[0] === 'rounds' && path[2] === 'test') return Boolean(why?.shared?.[path[3]!]);
  // a task's metric is undefined by its test rows (e.g. one row, a constant target), so for every model alike
  if (path[0] === 'perTask') return Boolean(results.perTask[Number(path[1])]?.undefined?.[path[3]!]);
  return false;
}

/** Longest error text that still counts as one paragraph (problems are capped at 20 lines). */
const MAX_ERROR_CHARS = 8000;

function judgeError(e: unknown): string | undefined {
  if (!(e instanceof WeightshareError)) return `threw ${(e as Error)?.constructor?.name ?? typeof e}: ${String((e as Error)?.message ?? e).slice(0, 200)}`;
  if (!e.isUserError) return `${e.code}: ${e.message.slice(0, 300)}`;
  const text = formatError(e);
  if (text.length > MAX_ERROR_CHARS) return `${e.code} error of ${text.length} characters`;
  return undefined;
}

/** Validates and runs a case in this process. */
export async function runInProcess(c: FuzzCase): Promise<{ violation?: string; outcome: string }> {
  const dir = scratch('ws-fuzz-');
  for (const [f, content] of Object.entries(c.files)) writeFileSync(join(dir, f), content);
  const reg = registry();
  const started = Date.now();
  let outcome: string;
  let violation: string | undefined;
  try {
    const loaded = loadSpecText(c.spec, join(dir, 'spec.yaml'), reg);
    const run = await runPipeline(loaded, reg);
    const bad = [...nonFinite(run.results), ...nonFinite(Array.from(run.weights.data))].filter((b) => !explained(run.results, b));
    if (bad.length) violation = `exit 0 with non-finite numbers: ${bad.slice(0, 3).join(', ')}`;
    outcome = 'ok';
  } catch (e) {
    violation = judgeError(e);
    outcome = e instanceof WeightshareError ? e.code : 'crash';
  }
  const ms = Date.now() - started;
  if (ms > CASE_LIMIT_MS) violation = `took ${ms} ms`;
  return { violation, outcome };
}

/** Runs a case through the built CLI (`run spec.yaml --json`) in a child process, killed at the time limit. */
export function runInChild(c: FuzzCase): { violation?: string; outcome: string } {
  const dir = scratch('ws-fuzz-cli-');
  writeFileSync(join(dir, 'spec.yaml'), c.spec);
  for (const [f, content] of Object.entries(c.files)) writeFileSync(join(dir, f), content);
  const r = spawnSync(process.execPath, [bin, 'run', 'spec.yaml', '--json'], { cwd: dir, encoding: 'utf8', timeout: CASE_LIMIT_MS, env: { ...process.env, FORCE_COLOR: '0' } });
  if (r.signal) return { violation: `killed by ${r.signal} (hang over ${CASE_LIMIT_MS} ms?)`, outcome: 'hang' };
  if (hasStackTrace(r.stderr)) return { violation: `stack trace: ${r.stderr.slice(0, 300)}`, outcome: 'stack' };
  if (r.status === 0) {
    const res = JSON.parse(r.stdout) as { models: Record<string, Record<string, unknown>>; undefinedMetrics?: unknown };
    const nulls = Object.entries(res.models).flatMap(([m, ms]) => Object.entries(ms).filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v)).map(([k]) => `${m}.${k}`));
    return nulls.length && !res.undefinedMetrics ? { violation: `exit 0 with metrics that are not numbers: ${nulls.join(', ')}`, outcome: 'ok' } : { outcome: 'ok' };
  }
  const code = /^error ([A-Z_]+):/.exec(r.stderr)?.[1] ?? /\nerror ([A-Z_]+):/.exec(r.stderr)?.[1];
  if (r.status !== 2 || !code || code === 'INTERNAL') return { violation: `exit ${r.status}: ${r.stderr.slice(0, 300)}`, outcome: code ?? 'crash' };
  return { outcome: code };
}

/** The size of a fuzz run: `FUZZ=full` runs the full set, otherwise a small sample for `npm test`. */
export function fuzzPlan(full: boolean): { seed: number; specs: number; csvs: number; childEvery: number } {
  return full ? { seed: 12, specs: 240, csvs: 100, childEvery: 10 } : { seed: 12, specs: 24, csvs: 10, childEvery: 17 };
}

/** Runs a plan; returns the violations and how often each outcome occurred. */
export async function fuzz(plan: ReturnType<typeof fuzzPlan>): Promise<{ violations: Violation[]; outcomes: Record<string, number>; cases: number; children: number }> {
  const rng = new Rng(plan.seed);
  const cases: FuzzCase[] = [];
  for (let i = 0; i < plan.specs; i++) cases.push(mutateSpec(rng.fork(`spec/${i}`), `spec-${i}`));
  for (let i = 0; i < plan.csvs; i++) cases.push(mutateCsv(rng.fork(`csv/${i}`), `csv-${i}`));
  const violations: Violation[] = [];
  const outcomes: Record<string, number> = {};
  let children = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    const results = [await runInProcess(c)];
    if (i % plan.childEvery === 0) {
      results.push(runInChild(c));
      children++;
    }
    for (const r of results) {
      outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      if (r.violation) violations.push({ id: c.id, mutations: c.mutations, problem: r.violation });
    }
  }
  return { violations, outcomes, cases: cases.length, children };
}
