/** One job of a sweep — a candidate on a validation split, or the refit of the chosen one — run in any thread. */
import { asWeightshareError, CacheStore, loadPipeline, nullStore, RunFolder, runPipeline, type Metrics, type PluginLoading } from '@weightshare/framework';
import { builtinPlugins } from './plugins.js';

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
}

export type JobResult =
  | { key: string; ok: true; models: Record<string, Metrics>; undefinedMetrics?: Record<string, Record<string, string>>; objective: number; cachedStages: number; runDir?: string }
  | { key: string; ok: false; error: { code: string; message: string } };

/** The stages that sweep candidates share and that are worth caching. */
const SHARED = new Set(['init', 'relation', 'baselines']);

export async function runJob(job: SweepJob): Promise<JobResult> {
  try {
    const overrides = { set: job.runOut ? [...job.set, 'output.write=true', `output.dir=${JSON.stringify(job.runOut)}`] : job.set, backend: job.backend };
    const { loaded, registry } = await loadPipeline(job.file, builtinPlugins, overrides, { text: job.text, baseDir: job.baseDir }, job.plugins);
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
      cachedStages: Object.values(out.sources).filter((s) => s === 'cached').length,
      ...(run ? { runDir: run.dir } : {}),
    };
  } catch (e) {
    const err = asWeightshareError(e);
    if (err?.isUserError) return { key: job.key, ok: false, error: { code: err.code, message: err.message } };
    throw e;
  }
}
