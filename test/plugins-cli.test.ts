/** Third-party plugins named in a spec, through the real CLI. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scratch } from './helpers/run.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'packages/cli/bin/weightshare.js');
const cli = (args: string[], cwd: string) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** A plugin as a plain ES module file, the way someone would write one in a hurry. */
const pluginFile = (apiVersion: number, body = 'return { targets: { rows: T, cols: d, data: out }, penaltyWeights: new Float64Array(T).fill(1) };') => `
export default {
  meta: { name: 'local-shrink', version: '0.3.1', apiVersion: ${apiVersion} },
  backend: 'shrink',
  capabilities: { precision: 'float64' },
  stages: {
    fuse: {
      'shrunk-mean': {
        description: 'The mean of the tasks, shrunk towards zero.',
        options: { factor: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: 'Shrinkage.' } },
        run(input, options) {
          const { rows: T, cols: d, data } = input.propagated;
          const out = new Float64Array(T * d);
          for (let j = 0; j < d; j++) {
            let s = 0;
            for (let t = 0; t < T; t++) s += data[t * d + j];
            for (let t = 0; t < T; t++) out[t * d + j] = options.factor * s / T;
          }
          ${body}
        },
      },
    },
  },
};
`;

const spec = (fuse = '{ method: shrunk-mean, backend: shrink, factor: 0.8 }', plugins = '[./shrink.mjs]') => `apiVersion: weightshare/v1
name: local-plugin
plugins: ${plugins}
data: { source: synthetic, tasks: 6, rows: 20 }
evaluate: { baselines: false }
output: { write: false }
stages:
  propagate: { method: identity }
  fuse: ${fuse}
  optimize: { method: exact }
rounds: 2
`;

describe('plugins named in a spec', () => {
  it('a local plugin file runs, and `weightshare plugins <spec>` lists it', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'shrink.mjs'), pluginFile(1));
    writeFileSync(join(dir, 'spec.yaml'), spec());
    const r = cli(['run', 'spec.yaml', '--json'], dir);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.stages.fuse).toEqual({ method: 'shrunk-mean', backend: 'shrink', plugin: 'local-shrink', pluginVersion: '0.3.1' });
    expect(res.plugins.map((p: { name: string }) => p.name)).toContain('local-shrink');
    const list = cli(['plugins', 'spec.yaml'], dir);
    expect(list.stdout).toMatch(/local-shrink@0\.3\.1 \(backend shrink, float64, plugin API 1\)\n  fuse +shrunk-mean +The mean of the tasks, shrunk towards zero\.\n +options: factor=0\.5/);
    // without the spec, only the built-in plugins
    expect(cli(['plugins'], dir).stdout).not.toMatch(/local-shrink/);
  });

  it('a misspelt plugin option is reported like a built-in one', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'shrink.mjs'), pluginFile(1));
    writeFileSync(join(dir, 'spec.yaml'), spec('{ method: shrunk-mean, backend: shrink, facter: 0.8 }'));
    const r = cli(['run', 'spec.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/spec\.yaml:9:49, at \/stages\/fuse\/facter: unknown key "facter" in stages\.fuse for shrunk-mean on backend shrink; did you mean "factor"\?/);
  });

  it('a plugin for another API version, or one that cannot be found, is refused with the spec line that names it', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'shrink.mjs'), pluginFile(3));
    writeFileSync(join(dir, 'spec.yaml'), spec());
    const bad = cli(['run', 'spec.yaml'], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error PLUGIN_INVALID: plugin "local-shrink" breaks the plugin contract/);
    expect(bad.stderr).toMatch(/targets plugin API version 3, but this weightshare speaks versions 1 and 2 \(current: 2\)/);
    expect(bad.stderr).toMatch(/spec\.yaml:3:11, at \/plugins\/0: "\.\/shrink\.mjs" named here/);
    writeFileSync(join(dir, 'spec2.yaml'), spec(undefined, '[weightshare-plugin-nope]'));
    const missing = cli(['run', 'spec2.yaml'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error PLUGIN_NOT_FOUND: plugin "weightshare-plugin-nope" cannot be loaded: no package "weightshare-plugin-nope" is installed where the spec is\. Install it next to the spec/);
    expect(missing.stderr).toMatch(/spec2\.yaml:3:11, at \/plugins\/0: named here/);
  });

  it('only named plugins are loaded: without the plugins line the method is unknown', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'shrink.mjs'), pluginFile(1));
    writeFileSync(join(dir, 'spec.yaml'), spec().replace('plugins: [./shrink.mjs]\n', ''));
    const r = cli(['run', 'spec.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown stages\.fuse method "shrunk-mean"/);
  });

  it('an error inside a plugin names the plugin, version, stage, method and round, and exits 1', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'shrink.mjs'), pluginFile(1, "throw Object.assign(new Error('out of coffee'), { code: 'SHRINK_E42' });"));
    writeFileSync(join(dir, 'spec.yaml'), spec());
    const r = cli(['run', 'spec.yaml'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error PLUGIN_ERROR: plugin local-shrink@0\.3\.1, stage fuse, method shrunk-mean, round 1 failed: out of coffee\n  caused by: out of coffee/);
  });

  it('the example plugin package runs from pipelines/ by its package name', () => {
    const r = cli(['validate', 'pipelines/school-robust-lasso.yaml'], root);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fuse trimmed-mean \(cpu\) → optimize lasso \(cpu\)/);
  });
});
