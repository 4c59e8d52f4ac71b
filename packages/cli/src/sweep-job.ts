/** One job of a sweep — a candidate on a validation split, or the refit of the chosen one — run in any thread. */
import { asWeightshareError, CacheStore, loadPipeline, nullStore, RunFolder, runPipeline, STAGE_NAMES, type Metrics, type PluginLoading } from '@weightshare/framework';
import { builtinPlugins, loadBuiltins } from './plugins.js';

export interface SweepJob {
  key: string;
  file: string;
  baseDir?: string;
  text?: string;
  set: string[];
  backend?: string;
  /** Validation fraction; absent for the refit on all training rows. */
  validation?: number;
  cacheDir: string | null;
  /** The refit: the folder its run folder is written in (a normal run folder, with model/). */
  runOut?: string;
  /** Where the job may load the spec's plugins from. */
  plugins?: PluginLoading;
  /**
   * On a remote worker: the plugin versions the coordinator has (name → version). A job whose stages resolve to a
   * plugin of another version, or whose spec this worker cannot load, is refused (`refused: true`), not failed.
   */
  versions?: Record<string, string>;
}

export type JobResult =
  | { key: string; ok: true; models: Record<string, Metrics>; undefinedMetrics?: Record<string, Record<string, string>>; objective: number; rounds: number; cachedStages: number; runDir?: string }
  | { key: string; ok: false; error: { code: string; message: string }; refused?: true };

/** Errors that, on a worker, mean the worker differs from the coordinator (which validated every candidate). */
const REFUSING = new Set(['PLUGIN_NOT_FOUND', 'PLUGIN_REFUSED', 'PLUGIN_INVALID', 'STAGE_NOT_FOUND', 'SPEC_INVALID', 'SPEC_YAML', 'SPEC_EMPTY', 'FILE_NOT_FOUND']);

/** The stages that sweep candidates share and that are worth caching. */
const SHARED = new Set(['init', 'relation', 'baselines']);

export async function runJob(job: SweepJob): Promise<JobResult> {
  await loadBuiltins(); // in a worker thread, the first job loads them
  try {
    const overrides = { set: job.runOut ? [...job.set, 'output.write=true', `output.dir=${JSON.stringify(job.runOut)}`] : job.set, backend: job.backend };
    let loadedPipeline;
    try {
      loadedPipeline = await loadPipeline(job.file, builtinPlugins, overrides, { text: job.text, baseDir: job.baseDir }, job.plugins);
    } catch (e) {
      const err = asWeightshareError(e);
      if (job.versions && err && REFUSING.has(err.code)) return { key: job.key, ok: false, error: { code: err.code, message: `this worker cannot load the job's spec: ${err.message}` }, refused: true };
      throw e;
    }
    const { loaded, registry } = loadedPipeline;
    if (job.versions) {
      const spec = loaded.spec;
      for (const stage of STAGE_NAMES) {
        const m = registry.get(spec.stages[stage].backend ?? spec.backend, stage, spec.stages[stage].method);
        const want = job.versions[m.plugin.meta.name];
        if (want !== m.plugin.meta.version)
          return { key: job.key, ok: false, error: { code: 'PLUGIN_NOT_FOUND', message: `its ${stage} stage (${spec.stages[stage].method}) needs ${m.plugin.meta.name} ${want ?? '(not on the coordinator)'}; this worker has ${m.plugin.meta.name} ${m.plugin.meta.version}` }, refused: true };
      }
    }
    const run = job.runOut ? RunFolder.create(job.runOut, loaded, registry, overrides) : undefined;
    const store = run ? run.store(job.cacheDir, undefined, (id) => SHARED.has(id)) : job.cacheDir ? new CacheStore(job.cacheDir, (id) => SHARED.has(id)) : nullStore;
    let out;
    try {
      out = await runPipeline(loaded, registry, { store, ...(job.validation ? { validation: { fraction: job.validation } } : {}) });
      run?.complete(out, store as ReturnType<RunFolder['store']>);
    } catch (e) {
      run?.fail(e);
      throw e;
    } finally {
      run?.unlock();
    }
    const last = out.results.rounds[out.results.rounds.length - 1]!;
    return {
      key: job.key,
      ok: true,
      models: out.results.models as Record<string, Metrics>,
      ...(out.results.undefinedMetrics ? { undefinedMetrics: out.results.undefinedMetrics as Record<string, Record<string, string>> } : {}),
      objective: last.objective!.total, // the last round always records it
      rounds: out.results.rounds.length,
      cachedStages: Object.values(out.sources).filter((s) => s === 'cached').length,
      ...(run ? { runDir: run.dir } : {}),
    };
  } catch (e) {
    const err = asWeightshareError(e);
    if (err?.isUserError) return { key: job.key, ok: false, error: { code: err.code, message: err.message } };
    throw e;
  }
}
