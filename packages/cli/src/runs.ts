/** `weightshare runs ls | show | diff`: runs as records. */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { scanRuns, type Metrics, type RunFolder, type RunResults } from '@weightshare/framework';

function results(run: RunFolder): RunResults | undefined {
  const file = join(run.dir, 'results.json');
  if (!existsSync(file)) return undefined;
  try {
    const res = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
    return typeof res === 'object' && res !== null && typeof res.models === 'object' && res.models !== null ? res : undefined;
  } catch {
    return undefined;
  }
}

/** `running` with no live process behind it is reported as `interrupted`. */
function status(run: RunFolder): string {
  if (run.manifest.status !== 'running') return run.manifest.status;
  try {
    const { pid } = JSON.parse(readFileSync(join(run.dir, '.lock'), 'utf8')) as { pid: number };
    process.kill(pid, 0);
    return 'running';
  } catch {
    return 'interrupted';
  }
}

function keyMetric(m: Metrics | undefined): string {
  if (!m) return '—';
  if (typeof m !== 'object') return '—';
  const v = 'mse' in m ? m.mse : m.accuracy;
  return typeof v !== 'number' || !Number.isFinite(v) ? '—' : 'mse' in m ? `MSE ${v.toFixed(4)}` : `acc ${v.toFixed(4)}`;
}

function backends(run: RunFolder): string {
  return [...new Set(Object.values(run.manifest.stages).map((s) => s.backend))].join(',');
}

export function listRunsTable(dir: string, json: boolean): string {
  const { runs, damaged } = scanRuns(dir);
  const rows: { id: string; name: string; status: string; backend: string; metric: string; started: string; dir: string; error?: string }[] = runs.map((r) => ({
    id: r.manifest.id,
    name: r.manifest.name,
    status: status(r),
    backend: backends(r),
    metric: keyMetric(results(r)?.models.shared),
    started: r.manifest.startedAt,
    dir: r.dir,
  }));
  // a damaged folder is listed (it is there, and says why), never the end of the listing
  for (const d of damaged) rows.push({ id: basename(d.dir), name: '—', status: 'damaged', backend: '—', metric: '—', started: '—', dir: d.dir, error: d.error.message });
  if (json) return JSON.stringify(rows, null, 2) + '\n';
  if (!rows.length) return `no runs in ${dir}/\n`;
  const cols: [keyof (typeof rows)[number], string][] = [
    ['id', 'ID'],
    ['name', 'NAME'],
    ['status', 'STATUS'],
    ['backend', 'BACKEND'],
    ['metric', 'TEST METRIC (shared)'],
    ['started', 'STARTED'],
  ];
  const width = cols.map(([k, h]) => Math.max(h.length, ...rows.map((r) => String(r[k]).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  const notes = damaged.map((d) => `${basename(d.dir)}: ${d.error.code}: ${d.error.message}`);
  return [line(cols.map(([, h]) => h)), ...rows.map((r) => line(cols.map(([k]) => String(r[k])))), ...(notes.length ? ['', ...notes] : [])].join('\n') + '\n';
}

export function showRun(run: RunFolder, json: boolean): string {
  const res = results(run);
  if (json) return JSON.stringify({ manifest: run.manifest, results: res ?? null }, null, 2) + '\n';
  const m = run.manifest;
  const out = [
    `run ${m.id} (${m.name}) — ${status(run)}`,
    `  folder    ${run.dir}`,
    `  spec      ${m.spec.file} (sha256 ${m.spec.sha256.slice(0, 12)}…)${m.overrides.set?.length ? `, --set ${m.overrides.set.join(' --set ')}` : ''}${m.overrides.backend ? `, --backend ${m.overrides.backend}` : ''}`,
    `  seed      ${m.seed}`,
    `  stages    ${Object.entries(m.stages).map(([s, v]) => `${s} ${v.method} (${v.backend}, ${v.plugin}@${v.version})`).join(' → ')}`,
    `  ran on    Node ${m.node}, ${m.platform}; started ${m.startedAt}${m.endedAt ? `, ended ${m.endedAt}` : ''}${m.resumedAt.length ? `, resumed ${m.resumedAt.length}×` : ''}`,
  ];
  if (m.checkpoints) {
    const by = (s: string): number => m.checkpoints!.filter((c) => c.source === s).length;
    out.push(`  stages    ${m.checkpoints.length} checkpoints: ${by('computed')} computed, ${by('cached')} from the cache, ${by('resumed')} from this run's checkpoints`);
  }
  if (m.error) out.push(`  error     ${m.error.code}: ${m.error.message}`);
  if (res) {
    out.push('', '  model         test metric');
    for (const [name, metrics] of Object.entries(res.models)) out.push(`  ${name.padEnd(12)}  ${keyMetric(metrics)}`);
    const last = res.rounds[res.rounds.length - 1];
    if (last?.objective) out.push(`  objective after ${res.rounds.length} rounds: ${last.objective.total}`);
  }
  return out.join('\n') + '\n';
}

function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value);
  return out;
}

export function diffRuns(a: RunFolder, b: RunFolder, all: boolean): string {
  const spec = (r: RunFolder): Record<string, string> => flatten(JSON.parse(r.resolvedSpecText()));
  const pa = spec(a);
  const pb = spec(b);
  const ra = results(a);
  const rb = results(b);
  const metrics = (r: RunResults | undefined): Record<string, string> => {
    if (!r) return {};
    const out: Record<string, string> = {};
    for (const [model, m] of Object.entries(r.models)) for (const [k, v] of Object.entries(m)) out[`${model}.${k}`] = typeof v === 'number' && Number.isFinite(v) ? v.toPrecision(6) : 'undefined';
    const last = r.rounds[r.rounds.length - 1];
    if (typeof last?.objective?.total === 'number') out['objective'] = last.objective.total.toPrecision(10);
    return out;
  };
  const ma = metrics(ra);
  const mb = metrics(rb);
  const rows = (x: Record<string, string>, y: Record<string, string>, onlyDiff: boolean): string[][] =>
    [...new Set([...Object.keys(x), ...Object.keys(y)])]
      .sort()
      .filter((k) => !onlyDiff || x[k] !== y[k])
      .map((k) => [k, x[k] ?? '—', y[k] ?? '—']);
  const table = (title: string, r: string[][]): string[] => {
    if (!r.length) return [`${title}: identical`];
    const w = [0, 1, 2].map((i) => Math.max(...r.map((row) => row[i]!.length), i === 0 ? title.length : (i === 1 ? a : b).manifest.id.length));
    return [
      `${title.padEnd(w[0]!)}  ${a.manifest.id.padEnd(w[1]!)}  ${b.manifest.id}`,
      ...r.map((row) => `${row[0]!.padEnd(w[0]!)}  ${row[1]!.padEnd(w[1]!)}  ${row[2]}`),
    ];
  };
  return [...table('parameter', rows(pa, pb, !all)), '', ...table('metric', rows(ma, mb, false))].join('\n') + '\n';
}
