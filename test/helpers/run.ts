/** Helpers that run specs in-process for tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadSpecText, PluginRegistry, runPipeline, WeightshareError, type RunOutcome, type Plugin } from '@weightshare/framework';
import { cpuPlugin } from '@weightshare/plugin-cpu';
import { tfjsPlugin } from '@weightshare/plugin-tfjs';

/** The CLI's built-in plugins. */
export const builtins: Plugin[] = [cpuPlugin, tfjsPlugin];
export const registry = (plugins: Plugin[] = builtins): PluginRegistry => new PluginRegistry(plugins);

/** A scratch folder for spec files. */
export function scratch(prefix = 'ws-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs a spec given as YAML text (relative paths resolve against `dir`). */
export async function runText(text: string, opts: { dir?: string; set?: string[]; backend?: string } = {}): Promise<RunOutcome> {
  const reg = registry();
  const loaded = loadSpecText(text, join(opts.dir ?? scratch(), 'spec.yaml'), reg, { set: opts.set, backend: opts.backend });
  return runPipeline(loaded, reg);
}

/** A spec with synthetic data; `extra` is YAML appended at the top level (stages etc.). */
export function syntheticSpec(extra: string, data = 'tasks: 8\n  clusters: 2\n  features: 4\n  rows: 40'): string {
  return `apiVersion: weightshare/v1
name: test
seed: 7
data:
  source: synthetic
  ${data}
evaluate:
  baselines: false
output:
  write: false
${extra}`;
}

/** The WeightshareError a promise rejects with (the test fails if it resolves, or rejects with anything else). */
export async function fail(p: Promise<unknown>): Promise<WeightshareError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'expected an error').toBeInstanceOf(WeightshareError);
  return e as WeightshareError;
}
