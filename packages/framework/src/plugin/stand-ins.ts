/**
 * Stand-ins for the plugins a spec names, so that the spec can be validated before any plugin code runs: for each
 * stage method, loss, model (and backend settings) the built-in plugins do not provide, a stand-in accepts whatever
 * options the spec gives. Everything else — data, split, relation, init, rounds, output, built-in methods and their options — is
 * checked exactly as in a full validation. What a stand-in accepted unchecked is listed for the user.
 */
import { linearModel } from '../components/models.js';
import { internalError } from '../errors.js';
import type { PluginRegistry } from '../engine/registry.js';
import { PLUGIN_API_VERSION, STAGE_NAMES, type LossComponent, type ModelComponent, type Plugin, type StageMethod } from './types.js';

/** Stand-in plugins and what they leave unchecked. */
export interface StandIns {
  plugins: Plugin[];
  /** One line per spec part whose check needs the spec's plugins, e.g. `stages.fuse: the options of trimmed-mean on backend cpu`. */
  unchecked: string[];
}

const NAME = /^[a-z][a-z0-9-]*$/;

const standInComponents = new WeakSet<object>();
/** Whether a loss or model is a stand-in (its real curvature, layout and the like are unknown until imported). */
export const isStandIn = (component: object): boolean => standInComponents.has(component);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Stand-ins for what `data` (a parsed spec, overrides applied) asks of plugins that `builtins` does not provide.
 * @param backend the `--backend` override, which moves every stage
 */
export function standIns(data: Record<string, unknown>, builtins: PluginRegistry, backend?: string): StandIns {
  const byBackend = new Map<string, Plugin & { settings?: Record<string, object> }>();
  const unchecked: string[] = [];
  const standIn = (b: string): Plugin & { settings?: Record<string, object> } => {
    let p = byBackend.get(b);
    if (!p) {
      p = { meta: { name: '(a plugin the spec names)', version: '0.0.0', apiVersion: PLUGIN_API_VERSION }, backend: b, capabilities: { precision: 'float64' }, stages: {} };
      byBackend.set(b, p);
    }
    return p;
  };
  const defaultBackend = backend ?? (typeof data.backend === 'string' ? data.backend : 'cpu');
  if (NAME.test(defaultBackend) && !builtins.backends().includes(defaultBackend)) {
    standIn(defaultBackend);
    unchecked.push(`backend: "${defaultBackend}" is not built in (a plugin the spec names may provide it)`);
  }
  const stages = isObject(data.stages) ? data.stages : {};
  for (const s of STAGE_NAMES) {
    const st = stages[s];
    if (!isObject(st) || typeof st.method !== 'string') continue;
    const b = backend ?? (typeof st.backend === 'string' ? st.backend : defaultBackend);
    if (!NAME.test(b) || !NAME.test(st.method) || builtins.find(b, s, st.method)) continue;
    const methods = ((standIn(b).stages as Record<string, Record<string, StageMethod<unknown, unknown>>>)[s] ??= {});
    methods[st.method] = {
      description: 'stand-in',
      options: Object.fromEntries(Object.keys(st).filter((k) => k !== 'method' && k !== 'backend').map((k) => [k, {}])),
      losses: 'any',
      models: 'any',
      run: () => {
        throw internalError('a stand-in plugin was run');
      },
    };
    unchecked.push(`stages.${s}: the options of method "${st.method}" on backend "${b}" (not built in; from a plugin the spec names)`);
  }
  // a loss or model a plugin adds: accepted with any options (which plugin adds it is known only once imported)
  for (const key of ['loss', 'model'] as const) {
    const entry = data[key];
    const name = typeof entry === 'string' ? entry : isObject(entry) && typeof entry.method === 'string' ? entry.method : undefined;
    if (name === undefined || !NAME.test(name) || (key === 'loss' ? builtins.loss(name) : builtins.model(name))) continue;
    const options = isObject(entry) ? Object.fromEntries(Object.keys(entry).filter((k) => k !== 'method').map((k) => [k, {}])) : {};
    const p = standIn(defaultBackend);
    const fail = (): never => {
      throw internalError(`a stand-in ${key} was run`);
    };
    if (key === 'loss') {
      const loss: LossComponent = { description: 'stand-in', options, target: 'regression', value: fail, link: fail };
      standInComponents.add(loss);
      (p as { losses?: Record<string, LossComponent> }).losses = { [name]: loss };
    } else {
      const model: ModelComponent = { ...linearModel, description: 'stand-in', options, init: fail, forward: fail, backward: fail };
      standInComponents.add(model);
      (p as { models?: Record<string, ModelComponent> }).models = { [name]: model };
    }
    unchecked.push(`${key}: the options of ${key} "${name}" (not built in; from a plugin the spec names)`);
  }
  const settings = isObject(data.backendOptions) ? data.backendOptions : {};
  for (const [b, given] of Object.entries(settings)) {
    if (!NAME.test(b) || builtins.backends().includes(b) || !isObject(given)) continue;
    standIn(b).settings = Object.fromEntries(Object.keys(given).map((k) => [k, {}]));
    unchecked.push(`backendOptions.${b}: the settings of backend "${b}" (not built in)`);
  }
  return { plugins: [...byBackend.values()], unchecked };
}
