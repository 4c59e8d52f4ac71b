import { choleskyMirrored, choleskySolveMirrored, linearSystemSingular, outputMatrix, refOf, standardOptions, TaskFailure, type OptimizeInput, type OptimizeOutput, type StageContext, type StageMethod, type TaskOptimizeReport } from '@weightshare/framework';
import { cholesky, choleskySolve } from '../linalg.js';
import { simd } from '@weightshare/framework';
const { kernels, reserve, residentBlock, scratchBase } = simd;
import { perTask, statsBack, statsFor, statsOfTasks, type TaskItem, type TaskResult, type TaskStats } from './optimize-common.js';

/** The normal-equations matrix XᵀX + diag(pulls + ρ·mask), factorized; throws LINEAR_SYSTEM_SINGULAR naming the task. */
function factorOf(G: Float64Array, d: number, pulls: ArrayLike<number>, ridge: number, mask: Uint8Array, task: string, rows: number, round: number): Float64Array {
  const H = new Float64Array(G);
  for (let j = 0; j < d; j++) H[j * d + j]! += pulls[j]! + (mask[j] ? ridge : 0);
  const L = cholesky(H, d);
  if (!L) throw singular(task, rows, d, round);
  return L;
}

/** One task: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e by Cholesky. The worker entry of resident executors (fn(item, index)). */
export function solveExact(item: TaskItem): TaskResult {
  const stats = statsFor(item);
  const L = factorOf(stats.G, stats.d, item.pulls, item.ridge, item.ref.model.layout.penalized, item.task.id, stats.n, item.round);
  const rhs = new Float64Array(stats.d);
  for (let j = 0; j < stats.d; j++) rhs[j] = stats.b[j]! + item.pulls[j]! * item.e[j]!;
  return { w: choleskySolve(L, stats.d, rhs, 1), report: EXACT, ...statsBack(item, stats) };
}

/** The report of every exact solve (shared: one object less per task per round). */
const EXACT: TaskResult['report'] = Object.freeze({ epochs: 1, converged: true });

/**
 * Every task's factor in one contiguous block, by task index, with what each was computed from (the statistics
 * object, the pull per parameter and ρ): a round reuses a factor whose inputs did not change, which in a run of
 * rounds is every one after the first. One per run (the stage context's cache).
 */
interface FactorBlock {
  d: number;
  /** Each task's L with Lᵀ mirrored into its upper triangle (both triangular sweeps then read rows), T×d×d. */
  L: Float64Array;
  G: (Float64Array | undefined)[];
  /** The pull per parameter of each task's factor (λ_j·c_t), T×d. */
  pulls: Float64Array;
  ridge: Float64Array;
  /** The penalty weight c_t of each task's factor, and the λ per parameter all factors were made with. */
  c: Float64Array;
  lambdas: Float64Array;
  /** The ridge mask (the model's penalized entries) all factors were made with. */
  mask: Uint8Array;
  /** The right-hand sides of a round, T×d (reused: one buffer per run instead of one per round). */
  rhs: Float64Array;
  /** Bumped whenever a factor changes (the kernel memory holds a copy of L while it stays the same). */
  version: number;
}

/**
 * The block of the last run, while it is alive: the runs of a λ grid or a sweep in one process reuse its memory
 * (~1 MB for School) instead of each touching a fresh one. Sharing is safe: every call checks each factor against
 * its own inputs, and the checks, factorizations and solves of a call run without an await in between.
 */
let recentBlock: WeakRef<FactorBlock> | undefined;

function factorBlock(ctx: StageContext, T: number, d: number): FactorBlock {
  const key = 'plugin-cpu/exact-factors';
  let block = ctx.cache.get(key) as FactorBlock | undefined;
  if (!block || block.d !== d || block.G.length !== T) {
    const recent = recentBlock?.deref();
    if (recent && recent.d === d && recent.G.length === T) {
      ctx.cache.set(key, recent);
      return recent;
    }
    block = {
      d,
      L: new Float64Array(T * d * d),
      G: new Array(T).fill(undefined),
      pulls: new Float64Array(T * d),
      ridge: new Float64Array(T),
      c: new Float64Array(T),
      lambdas: new Float64Array(d).fill(NaN),
      mask: new Uint8Array(d),
      rhs: new Float64Array(T * d),
      version: 0,
    };
    ctx.cache.set(key, block);
    recentBlock = new WeakRef(block);
  }
  return block;
}

/**
 * The solves of a round, in process over all tasks at once: a factorization depends only on the task, ρ and its
 * pulls, so after the first round a task's solve is two triangular sweeps over its cached factor (2d² flops), less
 * than handing it to a thread would cost; all of them run in one call of the SIMD kernel over the contiguous block
 * of factors. XᵀX, which a first call may have to compute (O(nd²)), goes through the executor (worker threads
 * under --threads). A round after the first allocates only its output.
 */
async function solveAll(input: OptimizeInput, options: Record<string, unknown>, ctx: StageContext): Promise<OptimizeOutput> {
  const tasks = input.tasks;
  const T = input.targets.rows;
  const P = input.targets.cols;
  const stats: TaskStats[] = await statsOfTasks(tasks, ctx, 'optimize/exact');
  const block = factorBlock(ctx, T, P);
  const ridge = options.ridge as number;
  const mask = input.model.layout.penalized;
  const lambdas = input.lambdas;
  const weights = input.penaltyWeights;
  const E = input.targets.data;
  const rhs = block.rhs;
  // a factor is current when its statistics, ρ, c_t, every λ_j and the ridge mask are the ones it was made with (λ
  // and the mask are one vector for all tasks: compared once)
  let sameLambdas = true;
  for (let j = 0; j < P; j++) if (block.lambdas[j] !== lambdas[j] || block.mask[j] !== mask[j]) sameLambdas = false;
  // given some of the rows only, the factors of the others could not be vouched for after λ and the mask are updated
  if (tasks.length !== T) block.G.fill(undefined);
  const stale: number[] = []; // positions in `tasks` whose factor must be computed
  for (let k = 0; k < tasks.length; k++) {
    const t = tasks[k]!.index;
    const s = stats[k]!;
    const c = weights[t]!;
    const o = t * P;
    rightHandSide(rhs, o, s.b, lambdas, c, E, P);
    if (sameLambdas && block.G[t] === s.G && block.ridge[t] === ridge && block.c[t] === c) continue;
    stale.push(k);
    block.G[t] = undefined;
    block.ridge[t] = ridge;
    block.c[t] = c;
    for (let j = 0; j < P; j++) block.pulls[o + j] = lambdas[j]! * c;
  }
  if (stale.length) {
    factorInto(block, stale.map((k) => ({ t: tasks[k]!.index, G: stats[k]!.G })), P, ridge, mask, (i, e) => {
      const k = stale[i]!;
      return new TaskFailure(k, 'optimize/exact', singular(tasks[k]!.id, stats[k]!.n, P, ctx.round));
    });
    for (const k of stale) block.G[tasks[k]!.index] = stats[k]!.G;
    block.lambdas.set(lambdas);
    block.mask.set(mask);
    block.version++;
  }
  return { weights: { rows: T, cols: P, data: choleskySolves(block, rhs, T, P, outputMatrix(input.out, T, P).data) }, perTask: exactReports(T) };
}

/** rhs[o + j] = b_j + λ_j·c·E[o + j] for j < P: a task's right-hand side (a small function: it is optimized early). */
function rightHandSide(rhs: Float64Array, o: number, b: Float64Array, lambdas: Float64Array, c: number, E: Float64Array, P: number): void {
  for (let j = 0; j < P; j++) rhs[o + j] = b[j]! + lambdas[j]! * c * E[o + j]!;
}

/** T reports of an exact solve (one frozen array per task count, shared: the engine only reads them). */
const reportsByCount = new Map<number, TaskOptimizeReport[]>();
function exactReports(T: number): TaskOptimizeReport[] {
  let r = reportsByCount.get(T);
  if (!r) {
    r = Object.freeze(new Array<TaskOptimizeReport>(T).fill(EXACT)) as TaskOptimizeReport[];
    reportsByCount.set(T, r);
    if (reportsByCount.size > 16) reportsByCount.delete(reportsByCount.keys().next().value!);
  }
  return r;
}

/** The normal equations of a task are not positive definite: LINEAR_SYSTEM_SINGULAR naming the task and the fix. */
function singular(task: string, rows: number, d: number, round: number): Error {
  return linearSystemSingular(`the normal equations of task "${task}" (${rows} rows, ${d} features)`, Infinity, 1e12, 'Set stages.optimize.ridge > 0 (or λ > 0), or use fewer features.', { task, round });
}

/**
 * Factorizes XᵀX + diag(pulls + ρ·mask) of the listed tasks into their slots of the block (L with Lᵀ mirrored), all
 * in one kernel call where WebAssembly SIMD runs. `fail(i)` is the error for the i-th listed task.
 */
function factorInto(block: FactorBlock, list: { t: number; G: Float64Array }[], P: number, ridge: number, mask: Uint8Array, fail: (i: number, e?: unknown) => Error): void {
  const k = kernels();
  const P2 = P * P;
  const diag = (t: number, j: number): number => block.pulls[t * P + j]! + (mask[j] ? ridge : 0);
  if (k) {
    const mem = reserve(k, list.length * P2);
    list.forEach(({ t, G }, i) => {
      mem.set(G, i * P2);
      for (let j = 0; j < P; j++) mem[i * P2 + j * P + j]! += diag(t, j);
    });
    const bad = k.cholFactors(scratchBase(), list.length, P);
    if (bad) throw fail(bad - 1);
    // every task in index order (a run's first round): one copy
    if (list.every(({ t }, i) => t === i)) block.L.set(mem.subarray(0, list.length * P2));
    else list.forEach(({ t }, i) => block.L.set(mem.subarray(i * P2, (i + 1) * P2), t * P2));
    return;
  }
  list.forEach(({ t, G }, i) => {
    const at = t * P2;
    block.L.set(G, at);
    for (let j = 0; j < P; j++) block.L[at + j * P + j]! += diag(t, j);
    if (!choleskyMirrored(block.L, at, P)) throw fail(i);
  });
}

/** (L Lᵀ) w = r for every task's factor in the block, into W (T×P): one kernel call where WebAssembly SIMD runs, else row loops. */
function choleskySolves(block: FactorBlock, rhs: Float64Array, T: number, P: number, W: Float64Array): Float64Array {
  const k = kernels();
  if (k) {
    const at = residentBlock(k, block, block.version, block.L);
    const mem = reserve(k, 2 * T * P);
    mem.set(rhs, 0);
    const base = scratchBase();
    k.cholSolves(at, T, P, base, base + T * P * 8);
    W.set(mem.subarray(T * P, 2 * T * P));
    return W;
  }
  for (let t = 0; t < T; t++) choleskySolveMirrored(block.L, t * P * P, P, rhs, t * P, W, t * P);
  return W;
}

/**
 * The exact minimizer for squared loss: (XᵀX + ρP + λc·I) w = Xᵀy + λc·e, solved by Cholesky from the cached
 * sufficient statistics. Each task's factor is kept across rounds (H depends only on the task, λc_t, ρ). Where the
 * tasks live on other machines (a resident executor) each task's solve goes to them instead.
 */
export const optimizeExact: StageMethod<OptimizeInput, OptimizeOutput> = {
  spareOutput: true,
  description: 'Exact solution of the normal equations (squared loss only; Cholesky).',
  blockLambdas: true,
  losses: ['squared'],
  models: ['linear'],
  options: standardOptions.optimizeOptions,
  run(input, options, ctx) {
    if (input.loss.name !== 'squared' || !input.model.layout.linear || input.model.layout.outputs !== 1)
      throw new Error('the exact optimizer needs the squared loss and a one-output linear model; use lbfgs, newton, gd, sgd or adam');
    if (!ctx.executor.resident || !refOf(input.loss, input.model)) return solveAll(input, options, ctx);
    return perTask('optimize/exact', input, options, ctx, { module: import.meta.url, export: 'solveExact' }, (item) => solveExact(item), false);
  },
};

