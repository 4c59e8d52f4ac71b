import { pluginInvalid, stageNotFound, type SourceLocation } from '../errors.js';
import {
  PLUGIN_API_VERSION,
  STAGE_NAMES,
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

/**
 * The set of plugins one run uses, checked against the contract and indexed by (backend, stage, method).
 * Built per run; nothing here is global.
 * @throws WeightshareError `PLUGIN_INVALID` when a plugin breaks the contract or two plugins claim one method.
 */
export class PluginRegistry {
  private readonly byKey = new Map<string, RegisteredMethod>();
  readonly plugins: readonly Plugin[];

  constructor(plugins: readonly Plugin[]) {
    this.plugins = plugins;
    for (const p of plugins) {
      validatePlugin(p);
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
    if (p.meta.apiVersion !== PLUGIN_API_VERSION)
      problems.push(`targets plugin API version ${String(p.meta.apiVersion)}, but this weightshare speaks version ${PLUGIN_API_VERSION}`);
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
      }
    }
  }
  if (problems.length) throw pluginInvalid(name, problems);
}
