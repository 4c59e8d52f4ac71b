/**
 * The rounds: x → propagate → fuse → optimize → G(x), repeated until the change of the weights (and of the objective)
 * falls below `rounds.tol` or `rounds.max` rounds have run, optionally accelerated by Anderson mixing. Each stage runs
 * through {@link RoundContext.stage}, so every one is checkpointed and cached; a resumed run replays the same
 * decisions from the stored outputs (they are deterministic functions of them) and ends byte-identical.
 *
 * Stage ids: round r's own stages are `rNNNN-propagate`, `rNNNN-fuse`, `rNNNN-optimize` (propagate and fuse at the
 * round's input). The exact objective at round r's output W needs fuse(propagate(W)): when the next round starts from
 * W (plain steps) those are round r+1's own stages, computed once; when it starts from an Anderson extrapolation they
 * are extra stages `rNNNN-objective-propagate` / `-fuse`. After the last round, `r(N+1)-propagate/-fuse` give the
 * objective of the final weights.
 *
 * With `output.checkpoints: last` the loop's whole state after round r (the next input, the records so far, the
 * convergence test's and Anderson's memory) is one more checkpoint, `rNNNN-state`, keyed by everything the loop
 * depends on; the checkpoints of rounds ≤ r are then deleted. A resumed run starts from the latest state instead of
 * replaying every round, and continues exactly as the uninterrupted run did.
 */
import { type DenseMatrix, dot } from '../math/dense.js';
import type { FuseInput, FuseOutput, LossInfo, ModelInfo, OptimizeInput, OptimizeOutput, PropagateInput, PropagateOutput, StageName, TaskData, TaskOptimizeReport } from '../plugin/types.js';
import type { Convergence, ObjectiveValue, RoundRecord } from '../results.js';
import type { ResolvedSpec } from '../spec/types.js';
import type { RegisteredMethod } from './registry.js';
import type { StoredStage } from '../store/stage-store.js';
import type { Metrics } from '../eval/metrics.js';
import { Anderson } from './anderson.js';
import { exactPenalty, objectiveValue, ridgeTerm, type ObjectivePlan } from './objective.js';
import { pluginError } from '../errors.js';
import { allFinite } from '../math/dense.js';

/** What the round loop needs from the engine. */
export interface RoundContext {
  spec: ResolvedSpec;
  methods: Record<StageName, RegisteredMethod>;
  tasks: readonly TaskData[];
  /** The relation of round 1 (what the stages get as A). */
  relation: RelationState;
  /** Updates the relation from the current weights every `every` rounds (relation learn, or estimate with every). */
  relearn?: RelationLearner;
  sizes: number[];
  lambda: number;
  ridge: number;
  /** The run's loss and model (the optimize stage's input). */
  loss: LossInfo;
  model: ModelInfo;
  /** λ per parameter (length p). */
  lambdas: Float64Array;
  /** Entries of hard-shared blocks (one copy for all tasks), if any. */
  tied?: Uint8Array;
  /** Whether λ was given per parameter block (then `lambda` is 1 and `lambdas` weigh the penalty). */
  blockLambdas: boolean;
  objective: ObjectivePlan;
  /** A checkpointed stage (see Engine.stage). */
  stage(id: string, keyParts: () => Record<string, unknown>, compute: () => Promise<StoredStage>): Promise<StoredStage>;
  /** The stored outputs of a stage, if there are any (never computes). */
  stored(id: string, keyParts: () => Record<string, unknown>): StoredStage | undefined;
  /** Deletes this run's checkpoints whose id `drop` selects (`output.checkpoints: last`). */
  discard(drop: (id: string) => boolean): void;
  call<I, O>(m: RegisteredMethod, input: I, round: number): Promise<O>;
  expectShape(M: DenseMatrix, rows: number, cols: number, m: RegisteredMethod, round: number, what: string): void;
  /** Cache-key parts describing a method and its options. */
  about(m: RegisteredMethod, stage: StageName): Record<string, unknown>;
  hashes: { data(): string; matrix(M: DenseMatrix): string };
  /** Each task's data loss at W (through the executor where possible). */
  taskLosses(W: DenseMatrix): Promise<ArrayLike<number>>;
  /** Test metrics of W. */
  test(W: DenseMatrix): Metrics;
  phase(label: string): void;
  /**
   * Whether nothing can hold a stage's outputs after the loop is done with them (no stage store): then methods with
   * `spareOutput` get an engine-owned `out`, and the loop reuses that memory once it is dead (see {@link SpareBuffers}).
   */
  recycle?: boolean;
}

/** A relation as the rounds use it. */
export interface RelationState {
  /** What the stages get as A. */
  A: DenseMatrix;
  /** Matrices stored with it (a learned Ω, cluster labels as 1×T). */
  extra: Record<string, DenseMatrix>;
  /** The part of the penalty that does not depend on W (ε tr Ω⁻¹ of a learned covariance), without λ. */
  constant: number;
  /** What the update found (results.json, on the round that first used it). */
  info: Record<string, unknown>;
}

/** How the relation changes between rounds. */
export interface RelationLearner {
  every: number;
  /** Cache-key parts of the update besides its inputs (the relation spec, the penalty's weights, ε). */
  key: Record<string, unknown>;
  /** The relation for weights x, given the previous one; `round` is the round that will use it. */
  update(x: DenseMatrix, previous: RelationState, round: number): RelationState;
}

/** Whether round r starts with a relation update (never round 1: its relation is the run's `relation` stage). */
export function relationUpdates(learner: RelationLearner | undefined, r: number): boolean {
  return !!learner && r > 1 && (r - 1) % learner.every === 0;
}

/** The targets of one point: C = propagate(x), and E, c = fuse(C). */
interface Targets {
  C: DenseMatrix;
  E: DenseMatrix;
  c: Float64Array;
  diagnostics: RoundRecord['diagnostics'];
}

export interface RoundsOutcome {
  W: DenseMatrix;
  /** The targets the last round's optimize used. */
  E: DenseMatrix;
  rounds: RoundRecord[];
  convergence: Convergence;
  /** The relation the last round used. */
  relation: RelationState;
}

const pad = (r: number): string => String(r).padStart(4, '0');
const roundOf = (id: string): number => Number(/^r(\d{4})-/.exec(id)?.[1] ?? NaN);

/** The loop's state after a round, as `rNNNN-state` stores it (`x` and Anderson's points as matrices). */
interface LoopState {
  round: number;
  records: RoundRecord[];
  prevObjective: number | null;
  converged: boolean;
  convergedAt: number | null;
  lastChange: number;
  step: 'plain' | 'anderson';
  anderson?: { points: number; lastExtrapolated: boolean };
  /** The relation the next round starts from, when it changes between rounds (its matrices are `A` and `rel-*`). */
  relation?: { constant: number; info: Record<string, unknown> };
  /** The round at which the convergence test asked for a relation update. */
  forcedAt?: number;
}

export async function runRounds(ctx: RoundContext, B: DenseMatrix): Promise<RoundsOutcome> {
  const { spec, methods, tasks, sizes } = ctx;
  let rel = ctx.relation;
  let hashA: string | undefined;
  const hashOfA = (): string => (hashA ??= ctx.hashes.matrix(rel.A));
  const setRelation = (next: RelationState): void => {
    rel = next;
    hashA = undefined;
  };
  const T = B.rows;
  const p = B.cols;
  const R = spec.rounds;
  const plan = ctx.objective;
  const needsTargetsAtW = plan.kind === 'exact' && plan.form !== 'pairs';
  let accel = R.acceleration === 'anderson' ? new Anderson(R.memory) : undefined;
  const spare = ctx.recycle ? new SpareBuffers(T, p) : undefined;

  const targets = async (x: DenseMatrix, prefix: string, round: number): Promise<Targets> => {
    const diagnostics: RoundRecord['diagnostics'] = {};
    const A = rel.A;
    const prop = await ctx.stage(`${prefix}propagate`, () => ({ id: `${prefix}propagate`, seed: spec.seed, ...ctx.about(methods.propagate, 'propagate'), A: hashOfA(), B: ctx.hashes.matrix(x) }), async () => {
      const buffer = methods.propagate.impl.spareOutput ? spare?.take() : undefined;
      const out = await ctx.call<PropagateInput, PropagateOutput>(methods.propagate, { relation: A, weights: x, ...(buffer ? { out: buffer } : {}) }, round);
      spare?.unused(buffer, [out.propagated.data]);
      ctx.expectShape(out.propagated, T, p, methods.propagate, round, 'propagated');
      return { matrices: { C: out.propagated }, json: out.diagnostics ? { diagnostics: out.diagnostics } : {} };
    });
    const C = prop.matrices.C!;
    if (prop.json.diagnostics) diagnostics.propagate = prop.json.diagnostics as Record<string, unknown>;
    const fused = await ctx.stage(`${prefix}fuse`, () => ({ id: `${prefix}fuse`, seed: spec.seed, ...ctx.about(methods.fuse, 'fuse'), A: hashOfA(), C: ctx.hashes.matrix(C), sizes }), async () => {
      const buffer = methods.fuse.impl.spareOutput ? spare?.take() : undefined;
      const out = await ctx.call<FuseInput, FuseOutput>(methods.fuse, { propagated: C, relation: A, taskSizes: sizes, ...(buffer ? { out: buffer } : {}) }, round);
      spare?.unused(buffer, [out.targets.data, out.penaltyWeights]);
      ctx.expectShape(out.targets, T, p, methods.fuse, round, 'targets');
      if (!(out.penaltyWeights instanceof Float64Array) || out.penaltyWeights.length !== T || !allFinite(out.penaltyWeights))
        throw pluginError(new Error(`returned penaltyWeights that are not ${T} finite float64 values`), { plugin: methods.fuse.plugin.meta.name, stage: 'fuse', method: methods.fuse.method, round });
      return { matrices: { E: out.targets, c: { rows: 1, cols: T, data: out.penaltyWeights } }, json: out.diagnostics ? { diagnostics: out.diagnostics } : {} };
    });
    if (fused.json.diagnostics) diagnostics.fuse = fused.json.diagnostics as Record<string, unknown>;
    return { C, E: fused.matrices.E!, c: fused.matrices.c!.data, diagnostics };
  };

  const objectiveAt = async (W: DenseMatrix, used: Targets, atW: Targets | undefined): Promise<ObjectiveValue> => {
    const losses = await ctx.taskLosses(W);
    let loss = 0;
    for (let k = 0; k < tasks.length; k++) loss += losses[k]!;
    let rid = ctx.ridge ? ridgeTerm(W, tasks, ctx.ridge, ctx.model.layout.penalized) : 0;
    // a tied block is one parameter vector: its ridge counts once, not once per task
    if (ctx.ridge && ctx.tied) {
      const mask = ctx.model.layout.penalized;
      let s = 0;
      for (let j = 0; j < W.cols; j++) if (ctx.tied[j] && mask[j]) s += W.data[j]! * W.data[j]!;
      rid -= (tasks.length - 1) * ctx.ridge * s;
    }
    let penalty: number;
    const weights = ctx.blockLambdas ? ctx.lambdas : undefined;
    if (plan.kind === 'exact') penalty = exactPenalty(plan.form!, W, rel.A, atW?.E, atW?.c, weights) + rel.constant;
    else penalty = exactPenalty('targets', W, rel.A, used.E, used.c, weights);
    return objectiveValue(loss, penalty, rid, ctx.lambda);
  };

  let records: RoundRecord[] = [];
  let x = B;
  let xTargets: Targets | undefined;
  let W = B;
  let usedE = B;
  /** The output of the previous round (for the spare buffers). */
  let previousG: DenseMatrix | undefined;
  let prevObjective: number | undefined;
  let converged = false;
  let convergedAt: number | null = null;
  let lastChange = NaN;
  let step: 'plain' | 'anderson' = 'plain';
  // a relation update the convergence test asked for: the weights settled for a relation computed from older ones
  let forcedAt: number | null = null;
  const updatesAt = (k: number): boolean => relationUpdates(ctx.relearn, k) || forcedAt === k;
  let r = 0;
  const everyRound = spec.evaluate.everyRound !== false;

  // output.checkpoints: last — the loop's state is a checkpoint after every round; resume starts from the latest
  const snapshots = spec.output.checkpoints === 'last' && spec.output.write;
  const loopKey = (): Record<string, unknown> => ({
    seed: spec.seed,
    propagate: ctx.about(methods.propagate, 'propagate'),
    fuse: ctx.about(methods.fuse, 'fuse'),
    optimize: ctx.about(methods.optimize, 'optimize'),
    A: ctx.hashes.matrix(ctx.relation.A),
    relearn: ctx.relearn ? { every: ctx.relearn.every, ...ctx.relearn.key } : null,
    B: ctx.hashes.matrix(B),
    data: ctx.hashes.data(),
    loss: spec.loss,
    model: spec.model,
    rounds: R,
    lambdas: ctx.hashes.matrix({ rows: 1, cols: p, data: ctx.lambdas }),
    everyRound,
    sizes,
  });
  const stateKey = (id: string) => () => ({ id, loop: loopKey() });
  if (snapshots) {
    for (let k = R.max - 1; k >= 1; k--) {
      const id = `r${pad(k)}-state`;
      const hit = ctx.stored(id, stateKey(id));
      if (!hit) continue;
      const st = hit.json as unknown as LoopState;
      ({ records, converged, convergedAt, lastChange, step } = st);
      forcedAt = st.forcedAt ?? null;
      prevObjective = st.prevObjective ?? undefined;
      x = hit.matrices.x!;
      W = x;
      if (ctx.relearn && hit.matrices.A) {
        const extra = Object.fromEntries(Object.entries(hit.matrices).filter(([k]) => k.startsWith('rel-')).map(([k, v]) => [k.slice(4), v]));
        setRelation({ A: hit.matrices.A, extra, constant: st.relation?.constant ?? 0, info: st.relation?.info ?? {} });
      }
      if (accel && st.anderson)
        accel = Anderson.restore(R.memory, {
          points: Array.from({ length: st.anderson.points }, (_, i) => ({ x: hit.matrices[`h${i}x`]!.data, g: hit.matrices[`h${i}g`]!.data })),
          lastExtrapolated: st.anderson.lastExtrapolated,
        });
      // the next round's propagate/fuse at x, when the uninterrupted run had computed them already, are its checkpoints
      xTargets = undefined;
      r = st.round;
      break;
    }
  }
  const saveState = async (): Promise<void> => {
    const id = `r${pad(r)}-state`;
    const snap = accel?.snapshot();
    const matrices: Record<string, DenseMatrix> = { x };
    if (ctx.relearn) {
      matrices.A = rel.A;
      for (const [k, v] of Object.entries(rel.extra)) matrices[`rel-${k}`] = v;
    }
    snap?.points.forEach((q, i) => {
      matrices[`h${i}x`] = { rows: T, cols: p, data: q.x };
      matrices[`h${i}g`] = { rows: T, cols: p, data: q.g };
    });
    const state: LoopState = {
      round: r,
      records,
      prevObjective: prevObjective ?? null,
      converged,
      convergedAt,
      lastChange,
      step,
      ...(forcedAt !== null ? { forcedAt } : {}),
      ...(snap ? { anderson: { points: snap.points.length, lastExtrapolated: snap.lastExtrapolated } } : {}),
      ...(ctx.relearn ? { relation: { constant: rel.constant, info: rel.info } } : {}),
    };
    await ctx.stage(id, stateKey(id), async () => ({ matrices, json: state as unknown as Record<string, unknown> }));
    ctx.discard((other) => other !== id && roundOf(other) <= r);
  };

  while (r < R.max) {
    r++;
    const id = `r${pad(r)}-`;
    let relationInfo: Record<string, unknown> | undefined = r === 1 && ctx.relearn ? rel.info : undefined;
    if (updatesAt(r)) {
      ctx.phase(`round ${r}/${R.max} · relation`);
      const learner = ctx.relearn!;
      const before = rel;
      const stored = await ctx.stage(
        `${id}relation`,
        () => ({ id: `${id}relation`, seed: spec.seed, ...learner.key, every: learner.every, x: ctx.hashes.matrix(x), previous: hashOfA() }),
        async () => {
          const next = learner.update(x, before, r);
          const matrices: Record<string, DenseMatrix> = { A: next.A, ...next.extra };
          return { matrices, json: { constant: next.constant, info: next.info } };
        },
      );
      const { A: nextA, ...extra } = stored.matrices;
      setRelation({ A: nextA!, extra, constant: stored.json.constant as number, info: stored.json.info as Record<string, unknown> });
      relationInfo = rel.info;
      // targets computed at x with the previous relation are not this round's; the round map changed, so
      // Anderson's memory of the old one is dropped
      xTargets = undefined;
      if (accel) accel = new Anderson(R.memory);
    }
    ctx.phase(`round ${r}/${R.max} · propagate, fuse`);
    const own = xTargets ?? (await targets(x, id, r));
    ctx.phase(`round ${r}/${R.max} · optimize`);
    const opt = await ctx.stage(
      `${id}optimize`,
      () => ({
        id: `${id}optimize`,
        seed: spec.seed,
        ...ctx.about(methods.optimize, 'optimize'),
        dataHash: ctx.hashes.data(),
        loss: spec.loss,
        model: spec.model,
        // the pull per parameter (λ per block, a free bias) and the tied blocks
        lambdas: ctx.hashes.matrix({ rows: 1, cols: p, data: ctx.lambdas }),
        tied: ctx.tied ? Array.from(ctx.tied) : null,
        E: ctx.hashes.matrix(own.E),
        c: ctx.hashes.matrix({ rows: 1, cols: T, data: own.c }),
        W: ctx.hashes.matrix(x),
      }),
      async () => {
        const buffer = methods.optimize.impl.spareOutput ? spare?.take() : undefined;
        const out = await ctx.call<OptimizeInput, OptimizeOutput>(methods.optimize, { tasks, loss: ctx.loss, model: ctx.model, targets: own.E, penaltyWeights: own.c, lambdas: ctx.lambdas, start: x, ...(ctx.tied ? { tied: ctx.tied } : {}), ...(buffer ? { out: buffer } : {}) }, r);
        spare?.unused(buffer, [out.weights.data]);
        ctx.expectShape(out.weights, T, p, methods.optimize, r, 'weights');
        return {
          matrices: { W: out.weights },
          json: {
            diagnostics: {
              ...(out.diagnostics ?? {}),
              ...epochsSummary(out.perTask),
              ...trainingCurve(out.perTask),
            },
          },
        };
      },
    );
    const g = opt.matrices.W!;
    W = g;
    const previousE = usedE;
    usedE = own.E;
    const diagnostics: RoundRecord['diagnostics'] = { ...own.diagnostics, optimize: opt.json.diagnostics as Record<string, unknown> };
    // the relative change this round made
    lastChange = relativeChange(g.data, x.data);
    // the next input
    let next: DenseMatrix = g;
    let rejected = false;
    let nextStep: 'plain' | 'anderson' = 'plain';
    if (accel) {
      const s = accel.step(x.data, g.data);
      rejected = s.rejected;
      next = s.next === g.data ? g : { rows: T, cols: p, data: s.next };
      nextStep = s.extrapolated ? 'anderson' : 'plain';
    }
    const last = r === R.max;
    const record = everyRound || last || R.stopEarly;
    // fuse(propagate(g)): the next round's own targets when it starts from g, else extra stages for the objective
    let atW: Targets | undefined;
    // (the next round's own stages only when it starts from g with this relation)
    // converged for a relation computed from older weights is not converged: the next round updates it first, and
    // the rounds stop only when a round right after an update changes nothing (rounds: N keeps its schedule)
    const fresh = !ctx.relearn || r === 1 || relationInfo !== undefined;
    const wDone = lastChange <= R.tol;
    if (R.stopEarly && !fresh && wDone && !last && !updatesAt(r + 1)) forcedAt = r + 1;
    // the relation is learned from the next round's input, which the safeguard could no longer check once the
    // memory is reset: before an update the step is the plain one
    if (updatesAt(r + 1) && next !== g) {
      next = g;
      nextStep = 'plain';
    }
    const nextOwn = (next === g && !updatesAt(r + 1)) || last;
    if (needsTargetsAtW && record) {
      atW = nextOwn ? await targets(g, `r${pad(r + 1)}-`, r + 1) : await targets(g, `${id}objective-`, r + 1);
    }
    const entry: RoundRecord = {
      round: r,
      change: lastChange,
      ...(accel ? { step } : {}),
      ...(rejected ? { rejected: true as const } : {}),
      ...(relationInfo ? { relation: relationInfo } : {}),
      diagnostics,
    };
    let objectiveChange = 0;
    if (record) {
      const obj = await objectiveAt(g, own, atW);
      entry.objective = obj;
      // test metrics after every round with evaluate.everyRound, else after the last one only (below)
      if (everyRound) entry.test = ctx.test(g);
      objectiveChange = prevObjective === undefined ? Infinity : Math.abs(obj.total - prevObjective) / Math.max(Math.abs(obj.total), Number.MIN_VALUE);
      prevObjective = obj.total;
    }
    records.push(entry);
    const objDone = !(everyRound || R.stopEarly) || objectiveChange <= R.tol || (r === 1 && wDone);
    if (!entry.test && (last || (R.stopEarly && !rejected && wDone && objDone && fresh))) entry.test = ctx.test(g);
    if (!rejected && wDone && objDone && fresh) {
      if (!converged) convergedAt = r;
      converged = true;
      if (R.stopEarly) break;
    } else if (!R.stopEarly) {
      converged = false;
      convergedAt = null;
    }
    if (last) break;
    xTargets = nextOwn && atW ? atW : undefined;
    if (spare) {
      // what this round made and the next one does not use: its propagated weights, the previous round's targets, its
      // own input and the previous round's output (unless a relation learner may keep them; under acceleration the
      // input is a mixed point and the output stays in Anderson's history until it drops out, which \`live\` says), and
      // the targets at g when the next round starts elsewhere
      const dead = [own.C.data, previousE.data, ctx.relearn ? undefined : x.data, ctx.relearn ? undefined : previousG?.data];
      if (atW && atW !== xTargets) dead.push(atW.C.data, atW.E.data);
      const live: (ArrayBufferView | undefined)[] = [next.data, g.data, B.data, usedE.data, xTargets?.C.data, xTargets?.E.data, xTargets?.c, rel.A.data, ...Object.values(rel.extra).map((m) => m.data)];
      for (const q of accel?.snapshot().points ?? []) live.push(q.x, q.g);
      spare.give(dead, live);
    }
    previousG = g;
    x = next;
    step = nextStep;
    if (snapshots) await saveState();
  }
  // with everyRound false and a fixed number of rounds the last record already has its objective
  return {
    W,
    E: usedE,
    rounds: records,
    relation: rel,
    convergence: { converged, round: convergedAt, tol: R.tol, rounds: r, max: R.max, stopEarly: R.stopEarly, acceleration: R.acceleration, lastChange },
  };
}

/**
 * ‖g − x‖ / ‖g‖ (‖g‖ = 0 counts as 1): the relative change a round made. A function of its own: runRounds is large
 * and async, so V8 optimizes it late and deoptimizes it now and then; this loop over all the weights then stays fast.
 */
function relativeChange(g: Float64Array, x: Float64Array): number {
  let diff = 0;
  for (let i = 0; i < g.length; i++) diff += (g[i]! - x[i]!) ** 2;
  const gn = Math.sqrt(dot(g, g));
  return Math.sqrt(diff) / (gn > 0 ? gn : 1);
}

/**
 * The T×p output buffers of the round loop (the plugin contract's OutputBuffer): `take` hands a stage a zero-filled
 * matrix in memory the engine allocated, and once the loop is done with what a stage returned in it, `give` takes
 * that memory back for a later stage — so a run of rounds whose methods fill `out` stops allocating three T×p arrays
 * a round. Only memory this pool allocated ever circulates (arrays a method allocated itself are never reused), never
 * memory that is still live (compared by buffer: a view of a live array counts as live), never twice; at most four
 * are kept.
 */
class SpareBuffers {
  private readonly free: Float64Array[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();
  constructor(
    private readonly rows: number,
    private readonly cols: number,
  ) {}

  /** A zero-filled rows×cols matrix: a spare one, or a new one the pool owns. */
  take(): DenseMatrix {
    let data = this.free.pop();
    if (data) data.fill(0);
    else {
      data = new Float64Array(this.rows * this.cols);
      this.owned.add(data.buffer);
    }
    return { rows: this.rows, cols: this.cols, data };
  }

  /** Takes back an `out` the stage did not use: none of its returned arrays lies in that memory. */
  unused(out: DenseMatrix | undefined, returned: readonly (ArrayBufferView | undefined)[]): void {
    if (out && !returned.some((a) => a?.buffer === out.data.buffer)) this.keep(out.data);
  }

  /** Keeps the arrays of `dead` that are the pool's own memory and lie in none of the `live` ones' memory. */
  give(dead: readonly (Float64Array | undefined)[], live: readonly (ArrayBufferView | undefined)[]): void {
    for (const a of dead) if (a && !live.some((l) => l?.buffer === a.buffer)) this.keep(a);
  }

  private keep(a: Float64Array): void {
    if (this.free.length >= 4 || !this.owned.has(a.buffer) || a.length !== this.rows * this.cols || a.byteOffset !== 0) return;
    if (this.free.some((f) => f.buffer === a.buffer)) return;
    this.free.push(a);
  }
}

/** The most epochs any task took and how many tasks did not converge, in one pass over the reports. */
function epochsSummary(perTask: readonly TaskOptimizeReport[]): { maxEpochs: number; notConverged: number } {
  let maxEpochs = 0;
  let notConverged = 0;
  for (let k = 0; k < perTask.length; k++) {
    const q = perTask[k]!;
    maxEpochs = Math.max(maxEpochs, q.epochs);
    if (!q.converged) notConverged++;
  }
  return { maxEpochs, notConverged };
}

/** The most points of a round's training curve kept in results.json (longer curves keep every k-th epoch). */
const CURVE_POINTS = 1000;

/**
 * The round's training curve: the sum over tasks of each task's objective per epoch (a task that stopped early
 * counts with its last value), as `curve` with `curveEvery` k when only every k-th epoch is kept.
 */
function trainingCurve(perTask: readonly TaskOptimizeReport[]): { curve?: number[]; curveEvery?: number } {
  const curves: (readonly number[])[] = [];
  let epochs = 0;
  for (let k = 0; k < perTask.length; k++) {
    const c = perTask[k]!.curve;
    if (!Array.isArray(c) || c.length === 0) continue;
    curves.push(c);
    epochs = Math.max(epochs, c.length);
  }
  if (!curves.length) return {};
  const every = Math.ceil(epochs / CURVE_POINTS);
  const curve: number[] = [];
  for (let e = 0; e < epochs; e += every) {
    let s = 0;
    for (const c of curves) s += c[Math.min(e, c.length - 1)]!;
    curve.push(s);
  }
  return every > 1 ? { curve, curveEvery: every } : { curve };
}
