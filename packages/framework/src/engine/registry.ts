import { pluginInvalid, stageNotFound, type SourceLocation } from '../errors.js';
import { BUILTIN_LOSSES } from '../components/losses.js';
import { BUILTIN_MODELS } from '../components/models.js';
import {
  PLUGIN_API_VERSION,
  STAGE_NAMES,
  SUPPORTED_PLUGIN_API_VERSIONS,
  type LossComponent,
  type ModelComponent,
  type Plugin,
  type StageMethod,
  type StageName,
} from '../plugin/types.js';

/** A method together with the plugin that provides it. */
export interface RegisteredMethod {
  readonly plugin: Plugin;
  readonly backend: string;
  readonly stage: StageName;
  readonly method: string;
  readonly impl: StageMethod<unknown, unknown>;
}

/** A loss or model together with who provides it (undefined: built into the framework). */
export interface RegisteredComponent<C> {
  readonly name: string;
  readonly impl: C;
  readonly plugin?: Plugin;
}

/**
 * The set of plugins one run uses, checked against the contract and indexed by (backend, stage, method).
 * Built per run; nothing here is global.
 * @throws WeightshareError `PLUGIN_INVALID` when a plugin breaks the contract or two plugins claim one method.
 */
export class PluginRegistry {
  private readonly byKey = new Map<string, RegisteredMethod>();
  private readonly lossMap = new Map<string, RegisteredComponent<LossComponent>>();
  private readonly modelMap = new Map<string, RegisteredComponent<ModelComponent>>();
  readonly plugins: readonly Plugin[];

  constructor(plugins: readonly Plugin[]) {
    this.plugins = plugins;
    for (const [name, impl] of Object.entries(BUILTIN_LOSSES)) this.lossMap.set(name, { name, impl });
    for (const [name, impl] of Object.entries(BUILTIN_MODELS)) this.modelMap.set(name, { name, impl });
    for (const p of plugins) {
      validatePlugin(p);
      for (const [kind, map, given] of [
        ['loss', this.lossMap, p.losses],
        ['model', this.modelMap, p.models],
      ] as const) {
        for (const [name, impl] of Object.entries(given ?? {})) {
          const prior = (map as Map<string, RegisteredComponent<unknown>>).get(name);
          if (prior)
            throw pluginInvalid(p.meta.name, [`${kind} "${name}" is already provided by ${prior.plugin ? prior.plugin.meta.name : 'weightshare itself (a built-in)'}; give yours another name`]);
          (map as Map<string, RegisteredComponent<unknown>>).set(name, { name, impl, plugin: p });
        }
      }
      for (const stage of STAGE_NAMES) {
        const methods = p.stages[stage] as Record<string, StageMethod<unknown, unknown>> | undefined;
        for (const [method, impl] of Object.entries(methods ?? {})) {
          const key = `${p.backend}/${stage}/${method}`;
          const prior = this.byKey.get(key);
          if (prior)
            throw pluginInvalid(p.meta.name, [
              `${stage} method "${method}" on backend "${p.backend}" is already provided by ${prior.plugin.meta.name}`,
            ]);
          this.byKey.set(key, { plugin: p, backend: p.backend, stage, method, impl });
        }
      }
    }
  }

  /** Every loss (built-in and from plugins), sorted by name. */
  losses(): RegisteredComponent<LossComponent>[] {
    return [...this.lossMap.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every model family, sorted by name. */
  models(): RegisteredComponent<ModelComponent>[] {
    return [...this.modelMap.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  loss(name: string): RegisteredComponent<LossComponent> | undefined {
    return this.lossMap.get(name);
  }

  model(name: string): RegisteredComponent<ModelComponent> | undefined {
    return this.modelMap.get(name);
  }

  /** Backend names, sorted. */
  backends(): string[] {
    return [...new Set(this.plugins.map((p) => p.backend))].sort();
  }

  /** Method names of a stage on one backend (or on any backend), sorted. */
  methods(stage: StageName, backend?: string): string[] {
    const out = new Set<string>();
    for (const m of this.byKey.values()) if (m.stage === stage && (backend === undefined || m.backend === backend)) out.add(m.method);
    return [...out].sort();
  }

  /** Every registered method. */
  all(): RegisteredMethod[] {
    return [...this.byKey.values()];
  }

  /** The method, or undefined. */
  find(backend: string, stage: StageName, method: string): RegisteredMethod | undefined {
    return this.byKey.get(`${backend}/${stage}/${method}`);
  }

  /**
   * The method, or a `STAGE_NOT_FOUND` error listing what the backend offers for that stage.
   * @throws WeightshareError `STAGE_NOT_FOUND`
   */
  get(backend: string, stage: StageName, method: string, location?: SourceLocation): RegisteredMethod {
    const m = this.find(backend, stage, method);
    if (m) return m;
    const available = this.backends().includes(backend)
      ? this.methods(stage, backend)
      : this.backends().map((b) => `backend ${b}: ${this.methods(stage, b).join(', ')}`);
    throw stageNotFound(backend, stage, method, available, location);
  }

  /**
   * The options of (stage, method) as the union over the backends that provide it, for the spec's schema. A
   * `default` is kept only where every backend agrees; the defaults of the backend that actually runs are filled in
   * by the second validation phase (see spec/load.ts).
   */
  optionSchemas(stage: StageName): Map<string, { options: Record<string, unknown>; required: readonly string[]; description: string }> {
    const out = new Map<string, { options: Record<string, Record<string, unknown>>; required: readonly string[]; description: string }>();
    for (const m of this.all()) {
      if (m.stage !== stage) continue;
      const prior = out.get(m.method);
      if (!prior) {
        out.set(m.method, { options: structuredClone(m.impl.options) as Record<string, Record<string, unknown>>, required: m.impl.required ?? [], description: m.impl.description });
        continue;
      }
      for (const [k, schema] of Object.entries(m.impl.options as Record<string, Record<string, unknown>>)) {
        const have = prior.options[k];
        if (!have) prior.options[k] = structuredClone(schema);
        else if (JSON.stringify(have.default) !== JSON.stringify(schema.default)) {
          delete have.default;
          have.description = `${String(have.description ?? '')} (default depends on the backend)`.trim();
        }
      }
      prior.required = prior.required.filter((r) => (m.impl.required ?? []).includes(r));
    }
    return out;
  }
}

const SEMVER = /^\d+\.\d+\.\d+(?:[-+].*)?$/;

/** Checks a plugin object against the contract; collects every problem. */
export function validatePlugin(p: Plugin): void {
  const name = (p as Partial<Plugin>)?.meta?.name ?? '(unnamed plugin)';
  const problems: string[] = [];
  if (!p || typeof p !== 'object') throw pluginInvalid(name, ['a plugin must be an object']);
  if (!p.meta || typeof p.meta !== 'object') problems.push('missing `meta` (name, version, apiVersion)');
  else {
    if (typeof p.meta.name !== 'string' || !p.meta.name) problems.push('`meta.name` must be a non-empty string');
    if (typeof p.meta.version !== 'string' || !SEMVER.test(p.meta.version)) problems.push('`meta.version` must be a semver string such as "1.0.0"');
    if (!SUPPORTED_PLUGIN_API_VERSIONS.includes(p.meta.apiVersion))
      problems.push(`targets plugin API version ${String(p.meta.apiVersion)}, but this weightshare speaks versions ${SUPPORTED_PLUGIN_API_VERSIONS.join(' and ')} (current: ${PLUGIN_API_VERSION}); see "Migrating from version 1" in docs/plugins.md`);
    else if (p.meta.apiVersion < 2 && (p.losses || p.models))
      problems.push('provides `losses` or `models`, which need plugin API version 2: set meta.apiVersion to 2 (see "Migrating from version 1" in docs/plugins.md)');
  }
  if (typeof p.backend !== 'string' || !/^[a-z][a-z0-9-]*$/.test(p.backend))
    problems.push('`backend` must be a lowercase name such as "cpu"');
  if (!p.capabilities || (p.capabilities.precision !== 'float64' && p.capabilities.precision !== 'float32'))
    problems.push('`capabilities.precision` must be "float64" or "float32"');
  if (!p.stages || typeof p.stages !== 'object') problems.push('missing `stages`');
  else {
    for (const key of Object.keys(p.stages))
      if (!(STAGE_NAMES as readonly string[]).includes(key)) problems.push(`unknown stage "${key}" in \`stages\` (stages are ${STAGE_NAMES.join(', ')})`);
    for (const stage of STAGE_NAMES) {
      for (const [method, impl] of Object.entries((p.stages[stage] ?? {}) as Record<string, StageMethod<unknown, unknown>>)) {
        if (!/^[a-z][a-z0-9-]*$/.test(method)) problems.push(`${stage} method name "${method}" must be lowercase kebab-case`);
        if (!impl || typeof impl.run !== 'function') problems.push(`${stage}.${method} has no run() function`);
        if (!impl || typeof impl.options !== 'object' || impl.options === null) problems.push(`${stage}.${method} has no \`options\` schema object`);
        if (!impl || typeof impl.description !== 'string') problems.push(`${stage}.${method} has no description`);
        if (impl && stage === 'optimize') {
          const l = impl.losses;
          if (l !== undefined && l !== 'any' && !(Array.isArray(l) && l.every((x) => typeof x === 'string')))
            problems.push(`optimize.${method}.losses must be a list of loss names or 'any'`);
          if (l === 'any' && p.meta?.apiVersion < 2) problems.push(`optimize.${method}.losses 'any' needs plugin API version 2`);
          const m = impl.models;
          if (m !== undefined && m !== 'any' && !(Array.isArray(m) && m.every((x) => typeof x === 'string')))
            problems.push(`optimize.${method}.models must be a list of model names or 'any'`);
        }
      }
    }
  }
  for (const [kind, given, fns] of [
    ['losses', p.losses, ['value', 'link']],
    ['models', p.models, ['layout', 'init', 'forward', 'backward']],
  ] as const) {
    if (given === undefined) continue;
    if (!given || typeof given !== 'object') {
      problems.push(`\`${kind}\` must be an object of named components`);
      continue;
    }
    for (const [name, c] of Object.entries(given as unknown as Record<string, Record<string, unknown>>)) {
      if (!/^[a-z][a-z0-9-]*$/.test(name)) problems.push(`${kind} name "${name}" must be lowercase kebab-case`);
      if (!c || typeof c !== 'object') {
        problems.push(`${kind}.${name} must be an object`);
        continue;
      }
      for (const f of fns) if (typeof c[f] !== 'function') problems.push(`${kind}.${name} has no ${f}() function`);
      if (typeof c.options !== 'object' || c.options === null) problems.push(`${kind}.${name} has no \`options\` schema object`);
      if (typeof c.description !== 'string') problems.push(`${kind}.${name} has no description`);
      if (kind === 'losses' && !['regression', 'binary', 'multiclass', 'count'].includes(c.target as string))
        problems.push(`losses.${name}.target must be one of regression, binary, multiclass, count`);
    }
  }
  if (problems.length) throw pluginInvalid(name, problems);
}
