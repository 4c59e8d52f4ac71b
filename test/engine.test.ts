/** Engine-level behaviour: weighted fusion keeps one objective, relation estimation, init from a file, isolation. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import 'reflect-metadata';
import { container } from 'tsyringe';
import { clearPreparedData, estimateRelation, fromRows, loadSpecText, relationFacts, PluginRegistry, runPipeline, sparsify, stageToken, WeightshareError, PLUGIN_API_VERSION, type Plugin } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { relativeError, weightedMeanRegularized } from './helpers/oracles.js';
import { runText, scratch, syntheticSpec } from './helpers/run.js';

const root = (): string => fileURLToPath(new URL('..', import.meta.url));

describe('engine', () => {
  it('weighted-mean fusion by task sizes: the penalty uses the same weights, so the rounds reach the weighted closed form', async () => {
    // tasks of different sizes: rows 40, but a random split keeps sizes equal; use given weights to make them differ
    const values = [1, 2, 3, 4, 1, 2, 3, 4];
    const out = await runText(
      syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: weighted-mean, weights: given, values: ${JSON.stringify(values)} }
  optimize: { method: exact, lambda: 1.5, ridge: 0.2 }
rounds: 150
`),
    );
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const c = values.map((v) => v / mean);
    const oracle = weightedMeanRegularized(out.data.train, c, 1.5, 0.2);
    expect(relativeError(out.weights.data, oracle, out.weights.cols)).toBeLessThan(1e-8);
  });

  it('a singular relation falls back as the spec asks, and the run output records it', async () => {
    const A = Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (i === j ? 1 : 0)));
    A[2] = [0, 1, 0, 0, 0, 0, 0, 0]; // row 3 equals row 2: singular
    const text = syntheticSpec(`relation: { method: given, matrix: ${JSON.stringify(A)} }
stages:
  propagate: { method: solve, onSingular: ridge, epsilon: 1e-3 }
  fuse: { method: mean }
  optimize: { method: exact }
`);
    const out = await runText(text);
    const diag = out.results.rounds[0]!.diagnostics.propagate!;
    expect(diag.fallback).toBe('ridge');
    expect(diag.condition).toBe(Infinity);
    expect(diag.epsilon).toBeCloseTo(2e-3, 12); // relative to ‖A‖₁ = 2
    const err = (await runText(text, { set: ['stages.propagate.onSingular=error'] }).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('LINEAR_SYSTEM_SINGULAR');
    expect(err.message).toMatch(/relation matrix A \(8×8\) of propagate solve is singular or badly conditioned \(condition estimate infinite, limit 1e\+12\)/);
  });

  it('estimates the relation by cosine similarity, correlation and an RBF kernel, then sparsifies', () => {
    const B = fromRows([
      [1, 0, 5],
      [1, 1, 5],
      [-1, 0, 5],
      [2, 2, 5],
    ]); // last column is the bias and is ignored
    const cos = estimateRelation(B, 2, 'cosine', false);
    expect(cos.data[0 * 4 + 1]).toBeCloseTo(1 / Math.SQRT2, 14);
    expect(cos.data[0 * 4 + 2]).toBeCloseTo(-1, 14);
    expect(cos.data[1 * 4 + 3]).toBeCloseTo(1, 14);
    expect(estimateRelation(B, 2, 'cosine', true).data[0 * 4 + 2]).toBe(0);
    const corr = estimateRelation(B, 2, 'correlation', false); // 2-vectors centered: (0.5,-0.5),(0,0),(-0.5,0.5),(0,0)
    expect(corr.data[0 * 4 + 2]).toBeCloseTo(-1, 14);
    expect(corr.data[0 * 4 + 1]).toBe(0);
    const rbf = estimateRelation(B, 2, 'rbf', false, 0.5);
    expect(rbf.data[0 * 4 + 3]).toBeCloseTo(Math.exp(-0.5 * 5), 14);
    expect(rbf.data[2 * 4 + 2]).toBe(1);
    const knn = sparsify(cos, { knn: 1 });
    // each task keeps its single most similar task (ties to the lower index); the union is symmetric
    const edges = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) if (i !== j && knn.data[i * 4 + j] !== 0) edges.push(`${i}-${j}`);
    expect(edges).toEqual(['0-1', '1-0', '1-2', '1-3', '2-1', '3-1']);
    const thr = sparsify(cos, { threshold: 0.8 });
    expect(thr.data[0 * 4 + 1]).toBe(0);
    expect(thr.data[1 * 4 + 3]).toBeCloseTo(1, 14);
  });

  it('init from a file, and a file of the wrong shape is refused', async () => {
    const dir = scratch();
    const d = 5; // 4 features + bias
    writeFileSync(join(dir, 'B.csv'), Array.from({ length: 8 }, (_, t) => Array.from({ length: d }, (_, j) => (t + j) / 10).join(',')).join('\n') + '\n');
    const text = syntheticSpec(`init: { method: file, path: B.csv }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: gd, lambda: 1, epochs: 1, lr: 1e-12 }
`);
    const out = await runText(text, { dir });
    expect(out.weights.data[1 * d + 2]).toBeCloseTo((1 + 2) / 10, 9); // barely moved from the file's values
    writeFileSync(join(dir, 'B.csv'), '1,2\n3,4\n');
    const err = (await runText(text, { dir }).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('DATA_INVALID');
    expect(err.problems.map((p) => p.message).join('\n')).toMatch(/the file has 2 rows, but the data has 8 tasks/);
  });

  it('each run has its own container: nothing lands in the global tsyringe container', async () => {
    await runText(syntheticSpec('stages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: exact }\n'));
    expect(container.isRegistered(stageToken('cpu', 'fuse', 'mean'), true)).toBe(false);
  });

  it('asking the registry for a method that does not exist lists what is available', () => {
    const reg = new PluginRegistry([cpuPlugin]);
    try {
      reg.get('cpu', 'fuse', 'trimmed-mean');
      expect.unreachable();
    } catch (e) {
      expect((e as WeightshareError).code).toBe('STAGE_NOT_FOUND');
      expect((e as WeightshareError).message).toMatch(/Available: identity, max, mean, median, min, precision, weighted-mean\./);
    }
    expect(() => reg.get('tfjs', 'fuse', 'mean')).toThrow(/backend cpu: identity, max, mean/);
  });

  it('plugins that break the contract or claim the same method twice are refused', () => {
    const bad = { ...cpuPlugin, meta: { ...cpuPlugin.meta, apiVersion: PLUGIN_API_VERSION + 1 } } as Plugin;
    expect(() => new PluginRegistry([bad])).toThrow(expect.objectContaining({ code: 'PLUGIN_INVALID' }));
    const dup = (() => {
      try {
        return new PluginRegistry([cpuPlugin, { ...cpuPlugin, meta: { ...cpuPlugin.meta, name: 'copy' } }]);
      } catch (e) {
        return e as WeightshareError;
      }
    })() as WeightshareError;
    expect(dup.code).toBe('PLUGIN_INVALID');
    expect(dup.problems[0]!.message).toMatch(/already provided by @weightshare\/plugin-cpu/);
  });

  it('a failure inside per-task work names the task', async () => {
    const picky: Plugin = {
      meta: { name: 'picky', version: '2.0.0', apiVersion: PLUGIN_API_VERSION },
      backend: 'picky',
      capabilities: { precision: 'float64' },
      stages: {
        optimize: {
          fussy: {
            description: 'fails on the third task',
            options: { lambda: { type: 'number', default: 1 }, ridge: { type: 'number', default: 0 } },
            async run(input, _o, ctx) {
              await ctx.executor.map(input.tasks, {
                name: 'fussy',
                run: (t) => {
                  if (t.index === 2) throw new Error('I do not like this task');
                  return t;
                },
              });
              throw new Error('unreachable');
            },
          },
        },
      },
    };
    const { loadSpecText, runPipeline } = await import('@weightshare/framework');
    const reg = new PluginRegistry([cpuPlugin, picky]);
    const loaded = loadSpecText(
      syntheticSpec('init: { method: zeros }\nstages:\n  propagate: { method: identity }\n  fuse: { method: mean }\n  optimize: { method: fussy, backend: picky }\n'),
      'x.yaml',
      reg,
    );
    const err = (await runPipeline(loaded, reg).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('PLUGIN_ERROR');
    expect(err.context.task).toBe('task-3');
    expect(err.message).toBe('plugin picky@2.0.0, stage optimize, method fussy, round 1, task task-3 failed: I do not like this task');
  });

  it('two pipelines in one process with different plugin lists do not see each other\'s methods', async () => {
    const { loadPipeline } = await import('@weightshare/framework');
    const dir = scratch();
    const base = (plugins: string) => `apiVersion: weightshare/v1
name: two
${plugins}
data: { source: synthetic, tasks: 5, rows: 12 }
evaluate: { baselines: false }
stages:
  propagate: { method: identity }
  fuse: { method: trimmed-mean }
  optimize: { method: exact }
`;
    writeFileSync(join(dir, 'with.yaml'), base(`plugins: [${join(root(), 'examples/plugin-robust/dist/index.js')}]`));
    writeFileSync(join(dir, 'without.yaml'), base(''));
    // the plugin lies outside the spec's folder: allowed explicitly (as --allow-plugin-path does)
    const allow = { allow: [join(root(), 'examples/plugin-robust/dist')] };
    const a = await loadPipeline(join(dir, 'with.yaml'), [cpuPlugin], {}, {}, allow);
    expect(a.registry.find('cpu', 'fuse', 'trimmed-mean')).toBeDefined();
    const b = await loadPipeline(join(dir, 'without.yaml'), [cpuPlugin]).catch((e: unknown) => e as WeightshareError);
    expect((b as WeightshareError).code).toBe('SPEC_INVALID');
    expect((b as WeightshareError).problems[0]!.message).toMatch(/unknown stages\.fuse method "trimmed-mean"/);
    const again = await loadPipeline(join(dir, 'with.yaml'), [cpuPlugin], {}, {}, allow);
    expect(again.registry).not.toBe(a.registry);
  });

  it('a λ grid in one process fits each task alone once per data set: the same initial fits, the same numbers', async () => {
    // plugin-cpu's exact solver behind a backend that counts the calls made for the initial fits
    const exact = cpuPlugin.stages.optimize!.exact!;
    let initCalls = 0;
    const counting: Plugin = {
      meta: { name: 'counting', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
      backend: 'counting',
      capabilities: { precision: 'float64' },
      stages: {
        optimize: {
          exact: {
            ...exact,
            run(input, options, ctx) {
              if (ctx.purpose === 'init') initCalls++;
              return exact.run(input, options, ctx);
            },
          },
        },
      },
    };
    const reg = new PluginRegistry([cpuPlugin, counting]);
    const text = syntheticSpec(`init: { method: independent, ridge: 0.5 }
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, backend: counting, lambda: 1, ridge: 0.1 }
rounds: 5
`);
    const dir = scratch();
    const run = async (set: string[]) => runPipeline(loadSpecText(text, join(dir, 'spec.yaml'), reg, { set }), reg);
    clearPreparedData();
    const grid = [];
    for (const lambda of [1, 10, 100]) grid.push(await run([`stages.optimize.lambda=${lambda}`]));
    expect(initCalls).toBe(1);
    // the same λ again: plugin-cpu's factors of the last run are current and reused; the same bytes
    const again = await run(['stages.optimize.lambda=100']);
    expect(Buffer.from(again.weights.data.buffer).equals(Buffer.from(grid[2]!.weights.data.buffer))).toBe(true);
    // another init ridge is another fit
    await run(['init.ridge=2']);
    expect(initCalls).toBe(2);
    // computed afresh (new data objects: nothing to reuse), every number is the same
    clearPreparedData();
    const alone = await run(['stages.optimize.lambda=10']);
    expect(initCalls).toBe(3);
    expect(Buffer.from(alone.weights.data.buffer).equals(Buffer.from(grid[1]!.weights.data.buffer))).toBe(true);
    expect(alone.results.models.shared).toEqual(grid[1]!.results.models.shared);
    expect(grid[0]!.weights.data).not.toEqual(grid[1]!.weights.data);
  });

  it('a plugin\'s own error is wrapped with plugin, stage, method and round, keeping the cause', async () => {
    const boom: Plugin = {
      meta: { name: 'boom', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
      backend: 'boom',
      capabilities: { precision: 'float64' },
      stages: {
        fuse: {
          explode: {
            description: 'throws',
            options: {},
            run() {
              throw Object.assign(new Error('kaboom'), { code: 'BOOM_E1' });
            },
          },
        },
      },
    };
    const { loadSpecText, runPipeline } = await import('@weightshare/framework');
    const reg = new PluginRegistry([cpuPlugin, boom]);
    const loaded = loadSpecText(
      syntheticSpec('stages:\n  propagate: { method: identity }\n  fuse: { method: explode, backend: boom }\n  optimize: { method: exact }\n'),
      'x.yaml',
      reg,
    );
    const err = (await runPipeline(loaded, reg).catch((e: unknown) => e)) as WeightshareError;
    expect(err.code).toBe('PLUGIN_ERROR');
    expect(err.pluginCode).toBe('BOOM_E1');
    expect(err.message).toMatch(/plugin boom@1\.0\.0, stage fuse, method explode, round 1 failed: kaboom/);
    expect((err.cause as Error).message).toBe('kaboom');
  });
});

describe('prepared data is shared between runs on the same data', () => {
  const stages = `stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 1 }
`;
  it('runs that differ only past the data (λ) get the same task objects; another seed or split does not', async () => {
    const dir = scratch();
    const a = await runText(syntheticSpec(stages), { dir });
    const b = await runText(syntheticSpec(stages), { dir, set: ['stages.optimize.lambda=5'] });
    expect(b.data).toBe(a.data);
    expect(b.data.train[3]).toBe(a.data.train[3]);
    expect(b.weights.data).not.toEqual(a.weights.data);
    const c = await runText(syntheticSpec(stages), { dir, set: ['seed=8'] });
    expect(c.data).not.toBe(a.data);
    const d = await runText(syntheticSpec(stages), { dir, set: ['split={method: random, testFraction: 0.4}'] });
    expect(d.data).not.toBe(a.data);
  });

  it('a CSV file changed between runs is read again (the memo is keyed by content)', async () => {
    const dir = scratch();
    const rows = (k: number): string =>
      ['task,x,y', ...Array.from({ length: 24 }, (_, i) => `${i % 3 === 0 ? 'a' : i % 3 === 1 ? 'b' : 'c'},${((i * 7) % 11) + k},${(i * 5) % 13}`)].join('\n');
    writeFileSync(join(dir, 'd.csv'), rows(0));
    const spec = `apiVersion: weightshare/v1
name: memo
data: { source: csv, path: d.csv, task: task, target: y }
evaluate: { baselines: false }
output: { write: false }
${stages}`;
    const a = await runText(spec, { dir });
    expect((await runText(spec, { dir })).data).toBe(a.data);
    writeFileSync(join(dir, 'd.csv'), rows(1)); // same size, other values
    const b = await runText(spec, { dir });
    expect(b.data).not.toBe(a.data);
    expect(b.data.standardization).not.toEqual(a.data.standardization);
  });
});

describe('evaluate.everyRound', () => {
  it('false: only the last round records the objective and test metrics; the weights and the last record are the same', async () => {
    const spec = syntheticSpec(`stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact, lambda: 2 }
rounds: 4
`);
    const every = await runText(spec);
    const last = await runText(spec, { set: ['evaluate.everyRound=false', 'seed=7'] });
    expect(every.results.rounds.every((r) => r.objective && r.test)).toBe(true);
    expect(last.results.rounds.map((r) => r.objective === undefined)).toEqual([true, true, true, false]);
    expect(last.results.rounds.map((r) => r.test === undefined)).toEqual([true, true, true, false]);
    expect(Buffer.from(last.weights.data.buffer).equals(Buffer.from(every.weights.data.buffer))).toBe(true);
    expect(last.results.rounds[3]).toEqual(every.results.rounds[3]);
    expect(last.results.models).toEqual(every.results.models);
  });

});

describe('relation facts', () => {
  it('relation facts from one tiled pass match entry-by-entry checks, at sizes on and off the 64-entry tile', () => {
    const naive = (T: number, a: Float64Array) => {
      let edges = 0;
      let directedEdges = 0;
      let symmetric = true;
      for (let s = 0; s < T; s++)
        for (let t = 0; t < T; t++) {
          if (s !== t && a[s * T + t] !== 0) directedEdges++;
          if (s < t && (a[s * T + t] !== 0 || a[t * T + s] !== 0)) edges++;
          if (a[s * T + t] !== a[t * T + s]) symmetric = false;
        }
      return { finite: a.every(Number.isFinite), nonNegative: a.every((x) => x >= 0), symmetric, edges, directedEdges };
    };
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const T of [1, 2, 63, 64, 65, 130]) {
      const sym = new Float64Array(T * T);
      for (let s = 0; s < T; s++)
        for (let t = s; t < T; t++) sym[s * T + t] = sym[t * T + s] = next() < 0.3 ? Math.floor(next() * 4) : 0;
      const cases: Float64Array[] = [sym];
      const at = (i: number, v: number) => {
        const m = sym.slice();
        m[i] = v;
        return m;
      };
      const last = T * T - 1;
      cases.push(at(last, -1), at(Math.floor(T * T / 2), Number.NaN), at(0, Number.POSITIVE_INFINITY));
      if (T > 1) cases.push(at((T - 1) * T, 5), at(1, 0.5)); // entries (T−1, 0) and (0, 1): asymmetric
      for (const data of cases) {
        const facts = relationFacts({ rows: T, cols: T, data });
        const want = naive(T, data);
        // the rest is only read of a finite relation (the engine refuses any other)
        if (!want.finite) expect(facts.finite).toBe(false);
        else expect(facts).toEqual(want);
      }
    }
    // computed afresh on every call: a matrix changed in place gets its new facts
    const A = { rows: 2, cols: 2, data: Float64Array.from([1, 2, 2, 1]) };
    expect(relationFacts(A).nonNegative).toBe(true);
    A.data[1] = -5;
    expect(relationFacts(A)).toMatchObject({ nonNegative: false, symmetric: false });
  });
});

describe('spare output buffers (a stage input\'s `out`)', () => {
  type Call = { stage: string; round: number; given: boolean; zeros: boolean; aliasesInput: boolean; returned: boolean; memory?: ArrayBufferLike };
  const cpu = cpuPlugin.stages;
  /** plugin-cpu's methods behind a backend that records every `out` it is handed and checks it against the inputs. */
  function watching(calls: Call[], misbehave?: 'inputs' | 'views'): Plugin {
    const wrap = <S extends 'propagate' | 'fuse' | 'optimize'>(stage: S, name: string, inner: string, outKey: string, inputs: (i: Record<string, unknown>) => unknown[]) => {
      const m = (cpu[stage] as Record<string, { run: (...a: never[]) => unknown }>)[inner]!;
      return {
        ...m,
        async run(input: Record<string, unknown>, options: Record<string, unknown>, ctx: { round: number; purpose: string }) {
          const out = input.out as { data: Float64Array } | undefined;
          const arrays = inputs(input).map((m) => (m as { data: Float64Array }).data);
          const zeros = !out || out.data.every((v) => v === 0);
          // breaking the contract: returning an input, or a view of one
          if (misbehave === 'inputs' && stage === 'propagate') return { propagated: input.weights };
          if (misbehave && stage === 'fuse') {
            const C = input.propagated as { rows: number; cols: number; data: Float64Array };
            return { targets: misbehave === 'inputs' ? C : { rows: C.rows, cols: C.cols, data: C.data.subarray(0) }, penaltyWeights: new Float64Array(C.rows).fill(1) };
          }
          const result = (await (m.run as (...a: unknown[]) => unknown)(input, options, ctx)) as Record<string, { data: Float64Array }>;
          if (ctx.purpose === 'stage')
            calls.push({ stage, round: ctx.round, given: !!out, zeros, aliasesInput: !!out && arrays.includes(out.data), returned: !!out && result[outKey]!.data === out.data, ...(out ? { memory: out.data.buffer } : {}) });
          return result;
        },
      };
    };
    return {
      meta: { name: 'watching', version: '1.0.0', apiVersion: PLUGIN_API_VERSION },
      backend: 'watch',
      capabilities: { precision: 'float64' },
      stages: {
        propagate: { identity: wrap('propagate', 'identity', 'identity', 'propagated', (i) => [i.weights, i.relation]), laplacian: wrap('propagate', 'laplacian', 'laplacian', 'propagated', (i) => [i.weights, i.relation]) },
        fuse: { mean: wrap('fuse', 'mean', 'mean', 'targets', (i) => [i.propagated, i.relation]), identity: wrap('fuse', 'identity', 'identity', 'targets', (i) => [i.propagated, i.relation]), 'weighted-mean': wrap('fuse', 'weighted-mean', 'weighted-mean', 'targets', (i) => [i.propagated, i.relation]) },
        optimize: { exact: wrap('optimize', 'exact', 'exact', 'weights', (i) => [i.start, i.targets]), gd: wrap('optimize', 'gd', 'gd', 'weights', (i) => [i.start, i.targets]) },
      },
    } as unknown as Plugin;
  }
  /** A store that keeps every stage it is given (so the loop must not hand those arrays out) and their bytes then. */
  function keepingStore() {
    const kept: { data: Float64Array; copy: Float64Array }[] = [];
    return {
      kept,
      store: {
        load: () => undefined,
        save: (_id: string, _key: string, stage: { matrices: Record<string, { data: Float64Array }> }) => {
          for (const m of Object.values(stage.matrices)) kept.push({ data: m.data, copy: m.data.slice() });
        },
      },
    };
  }
  const bytes = (a: Float64Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const pipelines: [string, string, string[]?][] = [
    ['mean-regularized, exact, plain rounds', `stages:
  propagate: { method: identity, backend: watch }
  fuse: { method: mean, backend: watch }
  optimize: { method: exact, backend: watch, lambda: 2, ridge: 0.1 }
rounds: 12
`],
    ['graph: laplacian and edge-weighted means, gd, Anderson acceleration', `relation: { method: estimate, similarity: cosine, knn: 3 }
stages:
  propagate: { method: laplacian, backend: watch, alpha: 0.5 }
  fuse: { method: weighted-mean, backend: watch, scope: per-task, weights: edges }
  optimize: { method: gd, backend: watch, lambda: 1, ridge: 0.1, epochs: 30, lr: 0.01 }
rounds: { max: 25, tol: 1.0e-12, acceleration: anderson }
`],
    ['mean-regularized with Anderson acceleration (the objective\'s own stages at the mixed weights), test metrics after the last round only', `stages:
  propagate: { method: identity, backend: watch }
  fuse: { method: mean, backend: watch }
  optimize: { method: exact, backend: watch, lambda: 3, ridge: 0.1 }
rounds: { max: 40, tol: 1.0e-13, acceleration: anderson }
`, ['evaluate.everyRound=false']],
    ['a learned relation (covariance, every 2 rounds) with fuse precision from plugin-cpu', `relation: { method: learn, form: covariance, every: 2 }
stages:
  propagate: { method: identity, backend: watch }
  fuse: { method: precision }
  optimize: { method: exact, backend: watch, lambda: 0.2, ridge: 0.3 }
rounds: 12
`],
  ];
  for (const [what, stages, set] of pipelines)
    it(`${what}: the stages write into a few arrays that go round, zero-filled and none of their inputs; the same bytes as a run that stores its stages`, async () => {
      const calls: Call[] = [];
      const reg = new PluginRegistry([cpuPlugin, watching(calls)]);
      const text = syntheticSpec(stages);
      const dir = scratch();
      const free = await runPipeline(loadSpecText(text, join(dir, 'spec.yaml'), reg, { set }), reg);
      const recycled = calls.filter((c) => c.given);

      expect(recycled.length).toBeGreaterThan(0);
      // every call of a method with spareOutput gets an out and fills it (plugin-cpu's laplacian solves into memory of
      // its own and does not declare it); after the first rounds the same few arrays go round
      expect(calls.every((c) => (c.stage === 'propagate' && /laplacian/.test(what) ? !c.given : c.given && c.returned))).toBe(true);
      expect(calls.length).toBeGreaterThan(20);
      // plain rounds: 38 calls write into at most 8 arrays (with acceleration Anderson's history keeps its points, and
      // a relation learner may keep the weights, so more are live at a time; the bytes are what those runs check)
      const memories = new Set(calls.map((c) => c.memory).filter(Boolean));
      expect(memories.size).toBeGreaterThan(0);
      if (/plain rounds/.test(what)) expect(memories.size).toBeLessThanOrEqual(8);
      expect(calls.every((c) => c.zeros && !c.aliasesInput)).toBe(true);
      // with a store that keeps the outputs, nothing is handed out and nothing it holds changes afterwards
      calls.length = 0;
      const { kept, store } = keepingStore();
      const stored = await runPipeline(loadSpecText(text, join(dir, 'spec.yaml'), reg, { set }), reg, { store });
      expect(calls.some((c) => c.given)).toBe(false);
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.every((k) => bytes(k.data).equals(bytes(k.copy)))).toBe(true);
      expect(bytes(free.weights.data).equals(bytes(stored.weights.data))).toBe(true);
      expect(bytes(free.targets.data).equals(bytes(stored.targets.data))).toBe(true);
      expect(JSON.stringify(free.results.rounds)).toBe(JSON.stringify(stored.results.rounds));
    });

  it.each(['inputs', 'views'] as const)('a plugin whose propagate and fuse return their %s (breaking the contract) does not get them overwritten', async (misbehave) => {
    const text = (backend: string) =>
      syntheticSpec(`stages:
  propagate: { method: identity, backend: ${backend} }
  fuse: { method: identity, backend: ${backend} }
  optimize: { method: exact, backend: ${backend}, lambda: 2, ridge: 0.1 }
rounds: 10
`);
    const dir = scratch();
    const calls: Call[] = [];
    const reg = new PluginRegistry([cpuPlugin, watching(calls, misbehave)]);
    const aliasing = await runPipeline(loadSpecText(text('watch'), join(dir, 'spec.yaml'), reg), reg);
    const proper = await runPipeline(loadSpecText(text('cpu'), join(dir, 'spec.yaml'), reg), reg);
    expect(bytes(aliasing.weights.data).equals(bytes(proper.weights.data))).toBe(true);
    expect(JSON.stringify(aliasing.results.rounds)).toBe(JSON.stringify(proper.results.rounds));
  });

  it('a plugin that declares no spareOutput is never handed an out, and what it returns is never reused', async () => {
    const calls: Call[] = [];
    const plain = watching(calls);
    for (const methods of Object.values(plain.stages)) for (const m of Object.values(methods!)) delete (m as { spareOutput?: boolean }).spareOutput;
    // a method that keeps what it returned and checks it later: the engine must not have written into it
    const returned: Float64Array[] = [];
    const copies: Float64Array[] = [];
    const keeping = plain.stages.fuse!.mean!;
    const run = keeping.run.bind(keeping);
    (keeping as { run: typeof keeping.run }).run = async (input, options, ctx) => {
      const out = await run(input, options, ctx);
      returned.push(out.targets.data);
      copies.push(out.targets.data.slice());
      return out;
    };
    const reg = new PluginRegistry([cpuPlugin, plain]);
    await runPipeline(loadSpecText(syntheticSpec(pipelines[0]![1]), join(scratch(), 'spec.yaml'), reg), reg);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.some((c) => c.given)).toBe(false);
    expect(returned.every((a, i) => bytes(a).equals(bytes(copies[i]!)))).toBe(true);
  });
});
