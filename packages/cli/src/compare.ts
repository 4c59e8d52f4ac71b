/**
 * `weightshare runs compare <run…>`: any number of runs and sweeps side by side — the resolved-spec keys that differ,
 * every metric of every model, rounds and time — as text, JSON, or an HTML page with the objective curves overlaid.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument, RunFolder, writeFileAtomic, type RunResults } from '@weightshare/framework';
import { lineChart } from './report-charts.js';
import { esc, shown } from './report.js';
import { flatten } from './runs.js';
import { isSweepDir, type SweepPlan, type SweepSummary } from './sweep.js';

/** One compared run or sweep. */
interface Entry {
  id: string;
  kind: 'run' | 'sweep';
  dir: string;
  /** Resolved spec as dotted keys (for a sweep: its first refit's, plus the swept grid). */
  spec: Record<string, string>;
  /** model.metric → value (for a sweep: the mean over outer splits). */
  metrics: Record<string, number | null>;
  rounds: number | null;
  seconds: number | null;
  /** Objective total per round (runs only). */
  curve: number[];
}

const seconds = (start?: string, end?: string): number | null => (start && end ? (Date.parse(end) - Date.parse(start)) / 1000 : null);

function entry(id: string, root: string): Entry {
  const dir = [id, join(root, id)].find((d) => isSweepDir(d)) ?? id;
  if (isSweepDir(dir)) {
    const plan = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepPlan;
    if (!existsSync(join(dir, 'summary.json'))) throw invalidArgument(`sweep ${dir} has not finished, so it has no metrics to compare; resume it with weightshare resume ${dir}.`);
    const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as SweepSummary;
    const refit = s.splits[0]?.run ? join(dir, s.splits[0].run) : undefined;
    const spec = refit && existsSync(join(refit, 'spec.resolved.json')) ? flatten(JSON.parse(readFileSync(join(refit, 'spec.resolved.json'), 'utf8'))) : {};
    Object.assign(spec, flatten({ sweep: plan.sweep }));
    const metrics: Record<string, number | null> = {};
    for (const [model, ms] of Object.entries(s.summary)) for (const [k, v] of Object.entries(ms)) metrics[`${model}.${k}`] = Number.isFinite(v.mean) ? v.mean : null;
    return { id: plan.id, kind: 'sweep', dir, spec, metrics, rounds: null, seconds: null, curve: [] };
  }
  const run = RunFolder.open(id, root);
  if (run.manifest.status !== 'completed') throw invalidArgument(`run ${run.dir} is ${run.manifest.status}; only completed runs have metrics to compare (resume it first: weightshare resume ${run.dir}).`);
  const r = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as RunResults;
  const metrics: Record<string, number | null> = {};
  for (const [model, m] of Object.entries(r.models)) for (const [k, v] of Object.entries(m as object)) metrics[`${model}.${k}`] = typeof v === 'number' && Number.isFinite(v) ? v : null;
  return {
    id: run.manifest.id,
    kind: 'run',
    dir: run.dir,
    spec: flatten(JSON.parse(run.resolvedSpecText())),
    metrics,
    rounds: r.convergence.rounds,
    seconds: seconds(run.manifest.startedAt, run.manifest.endedAt),
    curve: r.rounds.map((x) => x.objective?.total ?? NaN),
  };
}

/** The comparison of `ids` (folders, or ids under `root`). @throws WeightshareError RUN_NOT_FOUND, INVALID_ARGUMENT */
export function compareRuns(ids: string[], root = 'runs'): { entries: Entry[]; parameters: { key: string; values: unknown[] }[]; metrics: { key: string; values: (number | null)[] }[] } {
  if (ids.length < 2) throw invalidArgument(`runs compare needs at least two runs or sweeps; got ${ids.length}. Name them as folders or ids under --dir.`);
  const entries = ids.map((id) => entry(id, root));
  const keys = (pick: (e: Entry) => object): string[] => [...new Set(entries.flatMap((e) => Object.keys(pick(e))))].sort();
  const parameters = keys((e) => e.spec)
    .filter((k) => new Set(entries.map((e) => e.spec[k])).size > 1)
    .map((k) => ({ key: k, values: entries.map((e) => (e.spec[k] === undefined ? null : JSON.parse(e.spec[k]!))) }));
  const metrics = keys((e) => e.metrics).map((k) => ({ key: k, values: entries.map((e) => e.metrics[k] ?? null) }));
  return { entries, parameters, metrics };
}

const cell = (v: unknown): string => (typeof v === 'number' ? shown(v) : v === null || v === undefined ? '—' : JSON.stringify(v));

/** The comparison as text tables. */
export function formatCompare(c: ReturnType<typeof compareRuns>): string {
  const head = ['', ...c.entries.map((e) => e.id)];
  const rows: string[][] = [
    ['kind', ...c.entries.map((e) => e.kind)],
    ['rounds', ...c.entries.map((e) => cell(e.rounds))],
    ['seconds', ...c.entries.map((e) => (e.seconds === null ? '—' : e.seconds.toFixed(2)))],
    ...c.parameters.map((p) => [p.key, ...p.values.map(cell)]),
    ...c.metrics.map((m) => [m.key, ...m.values.map(cell)]),
  ];
  const widths = head.map((_, i) => Math.max(...[head, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n' + (c.parameters.length ? '' : 'the resolved specs are the same.\n');
}

/** The comparison as JSON (numbers as numbers). */
export function compareJson(c: ReturnType<typeof compareRuns>): string {
  return JSON.stringify({ runs: c.entries.map((e) => ({ id: e.id, kind: e.kind, dir: e.dir, rounds: e.rounds, seconds: e.seconds })), parameters: c.parameters, metrics: c.metrics }, null, 2) + '\n';
}

/** Writes the comparison as one self-contained HTML page, with the objective per round of every run overlaid. */
export async function writeCompareHtml(c: ReturnType<typeof compareRuns>, out: string): Promise<void> {
  const values = c.entries.flatMap((e) => e.curve.map((v, i) => ({ round: i + 1, series: e.id, value: v })).filter((p) => Number.isFinite(p.value)));
  const chart = values.length ? await lineChart('objectives', 'Objective per round, every run', values, 'objective (total)') : undefined;
  const tr = (cells: string[], tag = 'td'): string => `<tr>${cells.map((x) => `<${tag}>${x}</${tag}>`).join('')}</tr>`;
  const num = (v: number | null, key: string, i: number): string => (v === null ? '—' : `<span class="num" data-key="${esc(key)}" data-run="${i}" data-value="${v}">${shown(v)}</span>`);
  const html =
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">` +
    `<title>weightshare runs compare</title><style>body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 40px}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}</style></head><body>` +
    `<h1>Runs compared</h1><table data-table="compare">${tr(['', ...c.entries.map((e) => esc(e.id))], 'th')}` +
    tr(['kind', ...c.entries.map((e) => e.kind)]) +
    tr(['rounds', ...c.entries.map((e) => cell(e.rounds))]) +
    tr(['seconds', ...c.entries.map((e) => (e.seconds === null ? '—' : e.seconds.toFixed(2)))]) +
    c.parameters.map((p) => tr([`<code>${esc(p.key)}</code>`, ...p.values.map((v) => esc(cell(v)))])).join('') +
    c.metrics.map((m) => tr([esc(m.key), ...m.values.map((v, i) => num(v, m.key, i))])).join('') +
    `</table>` +
    (chart ? `<figure data-chart="${chart.id}" data-marks="${chart.marks}"><figcaption>${esc(chart.title)}</figcaption>${chart.svg}</figure>` : '') +
    `</body></html>\n`;
  writeFileAtomic(out, html);
}
