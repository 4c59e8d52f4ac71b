/**
 * What a stage method returns is checked before anything uses it: the shape of the output object, the type
 * (Float64Array), length and finiteness of every matrix and vector, and the length of `perTask`. A plugin that breaks
 * the contract is blamed by name (PLUGIN_ERROR) instead of surfacing later as an INTERNAL error, or, for a short
 * `perTask`, not at all.
 */
import type { DenseMatrix } from '../math/dense.js';
import type { FuseInput, OptimizeInput, PropagateInput, StageName } from '../plugin/types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** How a value is described in a message: `an Array`, `undefined`, `a Float32Array`… */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'an Array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'object') return `an object`;
  return `a ${typeof v}`;
}

/** Why `m` is not a rows×cols DenseMatrix of float64 values (finiteness is checked separately), or undefined. */
export function matrixProblem(m: unknown, rows: number, cols: number, what: string): string | undefined {
  if (!isObject(m)) return `returned ${what} as ${kindOf(m)}, expected a DenseMatrix { rows: ${rows}, cols: ${cols}, data: Float64Array }`;
  const M = m as Partial<DenseMatrix>;
  if (M.rows !== rows || M.cols !== cols) return `returned ${what} of shape ${String(M.rows)}×${String(M.cols)}, expected ${rows}×${cols}`;
  if (!(M.data instanceof Float64Array)) return `returned ${what}.data as ${kindOf(M.data)}, expected a Float64Array (float32 backends convert their results to float64)`;
  if (M.data.length !== rows * cols) return `returned ${what}.data of length ${M.data.length}, expected ${rows}×${cols} = ${rows * cols}`;
  return undefined;
}

/** Why `v` is not a Float64Array of n values, or undefined. */
export function vectorProblem(v: unknown, n: number, what: string): string | undefined {
  if (!(v instanceof Float64Array)) return `returned ${what} as ${kindOf(v)}, expected a Float64Array of ${n} values`;
  if (v.length !== n) return `returned ${what} of length ${v.length}, expected ${n} (one per task)`;
  for (let i = 0; i < n; i++) if (!Number.isFinite(v[i]!)) return `returned ${what} with ${v[i]} at entry ${i}, expected finite values`;
  return undefined;
}

/** Why a stage method's output breaks the contract, given the input it was called with; undefined when it does not. */
export function stageOutputProblem(stage: StageName, input: unknown, out: unknown): string | undefined {
  if (!isObject(out)) return `returned ${kindOf(out)}, expected an object (see the ${stage} output type in the plugin contract)`;
  if (stage === 'propagate') {
    const B = (input as PropagateInput).weights;
    return matrixProblem(out.propagated, B.rows, B.cols, 'propagated');
  }
  if (stage === 'fuse') {
    const C = (input as FuseInput).propagated;
    return matrixProblem(out.targets, C.rows, C.cols, 'targets') ?? vectorProblem(out.penaltyWeights, C.rows, 'penaltyWeights');
  }
  const { start, tied } = input as OptimizeInput;
  const problem = matrixProblem(out.weights, start.rows, start.cols, 'weights');
  if (problem) return problem;
  if (tied) {
    // a tied entry is one parameter: every task's row must hold the same value there
    const W = (out.weights as DenseMatrix).data;
    for (let j = 0; j < start.cols; j++) {
      if (!tied[j]) continue;
      for (let t = 1; t < start.rows; t++)
        if (W[t * start.cols + j] !== W[j]) return `returned weights whose tied entry ${j} differs between tasks (${W[j]} for the first, ${W[t * start.cols + j]} for task row ${t}); a block marked { shared: true } is one value for all tasks`;
    }
  }
  const perTask = out.perTask;
  if (!Array.isArray(perTask)) return `returned perTask as ${kindOf(perTask)}, expected an array with one { epochs, converged } per task`;
  if (perTask.length !== start.rows) return `returned perTask with ${perTask.length} entries for ${start.rows} tasks, expected one per task`;
  for (let t = 0; t < perTask.length; t++) {
    const r = perTask[t] as unknown;
    if (!isObject(r) || typeof r.epochs !== 'number' || !Number.isFinite(r.epochs) || typeof r.converged !== 'boolean')
      return `returned perTask[${t}] as ${isObject(r) ? JSON.stringify(r).slice(0, 60) : kindOf(r)}, expected { epochs: number, converged: boolean }`;
  }
  return undefined;
}
