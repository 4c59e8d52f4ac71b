/**
 * @weightshare/framework/testing — the conformance kit for plugins, the float64 reference implementations it checks
 * against, and its fixed problems.
 */
export { conformance, conformanceChecks, toleranceFor, type ConformanceCheck, type ConformanceOptions } from './conformance.js';
export { referencePlugin, referencePropagate, referenceFuse, referenceOptimize, referenceOptimizeTask, solveDense } from './reference.js';
export { makeFixture, type Fixture } from './fixtures.js';
