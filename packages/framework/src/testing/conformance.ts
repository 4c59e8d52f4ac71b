/**
 * The conformance kit: one call runs every feature group against a plugin, from any test runner.
 *
 *   import { describe, it } from 'vitest';
 *   import { conformance } from '@weightshare/framework/testing';
 *   conformance({ plugin: myPlugin, describe, it });
 *
 * Groups: `contract` (the plugin object and its option schemas), `shapes` (every method's outputs have the right
 * shape, type and finiteness), `mutation` (no method writes to its inputs: relation, weights, task rows and targets
 * are compared byte for byte before and after the call), `reference` (methods with a standard name agree with the framework's float64
 * reference on fixed problems, within a tolerance set by the declared precision), `determinism` (same input and
 * seed ⇒ same bytes), `out` (methods with `spareOutput`: given the engine's spare output buffer, the same bytes; it
 * comes back as the main output or not at all, and is not kept), `options` (misspelt or mistyped options are SPEC_INVALID with their path), `isolation` (no
 * state leaks between calls or between runs), `pipeline` (each method runs inside a full pipeline). Optional
 * features are tested only when the plugin declares them: each optimize method is tested on every loss in its
 * `losses`; `setup`/`dispose` only when present.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { stageOutputProblem } from '../engine/check-output.js';
import { InProcessExecutor } from '../engine/executor.js';
import { PluginRegistry, validatePlugin } from '../engine/registry.js';
import { runPipeline } from '../engine/engine.js';
import { isWeightshareError } from '../errors.js';
import type { DenseMatrix } from '../math/dense.js';
import {
  STAGE_NAMES,
  type FuseOutput,
  type LossName,
  type OptimizeInput,
  type OptimizeOutput,
  type Plugin,
  type PropagateOutput,
  type StageContext,
  type StageMethod,
  type StageName,
} from '../plugin/types.js';
import { Rng } from '../random.js';
import { loadSpecText } from '../spec/load.js';
import { makeFixture, type Fixture, type FixtureLoss } from './fixtures.js';
import { BUILTIN_LOSSES } from '../components/losses.js';
import { lossChecks, modelChecks } from './components-kit.js';
import { referenceFuse, referenceOptimize, referencePlugin, referencePropagate } from './reference.js';

/** One check of the kit. */
export interface ConformanceCheck {
  group: 'contract' | 'shapes' | 'mutation' | 'out' | 'reference' | 'determinism' | 'options' | 'isolation' | 'pipeline' | 'lifecycle' | 'components';
  name: string;
  run(): Promise<void>;
}

export interface ConformanceOptions {
  plugin: Plugin;
  /** Relative tolerance of the reference group; default 1e-8 for float64, 1e-4 for float32. */
  tolerance?: number;
  /** Options to use for a method instead of its defaults, keyed `stage/method` (e.g. required options). */
  methodOptions?: Record<string, Record<string, unknown>>;
}

/** Relative tolerance for a precision (tfjs' testEpsilon habit: looser for float32). */
export function toleranceFor(precision: 'float64' | 'float32'): number {
  return precision === 'float64' ? 1e-8 : 1e-4;
}

class ConformanceError extends Error {
  override readonly name = 'ConformanceError';
}
function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new ConformanceError(message);
}

const STANDARD: Record<StageName, readonly string[]> = {
  propagate: ['identity', 'solve', 'inverse', 'laplacian', 'ppr'],
  fuse: ['identity', 'mean', 'median', 'max', 'min', 'weighted-mean'],
  optimize: ['exact', 'gd', 'adam', 'lbfgs', 'newton'],
};

function defaults(m: StageMethod<unknown, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(m.options)) if ((s as { default?: unknown }).default !== undefined) out[k] = structuredClone((s as { default: unknown }).default);
  return out;
}

function defaultsOf(schemas: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schemas ?? {})) if ((s as { default?: unknown }).default !== undefined) out[k] = (s as { default: unknown }).default;
  return out;
}

function context(seed = 1): StageContext {
  return { round: 1, rng: new Rng(seed), executor: new InProcessExecutor(), cache: new Map(), purpose: 'stage' };
}

function relErr(a: Float64Array, b: number[][]): number {
  let num = 0;
  let den = 0;
  const d = b[0]?.length ?? 0;
  for (let i = 0; i < b.length; i++)
    for (let j = 0; j < d; j++) {
      num = Math.max(num, Math.abs(a[i * d + j]! - b[i]![j]!));
      den = Math.max(den, Math.abs(b[i]![j]!));
    }
  return num / (den || 1);
}

function expectShape(M: DenseMatrix | undefined, rows: number, cols: number, what: string): void {
  check(M && typeof M === 'object', `${what} is missing`);
  check(M.rows === rows && M.cols === cols, `${what} has shape ${M.rows}×${M.cols}, expected ${rows}×${cols}`);
  check(M.data instanceof Float64Array, `${what}.data must be a Float64Array (the framework's vocabulary), got ${M.data?.constructor?.name}`);
  check(M.data.length === rows * cols, `${what}.data has ${M.data.length} values, expected ${rows * cols}`);
  for (let i = 0; i < M.data.length; i++) check(Number.isFinite(M.data[i]), `${what} has a non-finite value at index ${i}`);
}

/** The input a method gets on a fixture. */
function inputFor(stage: StageName, options: Record<string, unknown>, fx: Fixture): unknown {
  const inputs: Record<StageName, unknown> = {
    propagate: { relation: fx.relation, weights: fx.weights },
    fuse: { propagated: fx.weights, relation: fx.relation, taskSizes: fx.sizes },
    optimize: {
      tasks: fx.tasks,
      loss: fx.loss,
      model: fx.model,
      targets: fx.weights,
      penaltyWeights: Float64Array.from({ length: fx.T }, (_, t) => 0.5 + t / fx.T),
      lambdas: new Float64Array(fx.p).fill(Number(options.lambda ?? 0)),
      start: { rows: fx.T, cols: fx.p, data: new Float64Array(fx.T * fx.p) },
    } satisfies OptimizeInput,
  };
  return inputs[stage];
}

/** Runs one method on a fixture (after the plugin's setup, which must be idempotent) and returns its output. */
async function runMethod(plugin: Plugin, stage: StageName, m: StageMethod<unknown, unknown>, options: Record<string, unknown>, fx: Fixture, seed = 1, input?: unknown): Promise<unknown> {
  await plugin.setup?.(defaultsOf(plugin.settings));
  return m.run(input ?? inputFor(stage, options, fx), options, context(seed));
}

/** Every typed array reachable from a stage input, with its path (e.g. `tasks[2].y`, `weights.data`). */
function typedArrays(value: unknown, path = 'input', out: [string, ArrayBufferView][] = [], seen = new Set<unknown>()): [string, ArrayBufferView][] {
  if (ArrayBuffer.isView(value)) out.push([path, value]);
  else if (value && typeof value === 'object' && !seen.has(value)) {
    seen.add(value);
    if (Array.isArray(value)) value.forEach((v, i) => typedArrays(v, `${path}[${i}]`, out, seen));
    else for (const [k, v] of Object.entries(value)) if (k !== 'component') typedArrays(v, path === 'input' ? k : `${path}.${k}`, out, seen);
  }
  return out;
}

const bytesOf = (v: ArrayBufferView): Buffer => Buffer.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));

function mainOutput(stage: StageName, out: unknown): DenseMatrix {
  return stage === 'propagate' ? (out as PropagateOutput).propagated : stage === 'fuse' ? (out as FuseOutput).targets : (out as OptimizeOutput).weights;
}

function bytes(stage: StageName, out: unknown): Buffer {
  const main = Buffer.from(bytesOf(mainOutput(stage, out).data));
  return stage === 'fuse' ? Buffer.concat([main, Buffer.from(bytesOf((out as FuseOutput).penaltyWeights))]) : main;
}

/** Every check of the kit for `plugin`, to run with any test runner. */
export function conformanceChecks(opts: ConformanceOptions): ConformanceCheck[] {
  const { plugin } = opts;
  const tol = opts.tolerance ?? toleranceFor(plugin.capabilities?.precision ?? 'float64');
  const checks: ConformanceCheck[] = [];
  const add = (group: ConformanceCheck['group'], name: string, run: () => Promise<void> | void): void => {
    checks.push({ group, name, run: async () => run() });
  };
  const methods: { stage: StageName; name: string; impl: StageMethod<unknown, unknown>; options: Record<string, unknown> }[] = [];
  for (const stage of STAGE_NAMES)
    for (const [name, impl] of Object.entries((plugin.stages?.[stage] ?? {}) as Record<string, StageMethod<unknown, unknown>>))
      methods.push({ stage, name, impl, options: { ...defaults(impl), ...(opts.methodOptions?.[`${stage}/${name}`] ?? {}) } });
  const own = Object.entries(plugin.losses ?? {}).map(([name, component]) => ({ name, component }));
  const lossByName = new Map<string, FixtureLoss>([...Object.keys(BUILTIN_LOSSES).map((n) => [n, n] as [string, FixtureLoss]), ...own.map((l) => [l.name, l] as [string, FixtureLoss])]);
  const losses = (m: StageMethod<unknown, unknown>): readonly FixtureLoss[] => {
    const l = m.losses ?? ['squared'];
    return l === 'any' ? [...lossByName.values()] : l.map((n) => lossByName.get(n) ?? n);
  };
  const lossLabel = (l: FixtureLoss): string => (typeof l === 'string' ? l : l.name);

  add('contract', 'the plugin object satisfies the contract', () => validatePlugin(plugin));
  for (const [name, loss] of Object.entries(plugin.losses ?? {})) lossChecks(name, loss, (n, run) => add('components', n, run));
  for (const [name, model] of Object.entries(plugin.models ?? {})) modelChecks(name, model, (n, run) => add('components', n, run));
  add('contract', 'provides at least one method or component', () => check(methods.length > 0 || Object.keys({ ...plugin.losses, ...plugin.models }).length > 0, 'the plugin provides no stage methods, losses or models'));
  for (const m of methods) {
    add('contract', `${m.stage}/${m.name}: option schemas compile and their defaults are valid`, () => {
      const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
      for (const [k, s] of Object.entries(m.impl.options)) {
        const v = ajv.compile(s as object);
        const def = (s as { default?: unknown }).default;
        if (def !== undefined) check(v(def), `${m.stage}/${m.name}: the default of option "${k}" (${JSON.stringify(def)}) fails its own schema`);
        check(typeof (s as { description?: unknown }).description === 'string' || plugin === referencePlugin, `${m.stage}/${m.name}: option "${k}" has no description`);
      }
      for (const r of m.impl.required ?? []) check(r in m.impl.options, `${m.stage}/${m.name}: required option "${r}" is not in options`);
      if (m.stage === 'optimize') for (const k of ['lambda', 'ridge']) check(k in m.impl.options, `${m.stage}/${m.name}: optimize methods must accept "${k}"`);
      else check(m.impl.losses === undefined, `${m.stage}/${m.name}: only optimize methods declare losses`);
    });
  }

  for (const m of methods)
    for (const loss of m.stage === 'optimize' ? losses(m.impl) : (['squared'] as const)) {
      const label = `${m.stage}/${m.name}${m.stage === 'optimize' ? ` (${lossLabel(loss)})` : ''}`;
      add('shapes', `${label}: outputs have the right shapes, Float64Array data and finite values`, async () => {
        const fx = makeFixture(11, loss);
        const input = inputFor(m.stage, m.options, fx);
        const out = await runMethod(plugin, m.stage, m.impl, m.options, fx, 1, input);
        // what the engine checks of every output (type, shape, perTask), then what the kit adds (finiteness, sign)
        const problem = stageOutputProblem(m.stage, input, out);
        check(!problem, `${label}: ${problem}`);
        expectShape(mainOutput(m.stage, out), fx.T, m.stage === 'optimize' ? fx.p : fx.d, `${label} output`);
        if (m.stage === 'fuse') {
          const c = (out as FuseOutput).penaltyWeights;
          check(c instanceof Float64Array && c.length === fx.T, `${label}: penaltyWeights must be a Float64Array of length T = ${fx.T}`);
          for (const v of c) check(Number.isFinite(v) && v >= 0, `${label}: penalty weights must be finite and non-negative, got ${v}`);
        }
        if (m.stage === 'optimize') check((out as OptimizeOutput).perTask?.length === fx.T, `${label}: perTask must have one report per task`);
        check(mainOutput(m.stage, out).data.buffer !== fx.weights.data.buffer, `${label}: returned its input array (or a view of it) instead of a new one`);
      });
      add('mutation', `${label}: leaves every input array as it was`, async () => {
        const fx = makeFixture(15, loss);
        const input = inputFor(m.stage, m.options, fx);
        const before = typedArrays(input).map(([path, v]) => [path, v, Buffer.from(bytesOf(v))] as const);
        const out = await runMethod(plugin, m.stage, m.impl, m.options, fx, 1, input);
        for (const [path, v, copy] of before)
          check(
            bytesOf(v).equals(copy),
            `${label}: wrote to its input ${path} (inputs are read-only: the engine hands the same arrays to later stages, rounds and runs — copy before changing)`,
          );
        // an output that is an input array would be changed by whoever changes the output next
        for (const [path, v] of before) check(mainOutput(m.stage, out)?.data.buffer !== v.buffer, `${label}: returned its input ${path} (or a view of it) as its output`);
      });
      add('determinism', `${label}: same input and seed give the same bytes`, async () => {
        const a = bytes(m.stage, await runMethod(plugin, m.stage, m.impl, m.options, makeFixture(12, loss), 5));
        const b = bytes(m.stage, await runMethod(plugin, m.stage, m.impl, m.options, makeFixture(12, loss), 5));
        check(a.equals(b), `${label}: two runs on the same input and seed differ`);
      });
      if (m.impl.spareOutput)
        add('out', `${label}: with a spare output buffer (\`out\`) the same bytes; \`out\` comes back as the main output or not at all, and is not kept`, async () => {
          const fx = makeFixture(16, loss);
          const without = await runMethod(plugin, m.stage, m.impl, m.options, fx, 3);
          const spare = (): DenseMatrix => ({ rows: fx.T, cols: m.stage === 'optimize' ? fx.p : fx.d, data: new Float64Array(fx.T * (m.stage === 'optimize' ? fx.p : fx.d)) });
          const call = (out: DenseMatrix) => runMethod(plugin, m.stage, m.impl, m.options, fx, 3, { ...(inputFor(m.stage, m.options, fx) as Record<string, unknown>), out });
          const first = spare();
          const withOut = await call(first);
          const main = mainOutput(m.stage, withOut).data;
          for (const [path, v] of typedArrays(withOut, 'output'))
            check(v === main || v.buffer !== first.data.buffer, `${label}: returned the spare buffer \`out\` (or a view of it) as ${path}; return it as the main output or not at all`);
          check(bytes(m.stage, withOut).equals(bytes(m.stage, without)), `${label}: given a spare output buffer \`out\`, the result differs from the call without it (fill every entry you return; \`out\` arrives as zeros)`);
          // the engine hands that memory to later stages as soon as it is done with the result: a later call must
          // neither return it, nor read it, nor write into it
          first.data.fill(NaN);
          const secondOut = spare();
          const second = await call(secondOut);
          check(mainOutput(m.stage, second).data.buffer !== first.data.buffer, `${label}: returned the \`out\` of an earlier call; a spare buffer belongs to the engine once run returns`);
          check(bytes(m.stage, second).equals(bytes(m.stage, without)), `${label}: its result changed when the \`out\` of an earlier call was overwritten (it kept that memory)`);
          secondOut.data.fill(NaN);
          await call(spare());
          check([first, secondOut].every((o) => o.data.every(Number.isNaN)), `${label}: wrote into the \`out\` of an earlier call (it kept that memory)`);
        });
      add('isolation', `${label}: no state leaks between calls`, async () => {
        const first = bytes(m.stage, await runMethod(plugin, m.stage, m.impl, m.options, makeFixture(13, loss)));
        await runMethod(plugin, m.stage, m.impl, m.options, makeFixture(14, loss, 7, 3, 30));
        const again = bytes(m.stage, await runMethod(plugin, m.stage, m.impl, m.options, makeFixture(13, loss)));
        check(first.equals(again), `${label}: a call on another problem changed the result of a later call`);
      });
    }

  for (const m of methods) {
    if (!STANDARD[m.stage].includes(m.name)) continue;
    const scopes = m.stage === 'fuse' && 'scope' in m.impl.options ? ['global', 'per-task'] : [undefined];
    for (const loss of m.stage === 'optimize' ? losses(m.impl) : (['squared'] as const))
      for (const scope of scopes) {
        const label = `${m.stage}/${m.name}${scope ? ` (scope ${scope})` : ''}${m.stage === 'optimize' ? ` (${lossLabel(loss)})` : ''}`;
        add('reference', `${label} agrees with the float64 reference`, async () => {
          const fx = makeFixture(21, loss);
          let options: Record<string, unknown> = { ...m.options, ...(scope ? { scope } : {}) };
          const iterative = m.stage === 'optimize' && m.name !== 'exact';
          // converge as far as the precision allows: float32 gradients bottom out near 1e-7 of their scale
          if (iterative) options = { ...options, ...(plugin.capabilities.precision === 'float64' ? { epochs: 100000, tol: 1e-12 } : { epochs: 20000, tol: 1e-7 }) };
          const out = await runMethod(plugin, m.stage, m.impl, options, fx);
          const A = Array.from({ length: fx.T }, (_, i) => Array.from(fx.relation.data.subarray(i * fx.T, (i + 1) * fx.T)));
          const B = Array.from({ length: fx.T }, (_, i) => Array.from(fx.weights.data.subarray(i * fx.d, (i + 1) * fx.d)));
          let expected: number[][];
          if (m.stage === 'propagate') expected = referencePropagate[m.name as keyof typeof referencePropagate](A, B, options.alpha as number);
          else if (m.stage === 'fuse') {
            const ref = referenceFuse(m.name, B, A, fx.sizes, options);
            expected = ref.E;
            const c = (out as FuseOutput).penaltyWeights;
            check(relErr(c, [ref.c]) <= tol, `${label}: penalty weights ${Array.from(c)} differ from the reference ${ref.c}`);
          } else {
            const input = {
              tasks: fx.tasks,
              loss: fx.loss,
              model: fx.model,
              targets: fx.weights,
              penaltyWeights: Float64Array.from({ length: fx.T }, (_, t) => 0.5 + t / fx.T),
              start: fx.weights,
            };
            expected = referenceOptimize(input, options.lambda as number, options.ridge as number);
          }
          const err = relErr(mainOutput(m.stage, out).data, expected);
          const limit = iterative ? Math.max(tol, 1e-6) : tol;
          check(err <= limit, `${label}: relative error ${err.toExponential(2)} against the reference exceeds ${limit.toExponential(0)}`);
        });
      }
  }

  for (const m of methods) {
    add('options', `${m.stage}/${m.name}: an unknown or mistyped option is SPEC_INVALID at its JSON path`, () => {
      const registry = new PluginRegistry(plugin === referencePlugin ? [plugin] : [plugin, referencePlugin]);
      const stageLine = (s: StageName, extra: string): string =>
        s === m.stage ? `{ method: ${m.name}, backend: ${plugin.backend}${extra} }` : `{ method: ${s === 'propagate' ? 'identity' : s === 'fuse' ? 'mean' : 'exact'}, backend: reference }`;
      const spec = (extra: string): string => `apiVersion: weightshare/v1
name: conformance
backend: reference
data: { source: synthetic, tasks: 4, rows: 8 }
stages:
${STAGE_NAMES.map((s) => `  ${s}: ${stageLine(s, extra)}`).join('\n')}
`;
      const given = Object.entries(opts.methodOptions?.[`${m.stage}/${m.name}`] ?? {})
        .map(([k, v]) => `, ${k}: ${JSON.stringify(v)}`)
        .join('');
      loadSpecText(spec(given), 'conformance.yaml', registry); // the method with its defaults is a valid spec
      const expectInvalid = (extra: string, path: string): void => {
        try {
          loadSpecText(spec(given + extra), 'conformance.yaml', registry);
        } catch (e) {
          check(isWeightshareError(e) && e.code === 'SPEC_INVALID', `${m.stage}/${m.name}: expected SPEC_INVALID, got ${(e as Error).message}`);
          check(e.problems.some((p) => p.location?.path === path), `${m.stage}/${m.name}: no problem reported at ${path}`);
          return;
        }
        throw new ConformanceError(`${m.stage}/${m.name}: the spec with${extra} was accepted`);
      };
      expectInvalid(', zz_not_an_option: 1', `/stages/${m.stage}/zz_not_an_option`);
      for (const [k, s] of Object.entries(m.impl.options)) {
        const t = (s as { type?: unknown }).type;
        if (t === 'number' || t === 'integer') expectInvalid(`, ${k}: "not a number"`, `/stages/${m.stage}/${k}`);
      }
    });
  }

  for (const m of methods) {
    const loss = losses(m.impl)[0]!;
    add('pipeline', `${m.stage}/${m.name}: runs inside a full pipeline, and two runs with other plugin sets do not interfere`, async () => {
      const registry = new PluginRegistry(plugin === referencePlugin ? [plugin] : [plugin, referencePlugin]);
      const others: Record<StageName, string> = {
        propagate: '{ method: identity, backend: reference }',
        fuse: '{ method: mean, backend: reference }',
        optimize: '{ method: exact, backend: reference }',
      };
      const given = Object.entries(opts.methodOptions?.[`${m.stage}/${m.name}`] ?? {})
        .map(([k, v]) => `, ${k}: ${JSON.stringify(v)}`)
        .join('');
      const text = `apiVersion: weightshare/v1
name: conformance
backend: reference
loss: ${loss}
data: { source: synthetic, tasks: 5, features: 3, rows: 24 }
relation: { method: estimate, knn: 2 }
evaluate: { baselines: false }
output: { write: false }
stages:
${STAGE_NAMES.map((s) => `  ${s}: ${s === m.stage ? `{ method: ${m.name}, backend: ${plugin.backend}${given} }` : others[s]}`).join('\n')}
rounds: 2
`;
      const out = await runPipeline(loadSpecText(text, 'conformance.yaml', registry), registry);
      check(out.results.rounds.length === 2 && Number.isFinite(out.results.rounds[1]!.objective?.total ?? NaN), `${m.stage}/${m.name}: the pipeline did not produce a finite objective`);
      // a run with the reference plugin alone must not see this plugin's registrations
      const alone = new PluginRegistry([referencePlugin]);
      check(plugin === referencePlugin || !alone.find(plugin.backend, m.stage, m.name) || plugin.backend === 'reference', 'registrations leaked between registries');
    });
  }

  if (plugin.setup || plugin.dispose)
    add('lifecycle', 'setup and dispose can be called and repeated', async () => {
      await plugin.setup?.(defaultsOf(plugin.settings));
      await plugin.dispose?.();
      await plugin.setup?.(defaultsOf(plugin.settings));
      await plugin.dispose?.();
    });
  return checks;
}

/** Registers the kit's checks with a test runner's `describe` and `it` (vitest, jest, node:test, mocha). */
export function conformance(opts: ConformanceOptions & { describe: (name: string, fn: () => void) => void; it: (name: string, fn: () => Promise<void>) => void }): void {
  const checks = conformanceChecks(opts);
  opts.describe(`weightshare conformance: ${opts.plugin.meta?.name ?? 'plugin'}`, () => {
    for (const group of [...new Set(checks.map((c) => c.group))])
      opts.describe(group, () => {
        for (const c of checks.filter((x) => x.group === group)) opts.it(c.name, c.run);
      });
  });
}
