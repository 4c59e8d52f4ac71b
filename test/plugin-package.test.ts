/**
 * Plugins from outside this repository: errors of another copy of the framework keep their code, and the packed
 * packages install in an empty folder (offline, from the npm cache) together with a third-party plugin package.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asWeightshareError, ErrorCode, isWeightshareError, pluginError, WeightshareError } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { installOffline, pack, PUBLISHED } from './helpers/pack.js';
import { scratch } from './helpers/run.js';

/** A fuse method that throws the error `throwing` builds (a JavaScript expression), as a plugin module's text. */
const throwingPlugin = (imports: string, throwing: string): string => `${imports}
export default {
  meta: { name: 'other-copy', version: '1.0.0', apiVersion: 1 },
  backend: 'other',
  capabilities: { precision: 'float64' },
  stages: {
    fuse: {
      strict: {
        description: 'Refuses every relation.',
        options: {},
        run() {
          throw ${throwing};
        },
      },
    },
  },
};
`;

const spec = `apiVersion: weightshare/v1
name: other-copy
plugins: [./plugin.mjs]
data: { source: synthetic, tasks: 4, rows: 12 }
evaluate: { baselines: false }
output: { write: false }
stages:
  propagate: { method: identity }
  fuse: { method: strict, backend: other }
  optimize: { method: exact }
`;

/** A folder with the spec and a plugin that imports the framework's errors from its own copy of them. */
function otherCopyProject(throwing: string): string {
  const dir = scratch('ws-copy-');
  mkdirSync(join(dir, 'copy'));
  copyFileSync(join(root, 'packages/framework/dist/errors.js'), join(dir, 'copy/errors.js'));
  writeFileSync(join(dir, 'plugin.mjs'), throwingPlugin("import { relationInvalid, WeightshareError } from './copy/errors.js';", throwing));
  writeFileSync(join(dir, 'spec.yaml'), spec);
  return dir;
}

describe('errors of another copy of the framework', () => {
  it('are recognised by their brand and code, not by their class', async () => {
    const copy = (await import(`${pathToFileURL(join(root, 'packages/framework/dist/errors.js')).href}?copy`)) as typeof import('@weightshare/framework');
    const foreign = copy.relationInvalid('A is 3×3 but there are 4 tasks');
    expect(foreign).not.toBeInstanceOf(WeightshareError);
    expect(isWeightshareError(foreign)).toBe(true);
    const ours = asWeightshareError(foreign)!;
    expect(ours).toBeInstanceOf(WeightshareError);
    expect([ours.code, ours.message, ours.isUserError]).toEqual([ErrorCode.RELATION_INVALID, foreign.message, true]);
    expect(pluginError(foreign, { plugin: 'p' }).code).toBe('RELATION_INVALID');
    // a look-alike without the brand, or a brand with a code this copy does not know, is not ours
    expect(isWeightshareError(Object.assign(new Error('x'), { name: 'WeightshareError', code: 'RELATION_INVALID' }))).toBe(false);
    const unknownCode = Object.assign(new Error('x'), { code: 'FROM_THE_FUTURE', [Symbol.for('weightshare.error')]: true });
    expect(isWeightshareError(unknownCode)).toBe(false);
    expect(pluginError(unknownCode, { plugin: 'p' })).toMatchObject({ code: 'PLUGIN_ERROR', pluginCode: 'FROM_THE_FUTURE' });
  });

  it('a RELATION_INVALID thrown by a plugin with its own copy reaches the user as RELATION_INVALID, exit 2', () => {
    const dir = otherCopyProject("relationInvalid('the relation must be block-diagonal for strict fusion; use relation.method: identity.')");
    const r = cli(['run', 'spec.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error RELATION_INVALID: the relation must be block-diagonal for strict fusion/);
    expect(r.stderr).not.toMatch(/PLUGIN_ERROR|\n\s+at /);
  });

  it('an error with an unknown code from another copy is still a PLUGIN_ERROR naming the plugin, with its code kept', () => {
    const dir = otherCopyProject("new WeightshareError('GPU_ON_FIRE', 'too hot')");
    const r = cli(['run', 'spec.yaml', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error PLUGIN_ERROR: plugin other-copy@1\.0\.0, stage fuse, method strict, round 1 failed: too hot/);
  });
});

/** A third-party plugin package, the way its author publishes it: the framework as a peer dependency. */
function thirdPartyPlugin(dir: string): void {
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'weightshare-plugin-damped', version: '2.0.0', type: 'module', main: './index.js', files: ['index.js'], peerDependencies: { '@weightshare/framework': '^0.1.0' } }, null, 2),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `import { PLUGIN_API_VERSION, relationInvalid } from '@weightshare/framework';
export default {
  meta: { name: 'weightshare-plugin-damped', version: '2.0.0', apiVersion: PLUGIN_API_VERSION },
  backend: 'cpu',
  capabilities: { precision: 'float64' },
  stages: {
    fuse: {
      damped: {
        description: 'The mean of the tasks times a damping factor.',
        options: {
          damping: { type: 'number', minimum: 0, maximum: 1, default: 0.9, description: 'Factor.' },
          needsGraph: { type: 'boolean', default: false, description: 'Refuse the identity relation.' },
        },
        run(input, options) {
          const { rows: T, cols: d, data } = input.propagated;
          if (options.needsGraph) throw relationInvalid('damped fusion with needsGraph needs a relation with edges; set relation.method: estimate.');
          const out = new Float64Array(T * d);
          for (let j = 0; j < d; j++) {
            let s = 0;
            for (let t = 0; t < T; t++) s += data[t * d + j];
            for (let t = 0; t < T; t++) out[t * d + j] = (options.damping * s) / T;
          }
          return { targets: { rows: T, cols: d, data: out }, penaltyWeights: new Float64Array(T).fill(1) };
        },
      },
    },
  },
};
`,
  );
}

describe('the packed packages', () => {
  it('install offline in an empty folder outside the repository with a third-party plugin package, and run a spec naming it', () => {
    const work = scratch('ws-pack-');
    expect(relative(root, work).startsWith('..')).toBe(true);
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    thirdPartyPlugin(join(work, 'plugin-src'));
    const files = [...PUBLISHED.map((p) => pack(join(root, p), tarballs)), pack(join(work, 'plugin-src'), tarballs)];
    const user = join(work, 'project');
    mkdirSync(user);
    installOffline(user, files);
    // one copy of the framework, shared by weightshare and the plugin
    expect(existsSync(join(user, 'node_modules/@weightshare/framework/package.json'))).toBe(true);
    expect(existsSync(join(user, 'node_modules/weightshare/node_modules'))).toBe(false);
    writeFileSync(
      join(user, 'spec.yaml'),
      `apiVersion: weightshare/v1
name: damped
plugins: [weightshare-plugin-damped]
data: { source: synthetic, tasks: 5, rows: 16 }
stages:
  propagate: { method: identity }
  fuse: { method: damped, damping: 0.5 }
  optimize: { method: exact, lambda: 1 }
rounds: 2
`,
    );
    const weightshare = (args: string[]) => spawnSync(process.execPath, [join(user, 'node_modules/.bin/weightshare'), ...args], { cwd: user, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
    const run = weightshare(['run', 'spec.yaml', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const res = JSON.parse(run.stdout) as { stages: { fuse: unknown }; outputDir: string };
    expect(res.stages.fuse).toEqual({ method: 'damped', backend: 'cpu', plugin: 'weightshare-plugin-damped', pluginVersion: '2.0.0' });
    expect(existsSync(join(user, res.outputDir, 'weights.npy'))).toBe(true);
    const tfjs = weightshare(['run', 'spec.yaml', '--set', 'stages.optimize.backend=tfjs', '--set', 'output.write=false']);
    expect(tfjs.status, tfjs.stderr).toBe(0);
    const refused = weightshare(['run', 'spec.yaml', '--set', 'stages.fuse.needsGraph=true']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^(writing .*\n)?error RELATION_INVALID: damped fusion with needsGraph needs a relation with edges/);
  }, 120_000);
});
