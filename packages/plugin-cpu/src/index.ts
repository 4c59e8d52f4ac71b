/**
 * @weightshare/plugin-cpu — float64 stages on the CPU: typed-array loops for the hot paths, ml-matrix for the
 * pseudo-inverse fallback. Every method lives in its own file under `stages/`; this file lists them.
 */
import { readFileSync } from 'node:fs';
import { PLUGIN_API_VERSION, type Plugin } from '@weightshare/framework';
import { fuseIdentity } from './stages/fuse-identity.js';
import { fuseMax } from './stages/fuse-max.js';
import { fuseMean } from './stages/fuse-mean.js';
import { fuseMedian } from './stages/fuse-median.js';
import { fuseMin } from './stages/fuse-min.js';
import { fuseWeightedMean } from './stages/fuse-weighted-mean.js';
import { fusePrecision } from './stages/fuse-precision.js';
import { optimizeAdam } from './stages/optimize-adam.js';
import { optimizeExact } from './stages/optimize-exact.js';
import { optimizeGd } from './stages/optimize-gd.js';
import { optimizeLbfgs } from './stages/optimize-lbfgs.js';
import { optimizeNewton } from './stages/optimize-newton.js';
import { optimizeSgd } from './stages/optimize-sgd.js';
import { propagateIdentity } from './stages/propagate-identity.js';
import { propagateInverse } from './stages/propagate-inverse.js';
import { propagateLaplacian } from './stages/propagate-laplacian.js';
import { propagatePpr } from './stages/propagate-ppr.js';
import { propagateSolve } from './stages/propagate-solve.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

/** The CPU plugin (backend `cpu`, float64). */
export const cpuPlugin: Plugin = {
  meta: { name: pkg.name, version: pkg.version, apiVersion: PLUGIN_API_VERSION },
  backend: 'cpu',
  capabilities: { precision: 'float64', features: ['deterministic'] },
  stages: {
    propagate: {
      identity: propagateIdentity,
      inverse: propagateInverse,
      solve: propagateSolve,
      laplacian: propagateLaplacian,
      ppr: propagatePpr,
    },
    fuse: {
      identity: fuseIdentity,
      mean: fuseMean,
      'weighted-mean': fuseWeightedMean,
      median: fuseMedian,
      max: fuseMax,
      min: fuseMin,
      precision: fusePrecision,
    },
    optimize: {
      exact: optimizeExact,
      gd: optimizeGd,
      sgd: optimizeSgd,
      adam: optimizeAdam,
      lbfgs: optimizeLbfgs,
      newton: optimizeNewton,
    },
  },
};

export default cpuPlugin;
export * as linalg from './linalg.js';
