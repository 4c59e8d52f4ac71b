/**
 * Loading the plugins a spec names (`plugins:`). A spec is code: a plugin module runs with the user's rights the moment
 * it is imported. So plugins come only from where a user expects code to come from: packages installed where the spec
 * is (node_modules, as npm installs them), files inside the spec's own folder tree, and folders the user allowed
 * explicitly (`--allow-plugin-path`). Nothing is found by scanning folders. See docs/security.md.
 */
import { realpathSync, statSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { asWeightshareError, pluginInvalid, pluginNotFound, pluginRefused, type SourceLocation } from '../errors.js';
import { validatePlugin } from '../engine/registry.js';
import type { Plugin } from './types.js';

/** Where plugin code may come from. Plain data (it crosses to sweep worker threads). */
export interface PluginSources {
  /** Folder package names are resolved from, walking up through its node_modules as Node does. */
  packagesFrom: string;
  /** Whether files inside the spec's folder tree may be imported by a relative path (false on resume). */
  specFolder: boolean;
  /** Further folders whose files may be imported, by a relative or absolute path (`--allow-plugin-path`). */
  allow: readonly string[];
}

/** The default: packages installed where the spec is, and files in its folder tree. */
export const specPluginSources = (specDir: string, allow: readonly string[] = []): PluginSources => ({ packagesFrom: specDir, specFolder: true, allow });

/**
 * For a run folder (resume): packages installed here (`cwd`) only; paths recorded in the folder are never trusted,
 * unless they lie inside an allowed folder.
 */
export const installedPluginSources = (cwd: string, allow: readonly string[] = []): PluginSources => ({ packagesFrom: cwd, specFolder: false, allow });

/** A plugin found but not yet imported. */
export interface LocatedPlugin {
  /** As the spec names it. */
  name: string;
  kind: 'package' | 'file';
  /** The module file that would be imported. */
  file: string;
}

// an npm package name (optionally scoped), then an optional subpath without `.` or `..` segments
const PACKAGE = /^(?:@[a-z0-9~-][a-z0-9._~-]*\/)?[a-z0-9~-][a-z0-9._~-]*(?:\/(?!\.\.?(?:\/|$))[^/\\]+)*$/i;
const URL_LIKE = /^[a-z][a-z0-9+.-]*:/i;

/**
 * Finds the module a `plugins:` entry names, without importing it, and checks it may be loaded from there.
 * @param baseDir folder relative paths are resolved against (the spec's folder)
 * @throws WeightshareError PLUGIN_REFUSED (a URL, an absolute path, or a file outside the allowed folders),
 *   PLUGIN_NOT_FOUND (no such package or file)
 */
export function locatePlugin(name: string, baseDir: string, sources: PluginSources, from?: SourceLocation): LocatedPlugin {
  if (URL_LIKE.test(name) && !isAbsolute(name)) throw pluginRefused(name, 'it is a URL; a plugin is a package name or a path to a file', !sources.specFolder, from);
  if (name.startsWith('.') || isAbsolute(name) || name.includes('\\')) return { name, kind: 'file', file: locateFile(name, baseDir, sources, from) };
  if (!PACKAGE.test(name)) throw pluginNotFound(name, 'it is neither an npm package name nor a path (paths start with ./)', from);
  if (isBuiltin(name)) throw pluginNotFound(name, 'it is a Node.js built-in module, not a plugin', from);
  try {
    return { name, kind: 'package', file: createRequire(join(sources.packagesFrom, '__weightshare_resolve__.js')).resolve(name) };
  } catch {
    const where = sources.specFolder ? 'where the spec is' : `here (${sources.packagesFrom}; resume loads plugins installed where it runs)`;
    throw pluginNotFound(name, `no package "${name}" is installed ${where}`, from, !sources.specFolder);
  }
}

/** The real path of a plugin file, if it lies inside a folder it may come from. */
function locateFile(name: string, baseDir: string, sources: PluginSources, from?: SourceLocation): string {
  const path = resolve(baseDir, name);
  let real: string;
  try {
    real = realpathSync(path);
    if (!statSync(real).isFile()) throw new Error('not a file');
  } catch {
    throw pluginNotFound(name, `the module ${path} does not exist or is not a file`, from);
  }
  const allowed = sources.allow.map(realFolder);
  if (allowed.some((dir) => inside(real, dir))) return real;
  if (!sources.specFolder) throw pluginRefused(name, 'resume imports plugins by package name only: a run folder may come from someone else, so the paths recorded in it are not trusted', !sources.specFolder, from);
  if (isAbsolute(name)) throw pluginRefused(name, 'absolute paths are refused; a spec names plugin files relative to its own folder', !sources.specFolder, from);
  if (!inside(real, realFolder(baseDir))) throw pluginRefused(name, `${real} lies outside the spec's folder ${realFolder(baseDir)}`, !sources.specFolder, from);
  return real;
}

function realFolder(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

const inside = (file: string, dir: string): boolean => {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
};

/**
 * Imports a located plugin module and returns its plugin object (the default export, or an export named `plugin`).
 * @throws WeightshareError PLUGIN_NOT_FOUND (the module throws while loading), PLUGIN_INVALID
 */
export async function importLocated(p: LocatedPlugin, from?: SourceLocation): Promise<Plugin> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(p.file).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ERR_MODULE_NOT_FOUND' ? `a module it imports does not exist (${err.message})` : `importing it failed (${err.message})`;
    throw pluginNotFound(p.name, why, from);
  }
  const candidate = (mod.default ?? mod.plugin) as Plugin | undefined;
  if (!candidate || typeof candidate !== 'object')
    throw pluginInvalid(p.name, ['the module has no default export (or export named `plugin`) holding the plugin object'], from);
  try {
    validatePlugin(candidate);
  } catch (e) {
    asWeightshareError(e)?.problems.push(...(from ? [{ message: `"${p.name}" named here`, location: from }] : []));
    throw e;
  }
  return candidate;
}

/**
 * Locates and imports one plugin module (by default from where a spec in `baseDir` may load plugins).
 * @throws WeightshareError PLUGIN_REFUSED, PLUGIN_NOT_FOUND, PLUGIN_INVALID
 */
export async function importPlugin(name: string, baseDir: string, from?: SourceLocation, sources: PluginSources = specPluginSources(baseDir)): Promise<Plugin> {
  return importLocated(locatePlugin(name, baseDir, sources, from), from);
}
