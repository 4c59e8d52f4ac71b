/**
 * The run's loss and model: chosen by the spec, implemented by the framework (built-ins) or a plugin, and the
 * framework's float64 evaluation of them — the per-task data loss of the objective and the model's outputs on new
 * rows — used whatever backend the stages ran on.
 */
import { kernels, linearSum } from '../math/wasm/kernels.js';
import type { PluginRegistry } from '../engine/registry.js';
import type { LossComponent, LossInfo, ModelComponent, ModelInfo, ModelLayout, TaskData } from '../plugin/types.js';
import { componentOptions, type ComponentSpec } from '../spec/types.js';
import { BUILTIN_LOSSES, logisticLoss, outputsOf } from './losses.js';
import { BUILTIN_MODELS } from './models.js';

export * from './losses.js';
export * from './models.js';
export { mlpModel, mlpLayout, type Activation } from './mlp.js';

/** The loss a spec names, with its options. */
export function lossOf(registry: PluginRegistry, loss: ComponentSpec, classes?: readonly (string | number)[]): LossInfo {
  const c = registry.loss(loss.method);
  if (!c) throw new Error(`loss "${loss.method}" is not registered`); // validation refuses such specs first
  return { name: loss.method, options: componentOptions(loss), component: c.impl, ...(classes ? { classes } : {}) };
}

/** The model a spec names, laid out for d features (bias column `biasColumn`) and the loss's outputs. */
export function modelOf(registry: PluginRegistry, model: ComponentSpec, loss: LossInfo, features: number, biasColumn: number): ModelInfo {
  const c = registry.model(model.method);
  if (!c) throw new Error(`model "${model.method}" is not registered`);
  const options = componentOptions(model);
  const outputs = outputsOf(loss.component, loss.classes?.length ?? 1);
  return { name: model.method, options, component: c.impl, layout: c.impl.layout({ features, outputs, biasColumn }, options) };
}

/**
 * What travels to a worker thread instead of the components (functions do not survive structured cloning): names,
 * options and the layout. Only built-in components can be looked up there; a run with a plugin's loss or model
 * evaluates in process.
 */
export interface ComponentRef {
  loss: { name: string; options: Record<string, unknown> };
  model: { name: string; options: Record<string, unknown>; layout: ModelLayout };
}

export function refOf(loss: LossInfo, model: ModelInfo): ComponentRef | undefined {
  if (BUILTIN_LOSSES[loss.name] !== loss.component || BUILTIN_MODELS[model.name] !== model.component) return undefined;
  return { loss: { name: loss.name, options: loss.options }, model: { name: model.name, options: model.options, layout: model.layout } };
}

/** The components a {@link ComponentRef} names (built-ins only). */
export function fromRef(ref: ComponentRef): { loss: LossComponent; model: ModelComponent } {
  return { loss: BUILTIN_LOSSES[ref.loss.name]!, model: BUILTIN_MODELS[ref.model.name]! };
}

/** Z = f(X_t, θ) of a task's rows (n×k). */
export function outputsFor(task: Pick<TaskData, 'X'>, theta: Float64Array, model: Pick<ModelInfo, 'component' | 'layout' | 'options'>): Float64Array {
  const n = task.X.rows;
  const Z = new Float64Array(n * model.layout.outputs);
  model.component.forward(model.layout, theta, task.X.data, n, Z, model.options);
  return Z;
}

/**
 * Σ_i L(y_i, f(x_i, θ)) over a task's rows. One-output linear models with the squared or logistic loss take one
 * fused pass without a prediction vector (the engine calls this for every task after every round).
 */
export function dataLoss(
  task: Pick<TaskData, 'X' | 'y'>,
  theta: ArrayLike<number>,
  loss: Pick<LossInfo, 'name' | 'component' | 'options'>,
  model: Pick<ModelInfo, 'component' | 'layout' | 'options'>,
): number {
  const { layout } = model;
  if (layout.linear && layout.outputs === 1 && (loss.name === 'squared' || loss.name === 'logistic') && BUILTIN_LOSSES[loss.name] === loss.component)
    return linearLoss(task, theta, loss.name === 'squared');
  const th = theta instanceof Float64Array ? theta : Float64Array.from(theta);
  return loss.component.value(task.y, outputsFor(task, th, model), layout.outputs, null, loss.options);
}


/**
 * The fused pass of {@link dataLoss}: z = Xw in the SIMD kernel where WebAssembly SIMD runs (for every task, so the
 * numbers are the same on any thread and whichever way the rows reach the kernel), else four rows at a time (four
 * independent dot products sharing the loads of w); the loss terms summed in row order either way.
 */
function linearLoss(t: Pick<TaskData, 'X' | 'y'>, w: ArrayLike<number>, squared: boolean): number {
  const { rows: n, cols: d, data: X } = t.X;
  const y = t.y;
  const term = (z: number, yi: number): number => (squared ? (yi - z) ** 2 : logisticLoss(z, yi));
  const k = kernels();
  if (k) return linearSum(k, X, y, n, d, w, term);
  let s = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o0 = i * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let j = 0; j < d; j++) {
      const wj = w[j]!;
      z0 += X[o0 + j]! * wj;
      z1 += X[o1 + j]! * wj;
      z2 += X[o2 + j]! * wj;
      z3 += X[o3 + j]! * wj;
    }
    s += term(z0, y[i]!) + term(z1, y[i + 1]!) + term(z2, y[i + 2]!) + term(z3, y[i + 3]!);
  }
  for (; i < n; i++) {
    const o = i * d;
    let z = 0;
    for (let j = 0; j < d; j++) z += X[o + j]! * w[j]!;
    s += term(z, y[i]!);
  }
  return s;
}

/** A task's data loss as a worker-thread item (the engine's objective under --threads). */
export function dataLossItem(item: { task: TaskData; w: Float64Array; ref: ComponentRef }): number {
  const { loss, model } = fromRef(item.ref);
  return dataLoss(item.task, item.w, { name: item.ref.loss.name, component: loss, options: item.ref.loss.options }, { component: model, layout: item.ref.model.layout, options: item.ref.model.options });
}

