/**
 * Plugins from outside this repository: errors of another copy of the framework keep their code, and the packed
 * packages install in an empty folder (offline, from the npm cache) together with a third-party plugin package.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { asWeightshareError, ErrorCode, isWeightshareError, pluginError, WeightshareError } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
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
