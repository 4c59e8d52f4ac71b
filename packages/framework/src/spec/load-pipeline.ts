/** Loading a spec file together with the plugins it names. */
import { dirname, resolve } from 'node:path';
import { fileNotFound } from '../errors.js';
import { NotARegularFile, readRegularFile } from '../io.js';
import { PluginRegistry } from '../engine/registry.js';
import { importLocated, installedPluginSources, locatePlugin, specPluginSources, type LocatedPlugin } from '../plugin/load.js';
import { standIns } from '../plugin/stand-ins.js';
import type { Plugin } from '../plugin/types.js';
import { parseSpecText, validateSpec, type LoadedSpec, type ParsedSpec, type SpecOverrides } from './load.js';

/** A validated spec and the registry of exactly the plugins it may use. */
export interface LoadedPipeline {
  loaded: LoadedSpec;
  /** The built-in plugins plus the named ones (only the built-in ones when plugins were not imported). */
  registry: PluginRegistry;
  /** The plugins loaded because the spec named them (in addition to the built-in ones). */
  named: Plugin[];
  /** The plugins the spec names, where they were found (imported unless `plugins.import` was false). */
  located: LocatedPlugin[];
  /** What could not be checked because plugins were not imported (empty when they were). */
  unchecked: string[];
}

/** How a pipeline's plugins are loaded. */
export interface PluginLoading {
  /** Further folders plugin files may come from (`--allow-plugin-path`). */
  allow?: readonly string[];
  /**
   * For a run folder (resume): resolve packages from this folder (the current one) and trust no path the run records
   * ({@link installedPluginSources}). Default: packages and files of the spec's folder ({@link specPluginSources}).
   */
  installedFrom?: string;
  /** false: check the spec as far as possible without importing any plugin (`validate --no-plugins`). */
  import?: boolean;
}

/**
 * Reads a spec and validates it, then imports the plugins its `plugins:` list names (after `--set`) and validates it
 * again against the built-in plugins plus those. No plugin is imported before the rest of the spec has passed
 * validation and every plugin has been located where it may come from (see {@link locatePlugin}). Each call builds
 * its own registry: two pipelines in one process never see each other's plugins.
 * `source` gives the text instead of reading `file`, and the folder relative paths resolve against (resume runs the
 * stored resolved spec of a run against the folder of its original spec).
 * @throws WeightshareError FILE_NOT_FOUND, SPEC_*, PLUGIN_REFUSED, PLUGIN_NOT_FOUND, PLUGIN_INVALID, INVALID_ARGUMENT
 */
export async function loadPipeline(
  file: string,
  builtins: readonly Plugin[],
  overrides: SpecOverrides = {},
  source: { text?: string; baseDir?: string } = {},
  plugins: PluginLoading = {},
): Promise<LoadedPipeline> {
  const parsed = parseSpecText(source.text ?? readSpec(file), file, overrides.set);
  const baseDir = source.baseDir ?? dirname(resolve(file));
  const builtinRegistry = new PluginRegistry(builtins);
  const names = namedPlugins(parsed);
  const done = (loaded: LoadedSpec, registry: PluginRegistry, rest: Omit<LoadedPipeline, 'loaded' | 'registry'>): LoadedPipeline => {
    if (source.baseDir !== undefined) loaded.baseDir = source.baseDir;
    return { loaded, registry, ...rest };
  };
  if (!names.length) return done(validateSpec(parsed, builtinRegistry, overrides.backend), builtinRegistry, { named: [], located: [], unchecked: [] });

  // first the spec without its plugins: stand-ins accept the options of the methods they will provide
  const stand = standIns(parsed.data, builtinRegistry, overrides.backend);
  const checked = validateSpec(parsed, new PluginRegistry([...builtins, ...stand.plugins]), overrides.backend);
  const sources = plugins.installedFrom !== undefined ? installedPluginSources(plugins.installedFrom, plugins.allow) : specPluginSources(baseDir, plugins.allow);
  const located = names.map(({ name, index }) => locatePlugin(name, baseDir, sources, parsed.locate(['plugins', index])));
  if (plugins.import === false) return done(checked, builtinRegistry, { named: [], located, unchecked: stand.unchecked });

  const named: Plugin[] = [];
  for (const [i, p] of located.entries()) named.push(await importLocated(p, parsed.locate(['plugins', names[i]!.index])));
  const registry = new PluginRegistry([...builtins, ...named]);
  return done(validateSpec(parsed, registry, overrides.backend), registry, { named, located, unchecked: [] });
}

/** The non-empty strings of the spec's `plugins:` list, with their index (anything else is a schema problem). */
function namedPlugins(parsed: ParsedSpec): { name: string; index: number }[] {
  const list = parsed.data.plugins;
  if (!Array.isArray(list)) return [];
  return list.flatMap((name, index) => (typeof name === 'string' && name !== '' ? [{ name, index }] : []));
}

function readSpec(file: string): string {
  try {
    return readRegularFile(file).toString('utf8');
  } catch (e) {
    throw fileNotFound(file, 'spec file', undefined, e instanceof NotARegularFile ? e.kind : undefined);
  }
}
