/** The conformance kit catches broken plugins, group by group, and passes the reference plugin. */
import { describe, expect, it } from 'vitest';
import { PLUGIN_API_VERSION, type FuseInput, type FuseOutput, type Plugin, type StageMethod } from '@weightshare/framework';
import { conformance, conformanceChecks, referencePlugin } from '@weightshare/framework/testing';

const scope = { scope: { enum: ['global', 'per-task'], default: 'global', description: 'scope' } };

/** A fuse plugin whose `mean` is built from `reduce` (so each test can break it in one way). */
function fusePlugin(run: StageMethod<FuseInput, FuseOutput>['run'], options: Record<string, unknown> = scope): Plugin {
  return {
    meta: { name: 'broken', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
    backend: 'broken',
    capabilities: { precision: 'float64' },
    stages: { fuse: { mean: { description: 'mean', options: options as never, run } } },
  };
}

function meanOf(input: FuseInput): Float64Array {
  const { rows: T, cols: d, data } = input.propagated;
  const e = new Float64Array(d);
  for (let t = 0; t < T; t++) for (let j = 0; j < d; j++) e[j]! += data[t * d + j]! / T;
  return e;
}
const good: StageMethod<FuseInput, FuseOutput>['run'] = (input) => {
  const { rows: T, cols: d } = input.propagated;
  const e = meanOf(input);
  const targets = new Float64Array(T * d);
  for (let t = 0; t < T; t++) targets.set(e, t * d);
  return { targets: { rows: T, cols: d, data: targets }, penaltyWeights: new Float64Array(T).fill(1) };
};

async function failures(plugin: Plugin): Promise<string[]> {
  const out: string[] = [];
  for (const c of conformanceChecks({ plugin })) {
    try {
      await c.run();
    } catch (e) {
      out.push(`${c.group}: ${(e as Error).message}`);
    }
  }
  return out;
}

describe('conformance kit', () => {
  it('a correct global-only mean passes everything but the per-task reference', async () => {
    const f = await failures(fusePlugin(good));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatch(/^reference: fuse\/mean \(scope per-task\)/);
  });

  it('a wrong answer fails the reference group', async () => {
    const f = await failures(fusePlugin((input, o, ctx) => {
      const out = good(input, o, ctx) as FuseOutput;
      out.targets.data[0]! += 1e-3;
      return out;
    }));
    expect(f.some((m) => /^reference: fuse\/mean \(scope global\): relative error/.test(m))).toBe(true);
  });

  it('float32 data fails the shapes group', async () => {
    const f = await failures(fusePlugin((input, o, ctx) => {
      const out = good(input, o, ctx) as FuseOutput;
      return { ...out, targets: { ...out.targets, data: new Float32Array(out.targets.data) as unknown as Float64Array } };
    }));
    expect(f.some((m) => /^shapes: .*returned targets\.data as a Float32Array, expected a Float64Array/.test(m))).toBe(true);
  });

  it('hidden state fails determinism and isolation', async () => {
    let calls = 0;
    const f = await failures(fusePlugin((input, o, ctx) => {
      const out = good(input, o, ctx) as FuseOutput;
      out.targets.data[0]! += ++calls * 1e-9;
      return out;
    }));
    expect(f.some((m) => m.startsWith('determinism:'))).toBe(true);
    expect(f.some((m) => m.startsWith('isolation:'))).toBe(true);
  });

  it('an option whose default fails its own schema fails the contract group; a bad plugin object too', async () => {
    const f = await failures(fusePlugin(good, { ...scope, k: { type: 'integer', minimum: 1, default: 0, description: 'k' } }));
    expect(f.some((m) => /^contract: fuse\/mean: the default of option "k"/.test(m))).toBe(true);
    const g = await failures({ ...fusePlugin(good), meta: { name: 'x', version: 'one', apiVersion: 99 } });
    expect(g.some((m) => /^contract: plugin "x" breaks the plugin contract/.test(m))).toBe(true);
  });

  it('an optimize method without lambda/ridge, or declaring losses on a fuse method, fails the contract group', async () => {
    const p: Plugin = {
      meta: { name: 'o', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
      backend: 'o',
      capabilities: { precision: 'float64' },
      stages: { optimize: { exact: { ...referencePlugin.stages.optimize!.exact!, options: {} } } },
    };
    expect((await failures(p)).some((m) => /must accept "lambda"/.test(m))).toBe(true);
  });

  conformance({ plugin: referencePlugin, describe, it });
});
