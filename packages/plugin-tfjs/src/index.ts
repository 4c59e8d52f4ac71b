/**
 * @weightshare/plugin-tfjs — every stage of plugin-cpu on TensorFlow.js tensors (float32), on the device the spec
 * chooses: `backendOptions: { tfjs: { device: auto | tensorflow | tensorflow-gpu | wasm | cpu } }`. Linear systems are
 * solved with Krylov methods written in tfjs ops (tfjs has no direct solver). One file per method under `stages/`.
 */
import { readFileSync } from 'node:fs';
import { tf } from './tf.js';
import { PLUGIN_API_VERSION, type Plugin } from '@weightshare/framework';
import { useDevice, type Device } from './runtime.js';
import { fuseIdentity } from './stages/fuse-identity.js';
import { fuseMax } from './stages/fuse-max.js';
import { fuseMean } from './stages/fuse-mean.js';
import { fuseMedian } from './stages/fuse-median.js';
import { fuseMin } from './stages/fuse-min.js';
import { fuseWeightedMean } from './stages/fuse-weighted-mean.js';
import { fusePrecision } from './stages/fuse-precision.js';
import { optimizeAdam } from './stages/optimize-adam.js';
import { disposeBatches } from './stages/optimize-common.js';
import { optimizeExact } from './stages/optimize-exact.js';
import { optimizeGd } from './stages/optimize-gd.js';
import { optimizeLbfgs } from './stages/optimize-lbfgs.js';
import { optimizeSgd } from './stages/optimize-sgd.js';
import { propagateIdentity } from './stages/propagate-identity.js';
import { propagateInverse } from './stages/propagate-inverse.js';
import { propagateLaplacian } from './stages/propagate-laplacian.js';
import { propagatePpr } from './stages/propagate-ppr.js';
import { propagateSolve } from './stages/propagate-solve.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

let running: string | undefined;

/** The TensorFlow.js plugin (backend `tfjs`, float32). */
export const tfjsPlugin: Plugin = {
  meta: { name: pkg.name, version: pkg.version, apiVersion: PLUGIN_API_VERSION },
  backend: 'tfjs',
  capabilities: { precision: 'float32', features: ['deterministic'] },
  settings: {
    device: {
      enum: ['auto', 'tensorflow', 'tensorflow-gpu', 'wasm', 'cpu'],
      default: 'auto',
      description: 'TensorFlow.js backend: auto takes tensorflow (tfjs-node) when installed, else wasm, else cpu.',
    },
  },
  async setup(settings) {
    running = await useDevice((settings.device as Device | undefined) ?? 'auto');
  },
  runtime() {
    // after setup (the engine asks then); before it, TensorFlow.js is not loaded yet
    return tf ? { device: running ?? tf.getBackend(), tfjs: tf.version_core } : { device: 'not started' };
  },
  dispose() {
    disposeBatches();
  },
  stages: {
    propagate: { identity: propagateIdentity, inverse: propagateInverse, solve: propagateSolve, laplacian: propagateLaplacian, ppr: propagatePpr },
    fuse: { identity: fuseIdentity, mean: fuseMean, 'weighted-mean': fuseWeightedMean, median: fuseMedian, max: fuseMax, min: fuseMin, precision: fusePrecision },
    optimize: { exact: optimizeExact, gd: optimizeGd, sgd: optimizeSgd, adam: optimizeAdam, lbfgs: optimizeLbfgs },
  },
};

export default tfjsPlugin;
export { useDevice, nativeAvailable, type Device } from './runtime.js';
