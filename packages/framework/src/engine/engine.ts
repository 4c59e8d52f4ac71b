/**
 * The engine: builds one tsyringe child container per run, registers the run's spec, executor, RNG, progress
 * reporter and every plugin method under its (backend, stage, method) token, then runs
 * data → init → relation → rounds of propagate → fuse → optimize → evaluation and baselines.
 */
import { stageOutputProblem } from './check-output.js';
import { dirname, resolve as resolvePath } from 'node:path';
import { createRequire } from 'node:module';
import type { DependencyContainer } from 'tsyringe';
import { asWeightshareError, dataInvalid, excerpt, pluginError, relationInvalid, WeightshareError, ErrorCode, type ErrorContext, type SourceLocation } from '../errors.js';
import { loadPrepared, type PreparedData, type SpecPlace } from '../data/dataset.js';
import { buildRelation, relationFactsOnce, relationSummary, TASK_ORDER } from '../data/relation.js';
import { readMatrixFile } from '../data/csv.js';
import { evaluate, outputsAll, predictAll, type Evaluated, type Evaluation } from '../eval/metrics.js';
import { dataLoss, dataLossItem, lossOf, modelOf, refOf } from '../components/index.js';
import { parameterNames } from '../model/parameters.js';
import { allFinite, isPositiveSemidefinite, type DenseMatrix, zeros } from '../math/dense.js';
import type { LossInfo, ModelInfo, ModelLayout, OptimizeInput, OptimizeOutput, Plugin, StageContext, StageName, TaskData, TaskExecutor } from '../plugin/types.js';
import type { BiasPenalized, RunOutcome, RunResults } from '../results.js';
import { planObjective } from './objective.js';
import { runRounds, type RelationLearner, type RelationState, type RoundsOutcome } from './rounds.js';
import { adjustedRandIndex, clusterRelation, correlations, kmeans, learnCovariance, weightedRows } from '../data/learn.js';
import { STAGE_NAMES } from '../plugin/types.js';
import { Rng } from '../random.js';
import type { LoadedSpec } from '../spec/load.js';
import type { ResolvedSpec } from '../spec/types.js';
import { InProcessExecutor, TaskFailure } from './executor.js';
import { jsonHash, matrixHash, sha256 } from '../store/hash.js';
import { existsSync } from 'node:fs';
import { readRegularFile } from '../io.js';
import { fileURLToPath } from 'node:url';
import { nullStore, stageShapes, type StageShapes, type StageSource, type StageStore, type StoredStage } from '../store/stage-store.js';
import { silentProgress, type ProgressReporter } from './progress.js';
import { PluginRegistry, type RegisteredMethod } from './registry.js';
import { stageToken, TOKENS } from './tokens.js';

/** The worker-thread entry of the per-task loss: the compiled module only (worker threads cannot import TypeScript). */
const LOSS_MODULE = new URL('../components/index.js', import.meta.url);
const LOSS_ENTRY = existsSync(fileURLToPath(LOSS_MODULE)) ? { module: LOSS_MODULE.href, export: 'dataLossItem' } : undefined;

/** Options of one run. */
export interface RunOptions {
  progress?: ProgressReporter;
  /** Replaces the in-process executor. */
  executor?: TaskExecutor;
  /** Where stage outputs are checkpointed and looked up (default: nowhere). */
  store?: StageStore;
  /**
   * Model selection: train on part of the training rows and report metrics on a seeded validation `fraction` of
   * them instead of the test rows (which are then not loaded into the run at all).
   */
  validation?: { fraction: number };
  /** Prepared data to use instead of loading the spec's `data` (benchmarks, programs that build tasks themselves). */
  data?: PreparedData;
}

export type { RoundRecord, RunResults, RunOutcome } from '../results.js';

/** Releases the plugins' resources when the run container is disposed (tsyringe calls `dispose`). */
export class RunResources {
  private readonly plugins: Plugin[] = [];
  add(p: Plugin): void {
    this.plugins.push(p);
  }
  async dispose(): Promise<void> {
    for (const p of this.plugins.reverse()) await p.dispose?.();
  }
}

let di: typeof import('tsyringe') | undefined;

/**
 * tsyringe (with its reflect-metadata polyfill, which it needs loaded first), imported when the first run container
 * is made: commands that run nothing (validate, plugins, schema) never load it. Its package is CommonJS, so this is
 * the same module instance an `import 'tsyringe'` gives.
 */
function tsyringe(): typeof import('tsyringe') {
  if (!di) {
    const load = createRequire(import.meta.url);
    load('reflect-metadata');
    di = load('tsyringe') as typeof import('tsyringe');
  }
  return di;
}

/**
 * A container of its own for one run. Nothing is registered in tsyringe's global container.
 */
export function createRunContainer(loaded: LoadedSpec, registry: PluginRegistry, options: RunOptions = {}): DependencyContainer {
  const { container: rootContainer, Lifecycle } = tsyringe();
  const c = rootContainer.createChildContainer();
  const progress = options.progress ?? silentProgress;
  c.register(TOKENS.Spec, { useValue: loaded });
  c.register(TOKENS.Registry, { useValue: registry });
  c.register(TOKENS.Progress, { useValue: progress });
  c.register(TOKENS.Rng, { useValue: new Rng(loaded.spec.seed) });
  c.register(TOKENS.Executor, { useValue: options.executor ?? new InProcessExecutor((done, total) => progress.tasks(done, total)) });
  c.register(TOKENS.Store, { useValue: options.store ?? nullStore });
  c.register(RunResources, { useClass: RunResources }, { lifecycle: Lifecycle.ContainerScoped });
  for (const m of registry.all()) c.register(stageToken(m.backend, m.stage, m.method), { useValue: m });
  c.register(TOKENS.Engine, {
    useFactory: (dc) =>
      new Engine(
        dc.resolve<LoadedSpec>(TOKENS.Spec),
        dc.resolve<PluginRegistry>(TOKENS.Registry),
        dc.resolve<TaskExecutor>(TOKENS.Executor),
        dc.resolve<Rng>(TOKENS.Rng),
        dc.resolve<ProgressReporter>(TOKENS.Progress),
        dc.resolve<StageStore>(TOKENS.Store),
        dc,
        options.validation,
        options.data,
      ),
  });
  return c;
}

/**
 * Runs a loaded spec to the end.
 * @throws WeightshareError for user mistakes found at run time (data, relation, singular systems, non-finite loss)
 *   and PLUGIN_ERROR for anything a plugin throws.
 */
export async function runPipeline(loaded: LoadedSpec, registry: PluginRegistry, options: RunOptions = {}): Promise<RunOutcome> {
  const c = createRunContainer(loaded, registry, options);
  try {
    let outcome: RunOutcome;
    try {
      outcome = await c.resolve<Engine>(TOKENS.Engine).run();
    } catch (e) {
      // the stages done before the failure stay checkpoints to resume from: their commits finish first
      await options.store?.flush?.().catch(() => {});
      throw e;
    }
    await options.store?.flush?.(); // every checkpoint durable before the caller completes the run folder
    return outcome;
  } finally {
    (options.progress ?? silentProgress).end();
    await c.dispose();
  }
}

/** Runs the rounds. Resolved from the run container; see {@link createRunContainer}. */
export class Engine {
  private readonly spec: ResolvedSpec;
  private readonly place: SpecPlace;
  private readonly cache = new Map<string, unknown>();
  /** When the run last let the event loop turn (see {@link stage}). */
  private lastTurn = -Infinity;
  private step = 0;
  private readonly steps: number;
  private readonly sources: Record<string, StageSource> = {};
  /** Tasks whose fits alone had every parameter ridge-penalized (no finite minimizer with a free bias), by fit. */
  private readonly biasPenalized: { init?: BiasPenalized[]; independent?: BiasPenalized[]; pooled?: BiasPenalized[] } = {};
  /** Tasks T and parameter columns p of the run, once the data is loaded: the shapes stored stages must have. */
  private size: { T: number; d: number } | undefined;
  /** What a relation stage stores besides A (a learned Ω, cluster labels). */
  private relationShapes: StageShapes = {};
  /** The run's loss and model, once the data is loaded (the classes come from the data). */
  private components: Evaluated & { loss: LossInfo; model: ModelInfo } = undefined as never;

  constructor(
    private readonly loaded: LoadedSpec,
    private readonly registry: PluginRegistry,
    private readonly executor: TaskExecutor,
    private readonly rng: Rng,
    private readonly progress: ProgressReporter,
    private readonly store: StageStore,
    private readonly container: DependencyContainer,
    private readonly validation?: { fraction: number },
    private readonly given?: PreparedData,
  ) {
    this.spec = loaded.spec;
    this.place = { baseDir: loaded.baseDir ?? dirname(resolvePath(loaded.file)), locate: loaded.locate };
    this.steps = 2 + 2 * this.spec.rounds.max + (this.spec.evaluate.baselines ? 1 : 0);
  }

  /** The implementation of a stage as the spec chose it, resolved from the container. */
  resolveStage(stage: StageName): RegisteredMethod {
    const st = this.spec.stages[stage];
    const backend = st.backend ?? this.spec.backend;
    const token = stageToken(backend, stage, st.method);
    if (!this.container.isRegistered(token, true)) return this.registry.get(backend, stage, st.method, this.loaded.locate(['stages', stage, 'method']));
    return this.container.resolve<RegisteredMethod>(token);
  }

  async run(): Promise<RunOutcome> {
    const spec = this.spec;
    const methods = Object.fromEntries(STAGE_NAMES.map((s) => [s, this.resolveStage(s)])) as Record<StageName, RegisteredMethod>;
    const resources = this.container.resolve(RunResources);
    for (const p of new Set(Object.values(methods).map((m) => m.plugin))) {
      resources.add(p);
      await p.setup?.(this.spec.backendOptions?.[p.backend] ?? {});
    }

    this.phase('loading data');
    const lossSpec = lossOf(this.registry, spec.loss);
    const data: PreparedData = this.given ?? loadPrepared(spec.data, spec.split, lossSpec, this.rng, this.place, this.validation?.fraction);
    const T = data.taskIds.length;
    if (T < 2) throw dataInvalid(`the data has ${T} task; multi-task learning needs at least two. Check data.task names the right column.`);
    await this.executor.attach?.(data.train);
    const loss = lossOf(this.registry, spec.loss, data.classes ?? data.labels);
    if (loss.component.target === 'multiclass' && !data.classes)
      throw dataInvalid(`the ${loss.name} loss needs class labels, but the prepared data has none (give data that was loaded with a multi-class loss).`);
    const model = modelOf(this.registry, spec.model, loss, data.featureNames.length, data.biasColumn);
    this.components = { loss, model };
    const d = model.layout.size;
    const sizes = data.train.map((t) => t.y.length);
    this.size = { T, d };

    const optOptions = this.options('optimize');
    const lambdas = lambdasOf(optOptions.lambda, model.layout);
    // the objective's λ: the one λ, or 1 with the blocks' λ inside the penalty (see exactPenalty)
    // a learned covariance leaves the bias free (Zhang & Yeung): no pull on what the ridge leaves unpenalized, so the
    // pull is per entry (λ on the weights, 0 on the bias) and the objective weighs it so
    const freeBias = spec.relation.method === 'learn' && spec.relation.form === 'covariance';
    if (freeBias) model.layout.penalized.forEach((v, j) => v || (lambdas[j] = 0));
    const perEntry = freeBias || (typeof optOptions.lambda === 'object' && optOptions.lambda !== null);
    const lambda = typeof optOptions.lambda === 'number' && !perEntry ? optOptions.lambda : 1;
    const ridge = Number(optOptions.ridge ?? 0);
    const tied = tiedOf(optOptions.lambda, model.layout);
    this.checkBounded(data.train, lambdas, tied, freeBias);
    // the data's fingerprint keys the stored stages; without a store it is not needed (hashing 1.6 GB takes seconds)
    let dataHashValue: string | undefined;
    const dataHash = (): string => (dataHashValue ??= hashData(data));
    const about = (m: RegisteredMethod, options: Record<string, unknown>): Record<string, unknown> => ({
      stage: m.stage,
      method: m.method,
      backend: m.backend,
      plugin: m.plugin.meta.name,
      version: m.plugin.meta.version,
      options,
    });

    let W0 = await this.initialWeights(methods, data, optOptions, dataHash, about);
    // a tied block starts from one value for all tasks: the tasks' mean (the same as each with one initialization)
    if (tied) {
      W0 = { rows: W0.rows, cols: W0.cols, data: Float64Array.from(W0.data) };
      for (let j = 0; j < d; j++) {
        if (!tied[j]) continue;
        let s = 0;
        for (let t = 0; t < T; t++) s += W0.data[t * d + j]!;
        for (let t = 0; t < T; t++) W0.data[t * d + j] = s / T;
      }
    }
    const { state: relation0, learner } = await this.relation(data, W0, lambdas, lambda);
    const A = relation0.A;
    if (spec.stages.fuse.method === 'precision' && !learner) checkPrecision(A, this.place.locate(['relation']));

    const plan = planObjective(spec.stages.propagate, spec.stages.fuse as { method: string; scope?: unknown; weights?: unknown }, A, spec.relation);
    let lastTest: { W: DenseMatrix; evaluation: Evaluation } | undefined;
    const rounds = await runRounds(
      {
        spec,
        methods,
        tasks: data.train,
        relation: relation0,
        ...(learner ? { relearn: learner } : {}),
        sizes,
        lambda,
        ridge,
        loss,
        model,
        lambdas,
        ...(tied ? { tied } : {}),
        blockLambdas: perEntry,
        objective: plan,
        stage: (id, key, compute) => this.stage(id, key, compute),
        stored: (id, key) => this.stored(id, key),
        discard: (drop) => this.store.discard?.(drop),
        call: (m, input, round) => this.call(m, input, round),
        expectShape: (M, rows, cols, m, round, what) => this.expectShape(M, rows, cols, m, round, what),
        about: (m, stage) => about(m, this.options(stage)),
        hashes: { data: dataHash, matrix: matrixHash },
        taskLosses: async (W) => (await this.taskLosses(W, data.train)) ?? data.train.map((t) => dataLoss(t, W.data.subarray(t.index * d, t.index * d + d), loss, model)),
        test: (W) => {
          lastTest = { W, evaluation: this.checkedMetrics(evaluate(W, data.test, this.components), W, data, 'shared model') };
          return lastTest.evaluation.overall;
        },
        phase: (label) => this.phase(label),
        recycle: this.store === nullStore,
      },
      W0,
    );
    const W = rounds.W;
    const E = rounds.E;
    for (const rec of rounds.rounds)
      if (rec.objective && !Number.isFinite(rec.objective.total))
        throw new WeightshareError(
          ErrorCode.NON_FINITE_LOSS,
          `the objective became ${rec.objective.total} after round ${rec.round} (loss ${rec.objective.loss}, penalty ${rec.objective.penalty}, ridge ${rec.objective.ridge}): a number overflowed. Check the data for extreme values, lower λ, or rescale the target.`,
          { context: { round: rec.round } },
        );

    // the last round's record already evaluated the final weights (the same array): not a second pass over the test rows
    const shared = lastTest?.W === W ? lastTest.evaluation : this.checkedMetrics(evaluate(W, data.test, this.components), W, data, 'shared model');
    let independent: Evaluation | undefined;
    let pooled: Evaluation | undefined;
    if (spec.evaluate.baselines) {
      this.phase('baselines');
      const baseOpts = { ...optOptions, lambda: 0, ridge: spec.evaluate.baselineRidge };
      const baseKey = (): Record<string, unknown> => ({ id: 'baselines', seed: spec.seed, ...about(methods.optimize, baseOpts), dataHash: dataHash(), loss: spec.loss, model: spec.model });
      const base = await this.stage('baselines', baseKey, async () => {
        const alone = await this.fitAlone(methods.optimize, data.train, baseOpts, 'baseline', 'evaluate.baselineRidge');
        const pool = await this.fitAlone(methods.optimize, [poolTasks(data.train)], baseOpts, 'baseline', 'evaluate.baselineRidge');
        const json = alone.biasPenalized.length || pool.biasPenalized.length ? { biasPenalized: { independent: alone.biasPenalized, pooled: pool.biasPenalized } } : {};
        return { matrices: { independent: alone.W, pooled: pool.W }, json };
      });
      const bp = base.json.biasPenalized as { independent: BiasPenalized[]; pooled: BiasPenalized[] } | undefined;
      this.biasPenalized.independent = bp?.independent ?? [];
      this.biasPenalized.pooled = bp?.pooled ?? [];
      independent = this.checkedMetrics(evaluate(base.matrices.independent!, data.test, this.components), base.matrices.independent!, data, 'independent baseline');
      pooled = this.checkedMetrics(evaluate(base.matrices.pooled!, data.test, this.components, true), base.matrices.pooled!, data, 'pooled baseline', true);
    }

    const pre = data.preprocessing;
    const results: RunResults = {
      name: spec.name,
      seed: spec.seed,
      loss: spec.loss.method,
      ...(Object.keys(loss.options).length ? { lossOptions: loss.options } : {}),
      model: {
        name: model.name,
        ...(Object.keys(model.options).length ? { options: model.options } : {}),
        outputs: model.layout.outputs,
        parameters: model.layout.size,
        blocks: model.layout.blocks.map((b) => ({ name: b.name, offset: b.offset, size: b.size, shape: [...b.shape] })),
      },
      ...(data.classes ? { classes: data.classes } : {}),
      stages: Object.fromEntries(
        STAGE_NAMES.map((s) => [s, { method: methods[s].method, backend: methods[s].backend, plugin: methods[s].plugin.meta.name, pluginVersion: methods[s].plugin.meta.version }]),
      ) as RunResults['stages'],
      plugins: [...new Set(Object.values(methods).map((m) => m.plugin))].map((p) => ({
        name: p.meta.name,
        version: p.meta.version,
        backend: p.backend,
        precision: p.capabilities.precision,
        ...(p.runtime ? { runtime: p.runtime() } : {}),
      })),
      data: {
        tasks: T,
        features: data.featureNames,
        trainRows: sizes.reduce((a, b) => a + b, 0),
        testRows: data.test.reduce((a, t) => a + t.y.length, 0),
        droppedConstantColumns: data.standardization?.dropped ?? pre?.droppedConstant ?? [],
        ...(data.missing && spec.data.source === 'csv' ? { missing: data.missing } : {}),
        ...(pre && pre.inputs.some((c) => c.kind === 'categorical')
          ? { categorical: pre.inputs.flatMap((c) => (c.kind === 'categorical' ? [{ column: c.column, categories: c.categories }] : [])) }
          : {}),
        files: data.files,
      },
      relation: { method: spec.relation.method, ...relationSummary(rounds.relation.A, relationFactsOnce(rounds.relation.A)), ...this.relationReport(rounds, data, learner) },
      objective: { kind: plan.kind, formula: plan.formula, reason: plan.reason },
      convergence: rounds.convergence,
      rounds: rounds.rounds,
      ...(Object.values(this.biasPenalized).some((l) => l.length)
        ? { biasPenalized: Object.fromEntries(Object.entries(this.biasPenalized).filter(([, l]) => l.length)) as RunResults['biasPenalized'] }
        : {}),
      models: { shared: shared.overall, ...(independent ? { independent: independent.overall } : {}), ...(pooled ? { pooled: pooled.overall } : {}) },
      ...(shared.undefined || independent?.undefined || pooled?.undefined
        ? {
            undefinedMetrics: {
              ...(shared.undefined ? { shared: shared.undefined } : {}),
              ...(independent?.undefined ? { independent: independent.undefined } : {}),
              ...(pooled?.undefined ? { pooled: pooled.undefined } : {}),
            },
          }
        : {}),
      perTask: data.taskIds.map((id, t) => {
        const why = shared.perTask[t]!.undefined;
        return {
          id,
          trainRows: data.train[t]!.y.length,
          testRows: data.test[t]!.y.length,
          shared: shared.perTask[t]!.metrics,
          ...(independent ? { independent: independent.perTask[t]!.metrics } : {}),
          ...(pooled ? { pooled: pooled.perTask[t]!.metrics } : {}),
          ...(why ? { undefined: why } : {}),
        };
      }),
    };
    return {
      results,
      weights: W,
      relation: rounds.relation.A,
      ...(rounds.relation.extra.omega ? { learned: { omega: rounds.relation.extra.omega, correlation: correlations(rounds.relation.extra.omega) } } : {}),
      targets: E,
      data,
      spec,
      lossTarget: loss.component.target,
      sources: this.sources,
      get dataHash() {
        return dataHash();
      },
    };
  }

  /** Initial weights B: zeros, a file (matched by task id and feature name when it has headers), or independent fits. */
  private async initialWeights(
    methods: Record<StageName, RegisteredMethod>,
    data: PreparedData,
    optOptions: Record<string, unknown>,
    dataHash: () => string,
    about: (m: RegisteredMethod, options: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<DenseMatrix> {
    const spec = this.spec;
    const T = data.taskIds.length;
    const d = this.components.model.layout.size;
    const names = parameterNames(this.components.model, data.featureNames, data.classes);
    this.phase('initial weights');
    const init = spec.init;
    const initOptions = { ...optOptions, lambda: 0, ridge: init.method === 'independent' ? init.ridge : 0 };
    const initKey = (): Record<string, unknown> => ({
      id: 'init',
      init,
      dataHash: dataHash(),
      seed: spec.seed,
      loss: spec.loss,
      model: spec.model,
      file: init.method === 'file' ? fileHash(resolvePath(this.place.baseDir, init.path)) : null,
      optimize: init.method === 'independent' ? about(methods.optimize, initOptions) : null,
    });
    const compute = async (): Promise<StoredStage> => {
      let B: DenseMatrix;
      if (init.method === 'zeros') B = zeros(T, d);
      else if (init.method === 'model') {
        const { model } = this.components;
        const theta0 = model.component.init(model.layout, this.rng.fork('model/init'), model.options);
        B = zeros(T, d);
        for (let t = 0; t < T; t++) B.data.set(theta0, t * d);
      }
      else if (init.method === 'file') {
        const { data: values } = readMatrixFile(
          resolvePath(this.place.baseDir, init.path),
          init.path,
          { rowIds: data.taskIds, colIds: names, rowsAre: 'tasks', colsAre: 'features', order: `${TASK_ORDER}, and columns in the order of the model's parameters (${names.slice(0, 6).join(', ')}${d > 6 ? ', …' : ''})` },
          this.place.locate(['init', 'path']),
        );
        B = { rows: T, cols: d, data: values };
      } else {
        const fit = await this.fitAlone(methods.optimize, data.train, initOptions, 'init', 'init.ridge');
        B = fit.W;
        if (fit.biasPenalized.length) return { matrices: { B }, json: { biasPenalized: fit.biasPenalized } };
      }
      return { matrices: { B }, json: {} };
    };
    // the independent fits do not depend on λ: the runs of a λ grid on the same prepared data fit them once
    const memoKey = (): string =>
      jsonHash({ init, seed: spec.seed, loss: spec.loss, model: spec.model, optimize: about(methods.optimize, initOptions), backendOptions: spec.backendOptions ?? null });
    const stage = await this.stage('init', initKey, init.method === 'independent' ? () => initFitsOnce(data, methods.optimize, memoKey(), compute) : compute);
    this.biasPenalized.init = (stage.json.biasPenalized as BiasPenalized[] | undefined) ?? [];
    return stage.matrices.B!;
  }

  /**
   * The relation of round 1, checked finite, and how it changes between rounds (relation learn; estimate with
   * `every`). Learned relations measure the task parameters in the penalty's own metric: each parameter weighted by
   * its λ relative to the objective's λ, so that an update minimizes the very objective the rounds do.
   */
  private async relation(data: PreparedData, B: DenseMatrix, lambdas: Float64Array, lambda: number): Promise<{ state: RelationState; learner?: RelationLearner }> {
    const spec = this.spec;
    const rel = spec.relation;
    const T = data.taskIds.length;
    const { layout } = this.components.model;
    // a similarity of the task parameters leaves out the bias (of a one-output linear model; else what is not ridge-penalized)
    const similarityInput = (W: DenseMatrix): DenseMatrix => (layout.linear && layout.outputs === 1 ? W : dropColumns(W, layout.penalized));
    const similarityBias = layout.linear && layout.outputs === 1 ? data.biasColumn : -1;
    const weights = Float64Array.from(lambdas, (l) => (lambda > 0 ? l / lambda : 0));
    let learner: RelationLearner | undefined;
    let shapes: StageShapes = {};
    if (rel.method === 'learn') {
      if (!weights.some((w) => w > 0))
        throw relationInvalid('relation learn measures the tasks in the penalty λ·‖·‖², but λ is 0 for every parameter, so there is nothing to learn from. Set stages.optimize.lambda > 0.', this.place.locate(['stages', 'optimize', 'lambda']));
      if (rel.form === 'clusters') {
        if (rel.k > T) throw relationInvalid(`relation.k is ${rel.k}, but the data has ${T} tasks: there cannot be more clusters than tasks. Choose k between 2 and ${T}.`, this.place.locate(['relation', 'k']));
        shapes = { labels: [1, T] };
        const k = rel.k;
        const restarts = rel.restarts;
        learner = {
          every: rel.every,
          key: { relation: rel, weights: Array.from(weights) },
          update: (x, previous, round) => {
            const { Y, p } = weightedRows(x, weights);
            const prev = previous.extra.labels?.data;
            const found = kmeans(Y, T, p, k, this.rng.fork(`relation/round-${round}`), restarts, prev);
            const sizes = new Array<number>(Math.max(...found.labels) + 1).fill(0);
            for (const c of found.labels) sizes[c]!++;
            let moved = 0;
            if (prev) moved = changedPairs(prev, found.labels);
            return {
              A: clusterRelation(found.labels),
              extra: { labels: { rows: 1, cols: T, data: Float64Array.from(found.labels) } },
              constant: 0,
              info: { clusters: sizes.length, sizes, inertia: found.inertia, from: found.from, ...(prev ? { pairsChanged: moved } : {}) },
            };
          },
        };
      } else {
        shapes = { omega: [T, T] };
        let norm = 0;
        for (let t = 0; t < T; t++) for (let j = 0; j < B.cols; j++) norm += weights[j]! * B.data[t * B.cols + j]! ** 2;
        const epsilon = (rel.epsilon * norm) / T;
        // the spec's one λ (1 for λ per block): ε in the objective's own units is epsilon / λ
        const specLambda = (spec.stages.optimize as unknown as { lambda?: unknown }).lambda;
        const lambdaScale = typeof specLambda === 'number' && specLambda > 0 ? specLambda : 1;
        if (!(epsilon > 0))
          throw relationInvalid(
            `relation learn with form covariance sets ε relative to the mean squared norm of the initial task weights, which is 0 (init ${spec.init.method}), so S = WWᵀ + εI would be singular. Use init: { method: independent } (the default), or init from a file with nonzero weights.`,
            this.place.locate(['init']),
          );
        learner = {
          every: rel.every,
          key: { relation: rel, weights: Array.from(weights), epsilon },
          update: (x, previous) => {
            const learned = learnCovariance(x, weights, epsilon);
            if (!allFinite(learned.precision.data) || !allFinite(learned.omega.data) || !Number.isFinite(learned.constant))
              throw relationInvalid(
                `the learned task covariance Ω or its inverse overflowed (ε = ${epsilon / lambdaScale}, from relation.epsilon ${rel.epsilon} × the initial weights' mean squared norm): S = WWᵀ + εI is too close to singular or too large to invert in float64. Move relation.epsilon towards 0.01–1.`,
                this.place.locate(['relation', 'epsilon']),
              );
            const before = previous.extra.omega;
            let change: number | undefined;
            if (before) {
              let d = 0;
              let n = 0;
              for (let i = 0; i < T * T; i++) {
                d += (learned.omega.data[i]! - before.data[i]!) ** 2;
                n += learned.omega.data[i]! ** 2;
              }
              change = Math.sqrt(d / n);
            }
            // ε as the objective's formula has it, λ[tr(W̃ᵀΩ⁻¹W̃) + ε tr Ω⁻¹] (the update works in λ-weighted units)
            return { A: learned.precision, extra: { omega: learned.omega }, constant: learned.constant, info: { epsilon: epsilon / lambdaScale, ...(change !== undefined ? { change } : {}) } };
          },
        };
      }
    } else if (rel.method === 'estimate' && rel.every !== undefined) {
      learner = {
        every: rel.every,
        key: { relation: rel, biasColumn: data.biasColumn },
        update: (x) => ({ A: buildRelation(rel, data.taskIds, similarityInput(x), similarityBias, this.place), extra: {}, constant: 0, info: {} }),
      };
    }
    this.relationShapes = shapes;
    const relationKey = (): Record<string, unknown> => ({
      id: 'relation',
      relation: rel,
      tasks: T,
      taskIds: rel.method === 'csv' ? data.taskIds : null,
      biasColumn: data.biasColumn,
      B: rel.method === 'estimate' || rel.method === 'learn' ? matrixHash(B) : null,
      learn: learner ? { seed: spec.seed, ...learner.key } : null,
      file: rel.method === 'csv' ? fileHash(resolvePath(this.place.baseDir, rel.path)) : null,
    });
    const stage = await this.stage('relation', relationKey, async () => {
      const first: RelationState =
        rel.method === 'learn' ? learner!.update(B, { A: zeros(T, T), extra: {}, constant: 0, info: {} }, 1) : { A: buildRelation(rel, data.taskIds, similarityInput(B), similarityBias, this.place), extra: {}, constant: 0, info: {} };
      if (!relationFactsOnce(first.A).finite) throw relationInvalid('the relation matrix has NaN or infinite entries.', this.place.locate(['relation']));
      return { matrices: { A: first.A, ...first.extra }, json: learner ? { constant: first.constant, info: first.info } : {} };
    });
    const { A, ...extra } = stage.matrices;
    const state: RelationState = { A: A!, extra, constant: (stage.json.constant as number | undefined) ?? 0, info: (stage.json.info as Record<string, unknown> | undefined) ?? {} };
    return { state, ...(learner ? { learner } : {}) };
  }

  /** results.json's account of a relation that changed between rounds (nothing for a fixed one). */
  private relationReport(rounds: RoundsOutcome, data: PreparedData, learner: RelationLearner | undefined): Partial<RunResults['relation']> {
    if (!learner) return {};
    const rel = this.spec.relation;
    const updates = rounds.rounds.filter((r) => r.relation).length;
    const labels = rounds.relation.extra.labels?.data;
    const truth = data.truth?.clusters;
    return {
      ...(rel.method === 'learn' ? { form: rel.form } : {}),
      every: learner.every,
      updates,
      ...(labels ? { clusters: Array.from(labels) } : {}),
      ...(labels && truth && truth.length === labels.length ? { adjustedRandIndex: adjustedRandIndex(labels, truth) } : {}),
    };
  }

  /**
   * Metrics that a user sees must be finite: a non-finite one means a prediction overflowed. The error names the test
   * row and feature that caused it (the largest term of the largest prediction). Metrics undefined for a single task
   * (a constant test target) are not errors: they are null with their reason.
   */
  private checkedMetrics(m: Evaluation, W: DenseMatrix, data: PreparedData, model: string, shared = false): Evaluation {
    const bad = Object.entries(m.overall).filter(([k, v]) => !Number.isFinite(v as number) && !m.undefined?.[k]);
    const badTask = m.perTask.find((t) => !metricsFinite(t.metrics as unknown as Record<string, number>, t.undefined));
    if (!bad.length && !badTask) return m;
    const { layout } = this.components.model;
    if (!(layout.linear && layout.outputs === 1)) {
      const outs = outputsAll(W, data.test, this.components, shared);
      const t = outs.findIndex((z) => z.some((v) => !Number.isFinite(v)));
      const task = data.test[Math.max(0, t)]!;
      throw dataInvalid(
        `the ${model}'s test ${bad.length ? bad.map(([k]) => k).join(', ') : 'metrics of task ' + excerpt(badTask!.id)} would be infinite or NaN${t >= 0 ? `: its outputs for test rows of task "${excerpt(task.id)}" overflow` : ''}. A test value far outside the training range overflows; check the data or rescale the columns.`,
      );
    }
    const preds = predictAll(W, data.test, shared);
    let worst = { task: -1, row: -1, value: 0 };
    preds.forEach((p, t) => p.forEach((v, i) => {
      const a = Number.isFinite(v) ? Math.abs(v) : Infinity;
      if (worst.task < 0 || a > Math.abs(worst.value) || (a === Infinity && Number.isFinite(worst.value))) worst = { task: t, row: i, value: Number.isFinite(v) ? v : Infinity };
    }));
    const task = data.test[worst.task]!;
    const p = W.cols;
    const w = W.data.subarray((shared ? 0 : task.index) * p, (shared ? 0 : task.index) * p + p);
    let j = 0;
    for (let k = 1; k < p; k++) if (Math.abs(task.X.data[worst.row * p + k]! * w[k]!) > Math.abs(task.X.data[worst.row * p + j]! * w[j]!)) j = k;
    const line = data.lines?.test[worst.task]?.[worst.row];
    throw dataInvalid(
      `the ${model}'s test ${bad.length ? bad.map(([k]) => k).join(', ') : 'metrics of task ' + excerpt(badTask!.id)} would be infinite or NaN: its prediction for a test row of task "${excerpt(task.id)}" is ${worst.value}, driven by feature "${excerpt(data.featureNames[j]!)}" (standardized value ${task.X.data[worst.row * p + j]}). A test value far outside the training range overflows; check that cell or rescale the column.`,
      [{ message: 'this row', location: { file: data.files[0]?.path ?? 'data', ...(line !== undefined ? { row: line } : {}), csvColumn: data.featureNames[j] } }],
    );
  }

  /** The options of a stage: its spec entry without `method` and `backend` (defaults already filled). */
  private options(stage: StageName): Record<string, unknown> {
    const { method: _m, backend: _b, ...rest } = this.spec.stages[stage];
    return rest;
  }

  private phase(label: string): void {
    this.progress.phase(label, ++this.step, this.steps);
  }

  /**
   * A checkpointed stage: its key is computed from everything it depends on before it runs; stored outputs with
   * that key (this run's checkpoint, or the cache) are used instead of computing.
   */
  private async stage(id: string, keyParts: () => Record<string, unknown>, compute: () => Promise<StoredStage>): Promise<StoredStage> {
    // a turn of the event loop every few milliseconds of stages: otherwise a run in this thread is one long chain of
    // microtasks, and a signal handler (Ctrl-C in the CLI) or a timer would wait for the whole run (a turn per stage
    // cost more than the stages themselves on small data: three per round)
    if (performance.now() - this.lastTurn >= 4) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.lastTurn = performance.now();
    }
    if (this.store === nullStore || this.store.holds?.(id) === false) {
      // nothing stored, nothing to look up: the key (hashes of the inputs) is not even computed
      this.sources[id] = 'computed';
      return compute();
    }
    const key = jsonHash({ format: 1, ...keyParts() });
    const hit = this.lookup(id, key);
    if (hit) return hit;
    const stage = await compute();
    this.store.save(id, key, stage);
    this.sources[id] = 'computed';
    return stage;
  }

  /** The stored outputs of a stage (this run's checkpoint or the cache), or undefined; never computes. */
  private stored(id: string, keyParts: () => Record<string, unknown>): StoredStage | undefined {
    return this.store === nullStore || this.store.holds?.(id) === false ? undefined : this.lookup(id, jsonHash({ format: 1, ...keyParts() }));
  }

  private lookup(id: string, key: string): StoredStage | undefined {
    const hit = this.store.load(id, key, this.size && stageShapes(id, this.size.T, this.size.d, this.relationShapes));
    if (!hit) return undefined;
    this.sources[id] = hit.source;
    return hit.stage;
  }

  /**
   * Each task's data loss at W, through the executor (a pass over all training rows: on worker threads under
   * --threads). Only where threads can read the rows without copies (shared buffers, as prepared data is) and the
   * compiled entry module exists (not when the framework runs from its TypeScript sources); else undefined, and the
   * objective computes them in process. Either way the same numbers, summed in task order.
   */
  private async taskLosses(W: DenseMatrix, tasks: readonly TaskData[]): Promise<number[] | undefined> {
    if (!LOSS_ENTRY || tasks.some((t) => !(t.X.data.buffer instanceof SharedArrayBuffer) || !(t.y.buffer instanceof SharedArrayBuffer))) return undefined;
    const d = W.cols;
    const ref = refOf(this.components.loss, this.components.model);
    if (!ref) return undefined;
    const items = tasks.map((t) => ({ task: t, w: W.data.slice(t.index * d, t.index * d + d), ref }));
    return this.executor.map(items, { name: 'evaluate/objective', run: dataLossItem, entry: LOSS_ENTRY });
  }

  /** Fits every task on its own (λ = 0) with the optimize method: initial weights and the baselines. */
  /**
   * λ = 0 on the entries that the ridge leaves free (the biases) gives a task whose labels leave them unbounded
   * (the loss's `unboundedBias`) no finite optimum in the rounds: refused before any work, naming the task.
   */
  private checkBounded(tasks: readonly TaskData[], lambdas: Float64Array, tied: Uint8Array | undefined, freeBias = false): void {
    const { loss, model } = this.components;
    const probe = loss.component.unboundedBias;
    // a tied entry is fitted to all tasks' rows at once, not to one task's
    if (!probe || !model.layout.penalized.some((v, j) => !v && !(lambdas[j]! > 0) && !tied?.[j])) return;
    for (const t of tasks) {
      const why = probe.call(loss.component, t.y, model.layout.outputs, loss.options);
      if (why && freeBias)
        throw new WeightshareError(
          ErrorCode.SPEC_INVALID,
          `task "${t.id}" has no finite ${loss.name} fit with a free bias: ${why}. relation learn with form covariance leaves every task's bias free (no pull, no ridge), so that bias grows without bound whatever λ is. Leave the task out of the data, or use another relation (form clusters, or a fixed one with fuse mean), which pulls the bias too.`,
          { context: { task: t.id }, problems: [{ message: 'the relation is declared here', location: this.loaded.locate(['relation']) }] },
        );
      if (why)
        throw new WeightshareError(
          ErrorCode.SPEC_INVALID,
          `task "${t.id}" has no finite ${loss.name} fit with λ = 0: ${why}, so its bias (never ridge-penalized) grows without bound and its weights would depend only on when the optimizer stops. Set stages.optimize.lambda > 0 to pull it towards the shared target, or leave the task out of the data.`,
          { context: { task: t.id }, problems: [{ message: 'λ is set here', location: this.loaded.locate(['stages', 'optimize', 'lambda']) }] },
        );
    }
  }

  /**
   * Each task fitted alone (λ = 0: the baselines and the initial fits). A task whose labels leave the model's
   * unpenalized entries without a finite minimizer (the loss's `unboundedBias`: logistic labels all one class,
   * Poisson counts all 0, a softmax class absent) is fitted in a call of its own with every entry ridge-penalized, so
   * that its fit has a minimum; those tasks are returned with the reason (results.json lists them).
   */
  private async fitAlone(
    m: RegisteredMethod,
    tasks: readonly TaskData[],
    options: Record<string, unknown>,
    purpose: 'init' | 'baseline',
    where: string,
  ): Promise<{ W: DenseMatrix; biasPenalized: BiasPenalized[] }> {
    const T = tasks.length;
    const { loss, model } = this.components;
    const d = model.layout.size;
    // every task starts from the model's one seeded initialization (zeros for linear models)
    const theta0 = model.component.init(model.layout, this.rng.fork('model/init'), model.options);
    const probe = loss.component.unboundedBias;
    const free = model.layout.penalized.some((v) => !v);
    const reasons = tasks.map((t) => (probe && free ? probe.call(loss.component, t.y, model.layout.outputs, loss.options) : undefined));
    const bounded = tasks.filter((_, k) => !reasons[k]);
    const unbounded = tasks.filter((_, k) => reasons[k]);
    const biasPenalized = unbounded.map((t) => ({ task: t.id, reason: reasons[tasks.indexOf(t)]! }));
    if (unbounded.length && !((options.ridge as number) > 0)) {
      const list = biasPenalized.slice(0, 5).map((b) => `task "${b.task}" (${b.reason})`).join('; ');
      throw new WeightshareError(
        ErrorCode.SPEC_INVALID,
        `${purpose === 'init' ? 'the initial fits' : 'the baselines'} fit each task alone, and ${unbounded.length === 1 ? 'one task has' : `${unbounded.length} tasks have`} no finite ${loss.name} fit of ${unbounded.length === 1 ? 'its' : 'their'} own with an unpenalized bias: ${list}${unbounded.length > 5 ? `; and ${unbounded.length - 5} more` : ''}. Set ${where} > 0 (such tasks then have every parameter ridge-penalized), or leave these tasks out of the data.`,
        { context: { task: unbounded[0]!.id }, problems: [{ message: 'the ridge is set here', location: this.loaded.locate(where.split('.')) }] },
      );
    }
    const fit = async (subset: readonly TaskData[], layout: ModelLayout): Promise<DenseMatrix> => {
      const n = subset.length;
      const start = zeros(n, d);
      for (let t = 0; t < n; t++) start.data.set(theta0, t * d);
      const out = (await this.invoke(
        m,
        { tasks: subset, loss, model: layout === model.layout ? model : { ...model, layout }, targets: zeros(n, d), penaltyWeights: new Float64Array(n), lambdas: new Float64Array(d), start } satisfies OptimizeInput,
        options,
        0,
        purpose,
      )) as OptimizeOutput;
      this.expectShape(out.weights, n, d, m, 0, 'weights');
      return out.weights;
    };
    if (!unbounded.length) return { W: await fit(tasks, model.layout), biasPenalized };
    // each group is a task set of its own, numbered from 0 (a method's matrices have one row per task it is given)
    const W = zeros(T, d);
    for (const [group, layout] of [
      [bounded, model.layout],
      [unbounded, { ...model.layout, penalized: new Uint8Array(d).fill(1) }],
    ] as const) {
      if (!group.length) continue;
      const Wg = await fit(
        group.map((t, k) => ({ ...t, index: k })),
        layout,
      );
      group.forEach((t, k) => W.data.set(Wg.data.subarray(k * d, k * d + d), t.index * d));
    }
    return { W, biasPenalized };
  }

  private async call<I, O>(m: RegisteredMethod, input: I, round: number): Promise<O> {
    return (await this.invoke(m, input, this.options(m.stage), round, 'stage')) as O;
  }

  private async invoke(m: RegisteredMethod, input: unknown, options: Record<string, unknown>, round: number, purpose: StageContext['purpose']): Promise<unknown> {
    const ctx: StageContext = {
      round,
      rng: this.rng.fork(`${purpose}/round-${round}/${m.stage}`),
      executor: this.executor,
      cache: this.cache,
      purpose,
    };
    const context: ErrorContext = { plugin: m.plugin.meta.name, pluginVersion: m.plugin.meta.version, backend: m.backend, stage: m.stage, method: m.method, round };
    let out: unknown;
    try {
      out = await m.impl.run(m.stage === 'optimize' && m.plugin.meta.apiVersion < 2 ? v1Input(input as OptimizeInput) : input, options, ctx);
    } catch (thrown) {
      let e = thrown;
      if (e instanceof TaskFailure) {
        const task = (input as Partial<OptimizeInput>).tasks?.[e.index]?.id;
        if (task !== undefined) context.task = task;
        e = e.cause;
      }
      const ours = asWeightshareError(e);
      if (ours) {
        Object.assign(ours.context, { ...context, ...ours.context });
        throw ours;
      }
      throw pluginError(e, context);
    }
    // the contract before anything uses the output: a wrong type or length is the plugin's fault, said so by name
    const problem = stageOutputProblem(m.stage, input, out);
    if (problem) throw pluginError(new Error(`${problem}. The plugin breaks the plugin contract (docs/plugins.md); report it to its authors.`), context);
    return out;
  }

  private expectShape(M: DenseMatrix, rows: number, cols: number, m: RegisteredMethod, round: number, what: string): void {
    if (M.rows !== rows || M.cols !== cols || M.data.length !== rows * cols)
      throw pluginError(new Error(`returned ${what} of shape ${M.rows}×${M.cols}, expected ${rows}×${cols}`), {
        plugin: m.plugin.meta.name,
        pluginVersion: m.plugin.meta.version,
        stage: m.stage,
        method: m.method,
        round,
      });
    if (!allFinite(M.data))
      throw new WeightshareError(
        ErrorCode.NON_FINITE_LOSS,
        `${m.stage} (${m.method}, from ${m.plugin.meta.name}@${m.plugin.meta.version}) produced NaN or infinite ${what} in round ${round}. Lower the learning rate or λ, add ridge, or check the data for extreme values.`,
        { context: { stage: m.stage, method: m.method, round } },
      );
  }
}

/**
 * What a plugin API version 1 optimize method gets: `loss` as its name, no model (validation let such a method run
 * only a one-output linear model with the squared or logistic loss).
 */
function v1Input(input: OptimizeInput): unknown {
  const { model: _m, lambdas: _l, out: _o, ...rest } = input;
  return { ...rest, loss: input.loss.name };
}

/** Whether every metric is finite or undefined with a reason (a loop: this runs for every task of every evaluation). */
function metricsFinite(metrics: Record<string, number>, undefinedWhy: Record<string, string> | undefined): boolean {
  for (const k in metrics) if (!Number.isFinite(metrics[k]) && !undefinedWhy?.[k]) return false;
  return true;
}

/** How many pairs of tasks are together in one partition and apart in the other. */
function changedPairs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  for (let s = 0; s < a.length; s++) for (let t = s + 1; t < a.length; t++) if ((a[s] === a[t]) !== (b[s] === b[t])) n++;
  return n;
}

/**
 * fuse precision reads a fixed relation as the precision matrix of λ tr(WᵀAW): unless it is positive semi-definite
 * the objective has no minimum and the rounds would run away, so it is refused before any round.
 */
function checkPrecision(A: DenseMatrix, location: SourceLocation): void {
  if (!isPositiveSemidefinite(A))
    throw relationInvalid(
      'fuse precision reads the relation as the precision matrix of the penalty λ tr(WᵀAW), but this A is not positive semi-definite (its Cholesky factorization breaks down), so the penalty is unbounded below and the rounds would diverge. Give a positive semi-definite A, or let weightshare learn one: relation: { method: learn, form: covariance }.',
      location,
    );
}

/** The columns of M where keep[j] is 1. */
function dropColumns(M: DenseMatrix, keep: Uint8Array): DenseMatrix {
  const cols: number[] = [];
  keep.forEach((k, j) => k && cols.push(j));
  const out = zeros(M.rows, cols.length);
  for (let i = 0; i < M.rows; i++) cols.forEach((j, c) => (out.data[i * cols.length + c] = M.data[i * M.cols + j]!));
  return out;
}

/** All tasks' rows as one task (the pooled baseline). */
export function poolTasks(tasks: readonly TaskData[]): TaskData {
  const d = tasks[0]!.X.cols;
  const n = tasks.reduce((a, t) => a + t.y.length, 0);
  const X = zeros(n, d);
  const y = new Float64Array(n);
  let off = 0;
  for (const t of tasks) {
    X.data.set(t.X.data, off * d);
    y.set(t.y, off);
    off += t.y.length;
  }
  return { id: 'pooled', index: 0, X, y, biasColumn: tasks[0]!.biasColumn };
}

/** A fingerprint of the prepared data: every task's train and test rows, targets and bias position. */
function hashData(data: PreparedData): string {
  const parts: string[] = [data.featureNames.join(','), String(data.biasColumn)];
  for (const split of [data.train, data.test])
    for (const t of split) parts.push(t.id, matrixHash(t.X), matrixHash({ rows: 1, cols: t.y.length, data: t.y }));
  return jsonHash(parts);
}

/** SHA-256 of a file's contents, or null when it cannot be read (the stage itself then reports it). */
function fileHash(path: string): string | null {
  try {
    return sha256(readRegularFile(path));
  } catch {
    return null;
  }
}


/**
 * λ_j of every parameter: the spec's one λ, or the λ of each parameter's block when `lambda` is a map from block
 * names (validation checked that it names every block of the layout and nothing else).
 */
export function lambdasOf(lambda: unknown, layout: ModelLayout): Float64Array {
  const out = new Float64Array(layout.size);
  if (typeof lambda === 'number' || lambda === undefined) return out.fill(Number(lambda ?? 0));
  const byBlock = lambda as Record<string, unknown>;
  // a tied block ({ shared: true }) has no pull: it is one parameter for all tasks
  for (const b of layout.blocks) out.fill(typeof byBlock[b.name] === 'number' ? (byBlock[b.name] as number) : 0, b.offset, b.offset + b.size);
  return out;
}

/** The entries of the blocks that `lambda` marks `{ shared: true }` (1 = one copy for all tasks), or undefined. */
export function tiedOf(lambda: unknown, layout: ModelLayout): Uint8Array | undefined {
  if (lambda === null || typeof lambda !== 'object') return undefined;
  const byBlock = lambda as Record<string, unknown>;
  const tied = new Uint8Array(layout.size);
  let any = false;
  for (const b of layout.blocks) {
    const v = byBlock[b.name];
    if (v !== null && typeof v === 'object' && (v as { shared?: unknown }).shared === true) {
      tied.fill(1, b.offset, b.offset + b.size);
      any = true;
    }
  }
  return any ? tied : undefined;
}

/**
 * Independent initial fits of the last few runs, by prepared data (its identity: the data memo hands every run on
 * the same data the same object), the optimize method (its implementation object) and everything else they are a
 * pure function of (the key: init section, seed, loss, model, method with its options, backend options) — what the
 * stage cache keys them by, kept in memory. A λ grid or a sweep in one process fits each task alone once per data
 * set instead of once per run. Each run gets its own copy of the weights.
 */
const initMemo = new WeakMap<PreparedData, WeakMap<object, Map<string, StoredStage>>>();
const INIT_MEMO_SIZE = 8;

async function initFitsOnce(data: PreparedData, m: RegisteredMethod, key: string, compute: () => Promise<StoredStage>): Promise<StoredStage> {
  let byMethod = initMemo.get(data);
  if (!byMethod) initMemo.set(data, (byMethod = new WeakMap()));
  let byKey = byMethod.get(m.impl);
  if (!byKey) byMethod.set(m.impl, (byKey = new Map()));
  let hit = byKey.get(key);
  if (!hit) {
    hit = await compute();
    byKey.set(key, hit);
    if (byKey.size > INIT_MEMO_SIZE) byKey.delete(byKey.keys().next().value!);
  }
  const B = hit.matrices.B!;
  return { matrices: { B: { rows: B.rows, cols: B.cols, data: B.data.slice() } }, json: structuredClone(hit.json) };
}
