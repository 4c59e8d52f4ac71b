/**
 * `weightshare report <run|sweep>`: one self-contained HTML page about a completed run or a finished sweep. Nothing
 * in it is fetched (no scripts, fonts, styles or images from elsewhere) and every chart is inline static SVG, so it
 * opens from disk with scripts blocked. Every number shown carries its exact value in `data-value` (and its place in
 * results.json or summary.json in `data-key`), so tests can check the page against the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { correlations, decodeNpy, invalidArgument, RunFolder, runFolderDamaged, runNotFound, writeFileAtomic, type Manifest, type RunResults } from '@weightshare/framework';
import { curveChart, errorScatter, heatmap, histogram, lineChart, MAX_MARKS, sweepChart, type Chart } from './report-charts.js';
import { spectralOrder } from './report-order.js';
import { isSweepDir, type SweepPlan, type SweepSummary } from './sweep.js';

/** What `writeReport` wrote. */
export interface ReportWritten {
  kind: 'run' | 'sweep';
  file: string;
  bytes: number;
  charts: { id: string; marks: number; note?: string }[];
}

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A number as shown: integers whole, others to at most 6 significant digits (the exact value is in data-value). */
export const shown = (v: number): string => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6))));

/** A number with its exact value and its JSON path, or — with the reason — when it is null. */
function num(v: unknown, key: string): string {
  if (typeof v !== 'number') return `<span class="na" data-key="${esc(key)}">—</span>`;
  return `<span class="num" data-key="${esc(key)}" data-value="${v}">${shown(v)}</span>`;
}

const readJson = <T>(dir: string, file: string, what: string): T => {
  try {
    return JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
  } catch (e) {
    throw runFolderDamaged(dir, file, `cannot be read as the ${what} (${(e as Error).message.slice(0, 120)})`);
  }
};

/** A small JSON highlighter: keys, strings and numbers in their own classes (on escaped text). */
function highlightJson(text: string): string {
  return esc(text).replace(/(&quot;(?:\\.|[^&\\]|&(?!quot;))*?&quot;)(\s*:)?|\b(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\b|\b(true|false|null)\b/g, (m, str: string | undefined, colon: string | undefined, n: string | undefined, lit: string | undefined) => {
    if (str) return colon ? `<span class="k">${str}</span>${colon}` : `<span class="s">${str}</span>`;
    if (n) return `<span class="n">${n}</span>`;
    if (lit) return `<span class="l">${lit}</span>`;
    return m;
  });
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;color:#222;max-width:1180px;margin:0 auto;padding:0 20px 40px}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.r,th.r{text-align:right}.num{font-variant-numeric:tabular-nums}.na{color:#888}
figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}figcaption{font-weight:600;margin-bottom:4px}
.note{color:#555;font-size:12px;max-width:560px}.lost{background:#fff7cc}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:420px;font-size:12px}
.k{color:#1d4e89}.s{color:#2b6b2b}.n{color:#8a3b00}.l{color:#6b2b8a}code{font-size:12px}
`;

const page = (title: string, body: string): string =>
  `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
  `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">` +
  `<title>${esc(title)}</title><style>${CSS}</style></head><body>\n${body}\n</body></html>\n`;

const figure = (c: Chart): string =>
  `<figure data-chart="${esc(c.id)}" data-marks="${c.marks}"><figcaption>${esc(c.title)}</figcaption>${c.svg}${c.note ? `<p class="note">${esc(c.note)}</p>` : ''}</figure>`;

const table = (head: string[], rows: string[][], attrs = ''): string =>
  `<table${attrs}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;

/** Rows of the table that lists versions and checksums (shared by run and sweep pages). */
function provenance(m: Manifest): string {
  const files = [
    ...m.inputs.map((i) => [`input`, `<code>${esc(i.path)}</code>`, `<code>${esc(i.sha256 ?? '—')}</code>`]),
    ...(m.outputs ?? []).map((o) => ['output', `<code>${esc(o.file)}</code>`, `<code>${esc(o.sha256)}</code>`]),
  ];
  const checkpoints = (m.checkpoints ?? []).flatMap((c) => c.files.map((f) => [`${esc(c.id)} (${esc(c.source)})`, `<code>${esc(f.file)}</code>`, `<code>${esc(f.sha256)}</code>`]));
  const shownCheckpoints = checkpoints.slice(0, 400);
  return (
    `<h2 id="versions">Versions</h2>` +
    table(['', ''], [
      ['node', esc(m.node)],
      ['platform', esc(m.platform)],
      ...m.plugins.map((p) => [esc(p.name), `${esc(p.version)} (backend ${esc(p.backend)}, ${esc(p.precision)})`]),
    ]) +
    `<h2 id="checksums">Manifest checksums (SHA-256)</h2>` +
    table(['', ''], [
      ['spec file', `<code>${esc(m.spec.file)}</code> <code>${esc(m.spec.sha256)}</code>`],
      ['resolved spec', `<code>${esc(m.spec.resolvedSha256)}</code>`],
    ]) +
    table(['kind', 'file', 'sha256'], files) +
    `<details><summary>${checkpoints.length} checkpoint files</summary>` +
    table(['checkpoint', 'file', 'sha256'], shownCheckpoints) +
    (checkpoints.length > shownCheckpoints.length ? `<p class="note">${checkpoints.length - shownCheckpoints.length} more checkpoint files are listed in manifest.json.</p>` : '') +
    `</details>`
  );
}

type MetricsRecord = Record<string, number | null | undefined>;

/** The per-task error metric: MSE for squared loss, log-loss for logistic. */
const errorMetric = (r: RunResults): string => ('mse' in (r.models.shared as object) ? 'mse' : 'logLoss');

/** The HTML page of a completed run, with the charts it draws. */
export async function runReport(dir: string): Promise<{ html: string; charts: Chart[] }> {
  const run = RunFolder.open(dir);
  const m = run.manifest;
  if (m.status !== 'completed')
    throw invalidArgument(`run ${dir} is ${m.status}; a report needs a completed run (resume it first: weightshare resume ${dir}).`);
  const r = readJson<RunResults>(dir, 'results.json', 'results');
  const specText = existsSync(join(dir, 'spec.resolved.json')) ? run.resolvedSpecText() : '{}';
  const sourceText = existsSync(join(dir, 'spec.source.yaml')) ? readFileSync(join(dir, 'spec.source.yaml'), 'utf8') : '';
  const charts: Chart[] = [];
  const parts: string[] = [];
  const metric = errorMetric(r);
  const models = (['shared', 'independent', 'pooled'] as const).filter((k) => r.models[k]);
  const metricNames = Object.keys(r.models.shared as object);

  parts.push(
    `<h1>Run ${esc(m.id)}</h1><p>spec <b>${esc(r.name)}</b>, seed ${num(r.seed, 'seed')}, loss ${esc(JSON.stringify(r.loss))}, ${esc(m.status)}; started ${esc(m.startedAt)}${m.endedAt ? `, ended ${esc(m.endedAt)}` : ''}.</p>`,
    `<h2 id="models">Test metrics</h2>`,
    table(['model', ...metricNames], models.map((k) => [k, ...metricNames.map((n) => num((r.models[k] as unknown as MetricsRecord)[n], `models.${k}.${n}`))]), ' data-table="models"'),
  );

  // convergence and the rounds
  const c = r.convergence;
  parts.push(
    `<h2 id="rounds">Rounds and convergence</h2>`,
    `<p data-converged="${c.converged}">${c.converged ? `Converged at round ${num(c.round, 'convergence.round')}` : `<b>Not converged</b> after ${num(c.rounds, 'convergence.rounds')} rounds`} (relative change of W in the last round ${num(c.lastChange, 'convergence.lastChange')}, tol ${num(c.tol, 'convergence.tol')}, at most ${num(c.max, 'convergence.max')} rounds${c.acceleration === 'anderson' ? ', Anderson-accelerated' : ''}).</p>`,
    `<p>Objective (${esc(r.objective.kind)}): <code>${esc(r.objective.formula)}</code>${r.objective.reason ? ` — ${esc(r.objective.reason)}` : ''}</p>`,
  );
  const objective = r.rounds.flatMap((x) => (['total', 'loss', 'penalty', 'ridge'] as const).map((s) => ({ round: x.round, series: s, value: x.objective?.[s] ?? NaN })).filter((p) => Number.isFinite(p.value)));
  charts.push(await lineChart('objective', 'Objective per round, and its parts', objective, 'objective'));
  const tested = r.rounds.filter((x) => x.test && typeof (x.test as unknown as MetricsRecord)[metric] === 'number');
  if (tested.length)
    charts.push(await lineChart('test-per-round', `Test ${metric} of the shared model per round`, tested.map((x) => ({ round: x.round, series: `shared ${metric}`, value: (x.test as unknown as MetricsRecord)[metric] as number })), `test ${metric}`));
  // training curves of non-linear models (plugin-cpu records them): one line per round, at most 12 rounds drawn
  const curved = r.rounds.flatMap((x) => {
    const o = x.diagnostics?.optimize as { curve?: number[]; curveEvery?: number } | undefined;
    return Array.isArray(o?.curve) && o.curve.length ? [{ round: x.round, every: o.curveEvery ?? 1, values: o.curve }] : [];
  });
  if (curved.length) {
    const pick = curved.length <= 12 ? curved : Array.from({ length: 12 }, (_, i) => curved[Math.round((i * (curved.length - 1)) / 11)]!);
    charts.push(await curveChart('training-curves', `Training curves: objective per epoch in each round${pick.length < curved.length ? ` (${pick.length} of ${curved.length} rounds drawn, evenly spaced)` : ''}`, pick));
  }
  parts.push(charts.map(figure).join(''));
  const last = r.rounds[r.rounds.length - 1];
  if (last?.objective)
    parts.push(
      table(['last round', 'total', 'loss', 'penalty', 'ridge'], [[num(last.round, `rounds.${r.rounds.length - 1}.round`), ...(['total', 'loss', 'penalty', 'ridge'] as const).map((s) => num(last.objective![s], `rounds.${r.rounds.length - 1}.objective.${s}`))]], ' data-table="last-round"'),
    );

  // per task: shared against each baseline
  const taskCharts: Chart[] = [];
  const value = (t: RunResults['perTask'][number], k: 'shared' | 'independent' | 'pooled'): number | null => {
    const v = (t[k] as unknown as MetricsRecord | undefined)?.[metric];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  parts.push(`<h2 id="tasks">Per task: shared against each task alone and one pooled model</h2>`);
  for (const base of ['independent', 'pooled'] as const) {
    if (!r.models[base]) continue;
    const pts = r.perTask.flatMap((t) => {
      const x = value(t, base);
      const y = value(t, 'shared');
      return x === null || y === null ? [] : [{ task: t.id, x, y }];
    });
    const chart = await errorScatter(`scatter-${base}`, `Test ${metric} per task: shared (y) against ${base} (x)`, pts, `${base} ${metric}`, `shared ${metric}`);
    if (pts.length < r.perTask.length) chart.note = `${r.perTask.length - pts.length} tasks whose ${metric} is undefined are not drawn.`;
    else chart.note = `One point per task; above the dashed diagonal (crosses), the shared model is worse than ${base}.`;
    taskCharts.push(chart);
  }
  if (r.models.independent) {
    const gains = r.perTask.flatMap((t) => {
      const a = value(t, 'independent');
      const b = value(t, 'shared');
      return a === null || b === null ? [] : [a - b];
    });
    taskCharts.push(await histogram('gains', `Gain from sharing per task: independent ${metric} − shared ${metric}`, gains, `gain in test ${metric} (positive: sharing helped)`));
    const lost = r.perTask.filter((t) => (value(t, 'shared') ?? -Infinity) > (value(t, 'independent') ?? Infinity));
    parts.push(taskCharts.map(figure).join(''));
    parts.push(
      `<h3>Tasks that lost from sharing (${lost.length} of ${r.perTask.length})</h3>`,
      lost.length
        ? table(['task', `shared ${metric}`, `independent ${metric}`, 'test rows'], lost.slice(0, 200).map((t) => {
            const i = r.perTask.indexOf(t);
            return [esc(t.id), num(value(t, 'shared'), `perTask.${i}.shared.${metric}`), num(value(t, 'independent'), `perTask.${i}.independent.${metric}`), num(t.testRows, `perTask.${i}.testRows`)];
          }), ' data-table="lost" class="lost"') + (lost.length > 200 ? `<p class="note">The first 200 of ${lost.length} are listed.</p>` : '')
        : '<p>None: every task is at least as good shared as alone.</p>',
    );
  } else parts.push(taskCharts.map(figure).join(''), '<p class="note">The run has no baselines (evaluate.baselines: false).</p>');
  charts.push(...taskCharts);

  // the relation, reordered, and the matrices
  const ids = r.perTask.map((t) => t.id);
  const matrixCharts: Chart[] = [];
  let orderNote = '';
  let order = ids.map((_, i) => i);
  if (existsSync(join(dir, 'relation.npy'))) {
    const A = decodeNpy(readFileSync(join(dir, 'relation.npy')));
    const T = A.rows;
    // a learned covariance shows its correlations (the relation the stages got is its inverse), in their spectral
    // order; learned clusters group the tasks by cluster
    const learned = existsSync(join(dir, 'omega.npy')) ? correlations(decodeNpy(readFileSync(join(dir, 'omega.npy')))) : undefined;
    const clusters = r.relation.clusters;
    const o = spectralOrder(learned ?? A);
    order = clusters ? ids.map((_, i) => i).sort((a, b) => clusters[a]! - clusters[b]! || a - b) : o.order;
    orderNote = clusters ? `grouped by learned cluster (${new Set(clusters).size} clusters), in task order within each` : learned ? `${o.how} (of the learned correlations)` : o.how;
    if (learned)
      matrixCharts.push(
        await heatmap('correlations', 'Learned task correlations Ω_st / √(Ω_ss Ω_tt) (tasks reordered)', { rows: T, cols: T, at: (i, j) => learned.data[order[i]! * T + order[j]!]! }, { rows: order.map((k) => ids[k]!), cols: order.map((k) => ids[k]!), rowTitle: 'task', colTitle: 'task', value: 'corr' }),
      );
    matrixCharts.push(
      await heatmap('relation', learned ? 'Relation A = Ω⁻¹, the learned task precision (tasks reordered)' : 'Relation A (tasks reordered)', { rows: T, cols: T, at: (i, j) => A.data[order[i]! * T + order[j]!]! }, { rows: order.map((k) => ids[k]!), cols: order.map((k) => ids[k]!), rowTitle: 'task', colTitle: 'task', value: 'a_st' }),
    );
    const degree = Array.from({ length: T }, (_, i) => {
      let d = 0;
      for (let j = 0; j < T; j++) if (j !== i && A.data[i * T + j] !== 0) d++;
      return d;
    });
    if (!learned) matrixCharts.push(await histogram('degree', 'Degree distribution of the task graph', degree, 'neighbours of a task (non-zero a_st, s ≠ t)', new Set(degree).size <= 40));
  }
  const features = r.data.features;
  for (const [file, id, title] of [['weights.npy', 'weights', 'Weights W'], ['targets.npy', 'targets', 'Fused targets E']] as const) {
    if (!existsSync(join(dir, file))) continue;
    const M = decodeNpy(readFileSync(join(dir, file)));
    matrixCharts.push(
      await heatmap(id, `${title} (features × tasks, standardized features)`, { rows: M.cols, cols: M.rows, at: (f, t) => M.data[order[t]! * M.cols + f]! }, { rows: features.slice(0, M.cols), cols: order.map((k) => ids[k]!), rowTitle: 'feature', colTitle: 'task', value: id === 'weights' ? 'w' : 'e' }),
    );
  }
  charts.push(...matrixCharts);
  parts.push(
    `<h2 id="relation">Relation, weights and targets</h2>`,
    `<p>Relation ${esc(r.relation.method)}: ${num(r.relation.edges, 'relation.edges')} edges (${r.relation.symmetric ? 'symmetric' : 'not symmetric'}). Task order in the heatmaps: ${esc(orderNote)}.</p>`,
    matrixCharts.map(figure).join(''),
  );

  // data, stages, provenance, spec
  parts.push(
    `<h2 id="data">Data</h2>`,
    table(['', ''], [
      ['tasks', num(r.data.tasks, 'data.tasks')],
      ['features', `${num(r.data.features.length, 'data.features.length')}: ${esc(r.data.features.join(', '))}`],
      ['train rows', num(r.data.trainRows, 'data.trainRows')],
      ['test rows', num(r.data.testRows, 'data.testRows')],
      ['dropped constant columns', esc(r.data.droppedConstantColumns.join(', ') || 'none')],
      ...r.data.files.map((f) => ['file', `<code>${esc(f.path)}</code> (${f.bytes} bytes)`]),
      ...(r.data.missing ? [['missing cells', `<code>${esc(JSON.stringify(r.data.missing))}</code>`]] : []),
    ], ' data-table="data"'),
    `<h2 id="stages">Stages</h2>`,
    table(['stage', 'method', 'backend', 'plugin'], Object.entries(r.stages).map(([s, v]) => [esc(s), esc(v.method), esc(v.backend), `${esc(v.plugin)} ${esc(v.pluginVersion)}`]), ' data-table="stages"'),
    provenance(m),
    `<h2 id="spec">Resolved spec</h2><pre class="spec">${highlightJson(JSON.stringify(JSON.parse(specText), null, 2))}</pre>`,
    sourceText ? `<h3>Spec file as it was when the run started</h3><pre>${esc(sourceText)}</pre>` : '',
    `<p class="note">Charts: Vega-Lite rendered to SVG when the report was written; colour scale viridis; at most ${MAX_MARKS} marks per chart drawn one by one.</p>`,
  );
  return { html: page(`weightshare run ${m.id}`, parts.join('\n')), charts };
}

/** Whether a grid of parameter values is logarithmic (positive and spanning at least a factor of 20). */
const logarithmic = (xs: number[]): boolean => xs.length >= 3 && xs.every((x) => x > 0) && Math.max(...xs) / Math.min(...xs) >= 20;

/** The HTML page of a finished sweep, with the charts it draws. */
export async function sweepReport(dir: string): Promise<{ html: string; charts: Chart[] }> {
  if (!existsSync(join(dir, 'summary.json')))
    throw invalidArgument(`sweep ${dir} has not finished, so there is nothing to report yet; resume it with weightshare resume ${dir}.`);
  const plan = readJson<SweepPlan>(dir, 'sweep.json', 'sweep plan');
  const s = readJson<SweepSummary>(dir, 'summary.json', 'sweep summary');
  const label = (x: string | null): string => x ?? 'split';
  const charts: Chart[] = [];
  const params = Object.keys(s.splits[0]?.candidates[0]?.params ?? {});
  for (const p of params) {
    const points = s.splits.flatMap((sp) =>
      sp.candidates.flatMap((cd) => (typeof cd.validation === 'number' && typeof cd.params[p] === 'number' ? [{ split: label(sp.split), x: cd.params[p] as number, y: cd.validation, chosen: cd.id === sp.chosen }] : [])),
    );
    if (!points.length) continue;
    const xs = [...new Set(points.map((q) => q.x))];
    const chart = await sweepChart(`sweep-${p}`, `Validation ${s.metric} against ${p}, per outer split`, points, p, s.metric, logarithmic(xs));
    chart.note = `One point per candidate and split; the chosen candidate of each split is the open diamond.${params.length > 1 ? ' Other swept parameters vary along each line.' : ''}`;
    charts.push(chart);
  }
  const metrics = Object.keys(s.summary[s.model] ?? {});
  const parts = [
    `<h1>Sweep ${esc(plan.id)}</h1>`,
    `<p>spec <b>${esc(s.name)}</b>: the ${esc(s.model)} model's validation ${esc(s.metric)} (${plan.larger ? 'larger' : 'smaller'} is better) on ${num(plan.sweep.validationFraction, 'sweep.validationFraction')} of each outer split's training rows chose the candidate; it was refit on all training rows and tested once.</p>`,
    `<h2 id="summary">Test over ${s.splits.length} outer split${s.splits.length === 1 ? '' : 's'}: mean ± std</h2>`,
    table(['model', ...metrics], Object.entries(s.summary).map(([model, ms]) => [esc(model), ...metrics.map((k) => (ms[k] ? `${num(ms[k]!.mean, `summary.${model}.${k}.mean`)} ± ${num(ms[k]!.std, `summary.${model}.${k}.std`)}` : '—'))]), ' data-table="summary"'),
    `<h2 id="validation">Validation score against the swept parameters</h2>`,
    charts.map(figure).join(''),
    `<h2 id="splits">Outer splits</h2>`,
    table(
      ['split', 'chosen', ...params, `validation ${esc(s.metric)}`, ...metrics.map((k) => `test ${esc(k)}`), 'refit run'],
      s.splits.map((sp, i) => {
        const cd = sp.candidates.find((x) => x.id === sp.chosen)!;
        const test = sp.test[s.model] as unknown as MetricsRecord;
        return [esc(label(sp.split)), String(sp.chosen), ...params.map((p) => esc(JSON.stringify(cd.params[p]))), num(cd.validation, `splits.${i}.candidates.${sp.candidates.indexOf(cd)}.validation`), ...metrics.map((k) => num(test[k], `splits.${i}.test.${s.model}.${k}`)), sp.run ? `<code>${esc(sp.run)}</code>` : '—'];
      }),
      ' data-table="splits"',
    ),
    `<h3>Candidates</h3>`,
    table(
      ['split', 'candidate', ...params, `validation ${esc(s.metric)}`],
      s.splits.flatMap((sp, i) => sp.candidates.map((cd, k) => [esc(label(sp.split)), String(cd.id) + (cd.id === sp.chosen ? ' (chosen)' : ''), ...params.map((p) => esc(JSON.stringify(cd.params[p]))), cd.validation === null ? `failed: ${esc(cd.error ?? '')}` : num(cd.validation, `splits.${i}.candidates.${k}.validation`)])),
      ' data-table="candidates"',
    ),
    `<h2 id="spec">Sweep</h2><pre class="spec">${highlightJson(JSON.stringify({ spec: plan.spec, set: plan.set, backend: plan.backend, sweep: plan.sweep, splits: plan.splits }, null, 2))}</pre>`,
    existsSync(join(dir, 'spec.source.yaml')) ? `<h3>Spec file</h3><pre>${esc(readFileSync(join(dir, 'spec.source.yaml'), 'utf8'))}</pre>` : '',
    `<p class="note">Each split's refit is a run folder of its own: <code>weightshare report ${esc(dir)}/&lt;refit run&gt;</code> draws its rounds, tasks and matrices.</p>`,
  ];
  return { html: page(`weightshare sweep ${plan.id}`, parts.join('\n')), charts };
}

/**
 * Writes the report of a run or sweep folder (`target`, or an id under `root`) to `out` (default: report.html in the
 * folder). @throws WeightshareError RUN_NOT_FOUND, RUN_CORRUPT, INVALID_ARGUMENT (a run not completed, a sweep not
 * finished)
 */
export async function writeReport(target: string, out?: string, root = 'runs'): Promise<ReportWritten> {
  const dir = existsSync(target) ? target : existsSync(join(root, target)) ? join(root, target) : target;
  const kind = isSweepDir(dir) ? 'sweep' : 'run';
  if (kind === 'run' && existsSync(dir) && !existsSync(join(dir, 'manifest.json')))
    throw runNotFound(target, 'the folder is neither a run folder (it has no manifest.json) nor a sweep folder (no sweep.json)');
  const { html, charts } = kind === 'sweep' ? await sweepReport(dir) : await runReport(dir);
  const file = resolve(out ?? join(dir, 'report.html'));
  writeFileAtomic(file, html);
  return { kind, file, bytes: Buffer.byteLength(html), charts: charts.map((c) => ({ id: c.id, marks: c.marks, ...(c.note ? { note: c.note } : {}) })) };
}
