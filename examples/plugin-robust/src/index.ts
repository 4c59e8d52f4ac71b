import { PLUGIN_API_VERSION, type Plugin } from '@weightshare/framework';
import { fuseGeometricMedian } from './fuse-geometric-median.js';
import { fuseTrimmedMean } from './fuse-trimmed-mean.js';
import { tweedieLoss } from './loss-tweedie.js';
import { quadraticModel } from './model-quadratic.js';
import { optimizeLasso } from './optimize-lasso.js';

/** Robust fusion, sparse optimization, a Tweedie loss and a quadratic model for weightshare, on the `cpu` backend (float64). */
const plugin: Plugin = {
  meta: { name: 'weightshare-plugin-robust', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
  backend: 'cpu',
  capabilities: { precision: 'float64', features: ['deterministic'] },
  stages: {
    fuse: { 'trimmed-mean': fuseTrimmedMean, 'geometric-median': fuseGeometricMedian },
    optimize: { lasso: optimizeLasso },
  },
  losses: { tweedie: tweedieLoss },
  models: { quadratic: quadraticModel },
};

export default plugin;
