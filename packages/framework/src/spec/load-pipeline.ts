/** Loading a spec file together with the plugins it names. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileNotFound } from '../errors.js';
import { PluginRegistry } from '../engine/registry.js';
import { importPlugin } from '../plugin/load.js';
import type { Plugin } from '../plugin/types.js';
import { parseSpecText, validateSpec, type LoadedSpec, type SpecOverrides } from './load.js';

/** A validated spec and the registry of exactly the plugins it may use. */
export interface LoadedPipeline {
  loaded: LoadedSpec;
  registry: PluginRegistry;
  /** The plugins loaded because the spec named them (in addition to the built-in ones). */
  named: Plugin[];
}

/**
 * Reads a spec, imports the plugins its `plugins:` list names (after `--set`), builds a registry of the built-in
 * plugins plus those, and validates the spec against it. Each call builds its own registry: two pipelines in one
 * process never see each other's plugins.
 * `source` gives the text instead of reading `file`, and the folder relative paths resolve against (resume runs the
 * stored resolved spec of a run against the folder of its original spec).
 * @throws WeightshareError FILE_NOT_FOUND, SPEC_*, PLUGIN_NOT_FOUND, PLUGIN_INVALID, INVALID_ARGUMENT
 */
export async function loadPipeline(
  file: string,
  builtins: readonly Plugin[],
  overrides: SpecOverrides = {},
  source: { text?: string; baseDir?: string } = {},
): Promise<LoadedPipeline> {
  let text: string;
  if (source.text !== undefined) text = source.text;
  else
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw fileNotFound(file, 'spec file');
    }
  const parsed = parseSpecText(text, file, overrides.set);
  const named: Plugin[] = [];
  const list = parsed.data.plugins;
  const baseDir = source.baseDir ?? dirname(resolve(file));
  if (Array.isArray(list)) {
    for (let i = 0; i < list.length; i++)
      if (typeof list[i] === 'string' && list[i] !== '') named.push(await importPlugin(list[i] as string, baseDir, parsed.locate(['plugins', i])));
  }
  const registry = new PluginRegistry([...builtins, ...named]);
  const loaded = validateSpec(parsed, registry, overrides.backend);
  if (source.baseDir !== undefined) loaded.baseDir = source.baseDir;
  return { loaded, registry, named };
}
