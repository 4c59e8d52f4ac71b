/**
 * The conformance kit must fail a plugin broken in each of the ways real plugins break: writing into an input,
 * sorting or centring in place, returning the wrong array type or too few per-task reports, misusing the engine's
 * spare output buffer, a loss with a wrong gradient. And the engine must blame such a plugin by name in a real run, never report INTERNAL.
 */
import { describe, expect, it } from 'vitest';
import { loadSpecText, PluginRegistry, PLUGIN_API_VERSION, runPipeline, standardOptions, BUILTIN_LOSSES, type LossComponent, type OptimizeInput, type Plugin, type StageMethod } from '@weightshare/framework';
import { conformanceChecks, referencePlugin } from '@weightshare/framework/testing';
import { fail } from './helpers/run.js';

type Method = StageMethod<unknown, unknown>;
const ref = referencePlugin.stages as Record<'propagate' | 'fuse' | 'optimize', Record<string, Method>>;

/** A plugin on backend `broken` with one method: `method` wrapped by `wrap`. */
function broken(stage: 'propagate' | 'fuse' | 'optimize', name: string, run: Method['run'], extra: Partial<Plugin> = {}): Plugin {
  const base = ref[stage][name === 'sorted-mean' || name === 'out-weights' || name === 'kept-out' ? 'mean' : name === 'centred' || name === 'scaled' || name === 'listy' || name === 'short' || name === 'untied' ? 'exact' : name === 'overwrite' || name === 'lazy-out' ? 'identity' : name]!;
  return {
    meta: { name: `broken-${name}`, version: '0.0.1', apiVersion: PLUGIN_API_VERSION },
    backend: 'broken',
    capabilities: { precision: 'float64' },
    // the reference's options carry no descriptions (the kit excuses only the reference itself): give them some
    stages: { [stage]: { [name]: { ...base, options: Object.fromEntries(Object.entries(base.options).map(([k, v]) => [k, { ...v, description: k }])), run, ...(name.includes('out') ? { spareOutput: true } : {}) } } },
    ...extra,
  } as Plugin;
}

interface Input {
  weights: { data: Float64Array; rows: number; cols: number };
  propagated: { data: Float64Array; rows: number; cols: number };
}

const cases: [string, Plugin, RegExp][] = [
  [
    'propagate writes C into B',
    broken('propagate', 'overwrite', async (input, o, ctx) => {
      const out = (await ref.propagate.identity!.run(input, o, ctx)) as { propagated: { data: Float64Array } };
      (input as Input).weights.data.set(out.propagated.data.map((v) => v * 0.5));
      return out;
    }),
    /propagate\/overwrite: wrote to its input weights\.data/,
  ],
  [
    'fuse sorts C in place',
    broken('fuse', 'sorted-mean', async (input, o, ctx) => {
      (input as Input).propagated.data.sort();
      return ref.fuse.mean!.run(input, o, ctx);
    }),
    /fuse\/sorted-mean: wrote to its input propagated\.data/,
  ],
  [
    'optimize centres task.y in place',
    broken('optimize', 'centred', async (input, o, ctx) => {
      for (const t of (input as OptimizeInput).tasks) {
        const mean = t.y.reduce((a, b) => a + b, 0) / t.y.length;
        for (let i = 0; i < t.y.length; i++) (t.y as Float64Array)[i]! -= mean;
      }
      return ref.optimize.exact!.run(input, o, ctx);
    }),
    /optimize\/centred \(squared\): wrote to its input tasks\[0\]\.y/,
  ],
  [
    'optimize scales task.X in place',
    broken('optimize', 'scaled', async (input, o, ctx) => {
      for (const t of (input as OptimizeInput).tasks) (t.X.data as Float64Array).forEach((v, i, a) => (a[i] = v * 2));
      return ref.optimize.exact!.run(input, o, ctx);
    }),
    /optimize\/scaled \(squared\): wrote to its input tasks\[0\]\.X\.data/,
  ],
  [
    'optimize returns number[] weights',
    broken('optimize', 'listy', async (input, o, ctx) => {
      const out = (await ref.optimize.exact!.run(input, o, ctx)) as { weights: { rows: number; cols: number; data: Float64Array }; perTask: unknown[] };
      return { ...out, weights: { ...out.weights, data: Array.from(out.weights.data) } };
    }),
    /returned weights\.data as an Array, expected a Float64Array/,
  ],
  [
    'optimize returns a short perTask',
    broken('optimize', 'short', async (input, o, ctx) => {
      const out = (await ref.optimize.exact!.run(input, o, ctx)) as { perTask: unknown[] };
      return { ...out, perTask: out.perTask.slice(1) };
    }),
    /returned perTask with \d+ entries for \d+ tasks/,
  ],
  [
    'propagate returns the spare buffer out without filling it',
    broken('propagate', 'lazy-out', async (input, o, ctx) => {
      const out = (input as { out?: { rows: number; cols: number; data: Float64Array } }).out;
      return out ? { propagated: out } : ref.propagate.identity!.run(input, o, ctx);
    }),
    /propagate\/lazy-out: given a spare output buffer `out`, the result differs/,
  ],
  [
    'fuse returns a view of the spare buffer out as its penalty weights',
    broken('fuse', 'out-weights', async (input, o, ctx) => {
      const res = (await ref.fuse.mean!.run(input, o, ctx)) as { targets: unknown; penaltyWeights: Float64Array };
      const out = (input as { out?: { data: Float64Array } }).out;
      return out ? { ...res, penaltyWeights: out.data.subarray(0, res.penaltyWeights.length).fill(1) } : res;
    }),
    /fuse\/out-weights: returned the spare buffer `out` \(or a view of it\) as output\.penaltyWeights/,
  ],
  [
    'fuse keeps the spare buffer out and returns it again the next time',
    (() => {
      let kept: { rows: number; cols: number; data: Float64Array } | undefined;
      return broken('fuse', 'kept-out', async (input, o, ctx) => {
        const res = (await ref.fuse.mean!.run(input, o, ctx)) as { targets: { data: Float64Array }; penaltyWeights: Float64Array };
        const out = (input as { out?: { rows: number; cols: number; data: Float64Array } }).out;
        if (!out) return res;
        kept ??= out; // a cache of its first result
        kept.data.set(res.targets.data);
        return { ...res, targets: kept };
      });
    })(),
    /fuse\/kept-out: returned the `out` of an earlier call/,
  ],
];

/** The messages of the kit's failed checks for a plugin. */
async function failures(plugin: Plugin): Promise<string[]> {
  const out: string[] = [];
  for (const c of conformanceChecks({ plugin })) {
    try {
      await c.run();
    } catch (e) {
      out.push(`[${c.group}] ${(e as Error).message}`);
    }
  }
  return out;
}

describe('the conformance kit fails broken plugins', () => {
  it('passes the unbroken reference methods (the meta-test can tell)', async () => {
    const fine = broken('optimize', 'exact', ref.optimize.exact!.run);
    expect(await failures(fine)).toEqual([]);
  });

  it.each(cases)('%s', async (_name, plugin, message) => {
    const found = await failures(plugin);
    expect(found.some((m) => message.test(m)), found.join('\n') || 'no check failed').toBe(true);
  });

  it('a loss whose gradient is wrong by a factor of two', async () => {
    const wrong: LossComponent = {
      ...BUILTIN_LOSSES.squared!,
      value(y, Z, k, grad, o) {
        const v = BUILTIN_LOSSES.squared!.value(y, Z, k, grad, o);
        if (grad) for (let i = 0; i < grad.length; i++) grad[i]! *= 0.5;
        return v;
      },
    };
    const plugin = { ...broken('optimize', 'exact', ref.optimize.exact!.run), losses: { halfgrad: wrong } } as Plugin;
    const found = await failures(plugin);
    expect(found.some((m) => /\[components\].*halfgrad.*gradient/i.test(m)), found.join('\n')).toBe(true);
  });
});

describe('the engine blames a broken plugin by name', () => {
  const spec = (method: string, stage: 'propagate' | 'fuse' | 'optimize'): string => `apiVersion: weightshare/v1
name: broken
seed: 1
backend: reference
data: { source: synthetic, tasks: 4, features: 2, rows: 12 }
evaluate: { baselines: false }
output: { write: false }
init: { method: zeros }
stages:
  propagate: { method: ${stage === 'propagate' ? method : 'identity'}${stage === 'propagate' ? ', backend: broken' : ''} }
  fuse: { method: ${stage === 'fuse' ? method : 'mean'}${stage === 'fuse' ? ', backend: broken' : ''} }
  optimize: { method: ${stage === 'optimize' ? method : 'exact'}${stage === 'optimize' ? ', backend: broken' : ''} }
rounds: 2
`;
  it.each([
    ['listy', /^plugin broken-listy@0\.0\.1, stage optimize, method listy, round 1 failed: returned weights\.data as an Array, expected a Float64Array/],
    ['short', /^plugin broken-short@0\.0\.1, stage optimize, method short, round 1 failed: returned perTask with 3 entries for 4 tasks, expected one per task/],
  ])('%s', async (name, message) => {
    const plugin = cases.find(([, p]) => p.meta.name === `broken-${name}`)![1];
    const registry = new PluginRegistry([referencePlugin, plugin]);
    const e = await fail(runPipeline(loadSpecText(spec(name, 'optimize'), 'broken.yaml', registry), registry));
    expect(e.code).toBe('PLUGIN_ERROR');
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/breaks the plugin contract/);
  });

  it('a method that claims tied blocks but fits each task apart', async () => {
    const plugin = broken('optimize', 'untied', ref.optimize.exact!.run);
    const m = (plugin.stages.optimize as Record<string, Method>).untied!;
    (plugin.stages.optimize as Record<string, Method>).untied = { ...m, options: { ...m.options, lambda: standardOptions.optimizeOptions.lambda! }, blockLambdas: true, tiedBlocks: true };
    const registry = new PluginRegistry([referencePlugin, plugin]);
    const text = spec('untied', 'optimize').replace("optimize: { method: untied, backend: broken }", "optimize: { method: untied, backend: broken, lambda: { weights: { shared: true } } }");
    const e = await fail(runPipeline(loadSpecText(text, 'broken.yaml', registry), registry));
    expect(e.code).toBe('PLUGIN_ERROR');
    expect(e.message).toMatch(/method untied, round 1 failed: returned weights whose tied entry 0 differs between tasks .* a block marked \{ shared: true \} is one value for all tasks/);
  });
});
