/**
 * Loading the plugins a spec names (`plugins:`): package names resolved from the spec's folder, or paths relative to
 * it. Only named plugins are loaded; nothing is found by scanning folders.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pluginNotFound, pluginInvalid, WeightshareError, type SourceLocation } from '../errors.js';
import { validatePlugin } from '../engine/registry.js';
import type { Plugin } from './types.js';

/**
 * Imports one plugin module and returns its plugin object (the default export, or an export named `plugin`).
 * @throws WeightshareError PLUGIN_NOT_FOUND, PLUGIN_INVALID
 */
export async function importPlugin(name: string, baseDir: string, from?: SourceLocation): Promise<Plugin> {
  let url: string;
  if (name.startsWith('.') || isAbsolute(name)) url = pathToFileURL(resolve(baseDir, name)).href;
  else {
    try {
      url = pathToFileURL(createRequire(join(baseDir, '__weightshare_resolve__.js')).resolve(name)).href;
    } catch (e) {
      throw pluginNotFound(name, `no package "${name}" is installed where the spec is`, from);
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ERR_MODULE_NOT_FOUND' ? `the module ${url} does not exist` : `importing it failed (${err.message})`;
    throw pluginNotFound(name, why, from);
  }
  const candidate = (mod.default ?? mod.plugin) as Plugin | undefined;
  if (!candidate || typeof candidate !== 'object')
    throw pluginInvalid(name, ['the module has no default export (or export named `plugin`) holding the plugin object'], from);
  try {
    validatePlugin(candidate);
  } catch (e) {
    if (e instanceof WeightshareError) e.problems.push(...(from ? [{ message: `"${name}" named here`, location: from }] : []));
    throw e;
  }
  return candidate;
}
