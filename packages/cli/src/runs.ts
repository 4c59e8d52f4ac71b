/** `weightshare runs ls | show | diff | verify | rm`: runs as records. */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { acquireLock, checkpointCorrupt, processAlive, runCorrupt, runNotFound, RunFolder, scanRuns, type FileCheck, type Metrics, type RunResults } from '@weightshare/framework';

/**
 * The run's results.json; with `verified`, a completed run's is checked against its manifest first.
 * @throws WeightshareError RUN_CORRUPT (only when `verified`)
 */
function results(run: RunFolder, verified = false): RunResults | undefined {
  if (verified && run.manifest.status === 'completed') return JSON.parse(run.output('results.json').toString('utf8')) as RunResults;
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
    return processAlive(pid) ? 'running' : 'interrupted';
  } catch {
    return 'interrupted';
  }
}

function backends(run: RunFolder): string {
  return [...new Set(Object.values(run.manifest.stages).map((s) => s.backend))].join(',');
}

/** The key metric of a results' model, as a number (null when undefined). */
function keyValue(m: Metrics | undefined): { metric: string; value: number | null } | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const metric = 'mse' in m ? 'mse' : 'accuracy';
  const v = (m as unknown as Record<string, number | null>)[metric];
  return { metric, value: typeof v === 'number' && Number.isFinite(v) ? v : null };
}

interface SweepFile {
  name: string;
  metric: string;
  model: string;
  splits: { split: string | null; chosen: number; candidates: { params: Record<string, unknown> }[]; test: Record<string, Metrics>; run?: string }[];
  summary: Record<string, Record<string, { mean: number; std: number; n: number }>>;
}

/** Sweep folders under `dir`: those with a sweep.json; `summary` when the sweep finished. */
export function listSweeps(dir: string): { dir: string; id: string; name: string; summary?: SweepFile; startedAt: string }[] {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const n of readdirSync(dir)) {
    const d = join(dir, n);
    if (n.startsWith('.') || !existsSync(join(d, 'sweep.json'))) continue;
    try {
      const plan = JSON.parse(readFileSync(join(d, 'sweep.json'), 'utf8')) as { name: string; createdAt?: string };
      const summary = existsSync(join(d, 'summary.json')) ? (JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as SweepFile) : undefined;
      out.push({ dir: d, id: n, name: plan.name, ...(summary ? { summary } : {}), startedAt: plan.createdAt ?? '' });
    } catch {
      out.push({ dir: d, id: n, name: n, startedAt: '' });
    }
  }
  return out;
}

export function listRunsTable(dir: string, json: boolean): string {
  const { runs, damaged } = scanRuns(dir);
  const rows: { kind: 'run' | 'sweep'; id: string; name: string; status: string; backend: string; metric: string | null; value: number | null; std?: number; chosen?: string[]; started: string; dir: string; error?: { code: string; message: string; problems?: string[] } }[] = runs.map((r) => {
    const k = keyValue(results(r)?.models.shared);
    const error = r.manifest.status === 'failed' ? r.manifest.error : undefined;
    return { kind: 'run', id: r.manifest.id, name: r.manifest.name, status: status(r), backend: backends(r), metric: k?.metric ?? null, value: k?.value ?? null, started: r.manifest.startedAt, dir: r.dir, ...(error ? { error } : {}) };
  });
  // a damaged folder is listed (it is there, and says why), never the end of the listing
  for (const d of damaged) rows.push({ kind: 'run', id: basename(d.dir), name: '—', status: 'damaged', backend: '—', metric: null, value: null, started: '—', dir: d.dir, error: { code: d.error.code, message: d.error.message } });
  for (const sw of listSweeps(dir)) {
    const s = sw.summary;
    const m = s?.summary[s.model]?.[s.metric];
    rows.push({
      kind: 'sweep',
      id: sw.id,
      name: sw.name,
      status: s ? 'completed' : 'incomplete',
      backend: '',
      metric: s ? s.metric : null,
      value: m && Number.isFinite(m.mean) ? m.mean : null,
      ...(m && Number.isFinite(m.std) ? { std: m.std } : {}),
      ...(s ? { chosen: s.splits.map((x) => Object.entries(x.candidates[x.chosen]?.params ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')) } : {}),
      started: sw.startedAt,
      dir: sw.dir,
    });
  }
  if (json) return JSON.stringify(rows, null, 2) + '\n';
  if (!rows.length) return `no runs in ${dir}/\n`;
  const text = rows.map((r) => ({
    ...r,
    shown: r.value === null ? '—' : `${r.metric === 'mse' ? 'MSE' : r.metric} ${r.value.toFixed(4)}${r.std !== undefined ? ` ± ${r.std.toFixed(4)} (${r.kind === 'sweep' ? 'test, over splits' : ''})` : ''}`,
    best: r.chosen ? [...new Set(r.chosen)].join('; ') : '',
  }));
  const sweeps = rows.some((r) => r.kind === 'sweep');
  const cols: [keyof (typeof text)[number], string][] = [
    ['id', 'ID'],
    ...(sweeps ? ([['kind', 'KIND']] as [keyof (typeof text)[number], string][]) : []),
    ['name', 'NAME'],
    ['status', 'STATUS'],
    ['backend', 'BACKEND'],
    ['shown', 'TEST METRIC (shared)'],
    ...(sweeps ? ([['best', 'CHOSEN']] as [keyof (typeof text)[number], string][]) : []),
    ['started', 'STARTED'],
  ];
  const width = cols.map(([k, h]) => Math.max(h.length, ...text.map((r) => String(r[k]).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  // a failed run says why under its row (the first sentence or so; runs show has the whole message)
  const cut = (t: string): string => (t.length > 140 ? t.slice(0, 139) + '…' : t);
  const why = (r: (typeof rows)[number]): string[] =>
    r.error ? [`  └ ${cut(`${r.error.code}: ${r.error.message}`)}`, ...(r.error.problems ?? []).slice(0, 3).map((p) => `      ${cut(p)}`), ...((r.error.problems?.length ?? 0) > 3 ? [`      … (weightshare runs show ${r.id})`] : [])] : [];
  return [line(cols.map(([, h]) => h)), ...text.flatMap((r) => [line(cols.map(([k]) => String(r[k]))), ...why(r)])].join('\n') + '\n';
}

/** `runs show <sweep>`: its summary (as summary.md says it), and where each chosen refit's run folder is. */
export function showSweep(dir: string, json: boolean): string {
  const sw = listSweeps(join(dir, '..')).find((x) => join(x.dir) === join(dir));
  const summary = sw?.summary;
  if (json) return JSON.stringify({ sweep: dir, summary: summary ?? null }, null, 2) + '\n';
  if (!summary) return `sweep ${dir}: not finished (resume it with weightshare resume ${dir})\n`;
  const md = readFileSync(join(dir, 'summary.md'), 'utf8');
  const runsLine = summary.splits.filter((s) => s.run).map((s) => `  ${s.split ?? 'split'}: ${join(dir, s.run!)}`);
  return md + (runsLine.length ? `\nchosen refits (run folders with model/, for weightshare predict):\n${runsLine.join('\n')}\n` : '');
}

export function showRun(run: RunFolder, json: boolean, tasks = false): string {
  const res = results(run, true);
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
  if (m.error) out.push(`  error     ${m.error.code}: ${m.error.message}`, ...(m.error.problems ?? []).map((p) => `            - ${p}`));
  if (res) {
    const names = [...new Set(Object.values(res.models).flatMap((m) => Object.keys(m as object)))];
    const cell = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : 'undefined');
    const width = Math.max(...names.map((n) => n.length), 8);
    out.push('', `  ${'model'.padEnd(12)}  ${names.map((n) => n.padStart(width)).join('  ')}`);
    for (const [name, metrics] of Object.entries(res.models)) out.push(`  ${name.padEnd(12)}  ${names.map((n) => cell((metrics as unknown as Record<string, unknown>)[n]).padStart(width)).join('  ')}`);
    if (tasks) {
      const key = keyValue(res.models.shared)?.metric ?? 'mse';
      out.push('', `  per task (${key}, test rows)`, `  ${'task'.padEnd(14)}  ${'rows'.padStart(5)}  ${['shared', 'independent', 'pooled'].map((m) => m.padStart(11)).join('  ')}`);
      for (const t of res.perTask) {
        const v = (m?: Metrics): string => (m ? cell((m as unknown as Record<string, unknown>)[key]).padStart(11) : '—'.padStart(11));
        out.push(`  ${t.id.slice(0, 14).padEnd(14)}  ${String(t.testRows).padStart(5)}  ${[v(t.shared), v(t.independent), v(t.pooled)].join('  ')}`);
      }
    }
    const last = res.rounds[res.rounds.length - 1];
    if (last?.objective) out.push(`  objective after ${res.rounds.length} rounds: ${last.objective.total}`);
  }
  return out.join('\n') + '\n';
}

/** A nested value as dotted keys with JSON-encoded leaves. */
export function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = JSON.stringify(value);
  return out;
}

export function diffRuns(a: RunFolder, b: RunFolder, all: boolean, json = false): string {
  const spec = (r: RunFolder): Record<string, string> => flatten(JSON.parse(r.resolvedSpecText()));
  const pa = spec(a);
  const pb = spec(b);
  const ra = results(a, true);
  const rb = results(b, true);
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
  if (json) {
    const numbers = (r: RunResults | undefined): Record<string, number | null> => {
      const out: Record<string, number | null> = {};
      if (!r) return out;
      for (const [model, m] of Object.entries(r.models)) for (const [k, v] of Object.entries(m)) out[`${model}.${k}`] = typeof v === 'number' && Number.isFinite(v) ? v : null;
      const last = r.rounds[r.rounds.length - 1];
      if (typeof last?.objective?.total === 'number') out['objective'] = last.objective.total;
      return out;
    };
    const na = numbers(ra);
    const nb = numbers(rb);
    const parse = (v: string | undefined): unknown => (v === undefined ? null : JSON.parse(v));
    const keys = (x: object, y: object): string[] => [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
    return (
      JSON.stringify(
        {
          a: a.manifest.id,
          b: b.manifest.id,
          parameters: keys(pa, pb).filter((k) => all || pa[k] !== pb[k]).map((k) => ({ key: k, a: parse(pa[k]), b: parse(pb[k]) })),
          metrics: keys(na, nb).map((k) => ({ key: k, a: na[k] ?? null, b: nb[k] ?? null })),
        },
        null,
        2,
      ) + '\n'
    );
  }
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

/** `runs diff` of two sweeps: their settings and test summaries (mean ± std over splits) side by side. */
export function diffSweeps(a: string, b: string, json = false): string {
  const load = (d: string): Record<string, string> => {
    const out: Record<string, string> = {};
    const plan = JSON.parse(readFileSync(join(d, 'sweep.json'), 'utf8')) as { set?: string[]; candidates: { params: Record<string, unknown> }[]; splits: (string | null)[] };
    out['candidates'] = String(plan.candidates.length);
    out['splits'] = plan.splits.join(',');
    out['set'] = (plan.set ?? []).join(' ');
    const sum = existsSync(join(d, 'summary.json')) ? (JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as SweepFile) : undefined;
    if (sum) {
      for (const [model, ms] of Object.entries(sum.summary)) for (const [k, v] of Object.entries(ms)) out[`${model}.${k}`] = `${v.mean.toPrecision(6)} ± ${v.std.toPrecision(3)}`;
      sum.splits.forEach((x) => (out[`chosen.${x.split ?? 'split'}`] = JSON.stringify(x.candidates[x.chosen]?.params ?? {})));
    }
    return out;
  };
  const x = load(a);
  const y = load(b);
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
  if (json) return JSON.stringify({ a, b, fields: keys.map((k) => ({ key: k, a: x[k] ?? null, b: y[k] ?? null, differs: x[k] !== y[k] })) }, null, 2) + '\n';
  const w = [Math.max(5, ...keys.map((k) => k.length)), Math.max(a.length, ...keys.map((k) => (x[k] ?? '—').length))];
  return [`${'field'.padEnd(w[0]!)}  ${a.padEnd(w[1]!)}  ${b}`, ...keys.map((k) => `${k.padEnd(w[0]!)}  ${(x[k] ?? '—').padEnd(w[1]!)}  ${y[k] ?? '—'}${x[k] !== y[k] ? '   *' : ''}`)].join('\n') + '\n';
}

/**
 * `runs verify`: every file of the run folder whose SHA-256 is recorded — final outputs, model/, checkpoints — is
 * checked. Returns the report, and the error to exit with when anything is damaged.
 */
export function verifyRun(run: RunFolder, json: boolean): { text: string; error?: Error } {
  const checks = run.verify();
  const bad = checks.filter((c) => !c.ok);
  const st = status(run);
  const completed = run.manifest.status === 'completed';
  let text: string;
  if (json) text = JSON.stringify({ run: run.dir, status: st, intact: checks.filter((c) => c.ok).map((c) => c.file), corrupt: bad.map((c) => ({ file: c.file, problem: c.problem })) }, null, 2) + '\n';
  else {
    const count = (f: (c: FileCheck) => boolean): number => checks.filter((c) => c.ok && f(c)).length;
    const groups = [
      [count((c) => c.kind === 'output' && !c.file.startsWith('model/')), 'final outputs'],
      [count((c) => c.file.startsWith('model/')), 'files of model/'],
      [count((c) => c.kind === 'checkpoint'), 'checkpoint files'],
    ] as const;
    text =
      [
        `run ${run.dir} (${st}${completed ? '' : ': no final outputs yet; checkpoints checked against their checkpoint.json'})`,
        `  intact   ${groups.map(([n, what]) => `${n} ${what}`).join(', ')}`,
        ...bad.map((c) => `  CORRUPT  ${c.file}: ${c.problem}`),
        bad.length ? `${bad.length} of ${checks.length} files damaged` : `all ${checks.length} files intact`,
      ].join('\n') + '\n';
  }
  if (!bad.length) return { text };
  const problems = bad.map((c) => ({ message: `${c.file} ${c.problem}` }));
  const error = completed
    ? runCorrupt(run.dir, `has ${bad.length} of ${checks.length} recorded files that do not match their SHA-256: ${bad.map((c) => c.file).join(', ')}`, problems)
    : checkpointCorrupt(join(run.dir, bad[0]!.file), `${bad[0]!.problem}${bad.length > 1 ? `; ${bad.length - 1} more damaged: ${bad.slice(1).map((c) => c.file).join(', ')}` : ''}`);
  return { text, error };
}

/**
 * `runs rm`: removes run and sweep folders (given as paths or ids under `dir`) once it holds the lock of every one —
 * a folder a live process is writing is refused (RUN_LOCKED) and then nothing is removed; a lock of a dead process
 * is taken over. A folder that is
 * neither a run nor a sweep is refused, so a mistyped path never deletes anything else.
 * @throws WeightshareError RUN_NOT_FOUND, RUN_LOCKED
 */
export function removeRuns(ids: readonly string[], dir: string): string {
  const folders = ids.map((id) => {
    const d = [id, join(dir, id)].find((p) => existsSync(join(p, 'manifest.json')) || existsSync(join(p, 'sweep.json')));
    if (!d) throw runNotFound(id, `neither a run folder (with manifest.json) nor a sweep folder (with sweep.json), as a path or under ${dir}/; nothing was removed`);
    return d;
  });
  // every lock first: one folder in use means nothing is removed
  const held: (() => void)[] = [];
  try {
    for (const d of folders) held.push(acquireLock(d));
  } catch (e) {
    for (const release of held) release();
    throw e;
  }
  for (const d of folders) rmSync(d, { recursive: true, force: true }); // the lock goes with the folder
  return folders.map((d) => `removed ${d}`).join('\n') + '\n';
}
