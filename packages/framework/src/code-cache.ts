/**
 * Loading the framework's own generated CommonJS files (the precompiled validators, the bundled YAML parser) with
 * V8's code cache: the build runs each once and stores what V8 compiled next to it (`<file>.v8cache`), so a process
 * that starts does not compile them again (the spec validator and the YAML parser are ~20 and ~30 ms of a `validate`
 * otherwise). V8 checks a cache against its own version, flags and the source before it uses one and ignores a cache
 * that does not fit — but V8's check of the source is its length only, so each cache starts with the SHA-256 of the
 * source it was made from, and a cache whose source has changed is not used (the file is then compiled as usual): a
 * stale or damaged cache costs time, never correctness. Only files of this package's build go through here: they are
 * the package's own code, as trusted as the rest.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** The code cache file of a generated file. */
export const codeCacheFile = (file: string): string => `${file}.v8cache`;

/** What {@link loadCommonJs} did: whether a code cache was there and whether V8 used it. */
export interface CodeCacheUse {
  file: string;
  cached: boolean;
  rejected: boolean;
}

/** The loads so far (tests and `--verbose` diagnostics read it). */
export const codeCacheUses: CodeCacheUse[] = [];

/**
 * The exports of a CommonJS file, compiled with its code cache where there is one. `onScript` gets the compiled
 * script (the build calls createCachedData on it after running the code, so the cache holds what ran).
 */
export function loadCommonJs(file: string, onScript?: (script: Script) => void): unknown {
  const source = readFileSync(file, 'utf8');
  const cacheFile = codeCacheFile(file);
  let cachedData: Buffer | undefined;
  if (!onScript && existsSync(cacheFile)) {
    try {
      const stored = readFileSync(cacheFile);
      // made from this very source, or not used
      if (stored.length > DIGEST_BYTES && stored.subarray(0, DIGEST_BYTES).equals(digest(source))) cachedData = stored.subarray(DIGEST_BYTES);
    } catch {
      cachedData = undefined; // unreadable: compile
    }
  }
  const wrapped = (Module as unknown as { wrap(source: string): string }).wrap(source);
  const script = new Script(wrapped, { filename: file, ...(cachedData ? { cachedData } : {}) });
  codeCacheUses.push({ file, cached: cachedData !== undefined, rejected: cachedData !== undefined && script.cachedDataRejected === true });
  const module = { exports: {} as unknown };
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: { exports: unknown }, filename: string, dirname: string) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  onScript?.(script);
  return module.exports;
}

const DIGEST_BYTES = 32;
const digest = (source: string): Buffer => createHash('sha256').update(source).digest();

/**
 * Writes the code cache of a file that {@link loadCommonJs} loaded with `onScript` (call it after running the code,
 * so the cache holds what ran): the SHA-256 of the source, then V8's data; written whole (temp file and rename).
 */
export function writeCodeCache(file: string, script: Script): void {
  const target = codeCacheFile(file);
  writeFileSync(`${target}.tmp`, Buffer.concat([digest(readFileSync(file, 'utf8')), script.createCachedData()]));
  renameSync(`${target}.tmp`, target);
}
