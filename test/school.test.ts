/**
 * Real data: the School benchmark (139 schools), published split 1. The mean-regularized model must beat both
 * baselines, and reach the explained variance the literature reports for this protocol (about 38%).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSpecText, runPipeline, type RegressionMetrics } from '@weightshare/framework';
import { meanRegularized, relativeError } from './helpers/oracles.js';
import { registry } from './helpers/run.js';

const file = fileURLToPath(new URL('../pipelines/school-mean-regularized.yaml', import.meta.url));

describe('School benchmark, split 1', () => {
  it('mean-regularized MTL beats independent and pooled models', async () => {
    const reg = registry();
    const loaded = loadSpecText(readFileSync(file, 'utf8'), file, reg, { set: ['output.write=false'] });
    const out = await runPipeline(loaded, reg);
    expect(out.results.data).toMatchObject({ tasks: 139, trainRows: 11472, testRows: 3890, droppedConstantColumns: ['bias'] });
    const m = out.results.models as Record<'shared' | 'independent' | 'pooled', RegressionMetrics>;
    expect(m.shared.explainedVariance).toBeGreaterThan(0.38);
    expect(m.shared.explainedVariance).toBeGreaterThan(m.independent.explainedVariance + 0.03);
    expect(m.shared.explainedVariance).toBeGreaterThan(m.pooled.explainedVariance + 0.03);
  });

  it('the alternating rounds converge to the closed form (slowly: about 1.5% per round at λ = 100)', async () => {
    const reg = registry();
    const loaded = loadSpecText(readFileSync(file, 'utf8'), file, reg, { set: ['output.write=false', 'rounds=1000', 'evaluate.baselines=false'] });
    const out = await runPipeline(loaded, reg);
    const oracle = meanRegularized(out.data.train, 100, 1);
    expect(relativeError(out.weights.data, oracle, out.weights.cols)).toBeLessThan(1e-6);
  });
});
