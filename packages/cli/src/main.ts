/**
 * The `weightshare` command line. `main` returns the exit code: 0 on success, 2 for a user mistake (spec, flag,
 * data), 1 for an internal error. User mistakes print one paragraph and no stack trace.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type * as Framework from '@weightshare/framework';
import type { LoadedPipeline, LoadedSpec, PluginLoading, PluginRegistry, ResolvedSpec, RunFolder, RunOutcome } from '@weightshare/framework';
// errors only, at start-up: the framework itself, the built-in plugins and the commands' modules load before an action
// runs (not for --help or a usage error), in the preAction hook below
import { asWeightshareError, fileNotFound, formatError, internalError, invalidArgument, resumeRefused } from '@weightshare/framework/errors';
import type { RemotePool, SweepPlan } from './sweep.js';
import { builtinPlugins, loadBuiltins } from './plugins.js';
import { registerPredict } from './predict.js';

/** The framework and the commands' modules, once an action is about to run. */
let fw: typeof Framework;
let cli: {
  format: typeof import('./format.js');
  progress: typeof import('./progress.js');
  runs: typeof import('./runs.js');
  report: typeof import('./report.js');
  compare: typeof import('./compare.js');
  sweep: typeof import('./sweep.js');
};
async function loadModules(): Promise<void> {
  const [framework, format, progress, runs, report, compare, sweep] = await Promise.all([
    import('@weightshare/framework'),
    import('./format.js'),
    import('./progress.js'),
    import('./runs.js'),
    import('./report.js'),
    import('./compare.js'),
    import('./sweep.js'),
    loadBuiltins(),
  ]);
  fw = framework;
  cli = { format, progress, runs, report, compare, sweep };
}

export { builtinPlugins, loadBuiltins };

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

interface ExecOptions {
  json?: boolean;
  progress?: boolean;
  cache: boolean;
  /** The stage cache (default: `.cache` in the spec's output.dir). */
  cacheDir?: string;
  threads?: number;
  /** Per-task work on workers through Redis (`--executor`). */
  executor?: string;
  queue?: string;
  shards?: number;
}

/** Runs a loaded spec, into `run` when given (checkpointed, cached), and prints the outcome. */
async function execute(io: Io, loaded: LoadedSpec, registry: PluginRegistry, run: RunFolder | undefined, opts: ExecOptions): Promise<void> {
  const progress = cli.progress.terminalProgress(io.stderr, Boolean(opts.progress));
  const cacheDir = opts.cache ? (opts.cacheDir ?? join(loaded.spec.output.dir, '.cache')) : null;
  // every place the run writes, said before it starts (a spec from someone else chooses output.dir)
  if (run) io.stderr.write(`writing ${resolve(run.dir)}${cacheDir ? ` and the stage cache ${resolve(cacheDir)}` : ''}\n`);
  const store = run ? run.store(cacheDir, (m) => io.stderr.write(`warning: ${m}\n`)) : fw.nullStore;
  const started = performance.now();
  const threads = (opts.threads ?? 1) > 1 ? new fw.WorkerExecutor(opts.threads, (done, total) => progress.tasks(done, total)) : undefined;
  let remote: import('./redis-run.js').RedisTaskExecutor | undefined;
  if (opts.executor !== undefined) {
    const { dataRefOf, RedisTaskExecutor } = await import('./redis-run.js');
    const shaOf = (f: string): string | null => (existsSync(f) && statSync(f).isFile() ? createHash('sha256').update(readFileSync(f)).digest('hex') : null);
    const local = threads ?? new fw.InProcessExecutor((done, total) => progress.tasks(done, total));
    remote = await RedisTaskExecutor.open(opts.executor, opts.queue ?? 'weightshare', dataRefOf(loaded, shaOf), opts.shards ?? 2, local, (l) => io.stderr.write(l + '\n'));
  }
  const executor = remote ?? threads;
  let outcome: RunOutcome;
  try {
    outcome = await fw.runPipeline(loaded, registry, { progress, store, ...(executor ? { executor } : {}) });
    if (run) run.complete(outcome, store as ReturnType<RunFolder['store']>);
  } catch (e) {
    run?.fail(e);
    throw e;
  } finally {
    run?.unlock();
    await remote?.close();
    await threads?.close();
  }
  if (remote) {
    const st = remote.stats;
    const mib = (b: number): string => (b / 1048576).toFixed(2);
    io.stderr.write(`per-task work through Redis: ${st.jobs} jobs for ${st.calls} calls (${mib(st.sent)} MiB sent, ${mib(st.received)} MiB received); ${st.local} calls ran here (work that names no task of the run)\n`);
  }
  if (opts.json) io.stdout.write(JSON.stringify({ outputDir: run?.dir ?? null, ...outcome.results }, null, 2) + '\n');
  else io.stdout.write(cli.format.formatSummary(outcome, run?.dir) + `\n  took ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code = 0;
  const program = new Command()
    .name('weightshare')
    .description('Multi-task learning by weight sharing: run YAML pipeline specs (propagate → fuse → optimize).')
    .version(cliVersion(), '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`${s.trimEnd()}\nRun "weightshare --help" for usage.\n`),
    });
  // --use choices travel with the --set assignments (run folders, sweep jobs), first, as the spec's uses would
  // the built-in plugins load before any action (not for --help or a usage error)
  program.hook('preAction', () => loadModules());
  program.hook('preAction', (_, action) => {
    const o = action.opts() as { use?: string[]; set?: string[] };
    if (o.use?.length) action.setOptionValue('set', [...o.use, ...(o.set ?? [])]);
  });

  const allowOption = (cmd: Command): Command =>
    cmd.addOption(new Option('--allow-plugin-path <dir>', 'also load plugin files from this folder (repeatable; by default only from the spec\'s folder tree and installed packages)').default([]).argParser(collect));
  /** A thread count, bounded by the machine's cores (the results are the same bytes for any number). */
  const threadCount = (v: string, flag: string): number => {
    const n = positiveInt(v, flag);
    const cores = availableParallelism();
    if (n <= cores) return n;
    io.stderr.write(`warning: ${flag} ${v}: this machine runs ${cores} threads at once; using ${cores}.\n`);
    return cores;
  };

  /** `group=choice` of a --use flag, checked. */
  const useChoice = (v: string): string => {
    if (!/^[^=.\s]+=[^=\s]+$/.test(v)) throw invalidArgument(`--use ${v}: expected group=choice, e.g. --use optimize=adam for conf/optimize/adam.yaml next to the spec.`);
    return v;
  };
  const specOptions = (cmd: Command): Command =>
    allowOption(cmd)
      .addOption(new Option('--backend <name>', 'run every stage on this backend (overrides the spec)'))
      .addOption(new Option('--set <path=value>', 'override a spec value, e.g. --set stages.optimize.lambda=0.5 (repeatable)').default([]).argParser(collect))
      // --use group=choice is the assignment uses.group=choice, applied before the spec is composed
      .addOption(new Option('--use <group=choice>', "choose conf/<group>/<choice>.yaml (next to the spec) for a config group, overriding the spec's uses (repeatable)").default([]).argParser((v: string, prev: string[]) => collect(`uses.${useChoice(v)}`, prev)));

  specOptions(program.command('run').description('run a pipeline spec into a new run folder').argument('<spec>', 'pipeline spec (YAML)'))
    .option('--json', 'print the results as JSON on stdout instead of the summary')
    .option('--progress', 'print one line per phase on stderr (default: a progress bar on terminals)')
    .option('--out <dir>', 'folder for run outputs (overrides output.dir)')
    .option('--no-cache', 'compute every stage: neither use nor fill the stage cache')
    .option('--threads <n>', 'worker threads for per-task work (results are the same bytes for any number)', (v) => threadCount(v, '--threads'))
    .option('--report', 'also write report.html (an HTML report with charts) into the run folder at the end')
    .option('--executor <url>', "send the per-task work of each round to `weightshare worker` processes through Redis (redis://host:port; see docs/distributed.md)")
    .option('--queue <name>', 'the queue the workers take jobs from (with --executor)', queueName, 'weightshare')
    .option('--shards <n>', 'jobs per call of per-task work, each a contiguous shard of the tasks (with --executor; default 2)', (v) => positiveInt(v, '--shards'))
    .action(async (file: string, opts: { backend?: string; set: string[]; allowPluginPath: string[]; json?: boolean; progress?: boolean; out?: string; cache: boolean; threads?: number; report?: boolean; executor?: string; queue: string; shards?: number }) => {
      if (opts.shards !== undefined && opts.executor === undefined) throw invalidArgument('--shards splits the per-task work into jobs for --executor; give --executor redis://… too, or leave --shards out.');
      if (opts.executor !== undefined) await checkExecutor(opts.executor); // before the run folder is made
      const set = opts.out !== undefined ? [...opts.set, `output.dir=${JSON.stringify(opts.out)}`] : opts.set;
      const overrides = { set, backend: opts.backend };
      const { loaded, registry } = await fw.loadPipeline(file, builtinPlugins, overrides, {}, { allow: allowedFolders(opts.allowPluginPath) });
      const run = loaded.spec.output.write ? fw.RunFolder.create(loaded.spec.output.dir, loaded, registry, overrides) : undefined;
      if (opts.report && !run) throw invalidArgument('--report writes report.html into the run folder, but this spec has output.write: false; remove one of the two.');
      const stop = run ? onInterrupt(io, run.dir, () => run.unlock()) : undefined;
      await execute(io, loaded, registry, run, opts).finally(stop);
      if (opts.report && run) io.stderr.write(`report → ${(await cli.report.writeReport(run.dir)).file}\n`);
    });

  allowOption(program.command('resume'))
    .description('continue an interrupted or failed run from its last completed stage')
    .argument('<run>', 'run folder, or run id under --dir')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--force', 'resume even if the spec, a data file or a plugin version changed (changed stages are recomputed)')
    .option('--json', 'print the results as JSON')
    .option('--progress', 'print one line per phase on stderr')
    .option('--no-cache', 'do not use the stage cache')
    .option('--jobs <n>', 'worker threads for a sweep folder', (v) => threadCount(v, '--jobs'))
    .option('--threads <n>', 'worker threads for per-task work of a run', (v) => threadCount(v, '--threads'))
    .option('--executor <url>', "a sweep folder's unfinished validation fits, or a run's per-task work, on workers through Redis (see docs/distributed.md)")
    .option('--queue <name>', 'the queue the workers take jobs from (with --executor)', queueName, 'weightshare')
    .option('--shards <n>', "jobs per call of a run's per-task work (with --executor; default 2)", (v) => positiveInt(v, '--shards'))
    .action(async (id: string, opts: { dir: string; force?: boolean; allowPluginPath: string[]; json?: boolean; progress?: boolean; cache: boolean; jobs?: number; threads?: number; executor?: string; queue: string; shards?: number }) => {
      if (opts.shards !== undefined && opts.executor === undefined) throw invalidArgument('--shards splits the per-task work into jobs for --executor; give --executor redis://… too, or leave --shards out.');
      const sweepDir = existsSync(id) ? id : join(opts.dir, id);
      // a run folder may come from someone else: its plugins are the packages installed here, never its paths
      const plugins = { allow: allowedFolders(opts.allowPluginPath), installedFrom: process.cwd() };
      if (cli.sweep.isSweepDir(sweepDir)) {
        if (opts.shards !== undefined) throw invalidArgument(`--shards splits a run's per-task work; ${sweepDir} is a sweep folder, whose jobs are whole fits. Leave --shards out.`);
        const plan = cli.sweep.openSweep(sweepDir, Boolean(opts.force));
        const remote = opts.executor !== undefined ? await remotePool(opts.executor, opts.queue, sweepDir, plan, plugins, (l) => io.stderr.write(l + '\n')) : undefined;
        const stop = onInterrupt(io, sweepDir);
        const bar = opts.progress ? undefined : cli.progress.sweepTerminalProgress(io.stderr);
        const summary = await cli.sweep.executeSweep(sweepDir, plan, opts.jobs ?? cli.sweep.defaultJobs(), (l) => opts.progress && io.stderr.write(l + '\n'), plugins, bar?.job, remote).finally(() => (bar?.end(), stop()));
        io.stdout.write(opts.json ? JSON.stringify(summary, null, 2) + '\n' : cli.sweep.formatSweep(summary) + `\nwritten to ${sweepDir}/\n`);
        return;
      }
      const run = fw.RunFolder.open(id, opts.dir);
      if (opts.executor !== undefined && run.manifest.status !== 'completed') await checkExecutor(opts.executor);
      if (run.manifest.status === 'completed') {
        // nothing to run, but its files must still be what the run wrote
        const { error } = cli.runs.verifyRun(run, false);
        if (error) throw error;
        io.stderr.write(`run ${run.dir} is already complete (its files intact); nothing to resume.\n`);
        return;
      }
      const stop = onInterrupt(io, run.dir, () => run.unlock());
      run.lock();
      try {
        const m = run.manifest;
        const { loaded, registry } = await fw.loadPipeline(m.spec.file, builtinPlugins, {}, { text: run.resolvedSpecText(), baseDir: m.baseDir }, plugins);
        const changes = run.changes(registry);
        if (changes.length && !opts.force) throw resumeRefused(run.dir, changes);
        run.noteResume(changes);
        // a resume writes into the run's folder and the cache next to it, wherever it is started from
        await execute(io, loaded, registry, run, { ...opts, cacheDir: join(dirname(resolve(run.dir)), '.cache') });
      } catch (e) {
        run.unlock();
        throw e;
      } finally {
        stop();
      }
    });

  specOptions(program.command('sweep').description('model selection: score a grid of candidates on validation rows, refit the best, test once (per outer split)').argument('<spec>', 'pipeline spec with a sweep section (or give --param)'))
    .option('--param <path=v1,v2>', 'values to try for a spec path (repeatable; replaces the spec\'s sweep.parameters)', collect, [])
    .option('--splits <names>', 'outer splits: comma-separated values of split.column (replaces sweep.splits)')
    .option('--jobs <n>', 'worker threads (default: the number of cores; 1 runs in this thread)', (v) => threadCount(v, '--jobs'))
    .option('--out <dir>', 'folder for the sweep folder (overrides output.dir)')
    .option('--no-cache', 'do not share stages between candidates through the stage cache')
    .option('--json', 'print the summary as JSON')
    .option('--progress', 'print one line per finished job on stderr')
    .option('--report', 'also write report.html (an HTML report with charts) into the sweep folder at the end')
    .option('--executor <url>', 'run the validation fits on `weightshare worker` processes through Redis (redis://host:port; see docs/distributed.md)')
    .option('--queue <name>', 'the queue the workers take jobs from (with --executor)', queueName, 'weightshare')
    .action(async (file: string, opts: { backend?: string; set: string[]; allowPluginPath: string[]; param: string[]; splits?: string; jobs?: number; out?: string; cache: boolean; json?: boolean; progress?: boolean; report?: boolean; executor?: string; queue: string }) => {
      const started = performance.now();
      const plugins = { allow: allowedFolders(opts.allowPluginPath) };
      if (opts.executor !== undefined) await checkExecutor(opts.executor); // before the sweep folder is made
      const { plan, dir } = await cli.sweep.planSweep(file, {
        set: opts.set,
        backend: opts.backend,
        params: opts.param.map(fw.parseParamFlag),
        splits: opts.splits?.split(',').map((x) => x.trim()).filter(Boolean),
        cache: opts.cache,
        out: opts.out,
        plugins,
      });
      io.stderr.write(`writing ${resolve(dir)}${plan.cache ? ` and the stage cache ${resolve(dir, '..', '.cache')}` : ''}\n`);
      const remote = opts.executor !== undefined ? await remotePool(opts.executor, opts.queue, dir, plan, plugins, (l) => io.stderr.write(l + '\n')) : undefined;
      const stop = onInterrupt(io, dir);
      const bar = opts.progress ? undefined : cli.progress.sweepTerminalProgress(io.stderr);
      const summary = await cli.sweep.executeSweep(dir, plan, opts.jobs ?? cli.sweep.defaultJobs(), (l) => opts.progress && io.stderr.write(l + '\n'), plugins, bar?.job, remote).finally(() => (bar?.end(), stop()));
      io.stdout.write(
        opts.json
          ? JSON.stringify({ sweepDir: dir, ...summary }, null, 2) + '\n'
          : cli.sweep.formatSweep(summary) + `\nwritten to ${dir}/ (summary.md, summary.json, jobs/); took ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
      if (opts.report) io.stderr.write(`report → ${(await cli.report.writeReport(dir)).file}\n`);
    });

  allowOption(program.command('worker'))
    .description('take sweep jobs from a Redis queue until stopped (SIGTERM or Ctrl-C: finish the jobs in hand, exit 0); see docs/distributed.md')
    .requiredOption('--redis <url>', 'the Redis server of the queue: redis://[user:password@]host:port[/db], or rediss://… for TLS')
    .option('--concurrency <n>', 'jobs at a time, each in its own thread (default: the number of cores)', (v) => threadCount(v, '--concurrency'))
    .option('--queue <name>', 'the queue to take jobs from', queueName, 'weightshare')
    .option('--data-root <dir>', 'the folder here that is the coordinator\'s spec folder (when shared storage is mounted elsewhere)')
    .option('--cache-dir <dir>', 'a stage cache for this worker (default: none)')
    .option('--stall-ms <ms>', 'a job whose worker went silent this long goes to another worker (at least 1000)', (v) => atLeast(positiveInt(v, '--stall-ms'), 1000, '--stall-ms'), 30000)
    .action(async (opts: { redis: string; concurrency?: number; queue: string; dataRoot?: string; cacheDir?: string; stallMs: number; allowPluginPath: string[] }) => {
      const { runWorker } = await import('./redis.js');
      if (opts.dataRoot && !existsSync(opts.dataRoot)) throw invalidArgument(`--data-root ${opts.dataRoot} does not exist; give the folder on this machine that holds the coordinator's spec folder (its data files at the same relative paths).`);
      await runWorker({ redis: opts.redis, queue: opts.queue, concurrency: opts.concurrency ?? cli.sweep.defaultJobs(), dataRoot: opts.dataRoot, cacheDir: opts.cacheDir, stallMs: opts.stallMs, plugins: { allow: allowedFolders(opts.allowPluginPath), installedFrom: process.cwd() }, log: (l) => io.stderr.write(l + '\n') });
    });

  program
    .command('report')
    .description('write one self-contained HTML page (static SVG charts, nothing fetched) about a completed run or a finished sweep')
    .argument('<run>', 'run or sweep folder, or its id under --dir')
    .option('--out <file>', 'where to write the page (default: report.html in the folder)')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--json', 'print what was written (file, bytes, charts and their marks) as JSON')
    .action(async (id: string, opts: { out?: string; dir: string; json?: boolean }) => {
      const started = performance.now();
      if (opts.out !== undefined) checkOutFolder(opts.out, '--out');
      const w = await cli.report.writeReport(id, opts.out, opts.dir);
      io.stdout.write(opts.json ? JSON.stringify(w) + '\n' : `${w.kind} report → ${w.file} (${(w.bytes / 1024).toFixed(0)} KiB, ${w.charts.length} charts; took ${((performance.now() - started) / 1000).toFixed(2)} s)\n`);
    });

  registerPredict(program, io);

  const runs = program.command('runs').description('list, inspect, compare and export runs');
  runs
    .command('ls')
    .description('list runs: id, name, status, backend, key metric, start time')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--json', 'as JSON')
    .action((opts: { dir: string; json?: boolean }) => {
      io.stdout.write(cli.runs.listRunsTable(opts.dir, Boolean(opts.json)));
    });
  runs
    .command('show')
    .description('a run\'s (or a sweep\'s) manifest, parameters and results')
    .argument('<run>', 'run or sweep folder, or its id under --dir')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--json', 'as JSON')
    .option('--tasks', 'also the per-task table (test rows, shared vs independent vs pooled)')
    .action((id: string, opts: { dir: string; json?: boolean; tasks?: boolean }) => {
      const sweep = sweepFolder(id, opts.dir);
      io.stdout.write(sweep ? cli.runs.showSweep(sweep, Boolean(opts.json)) : cli.runs.showRun(fw.RunFolder.open(id, opts.dir), Boolean(opts.json), Boolean(opts.tasks)));
    });
  runs
    .command('diff')
    .description('parameters and metrics of two runs side by side (differences only, unless --all)')
    .argument('<a>', 'run folder or id')
    .argument('<b>', 'run folder or id')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--all', 'show equal parameters too')
    .option('--json', 'as JSON (numbers as numbers)')
    .action((a: string, b: string, opts: { dir: string; all?: boolean; json?: boolean }) => {
      const sa = sweepFolder(a, opts.dir);
      const sb = sweepFolder(b, opts.dir);
      if (sa && sb) io.stdout.write(cli.runs.diffSweeps(sa, sb, Boolean(opts.json)));
      else if (sa || sb) throw invalidArgument(`runs diff compares two runs or two sweeps; ${sa ? a : b} is a sweep and ${sa ? b : a} is not. To compare a sweep's chosen model with a run, diff its refit run folder (weightshare runs show ${sa ? a : b}).`);
      else io.stdout.write(cli.runs.diffRuns(fw.RunFolder.open(a, opts.dir), fw.RunFolder.open(b, opts.dir), Boolean(opts.all), Boolean(opts.json)));
    });
  runs
    .command('compare')
    .description('any number of runs and sweeps side by side: differing spec keys, every metric, rounds and time')
    .argument('<runs...>', 'run or sweep folders, or ids under --dir')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--json', 'as JSON (numbers as numbers)')
    .option('--html <file>', 'also write the comparison as an HTML page, with every run\'s objective per round overlaid')
    .action(async (ids: string[], opts: { dir: string; json?: boolean; html?: string }) => {
      if (opts.html) checkOutFolder(opts.html, '--html');
      const c = cli.compare.compareRuns(ids, opts.dir);
      io.stdout.write(opts.json ? cli.compare.compareJson(c) : cli.compare.formatCompare(c));
      if (opts.html) {
        await cli.compare.writeCompareHtml(c, opts.html);
        io.stderr.write(`comparison → ${resolve(opts.html)}\n`);
      }
    });
  runs
    .command('export')
    .description('copy a run\'s final weights (or targets, relation) to a .csv or .npy file')
    .argument('<run>', 'run folder, or run id under --dir')
    .requiredOption('--out <file>', 'destination: .csv or .npy')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .addOption(new Option('--what <matrix>', 'which matrix').choices(['weights', 'targets', 'relation']).default('weights'))
    .addOption(new Option('--rows <split>', 'instead of a matrix: the raw data rows of the run\'s test or training split, as CSV (input for weightshare predict)').choices(['test', 'train']))
    .option('--force', 'replace --out if it exists')
    .option('--split <name>', 'for a sweep: the outer split whose chosen refit to export')
    .option('--json', 'print what was written as JSON')
    .action((id: string, opts: { out: string; dir: string; what: string; rows?: 'test' | 'train'; force?: boolean; split?: string; json?: boolean }) => {
      const sweep = sweepFolder(id, opts.dir);
      const run = sweep ? fw.RunFolder.open(cli.sweep.sweepRefit(sweep, opts.split)) : fw.RunFolder.open(id, opts.dir);
      checkOutFolder(opts.out, '--out');
      if (opts.rows) {
        if (existsSync(opts.out) && !opts.force) throw invalidArgument(`--out "${opts.out}" already exists; choose another file, or add --force to replace it.`);
        const { text, rows } = fw.splitRowsCsv(JSON.parse(run.resolvedSpecText()) as ResolvedSpec, run.manifest.baseDir, opts.rows);
        fw.writeFileAtomic(opts.out, text);
        io.stdout.write(opts.json ? JSON.stringify({ run: run.dir, rows: opts.rows, count: rows, out: opts.out }) + '\n' : `${rows} ${opts.rows} rows of ${run.manifest.id} → ${opts.out}\n`);
        return;
      }
      const ext = extname(opts.out).toLowerCase();
      if (existsSync(opts.out) && !opts.force) throw invalidArgument(`--out "${opts.out}" already exists; choose another file, or add --force to replace it.`);
      if (ext !== '.csv' && ext !== '.npy') throw invalidArgument(`--out ${opts.out}: the file must end in .csv or .npy (the format to export).`);
      if (run.manifest.status !== 'completed') throw invalidArgument(`run ${run.dir} is ${run.manifest.status}; only completed runs have final weights (resume it first).`);
      // checked against the manifest: a damaged file is never exported; the relation is stored as .npy only (T×T), its CSV made from it
      fw.writeFileAtomic(opts.out, opts.what === 'relation' && ext === '.csv' ? relationCsv(run) : run.output(`${opts.what}${ext}`));
      io.stdout.write(opts.json ? JSON.stringify({ run: run.dir, what: opts.what, out: opts.out }) + '\n' : `${opts.what} of ${run.manifest.id} → ${opts.out}\n`);
    });

  runs
    .command('verify')
    .description('check every file of a run folder (final outputs, model/, checkpoints) against its recorded SHA-256')
    .argument('<run>', 'run folder, or run id under --dir')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .option('--json', 'as JSON: the intact files and the damaged ones')
    .action((id: string, opts: { dir: string; json?: boolean }) => {
      const { text, error } = cli.runs.verifyRun(fw.RunFolder.open(id, opts.dir), Boolean(opts.json));
      io.stdout.write(text);
      if (error) throw error;
    });
  runs
    .command('rm')
    .description('delete run or sweep folders (refused while a live process holds one)')
    .argument('<run...>', 'run or sweep folders, or their ids under --dir')
    .option('--dir <dir>', 'folder of runs', 'runs')
    .action((ids: string[], opts: { dir: string }) => {
      io.stdout.write(cli.runs.removeRuns(ids, opts.dir));
    });

  program
    .command('cache')
    .description('the shared stage cache (<output.dir>/.cache)')
    .command('prune')
    .description('remove the least recently used stage cache entries until the cache is at most --max-size')
    .option('--max-size <size>', 'size to keep: bytes, or a number with K, M, G or T (powers of 1024)', '1G')
    .option('--dir <dir>', 'folder of runs whose .cache to prune', 'runs')
    .action((opts: { maxSize: string; dir: string }) => {
      const max = parseSize(opts.maxSize);
      const r = fw.pruneCache(join(opts.dir, '.cache'), max);
      io.stdout.write(`${join(opts.dir, '.cache')}: removed ${r.removed.length} entries (${formatBytes(r.before - r.after)}), kept ${r.kept} (${formatBytes(r.after)}; limit ${formatBytes(max)})\n`);
    });

  specOptions(program.command('validate').description('check a spec without running it').argument('<spec>', 'pipeline spec (YAML)'))
    .option('--json', 'print the resolved spec (defaults filled in, extends: composed) as JSON')
    .option('--explain', 'print, for each key written, the file and line (or the flag) that set it; keys not listed have their defaults')
    .option('--no-plugins', 'import none of the spec\'s plugins: check everything else, and say what could not be checked')
    .action(async (file: string, opts: { backend?: string; set: string[]; allowPluginPath: string[]; json?: boolean; explain?: boolean; plugins: boolean }) => {
      const pipeline = await fw.loadPipeline(file, builtinPlugins, { set: opts.set, backend: opts.backend }, {}, { allow: allowedFolders(opts.allowPluginPath), import: opts.plugins });
      const { loaded } = pipeline;
      if (!opts.plugins) io.stderr.write(notImported(pipeline));
      if (opts.json) io.stdout.write(JSON.stringify(loaded.spec, null, 2) + '\n');
      else if (opts.explain) {
        const rows = (loaded.explain?.() ?? []).map(({ path, location: l }) => [path, l.line !== undefined ? `${l.file}:${l.line}:${l.column}` : l.file] as const);
        const width = Math.max(...rows.map(([p]) => p.length), 4);
        io.stdout.write(rows.map(([p, at]) => `${p.padEnd(width)}  ${at}`).join('\n') + '\n');
      } else {
        const s = loaded.spec;
        io.stdout.write(
          `${file}: valid${pipeline.unchecked.length ? ' as far as it can be checked without its plugins' : ''}. ${s.name}: ${fw.STAGE_NAMES.map((st) => `${st} ${s.stages[st].method} (${s.stages[st].backend})`).join(' → ')}, ${s.rounds.stopEarly ? `up to ${s.rounds.max} rounds (tol ${s.rounds.tol})` : `${s.rounds.max} round${s.rounds.max === 1 ? '' : 's'}`}, seed ${s.seed}.\n`,
        );
      }
    });

  allowOption(program.command('schema'))
    .description('print the JSON Schema of pipeline specs (for editors), or write it to a file')
    .argument('[spec]', 'include the plugins this spec names (imported once the rest of the spec is valid)')
    .option('--write <file>', 'write the schema to this file')
    .option('--markdown', 'print the reference tables of every method and option instead (as in docs/spec.md)')
    .action(async (file: string | undefined, opts: { allowPluginPath: string[]; write?: string; markdown?: boolean }) => {
      const schema = fw.buildSpecSchema(file ? (await fw.loadPipeline(file, builtinPlugins, {}, {}, { allow: allowedFolders(opts.allowPluginPath) })).registry : new fw.PluginRegistry(builtinPlugins));
      const text = opts.markdown ? fw.specReferenceMarkdown(schema) : JSON.stringify(schema, null, 2) + '\n';
      if (opts.write) fw.writeFileAtomic(opts.write, text);
      else io.stdout.write(text);
    });

  allowOption(program.command('plugins'))
    .description('list the available plugins (built-in, plus those a spec names) with their stages, methods and options')
    .argument('[spec]', 'also load the plugins this spec names (once the rest of the spec is valid)')
    .option('--json', 'as JSON (option schemas included)')
    .option('--no-plugins', 'import none of the spec\'s plugins: list the built-in ones, check the spec, and say what could not be checked')
    .action(async (file: string | undefined, opts: { allowPluginPath: string[]; json?: boolean; plugins: boolean }) => {
      const pipeline = file ? await fw.loadPipeline(file, builtinPlugins, {}, {}, { allow: allowedFolders(opts.allowPluginPath), import: opts.plugins }) : undefined;
      if (pipeline && !opts.plugins) io.stderr.write(notImported(pipeline));
      const registry = pipeline?.registry ?? new fw.PluginRegistry(builtinPlugins);
      const list = registry.plugins.map((p) => ({
        name: p.meta.name,
        version: p.meta.version,
        apiVersion: p.meta.apiVersion,
        backend: p.backend,
        precision: p.capabilities.precision,
        features: p.capabilities.features ?? [],
        stages: Object.fromEntries(
          fw.STAGE_NAMES.map((s) => [s, Object.fromEntries(Object.entries(p.stages[s] ?? {}).map(([m, impl]) => [m, { description: impl.description, options: impl.options }]))]),
        ),
      }));
      if (opts.json) {
        io.stdout.write(JSON.stringify(list, null, 2) + '\n');
        return;
      }
      for (const p of list) {
        io.stdout.write(`${p.name}@${p.version} (backend ${p.backend}, ${p.precision}, plugin API ${p.apiVersion})\n`);
        for (const s of fw.STAGE_NAMES)
          for (const [m, info] of Object.entries(p.stages[s] ?? {})) {
            const options = Object.entries(info.options as Record<string, { default?: unknown }>).map(([k, v]) => (v.default !== undefined ? `${k}=${JSON.stringify(v.default)}` : k));
            io.stdout.write(`  ${s.padEnd(9)} ${m.padEnd(16)} ${info.description}${options.length ? `\n  ${' '.repeat(27)}options: ${options.join(', ')}` : ''}\n`);
          }
      }
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    code = report(e, io);
  }
  return code;
}

/** A file a flag names must go into an existing folder. @throws WeightshareError INVALID_ARGUMENT */
function checkOutFolder(file: string, flag: string): void {
  const folder = dirname(resolve(file));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw invalidArgument(`${flag} ${file}: the folder ${folder} does not exist; create it first, or write somewhere else.`);
}

/** The sweep folder `id` names (a path, or an id under `dir`), if it is one. */
function sweepFolder(id: string, dir: string): string | undefined {
  for (const d of [id, join(dir, id)]) if (cli.sweep.isSweepDir(d)) return d;
  return undefined;
}

/** A completed run's relation as CSV (task ids as header and first column), from relation.npy and results.json. */
function relationCsv(run: RunFolder): string {
  const A = fw.decodeNpy(run.output('relation.npy'));
  const ids = (JSON.parse(run.output('results.json').toString('utf8')) as { perTask: { id: string }[] }).perTask.map((t) => t.id);
  return fw.matrixCsv(A, ids, ids);
}

/** `--allow-plugin-path` folders; each must exist. @throws WeightshareError INVALID_ARGUMENT */
function allowedFolders(dirs: readonly string[]): string[] {
  for (const d of dirs)
    if (!existsSync(d) || !statSync(d).isDirectory()) throw invalidArgument(`--allow-plugin-path ${d}: no such folder. Name the folder that holds the plugin files you trust.`);
  return dirs.map((d) => resolve(d));
}

/** What `--no-plugins` left out: the plugins not imported (and where they are) and the parts of the spec not checked. */
function notImported(p: LoadedPipeline): string {
  if (!p.located.length) return '';
  const lines = [`not imported (--no-plugins): ${p.located.map((l) => `${l.name} (${l.kind} ${l.file})`).join(', ')}`];
  if (p.unchecked.length) lines.push('not checked without them:', ...p.unchecked.map((u) => `  - ${u}`));
  return lines.join('\n') + '\n';
}

function report(e: unknown, io: Io): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed the message
  }
  const err = asWeightshareError(e) ?? internalError(e instanceof Error ? e.message : String(e), e);
  io.stderr.write(formatError(err) + '\n');
  if (!err.isUserError && process.env.WEIGHTSHARE_DEBUG) io.stderr.write(String((e as Error)?.stack) + '\n');
  return err.isUserError ? 2 : 1;
}

/**
 * Ctrl-C (SIGINT) while a run, resume or sweep writes `dir`: one line saying how to go on, exit code 130. The folder
 * is left as a kill would leave it, which resume handles: the handler runs between two writes, so none is left
 * half-written; it first waits for the checkpoint committer (the checkpoints saved so far become durable, a few
 * milliseconds), and the manifest stays `running`. Returns the function that removes the handler.
 */
function onInterrupt(io: Io, dir: string, release?: () => void): () => void {
  const handler = (): void => {
    fw.waitForCommits();
    release?.();
    io.stderr.write(`${io.stderr.isTTY ? '\n' : ''}interrupted; resume with: weightshare resume ${dir}\n`);
    process.exit(130);
  };
  process.on('SIGINT', handler);
  return () => void process.off('SIGINT', handler);
}

/** `--max-size`: bytes, or a number with K, M, G or T (powers of 1024). @throws WeightshareError INVALID_ARGUMENT */
function parseSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$/i.exec(v);
  if (!m) throw invalidArgument(`--max-size ${v}: expected a size such as 500M, 2G or 1048576 (bytes; K, M, G, T are powers of 1024).`);
  return Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase()));
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw invalidArgument(`${flag} ${v}: expected a whole number ≥ 1.`);
  return n;
}

function cliVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function atLeast(n: number, min: number, flag: string): number {
  if (n < min) throw invalidArgument(`${flag} ${n} is below ${min}: a shorter time would hand jobs that are still running to other workers.`);
  return n;
}

/** A queue name BullMQ takes (not empty, no ':'). */
function queueName(q: string): string {
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(q)) throw invalidArgument(`--queue ${JSON.stringify(q)}: a queue name is 1 to 100 letters, digits, '.', '_' or '-' (e.g. --queue team-a).`);
  return q;
}

/** Parses and tries the --executor URL (a few seconds at most). */
async function checkExecutor(url: string): Promise<void> {
  const { checkRedis, parseRedisUrl } = await import('./redis.js');
  await checkRedis(parseRedisUrl(url, '--executor'), '--executor');
}

/** The pool of remote workers for a sweep (`--executor redis://…`): checks the server first, within seconds. */
async function remotePool(url: string, queue: string, dir: string, plan: SweepPlan, plugins: PluginLoading, warn: (line: string) => void): Promise<RemotePool> {
  const { RedisPool, versionsOf } = await import('./redis.js');
  const { registry } = await fw.loadPipeline(plan.spec.file, builtinPlugins, { set: plan.set, backend: plan.backend }, { text: readFileSync(join(dir, 'spec.source.yaml'), 'utf8'), baseDir: plan.baseDir }, plugins);
  const label = (key: string): string => {
    const m = /^(.*?)-(?:r(\d+)-)?c(\d+)$/.exec(key);
    if (!m) return key;
    const c = plan.candidates[Number(m[3])];
    return `outer split ${m[1]}, candidate ${m[3]}${c ? ` (${Object.entries(c.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')})` : ''}${m[2] === undefined ? '' : `, rung ${m[2]}`}`;
  };
  return RedisPool.open(url, queue, dir, plan, versionsOf(registry.plugins), label, warn);
}
