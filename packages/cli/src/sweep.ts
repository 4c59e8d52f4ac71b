/**
 * `weightshare sweep <spec>`: model selection over a grid, per outer split, with jobs in worker threads. Every job is a
 * deterministic run of its own, and results are gathered in a fixed order, so any number of workers gives the same
 * bytes. Results are written to `<output.dir>/<name>-sweep-<n>/` as jobs finish; `weightshare resume <folder>`
 * continues an interrupted sweep.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  acquireLock,
  createRunDir,
  expandCandidates,
  sampleCandidates,
  rangeProblem,
  specInvalid,
  Rng,
  loadPipeline,
  metricOf,
  resumeRefused,
  selectBest,
  sha256,
  specInputs,
  summarize,
  WeightshareError,
  ErrorCode,
  writeFileAtomic,
  invalidArgument,
  readCsv,
  type Candidate,
  type Metrics,
  type PluginLoading,
  type ResolvedSpec,
  type SetOverride,
  type SweepSpec,
} from '@weightshare/framework';
import { builtinPlugins } from './plugins.js';
import { runJob, type JobResult, type SweepJob } from './sweep-job.js';

export interface SweepPlan {
  format: 1;
  id: string;
  name: string;
  spec: { file: string; sha256: string };
  baseDir: string;
  set: string[];
  backend?: string;
  sweep: SweepSpec;
  metric: string;
  larger: boolean;
  splits: (string | null)[];
  candidates: Candidate[];
  /** Successive halving: the budget of each rung, smallest first (absent for grid and random searches). */
  rungs?: number[];
  inputs: { path: string; sha256: string | null }[];
  cache: boolean;
  startedAt: string;
}

export interface SweepSummary {
  name: string;
  metric: string;
  /** The model whose validation score selected. */
  model: string;
  splits: {
    split: string | null;
    candidates: { id: number; params: Record<string, unknown>; validation: number | null; error?: string; rung?: number }[];
    chosen: number;
    /** Successive halving: each rung's budget and the validation score of every candidate that ran in it. */
    rungs?: { budget: number; scores: Record<number, number | null> }[];
    test: Record<string, Metrics>;
    /** The chosen candidate's refit, a run folder (with model/) inside the sweep folder. */
    run?: string;
  }[];
  summary: Record<string, Record<string, { mean: number; std: number; n: number }>>;
}

const fileSha = (p: string): string | null => {
  try {
    return sha256(readFileSync(p));
  } catch {
    return null;
  }
};

/** Plans a sweep from a spec and flags, and creates its folder. */
export async function planSweep(
  file: string,
  opts: { set: string[]; backend?: string; params: [string, unknown[]][]; splits?: string[]; cache: boolean; out?: string; plugins?: PluginLoading },
): Promise<{ plan: SweepPlan; dir: string }> {
  const set = opts.out !== undefined ? [...opts.set, `output.dir=${JSON.stringify(opts.out)}`] : opts.set;
  const { loaded, registry } = await loadPipeline(file, builtinPlugins, { set, backend: opts.backend }, {}, opts.plugins);
  const spec = loaded.spec;
  const sweep: SweepSpec = {
    validationFraction: spec.sweep?.validationFraction ?? 0.25,
    ...(spec.sweep ?? {}),
    // a parameter named like a config group (a folder conf/<name> next to the spec) sweeps over its choices
    parameters: Object.fromEntries(
      Object.entries(opts.params.length ? Object.fromEntries(opts.params) : (spec.sweep?.parameters ?? {})).map(([k, v]) => [
        !k.includes('.') && !(k in spec) && existsSync(join(resolve(file, '..'), 'conf', k)) ? `uses.${k}` : k,
        v,
      ]),
    ),
    ...(opts.splits ? { splits: opts.splits } : {}),
  };
  if (!Object.keys(sweep.parameters).length)
    throw new WeightshareError(ErrorCode.INVALID_ARGUMENT, `${file} declares no sweep: add a sweep.parameters section, or give --param path=v1,v2,…`);
  if (sweep.splits && spec.split.method === 'random')
    throw new WeightshareError(ErrorCode.INVALID_ARGUMENT, 'sweep.splits lists outer splits by the value of split.column, but this spec splits at random; use split.method column or file.');
  const { metric, larger } = metricOf(sweep, spec.loss.method, registry.loss(spec.loss.method)?.impl.target);
  // a range or a random search: checked against the spec's lines before anything runs
  const where = (path: (string | number)[]) => (opts.params.length ? { file: '--param' } : loaded.locate(path));
  const bad = Object.entries(sweep.parameters).flatMap(([k, v]) => {
    const why = rangeProblem(v);
    return why ? [{ message: `sweep parameter "${k}": ${why}.`, location: where(['sweep', 'parameters', k]) }] : [];
  });
  if (sweep.search === 'random' && sweep.samples === undefined) bad.push({ message: 'sweep.search: random draws sweep.samples candidates; give samples (e.g. samples: 20).', location: where(['sweep', 'search']) });
  if (sweep.search !== 'random' && !(sweep.search === 'halving' && sweep.samples !== undefined)) {
    const ranges = Object.entries(sweep.parameters).filter(([, v]) => !Array.isArray(v));
    for (const [k] of ranges)
      bad.push({ message: `sweep parameter "${k}" gives a range, which only a random search draws from; set sweep.search: random with sweep.samples, or give a list of values.`, location: where(['sweep', 'parameters', k]) });
  }
  let rungs: number[] | undefined;
  if (sweep.search === 'halving') {
    const b = sweep.budget;
    if (!b) bad.push({ message: 'sweep.search: halving gives each rung a budget; add sweep.budget: { path: rounds.max, min: 4, max: 64 } (the spec path, first and last value).', location: where(['sweep', 'search']) });
    else if (b.min > b.max) bad.push({ message: `sweep.budget: min ${b.min} is above max ${b.max}.`, location: where(['sweep', 'budget']) });
    else {
      rungs = [b.min];
      while (rungs.at(-1)! < b.max) rungs.push(Math.min(rungs.at(-1)! * (b.eta ?? 2), b.max));
    }
  } else if (sweep.budget) bad.push({ message: 'sweep.budget is for search: halving; remove it, or set search: halving.', location: where(['sweep', 'budget']) });
  if (bad.length) throw specInvalid(file, bad);
  const candidates = sweep.search === 'random' || (sweep.search === 'halving' && sweep.samples !== undefined) ? sampleCandidates(sweep.parameters, sweep.samples!, new Rng(spec.seed).fork('sweep/random')) : expandCandidates(sweep.parameters);
  const splits = sweep.splits ?? [null];
  // every split name and every candidate must be valid before anything runs
  if (sweep.splits) checkSplitNames(spec, loaded.baseDir ?? resolve(file, '..'), sweep.splits, Boolean(opts.splits));
  const fromFlags = new Map(opts.params.map(([path, values]) => [path, values]));
  const label = (c: Candidate, k: number): SetOverride[] =>
    c.set.map((assignment, i) => {
      const path = Object.keys(c.params)[i]!;
      const value = JSON.stringify(c.params[path]);
      return {
        assignment,
        flag: fromFlags.has(path) ? `--param ${path}=${fromFlags.get(path)!.map((v) => String(v)).join(',')} (value ${value})` : `${file}: sweep.parameters["${path}"] (value ${value}, candidate ${k})`,
      };
    });
  const budgetSet: SetOverride[] = rungs ? [{ assignment: `${sweep.budget!.path}=${rungs[0]}`, flag: `${file}: sweep.budget (path ${sweep.budget!.path}, first rung ${rungs[0]})` }] : [];
  for (const s of splits)
    for (const [k, c] of candidates.entries())
      await loadPipeline(file, builtinPlugins, { set: [...set, ...label(c, k), ...budgetSet, ...(s ? [{ assignment: `split.column=${s}`, flag: `sweep split ${s}` }] : [])], backend: opts.backend }, {}, opts.plugins);
  const dir = createRunDir(spec.output.dir, `${spec.name}-sweep`);
  const baseDir = loaded.baseDir ?? resolve(file, '..');
  const plan: SweepPlan = {
    format: 1,
    id: basename(dir),
    name: spec.name,
    spec: { file: resolve(file), sha256: sha256(loaded.text) },
    baseDir,
    set,
    ...(opts.backend ? { backend: opts.backend } : {}),
    sweep,
    metric,
    larger,
    splits,
    candidates,
    ...(rungs ? { rungs } : {}),
    // the files the spec extends count as inputs: resuming after one changed is refused (unless --force)
    inputs: [...(loaded.bases ?? []), ...specInputs(spec, baseDir)].map((p) => ({ path: p, sha256: fileSha(p) })),
    cache: opts.cache,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(join(dir, 'spec.source.yaml'), loaded.text);
  writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify(plan, null, 2) + '\n');
  return { plan, dir };
}

/**
 * The outer splits must be columns of the split file (or of the data file, for split.method column): a name that is
 * not is reported before any fit, with the columns that are there.
 */
function checkSplitNames(spec: ResolvedSpec, baseDir: string, names: string[], fromFlag: boolean): void {
  const split = spec.split;
  if (split.method === 'random') return;
  const file = split.method === 'file' ? split.path : spec.data.source === 'csv' ? spec.data.path : undefined;
  if (!file) return;
  const table = readCsv(resolve(baseDir, file), file);
  const exclude = new Set([split.method === 'file' ? split.rowColumn : undefined, ...(spec.data.source === 'csv' && split.method === 'column' ? [spec.data.task, spec.data.target] : [])]);
  const available = table.header.filter((h) => !exclude.has(h));
  const bad = names.filter((n) => !table.header.includes(n));
  if (bad.length)
    throw invalidArgument(
      `${fromFlag ? '--splits' : 'sweep.splits'}: ${bad.map((b) => `"${b}"`).join(', ')} ${bad.length === 1 ? 'is not a column' : 'are not columns'} of ${file}; its split columns are: ${available.slice(0, 20).join(', ')}${available.length > 20 ? ', …' : ''}.`,
    );
}

/** Opens a sweep folder for resuming; refuses when its spec or inputs changed, unless forced. */
export function openSweep(dir: string, force: boolean): SweepPlan {
  const plan = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8')) as SweepPlan;
  const changes: string[] = [];
  const now = fileSha(plan.spec.file);
  if (now === null) changes.push(`the spec file ${plan.spec.file} no longer exists`);
  else if (sha256(readFileSync(plan.spec.file, 'utf8')) !== plan.spec.sha256) changes.push(`the spec file ${plan.spec.file} changed`);
  for (const i of plan.inputs) if (fileSha(i.path) !== i.sha256) changes.push(`the input file ${i.path} changed`);
  if (changes.length && !force) throw resumeRefused(dir, changes);
  return plan;
}

const jobFile = (dir: string, key: string): string => join(dir, 'jobs', `${key}.json`);

/**
 * Runs every job of the plan not done yet, `jobs` at a time, then selects, refits, and summarizes. `plugins` says
 * where the jobs may load plugins from (on resume: the packages installed here).
 */
/** Told after every finished job of a sweep: how many of the sweep's jobs are done, and the job's key. */
export type SweepProgress = (done: number, total: number, key: string) => void;

/**
 * Where a sweep's validation fits run when not on this machine's threads: `run` sends the jobs (in any order, in
 * parallel) and calls `onResult` with each job's result as it comes, exactly as runJob would have returned it.
 */
export interface RemotePool {
  run(jobs: SweepJob[], onResult: (r: JobResult) => void): Promise<void>;
}

export async function executeSweep(dir: string, plan: SweepPlan, jobs: number, log: (line: string) => void, plugins: PluginLoading = {}, progress?: SweepProgress, remote?: RemotePool): Promise<SweepSummary> {
  const release = acquireLock(dir);
  const threads = jobs > 1 ? new JobThreads(jobs) : undefined; // (started on first use: with --executor only the refits run here)
  try {
    mkdirSync(join(dir, 'jobs'), { recursive: true });
    const specText = readFileSync(join(dir, 'spec.source.yaml'), 'utf8');
    // where the plugins come from is checked once, before any job (a refused plugin is not a failed candidate)
    await loadPipeline(plan.spec.file, builtinPlugins, { set: plan.set, backend: plan.backend }, { text: specText, baseDir: plan.baseDir }, { ...plugins, import: false });
    const cacheDir = plan.cache ? join(resolve(dir, '..'), '.cache') : null;
    const splitSet = (s: string | null): string[] => (s ? [`split.column=${s}`] : []);
    const base = (s: string | null, extra: string[]): Omit<SweepJob, 'key'> => ({
      file: plan.spec.file,
      baseDir: plan.baseDir,
      text: specText,
      set: [...plan.set, ...splitSet(s), 'output.write=false', ...extra],
      ...(plan.backend ? { backend: plan.backend } : {}),
      cacheDir,
      plugins,
    });
    const label = (s: string | null): string => s ?? 'split';
    const baselines = `evaluate.baselines=${(plan.sweep.model ?? 'shared') !== 'shared'}`;
    // a validation fit is scored on its final weights only: no per-round test metrics (the objective, which the
    // convergence test needs, is still computed every round)
    const perRound = 'evaluate.everyRound=false';
    const jobOf = (s: string | null, c: Candidate, rung?: number): SweepJob => ({
      key: rung === undefined ? `${label(s)}-c${c.id}` : `${label(s)}-r${rung}-c${c.id}`,
      ...base(s, [...c.set, ...(rung === undefined ? [] : [`${plan.sweep.budget!.path}=${plan.rungs![rung]}`]), baselines, perRound]),
      validation: plan.sweep.validationFraction,
    });
    const done = (key: string): JobResult | undefined => (existsSync(jobFile(dir, key)) ? (JSON.parse(readFileSync(jobFile(dir, key), 'utf8')) as JobResult) : undefined);
    const record = (r: JobResult): void => writeFileAtomic(jobFile(dir, r.key), JSON.stringify(r, null, 1) + '\n');
    // a candidate whose run failed, or whose score is not a finite number, is failed and never chosen
    const failure = (r: JobResult): string | undefined => {
      if (!r.ok) return `${r.error.code}: ${r.error.message}`;
      const v = score(r, plan.metric, plan.sweep.model);
      if (Number.isFinite(v)) return undefined;
      const why = r.undefinedMetrics?.[plan.sweep.model ?? 'shared']?.[plan.metric];
      return `its validation ${plan.metric} is ${why ? `undefined: ${why}` : 'not a finite number'}`;
    };
    const scoreOf = (r: JobResult): number => (failure(r) === undefined ? score(r, plan.metric, plan.sweep.model) : NaN);
    const rungCount = plan.rungs?.length ?? 0;
    // grid and random: one job per (split, candidate); halving: the candidates of each rung, known once the rung before is done
    let total = (rungCount ? plan.candidates.length : plan.splits.length * plan.candidates.length) + plan.splits.length;
    let finished = 0;
    const tick = (key: string): void => progress?.(++finished, total, key);
    const run = async (jobsToRun: SweepJob[]): Promise<void> => {
      finished += jobsToRun.filter((j) => done(j.key)).length;
      const todo = jobsToRun.filter((j) => !done(j.key));
      const onResult = (r: JobResult): void => {
        if (done(r.key)) return; // a duplicate delivery: the first result stands
        record(r);
        tick(r.key);
        log(`  ${r.key}: ${r.ok ? `${plan.metric} ${score(r, plan.metric, plan.sweep.model).toPrecision(6)}` : `failed (${r.error.code})`}`);
      };
      await (remote ? remote.run(todo, onResult) : runPool(todo, threads, onResult));
    };
    /** Per split: the job key that scores each candidate (its last rung), and each rung's scores. */
    const lastKey = plan.splits.map(() => new Map<number, string>());
    const rungScores: { budget: number; scores: Record<number, number | null> }[][] = plan.splits.map(() => []);
    if (!rungCount) {
      await run(plan.splits.flatMap((s) => plan.candidates.map((c) => jobOf(s, c))));
      plan.splits.forEach((s, i) => plan.candidates.forEach((c) => lastKey[i]!.set(c.id, `${label(s)}-c${c.id}`)));
    } else {
      const eta = plan.sweep.budget!.eta ?? 2;
      let alive = plan.splits.map(() => [...plan.candidates]);
      for (let r = 0; r < rungCount; r++) {
        await run(plan.splits.flatMap((s, i) => alive[i]!.map((c) => jobOf(s, c, r))));
        alive = plan.splits.map((s, i) => {
          const scored = alive[i]!.map((c) => ({ c, v: scoreOf(done(`${label(s)}-r${r}-c${c.id}`)!) }));
          for (const { c } of scored) lastKey[i]!.set(c.id, `${label(s)}-r${r}-c${c.id}`);
          rungScores[i]!.push({ budget: plan.rungs![r]!, scores: Object.fromEntries(scored.map(({ c, v }) => [c.id, Number.isFinite(v) ? v : null])) });
          // the best 1/eta go on (at least one); a failed candidate never does
          const ok = scored.filter(({ v }) => Number.isFinite(v)).sort((a, b) => (plan.larger ? b.v - a.v : a.v - b.v) || a.c.id - b.c.id);
          return r === rungCount - 1 ? ok.map(({ c }) => c) : ok.slice(0, Math.max(1, Math.ceil(ok.length / eta))).map(({ c }) => c);
        });
        if (r < rungCount - 1) total = finished + alive.reduce((n, a) => n + a.length, 0) + plan.splits.length;
      }
    }
    const chosen = plan.splits.map((s, i) => {
      const results = plan.candidates.map((c) => done(lastKey[i]!.get(c.id)!)!);
      const reasons = results.map(failure);
      if (reasons.every((x) => x !== undefined))
        throw new WeightshareError(
          ErrorCode.DATA_INVALID,
          `every candidate of ${label(s)} failed, so none can be chosen. Fix the cause below, or change the grid.`,
          { problems: reasons.map((why, k) => ({ message: `candidate ${plan.candidates[k]!.id} (${plan.candidates[k]!.set.join(', ')}): ${why}` })).slice(0, 20) },
        );
      // halving: only the candidates of the last rung compete (the others were scored with less budget)
      const last = rungCount ? new Set(Object.keys(rungScores[i]!.at(-1)!.scores).map(Number)) : undefined;
      const scores = results.map((r, k) => (reasons[k] === undefined && (!last || last.has(plan.candidates[k]!.id)) ? score(r, plan.metric, plan.sweep.model) : NaN));
      return selectBest(scores, plan.larger);
    });
    const refits: SweepJob[] = plan.splits.map((s, i) => ({ key: `${label(s)}-refit`, ...base(s, [...plan.candidates[chosen[i]!]!.set, ...(rungCount ? [`${plan.sweep.budget!.path}=${plan.rungs!.at(-1)}`] : [])]), runOut: join(resolve(dir), 'refits', label(s)) }));
    finished += refits.filter((j) => done(j.key)).length;
    await runPool(refits.filter((j) => !done(j.key)), threads, (r) => {
      record(r);
      tick(r.key);
      log(`  ${r.key}: ${r.ok ? `test ${plan.metric} ${score(r, plan.metric).toPrecision(6)}` : `failed (${r.error.code}: ${r.error.message})`}`);
    });
    const splits: SweepSummary['splits'] = plan.splits.map((s, i) => {
      const refit = done(`${label(s)}-refit`)!;
      if (!refit.ok) throw new WeightshareError(ErrorCode.DATA_INVALID, `the refit of the chosen candidate on ${label(s)} failed: ${refit.error.message}`);
      return {
        split: s,
        candidates: plan.candidates.map((c) => {
          const key = lastKey[i]!.get(c.id)!;
          const r = done(key)!;
          const why = failure(r);
          const rung = rungCount ? Number(/-r(\d+)-c/.exec(key)![1]) : undefined;
          return { id: c.id, params: c.params, validation: why === undefined ? score(r, plan.metric, plan.sweep.model) : null, ...(why === undefined ? {} : { error: why }), ...(rung === undefined ? {} : { rung }) };
        }),
        chosen: chosen[i]!,
        ...(rungCount ? { rungs: rungScores[i]! } : {}),
        test: refit.models,
        ...(refit.runDir ? { run: relative(resolve(dir), refit.runDir) } : {}),
      };
    });
    const summary: SweepSummary = { name: plan.name, metric: plan.metric, model: plan.sweep.model ?? 'shared', splits, summary: summarize(splits.map((s) => ({ models: s.test }))) };
    writeFileAtomic(join(dir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    writeFileAtomic(join(dir, 'summary.md'), formatSweep(summary));
    return summary;
  } finally {
    await threads?.close();
    release();
  }
}

/** A job's score, or NaN when it failed or the metric is missing or not a finite number (null in JSON). */
function score(r: JobResult, metric: string, model: string = 'shared'): number {
  if (!r.ok) return NaN;
  const v = (r.models[model] as unknown as Record<string, unknown> | undefined)?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
}

/** The outer split a job works on (its `split.column` assignment), or '' without one. */
const splitOfJob = (job: SweepJob): string => job.set.findLast((a) => a.startsWith('split.column='))?.slice(13) ?? '';

/**
 * The worker threads of one sweep, kept from its validation fits to its refits: each thread loads the framework,
 * compiles its hot code and prepares a split's rows once, not once per phase. A thread that becomes free takes the
 * next job of the split it worked on last when one is left (its prepared rows are in its memory), else the first job
 * of a split no other thread is on, else the first job: every split's rows are prepared by as few threads as the
 * queue allows. (Threads of one process share its page tables, and first touches of memory from two threads at once
 * cost several times more than from one on some machines: bench/RESULTS.md, "End to end".)
 */
class JobThreads {
  private readonly workers: { w: Worker; split: string | undefined }[] = [];
  constructor(private readonly n: number) {}

  async run(jobs: SweepJob[], onResult: (r: JobResult) => void): Promise<void> {
    while (this.workers.length < Math.min(this.n, jobs.length)) this.workers.push({ w: new Worker(new URL('./sweep-worker.js', import.meta.url)), split: undefined });
    const queue = [...jobs];
    const busy = new Set<string>();
    const take = (last: string | undefined): SweepJob | undefined => {
      let k = last === undefined ? -1 : queue.findIndex((j) => splitOfJob(j) === last);
      if (k < 0) k = queue.findIndex((j) => !busy.has(splitOfJob(j)));
      if (k < 0) k = queue.length ? 0 : -1;
      return k < 0 ? undefined : queue.splice(k, 1)[0];
    };
    await Promise.all(
      this.workers.map(
        (t) =>
          new Promise<void>((resolveWorker, reject) => {
            const stop = (): void => {
              t.w.off('message', onMessage);
              t.w.off('error', onError);
            };
            const next = (): void => {
              if (t.split !== undefined) busy.delete(t.split);
              const job = take(t.split);
              if (!job) {
                stop();
                return resolveWorker();
              }
              t.split = splitOfJob(job);
              busy.add(t.split);
              t.w.postMessage(job);
            };
            const onMessage = (r: JobResult): void => {
              if (!r.ok && r.error.code === 'INTERNAL') {
                stop();
                return reject(new Error(r.error.message));
              }
              onResult(r);
              next();
            };
            const onError = (e: Error): void => {
              stop();
              reject(e);
            };
            t.w.on('message', onMessage);
            t.w.on('error', onError);
            next();
          }),
      ),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(({ w }) => w.terminate()));
  }
}

/** Runs jobs on the sweep's worker threads (in this thread when there are none); `onResult` sees results as they come. */
async function runPool(jobs: SweepJob[], threads: JobThreads | undefined, onResult: (r: JobResult) => void): Promise<void> {
  if (!jobs.length) return;
  if (!threads) {
    for (const j of jobs) onResult(await runJob(j));
    return;
  }
  await threads.run(jobs, onResult);
}

const fmt = (m: { mean: number; std: number }, digits = 4): string => `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;

/** The sweep as Markdown: a table per split (candidates, validation score, chosen) and mean ± std over splits. */
export function formatSweep(s: SweepSummary): string {
  const out: string[] = [
    `# Sweep: ${s.name}`,
    '',
    `Selection by the validation ${s.metric} of the ${s.model} model on a held-out part of each split's training rows; the chosen candidate is refit on all training rows and tested once.`,
    '',
  ];
  const shared = s.splits[0]?.test.shared ?? {};
  const metrics = 'r2' in shared ? ['r2', 'explainedVariance', 'r2TaskWeighted', 'mse', 'rmse', 'mae'] : Object.keys(shared);
  out.push(`## Test, over ${s.splits.length} split${s.splits.length === 1 ? '' : 's'} (mean ± std)`, '', `| model | ${metrics.join(' | ')} |`, `|---|${metrics.map(() => '---|').join('')}`);
  for (const [model, m] of Object.entries(s.summary)) out.push(`| ${model} | ${metrics.map((k) => fmt(m[k]!)).join(' | ')} |`);
  for (const sp of s.splits) {
    const keys = Object.keys(sp.candidates[0]!.params);
    out.push('', `## ${sp.split ?? 'split'}`, '', `| candidate | ${keys.join(' | ')} | validation ${s.metric} | |`, `|---|${keys.map(() => '---|').join('')}---|---|`);
    const rungNote = (c: SweepSummary['splits'][number]['candidates'][number]): string => (sp.rungs && c.rung !== undefined ? ` (budget ${sp.rungs[c.rung]!.budget})` : '');
    for (const c of sp.candidates)
      out.push(`| ${c.id} | ${keys.map((k) => JSON.stringify(c.params[k])).join(' | ')} | ${c.validation === null ? `failed: ${c.error}` : c.validation.toPrecision(6)}${rungNote(c)} | ${c.id === sp.chosen ? 'chosen' : ''} |`);
    if (sp.rungs) out.push('', `successive halving: ${sp.rungs.map((r) => `${Object.keys(r.scores).length} candidate${Object.keys(r.scores).length === 1 ? '' : 's'} at budget ${r.budget}`).join(', ')}; ${sp.rungs.reduce((n, r) => n + Object.keys(r.scores).length, 0)} fits in all.`);
    out.push('', `test (${s.model}): ${metrics.map((k) => `${k} ${((sp.test[s.model] as unknown as Record<string, number>)[k] ?? NaN).toFixed(4)}`).join(', ')}`);
  }
  return out.join('\n') + '\n';
}

/** Whether a folder is a sweep folder. */
export const isSweepDir = (dir: string): boolean => existsSync(join(dir, 'sweep.json'));

/** Default worker count: the machine's cores. */
export const defaultJobs = (): number => availableParallelism();

/** Sweep folders under a runs folder (for tests and listings). */
export const listSweeps = (root: string): string[] => (existsSync(root) ? readdirSync(root).filter((n) => isSweepDir(join(root, n))) : []);

/** The run folder of a sweep's chosen refit on `split` (the only split when there is one). */
export function sweepRefit(sweep: string, split: string | undefined): string {
  const file = join(sweep, 'summary.json');
  if (!existsSync(file)) throw invalidArgument(`sweep ${sweep} has not finished, so it has no chosen models yet; resume it with weightshare resume ${sweep}.`);
  const summary = JSON.parse(readFileSync(file, 'utf8')) as { splits: { split: string | null; run?: string }[] };
  const names = summary.splits.map((s) => s.split ?? 'split');
  const pick = split === undefined && summary.splits.length === 1 ? summary.splits[0] : summary.splits.find((s) => (s.split ?? 'split') === split);
  if (!pick) throw invalidArgument(`${split === undefined ? 'the sweep has several outer splits: give --split' : `--split ${split}: not an outer split of the sweep`}; its splits are ${names.join(', ')}.`);
  if (!pick.run) throw invalidArgument(`sweep ${sweep} was made by a weightshare that did not keep the refit's run folder; run the sweep again to get models.`);
  return join(sweep, pick.run);
}
