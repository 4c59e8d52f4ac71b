/**
 * Option schemas of the standard stage methods, owned by the framework so that every backend's `mean`, `adam`, …
 * accepts the same options under the same names (what makes `--backend` a swap, not a rewrite). Plugins spread
 * these into their methods' `options` and add their own (e.g. solver tolerances).
 */
import type { JsonSchema } from './types.js';

/** fuse: one global target or one per task. */
export const scopeOption: Record<string, JsonSchema> = {
  scope: {
    enum: ['global', 'per-task'],
    default: 'global',
    description: "global: one target E for all tasks; per-task: each task's target from its neighbours in the relation (A[t][s] > 0, s ≠ t).",
  },
};

/** fuse weighted-mean. */
export const weightedMeanOptions: Record<string, JsonSchema> = {
  ...scopeOption,
  weights: { enum: ['sizes', 'degree', 'given', 'edges'], default: 'sizes', description: 'Where task weights come from.' },
  values: { type: 'array', items: { type: 'number', minimum: 0 }, minItems: 1, description: 'Task weights for weights: given (one per task, ≥ 0).' },
};

/** propagate laplacian. */
export const laplacianOptions: Record<string, JsonSchema> = {
  alpha: { type: 'number', minimum: 0, default: 1, description: 'Smoothing strength α ≥ 0.' },
};

/** propagate ppr. */
export const pprOptions: Record<string, JsonSchema> = {
  alpha: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.15, description: 'Teleport probability α in (0, 1]: larger keeps C closer to B.' },
};

/** Every optimize method. */
export const optimizeOptions: Record<string, JsonSchema> = {
  lambda: {
    anyOf: [
      { type: 'number', minimum: 0 },
      {
        type: 'object',
        minProperties: 1,
        additionalProperties: {
          anyOf: [
            { type: 'number', minimum: 0 },
            { type: 'object', properties: { shared: { const: true } }, required: ['shared'], additionalProperties: false },
          ],
        },
      },
    ],
    default: 1,
    description:
      'λ: strength of the pull λ·c_t‖w_t − E_t‖² towards the fused target; or one λ per parameter block of the model, e.g. { layer1: 100, output: 1 } (methods that read input.lambdas), where { shared: true } ties a block: one copy for all tasks (hard sharing).',
  },
  ridge: { type: 'number', minimum: 0, default: 1, description: 'ρ: ridge penalty ρ‖w‖² on every weight but the bias (also the default of init.ridge and evaluate.baselineRidge).' },
};

/** Iterative optimizers; the defaults depend on the backend's precision. */
export const iterativeOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  epochs: { type: 'integer', minimum: 1, default: defaults.epochs, description: 'Epoch budget per task per round.' },
  tol: { type: 'number', minimum: 0, default: defaults.tol, description: 'Stop a task when ‖∇f(w)‖ ≤ tol·‖∇f(0)‖ (checked once per epoch).' },
});

/** optimize gd. */
export const gdOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  ...optimizeOptions,
  ...iterativeOptions(defaults),
  lr: { type: 'number', exclusiveMinimum: 0, description: 'Fixed step size; default 1/L, from the largest eigenvalue of XᵀX.' },
});

/** optimize sgd. */
export const sgdOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  ...optimizeOptions,
  ...iterativeOptions(defaults),
  batchSize: { type: 'integer', minimum: 1, default: 32, description: 'Rows per mini-batch.' },
  lr: { type: 'number', exclusiveMinimum: 0, description: 'Initial step size; default 1/L.' },
  decay: { type: 'number', minimum: 0, default: 0.05, description: 'Step decay per epoch.' },
});

/** optimize adam. */
export const adamOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  ...optimizeOptions,
  ...iterativeOptions(defaults),
  lr: { type: 'number', exclusiveMinimum: 0, default: 0.01, description: 'Step size.' },
  beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'Decay of the first-moment estimate.' },
  beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.999, description: 'Decay of the second-moment estimate.' },
  epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-8, description: 'Added to the denominator.' },
  batchSize: { type: 'integer', minimum: 1, description: 'Rows per mini-batch; default: all rows (full batch).' },
});

/** optimize lbfgs. */
export const lbfgsOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  ...optimizeOptions,
  epochs: { type: 'integer', minimum: 1, default: defaults.epochs, description: 'Iteration budget per task per round (one line search each).' },
  tol: { type: 'number', minimum: 0, default: defaults.tol, description: 'Stop a task when ‖∇f(θ)‖ ≤ tol·‖∇f(0)‖, or when the line search can no longer decrease f.' },
  memory: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Correction pairs (s, y) kept for the inverse-Hessian estimate.' },
});

/** optimize newton. */
export const newtonOptions = (defaults: { epochs: number; tol: number }): Record<string, JsonSchema> => ({
  ...optimizeOptions,
  epochs: { type: 'integer', minimum: 1, default: defaults.epochs, description: 'Newton iterations per task per round.' },
  tol: { type: 'number', minimum: 0, default: defaults.tol, description: 'Stop a task when ‖∇f(θ)‖ ≤ tol·‖∇f(0)‖, or when a damped step no longer decreases f.' },
});

/** propagate solve/inverse: what to do with a singular or badly conditioned A, and the ε of the fallbacks. */
export const onSingularOptions = (onSingularDescription: string): Record<string, JsonSchema> => ({
  onSingular: { enum: ['error', 'pinv', 'ridge'], default: 'error', description: onSingularDescription },
  epsilon: { type: 'number', exclusiveMinimum: 0, default: 1e-6, description: 'ε of the fallbacks, relative to ‖A‖₁.' },
});
