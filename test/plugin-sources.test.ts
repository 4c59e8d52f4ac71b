/**
 * A spec is code: plugins are imported only once the rest of the spec is valid, only from where a user expects code
 * (installed packages, the spec's own folder tree, folders allowed with --allow-plugin-path), never by `runs`
 * commands, and on resume only as packages installed here. Every plugin here writes a marker file when it is
 * imported, so each test can tell whether its code ran.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256 } from '@weightshare/framework';
import { cli, root } from './helpers/cli.js';
import { scratch } from './helpers/run.js';

/** A plugin module that leaves `imported.marker` next to itself when imported; its fuse fails while WS_MARKER_FAIL=1. */
const markerPlugin = (version = '1.0.0'): string => `import { writeFileSync } from 'node:fs';
writeFileSync(new URL('./imported.marker', import.meta.url), 'imported');
export default {
  meta: { name: 'ws-marker', version: '${version}', apiVersion: 1 },
  backend: 'marker',
  capabilities: { precision: 'float64' },
  stages: {
    fuse: {
      tagged: {
        description: 'The mean of the tasks.',
        options: { weight: { type: 'number', default: 1, description: 'Scale.' } },
        run(input, options) {
          if (process.env.WS_MARKER_FAIL === '1') throw new Error('asked to fail');
          const { rows: T, cols: d, data } = input.propagated;
          const out = new Float64Array(T * d);
          for (let j = 0; j < d; j++) {
            let s = 0;
            for (let t = 0; t < T; t++) s += data[t * d + j];
            for (let t = 0; t < T; t++) out[t * d + j] = (options.weight * s) / T;
          }
          return { targets: { rows: T, cols: d, data: out }, penaltyWeights: new Float64Array(T).fill(1) };
        },
      },
    },
  },
};
`;

const spec = (plugins: string, extra = ''): string => `apiVersion: weightshare/v1
name: marked
plugins: ${plugins}
data: { source: synthetic, tasks: 4, rows: 12 }
evaluate: { baselines: false }
stages:
  propagate: { method: identity }
  fuse: { method: tagged, backend: marker, weight: 0.5 }
  optimize: { method: exact, lambda: 1 }
rounds: 2
${extra}`;

/** A project folder with the spec in `spec/`, the marker plugin as `spec/p.mjs`, and another copy in `outside/`. */
function project(plugins = '[./p.mjs]', extra = ''): { dir: string; specDir: string; inner: string; outer: string } {
  const dir = scratch('ws-sources-');
  const specDir = join(dir, 'spec');
  mkdirSync(specDir);
  mkdirSync(join(dir, 'outside'));
  writeFileSync(join(specDir, 'p.mjs'), markerPlugin());
  writeFileSync(join(dir, 'outside', 'p.mjs'), markerPlugin());
  writeFileSync(join(specDir, 's.yaml'), spec(plugins, extra));
  return { dir, specDir, inner: join(specDir, 'imported.marker'), outer: join(dir, 'outside', 'imported.marker') };
}

/** Installs the marker plugin as the package `ws-marker` in `dir`/node_modules. */
function installPackage(dir: string, version = '1.0.0'): string {
  const pkg = join(dir, 'node_modules', 'ws-marker');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'ws-marker', version, type: 'module', main: 'index.js' }));
  writeFileSync(join(pkg, 'index.js'), markerPlugin(version));
  return join(pkg, 'imported.marker');
}

/** One paragraph, no stack trace. */
const expectParagraph = (stderr: string, code: string): void => {
  expect(stderr).toMatch(new RegExp(`^error ${code}: `));
  expect(stderr).not.toMatch(/\n\s+at |\n\n/);
};

describe('plugins are imported only after the rest of the spec is valid', () => {
  it('a file with nothing but a plugins line imports nothing on validate, plugins, schema or run', () => {
    const { specDir, inner } = project();
    writeFileSync(join(specDir, 'only.yaml'), 'plugins: [./p.mjs]\n');
    for (const args of [['validate', 'only.yaml'], ['plugins', 'only.yaml'], ['schema', 'only.yaml'], ['run', 'only.yaml']]) {
      const r = cli(args, { cwd: specDir });
      expect(r.code, args.join(' ')).toBe(2);
      expectParagraph(r.stderr, 'SPEC_INVALID');
      expect(r.stderr).toMatch(/missing required key "apiVersion"/);
      expect(existsSync(inner), args.join(' ')).toBe(false);
    }
  });

  it('a mistake anywhere else in the spec is reported before any plugin runs; a valid spec then loads it', () => {
    const { specDir, inner } = project('[./p.mjs]', 'roundz: 3\n');
    const bad = cli(['validate', 's.yaml'], { cwd: specDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/s\.yaml:\d+:1, at \/roundz: unknown key "roundz"/);
    expect(existsSync(inner)).toBe(false);
    writeFileSync(join(specDir, 's.yaml'), spec('[./p.mjs]'));
    const good = cli(['validate', 's.yaml'], { cwd: specDir });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/fuse tagged \(marker\)/);
    expect(existsSync(inner)).toBe(true);
    // a misspelt plugin option is still caught, once the plugin is there
    writeFileSync(join(specDir, 's.yaml'), spec('[./p.mjs]').replace('weight: 0.5', 'wieght: 0.5'));
    expect(cli(['validate', 's.yaml'], { cwd: specDir }).stderr).toMatch(/unknown key "wieght" in stages\.fuse for tagged on backend marker; did you mean "weight"\?/);
  });
});

describe('where plugin code may come from', () => {
  it.each([
    ['an absolute path', (dir: string) => `[${join(dir, 'outside', 'p.mjs')}]`, /absolute paths are refused/],
    ['a .. escape', () => '[../outside/p.mjs]', /lies outside the spec's folder/],
    ['a URL', () => '["data:text/javascript,export default 1"]', /it is a URL/],
  ])('%s is refused (exit 2, one paragraph, the line that names it), and nothing is imported', (_what, plugins, why) => {
    const { dir, specDir, outer } = project();
    writeFileSync(join(specDir, 's.yaml'), spec(plugins(dir)));
    for (const command of ['validate', 'run', 'plugins', 'schema']) {
      const r = cli([command, 's.yaml'], { cwd: specDir });
      expect(r.code, `${command}: ${r.stderr}`).toBe(2);
      expectParagraph(r.stderr, 'PLUGIN_REFUSED');
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toMatch(/--allow-plugin-path <folder>/);
      expect(r.stderr).toMatch(/s\.yaml:3:\d+, at \/plugins\/0: named here/);
    }
    expect(existsSync(outer)).toBe(false);
  });

  it('--set plugins= outside the spec\'s folder is refused naming the flag; --allow-plugin-path admits that folder', () => {
    const { specDir, outer } = project();
    const r = cli(['validate', 's.yaml', '--set', 'plugins=[../outside/p.mjs]'], { cwd: specDir });
    expect(r.code).toBe(2);
    expectParagraph(r.stderr, 'PLUGIN_REFUSED');
    expect(r.stderr).toMatch(/--set plugins=\[\.\.\/outside\/p\.mjs\], at \/plugins\/0: named here/);
    expect(existsSync(outer)).toBe(false);
    const allowed = cli(['run', 's.yaml', '--set', 'plugins=[../outside/p.mjs]', '--allow-plugin-path', '../outside', '--json'], { cwd: specDir });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(existsSync(outer)).toBe(true);
    const bad = cli(['validate', 's.yaml', '--allow-plugin-path', '../nowhere'], { cwd: specDir });
    expect(bad.code).toBe(2);
    expectParagraph(bad.stderr, 'INVALID_ARGUMENT');
  });

  it('an absolute path inside an allowed folder loads', () => {
    const { dir, specDir, outer } = project();
    writeFileSync(join(specDir, 's.yaml'), spec(`[${join(dir, 'outside', 'p.mjs')}]`));
    const r = cli(['validate', 's.yaml', '--allow-plugin-path', join(dir, 'outside')], { cwd: specDir });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(outer)).toBe(true);
  });

  it('a symbolic link inside the spec\'s folder that points outside it is refused', () => {
    const { dir, specDir, outer } = project('[./lib/p.mjs]');
    symlinkSync(join(dir, 'outside'), join(specDir, 'lib'));
    const r = cli(['validate', 's.yaml'], { cwd: specDir });
    expect(r.code).toBe(2);
    expectParagraph(r.stderr, 'PLUGIN_REFUSED');
    expect(r.stderr).toMatch(/outside\/p\.mjs lies outside the spec's folder/);
    expect(existsSync(outer)).toBe(false);
  });

  it('a package installed where the spec is loads by name; a name that climbs out of node_modules does not', () => {
    const { specDir } = project('[ws-marker]');
    const marker = installPackage(specDir);
    const r = cli(['validate', 's.yaml'], { cwd: specDir });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    writeFileSync(join(specDir, 's.yaml'), spec('[ws-marker/../../p.mjs]'));
    const climb = cli(['validate', 's.yaml'], { cwd: specDir });
    expect(climb.code).toBe(2);
    expectParagraph(climb.stderr, 'PLUGIN_NOT_FOUND');
    expect(climb.stderr).toMatch(/neither an npm package name nor a path/);
    expect(existsSync(join(specDir, 'imported.marker'))).toBe(false);
  });
});

describe('--no-plugins', () => {
  it('validate checks everything but the plugins\' options, names what it did not check, and imports nothing', () => {
    const { specDir, inner } = project();
    const r = cli(['validate', 's.yaml', '--no-plugins'], { cwd: specDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^s\.yaml: valid as far as it can be checked without its plugins\. marked: propagate identity \(cpu\) → fuse tagged \(marker\)/);
    expect(r.stderr).toMatch(/^not imported \(--no-plugins\): \.\/p\.mjs \(file .*spec\/p\.mjs\)\nnot checked without them:\n  - backend: "marker"|stages\.fuse: the options of method "tagged" on backend "marker"/);
    expect(r.stderr).toMatch(/  - stages\.fuse: the options of method "tagged" on backend "marker"/);
    expect(existsSync(inner)).toBe(false);
    // built-in parts are checked in full
    writeFileSync(join(specDir, 's.yaml'), spec('[./p.mjs]').replace('lambda: 1', 'lamda: 1'));
    const bad = cli(['validate', 's.yaml', '--no-plugins'], { cwd: specDir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown key "lamda" in stages\.optimize for exact on backend cpu; did you mean "lambda"\?/);
    // and where the plugins would come from
    writeFileSync(join(specDir, 's.yaml'), spec('[../outside/p.mjs]'));
    expectParagraph(cli(['validate', 's.yaml', '--no-plugins'], { cwd: specDir }).stderr, 'PLUGIN_REFUSED');
    expect(existsSync(inner)).toBe(false);
  });

  it('plugins lists the built-in plugins only and says what it did not load or check', () => {
    const { specDir, inner } = project();
    const r = cli(['plugins', 's.yaml', '--no-plugins'], { cwd: specDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^@weightshare\/plugin-cpu@/);
    expect(r.stdout).not.toMatch(/ws-marker/);
    expect(r.stderr).toMatch(/not imported \(--no-plugins\): \.\/p\.mjs/);
    expect(r.stderr).toMatch(/stages\.fuse: the options of method "tagged"/);
    expect(existsSync(inner)).toBe(false);
    const loaded = cli(['plugins', 's.yaml'], { cwd: specDir });
    expect(loaded.stdout).toMatch(/ws-marker@1\.0\.0 \(backend marker/);
    expect(existsSync(inner)).toBe(true);
  });
});

describe('run folders never name the code that runs', () => {
  const failedRun = (cwd: string, file = 's.yaml'): string => {
    const r = cli(['run', file, '--out', 'runs'], { cwd, env: { WS_MARKER_FAIL: '1' } });
    expect(r.code, r.stderr).toBe(1); // the plugin's own failure
    return join(cwd, 'runs', 'marked-1');
  };

  it('runs ls, show, diff and export import no plugin', () => {
    const { specDir, inner } = project();
    for (let i = 0; i < 2; i++) expect(cli(['run', 's.yaml', '--out', 'runs'], { cwd: specDir }).code).toBe(0);
    rmSync(inner);
    for (const args of [['runs', 'ls'], ['runs', 'show', 'marked-1'], ['runs', 'diff', 'marked-1', 'marked-2'], ['runs', 'export', 'marked-1', '--out', 'w.csv']]) {
      const r = cli([...args, '--dir', 'runs'], { cwd: specDir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(existsSync(inner), args.join(' ')).toBe(false);
    }
  });

  it('resume imports the plugin package installed here; a different version is refused unless --force; a missing one is an error', () => {
    const { specDir } = project('[ws-marker]');
    const marker = installPackage(specDir);
    const run = failedRun(specDir);
    rmSync(marker);
    const again = failedRun(specDir).replace('marked-1', 'marked-2');
    installPackage(specDir, '1.1.0');
    const changed = cli(['resume', run], { cwd: specDir });
    expect(changed.code).toBe(2);
    expectParagraph(changed.stderr, 'RESUME_REFUSED');
    expect(changed.stderr).toMatch(/the plugin ws-marker changed version \(1\.0\.0 → 1\.1\.0\)/);
    expect(cli(['resume', run, '--force'], { cwd: specDir }).code).toBe(0);
    expect(existsSync(marker)).toBe(true);
    // from a folder where it is not installed, or once it is uninstalled
    const elsewhere = cli(['resume', again], { cwd: join(specDir, '..') });
    expect(elsewhere.code).toBe(2);
    expectParagraph(elsewhere.stderr, 'PLUGIN_NOT_FOUND');
    expect(elsewhere.stderr).toMatch(/no package "ws-marker" is installed here \(.*; resume loads plugins installed where it runs\)\. Install it here/);
    rmSync(join(specDir, 'node_modules'), { recursive: true });
    expectParagraph(cli(['resume', again], { cwd: specDir }).stderr, 'PLUGIN_NOT_FOUND');
    expect(existsSync(join(specDir, 'imported.marker'))).toBe(false);
  });

  it('resume refuses plugin paths recorded in a run folder, unless their folder is allowed', () => {
    const { dir, specDir, inner, outer } = project();
    const run = failedRun(specDir);
    rmSync(inner);
    const refused = cli(['resume', run], { cwd: specDir });
    expect(refused.code).toBe(2);
    expectParagraph(refused.stderr, 'PLUGIN_REFUSED');
    expect(refused.stderr).toMatch(/resume imports plugins by package name only/);
    expect(refused.stderr).toMatch(/--allow-plugin-path <the folder that holds it>/);
    expect(existsSync(inner)).toBe(false);
    // a run folder edited to point somewhere else
    // (with its manifest's checksum of the resolved spec forged to match, as someone sending the folder can)
    const resolved = join(run, 'spec.resolved.json');
    const tamper = (from: string, to: string): void => {
      const text = readFileSync(resolved, 'utf8').replace(from, to);
      writeFileSync(resolved, text);
      const mf = join(run, 'manifest.json');
      const m = JSON.parse(readFileSync(mf, 'utf8')) as { spec: { resolvedSha256: string } };
      m.spec.resolvedSha256 = sha256(canonicalJson(JSON.parse(text)));
      writeFileSync(mf, JSON.stringify(m, null, 2) + '\n');
    };
    tamper('"./p.mjs"', JSON.stringify(join(dir, 'outside', 'p.mjs')));
    expectParagraph(cli(['resume', run, '--allow-plugin-path', '.'], { cwd: specDir }).stderr, 'PLUGIN_REFUSED');
    expect(existsSync(outer)).toBe(false);
    tamper(JSON.stringify(join(dir, 'outside', 'p.mjs')), '"./p.mjs"');
    const allowed = cli(['resume', run, '--allow-plugin-path', '.'], { cwd: specDir });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(existsSync(inner)).toBe(true);
  });
});

describe('sweep folders', () => {
  it('resume of a sweep refuses the plugin paths it records, unless their folder is allowed', () => {
    const { specDir, inner } = project('[./p.mjs]', 'sweep: { parameters: { stages.optimize.lambda: [0.1, 1] } }\n');
    const sweep = cli(['sweep', 's.yaml', '--jobs', '1', '--out', 'runs'], { cwd: specDir });
    expect(sweep.code, sweep.stderr).toBe(0);
    const folder = join(specDir, 'runs', 'marked-sweep-1');
    rmSync(join(folder, 'jobs'), { recursive: true }); // as if interrupted before any job finished
    rmSync(inner);
    const refused = cli(['resume', folder, '--jobs', '1'], { cwd: specDir });
    expect(refused.code).toBe(2);
    expectParagraph(refused.stderr, 'PLUGIN_REFUSED');
    expect(existsSync(inner)).toBe(false);
    const allowed = cli(['resume', folder, '--jobs', '1', '--allow-plugin-path', '.'], { cwd: specDir });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(existsSync(inner)).toBe(true);
  });
});

describe('docs/security.md', () => {
  it('is linked from the README, and its commands for inspecting a spec work and import nothing', () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toMatch(/\(docs\/security\.md\)/);
    const doc = readFileSync(join(root, 'docs/security.md'), 'utf8');
    const commands = [...doc.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].flatMap((m) => m[1]!.trim().split('\n')).map((l) => l.replace(/\s+#.*$/, ''));
    expect(commands.length).toBeGreaterThan(1);
    const { specDir, inner } = project();
    for (const line of commands) {
      const [bin, ...args] = line.split(/\s+/);
      expect(bin).toBe('weightshare');
      const r = cli(args.map((a) => (a === 'their-spec.yaml' ? 's.yaml' : a)), { cwd: specDir });
      expect(r.code, `${line}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toMatch(/not imported \(--no-plugins\): \.\/p\.mjs/);
    }
    expect(existsSync(inner)).toBe(false);
  });
});
