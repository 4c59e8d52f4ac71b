/**
 * TensorFlow.js, loaded when a run first needs it. `import { tf } from './tf.js'` reads like
 * `import * as tf from '@tensorflow/tfjs-core'`, but the module (~0.13 s to import) is loaded by {@link loadTf}, which
 * the plugin's `setup` runs (through `useDevice`) before any stage. So importing the plugin — `weightshare validate`,
 * `plugins`, `schema`, or a spec that runs on plugin-cpu only — never loads TensorFlow.js.
 */
import type * as TF from '@tensorflow/tfjs-core';

/** The tfjs-core namespace; undefined until {@link loadTf} resolved (a stage only runs after the plugin's setup). */
export let tf: typeof TF = undefined as unknown as typeof TF;

// The tensor types under the same name, so `tf.Tensor3D` works in type positions as with a namespace import.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Tensor = TF.Tensor;
  export type Tensor1D = TF.Tensor1D;
  export type Tensor2D = TF.Tensor2D;
  export type Tensor3D = TF.Tensor3D;
}

let loading: Promise<typeof TF> | undefined;

/** Imports tfjs-core once; every later call returns the same module. */
export function loadTf(): Promise<typeof TF> {
  return (loading ??= import('@tensorflow/tfjs-core').then((m) => (tf = m)));
}
