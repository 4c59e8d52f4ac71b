/**
 * The YAML parser (the `yaml` package). The build bundles the package's ~70 CommonJS files into one,
 * dist/vendor/yaml.cjs, with a V8 code cache (scripts/build-startup.mjs): loading the package file by file was ~40 ms
 * of every command's start, the bundle with its cache ~15 ms. It is that same installed version, used only when it
 * says so; anywhere else (the sources under test, a build without the bundle) the package is imported as usual.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Yaml from 'yaml';
import { loadCommonJs } from '../code-cache.js';

/** Where the build writes the bundle. */
export const YAML_BUNDLE = fileURLToPath(new URL('../vendor/yaml.cjs', import.meta.url));

function loadYaml(): typeof Yaml {
  const require = createRequire(import.meta.url);
  if (existsSync(YAML_BUNDLE)) {
    try {
      const bundled = loadCommonJs(YAML_BUNDLE) as typeof Yaml & { bundledVersion?: string };
      // the installed package's version: a bundle left from before an update of the package is not used
      if (bundled.bundledVersion === (require('yaml/package.json') as { version: string }).version) return bundled;
    } catch {
      // a damaged build output: the package itself
    }
  }
  return require('yaml') as typeof Yaml;
}

export const yaml: typeof Yaml = loadYaml();
