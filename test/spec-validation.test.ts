/** Spec validation: every mistake is reported with its place, all at once; tests assert codes and locations. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildSpecSchema, loadSpecText, WeightshareError, type Problem } from '@weightshare/framework';
import { registry } from './helpers/run.js';

const reg = registry();
const load = (text: string, overrides = {}): ReturnType<typeof loadSpecText> => loadSpecText(text, 'spec.yaml', reg, overrides);
const fail = (text: string, overrides = {}): WeightshareError => {
  try {
    load(text, overrides);
  } catch (e) {
    if (e instanceof WeightshareError) return e;
    throw e;
  }
  throw new Error('expected the spec to be rejected');
};
const at = (p: Problem): string => `${p.location?.file}:${p.location?.line}:${p.location?.column} ${p.location?.path}`;

const good = `apiVersion: weightshare/v1
name: ok
data:
  source: synthetic
stages:
  propagate: { method: identity }
  fuse: { method: mean }
  optimize: { method: exact }
`;

describe('spec validation', () => {
  it('accepts a minimal spec and fills in defaults', () => {
    const { spec } = load(good);
    expect(spec.seed).toBe(0);
    expect(spec.backend).toBe('cpu');
    expect(spec.rounds).toEqual({ max: 1, tol: 1e-6, stopEarly: false, acceleration: 'none', memory: 5 });
    expect(spec.split).toEqual({ method: 'random', testFraction: 0.25, minTrain: 2 });
    expect(spec.relation).toEqual({ method: 'identity' });
    expect(spec.init).toEqual({ method: 'independent', ridge: 1 });
    expect(spec.stages.optimize).toEqual({ method: 'exact', lambda: 1, ridge: 1, backend: 'cpu' });
    expect(spec.evaluate.baselineRidge).toBe(1); // the stage's ridge, as init.ridge
    expect(spec.stages.fuse).toMatchObject({ scope: 'global' });
    expect(spec.data).toMatchObject({ source: 'synthetic', tasks: 30, standardize: true, bias: true });
  });

  it('reports several mistakes together, each with file:line:column, JSON path, value and a suggestion', () => {
    const err = fail(`apiVersion: weightshare/v1
name: bad
data:
  source: synthetic
  taks: 3
stages:
  propagate: { method: laplacain }
  fuse: { method: mean, scope: everywhere }
  optimize:
    method: adam
    lamda: 1
    lr: -0.1
rounds: two
`);
    expect(err.code).toBe('SPEC_INVALID');
    const p = err.problems;
    expect(p.map(at)).toEqual([
      'spec.yaml:5:3 /data/taks',
      'spec.yaml:7:24 /stages/propagate/method',
      'spec.yaml:8:32 /stages/fuse/scope',
      'spec.yaml:11:5 /stages/optimize/lamda',
      'spec.yaml:12:9 /stages/optimize/lr',
      'spec.yaml:13:9 /rounds',
    ]);
    expect(p[0]!.message).toMatch(/unknown key "taks".*did you mean "tasks"\?/);
    expect(p[1]!.message).toMatch(/"laplacain".*identity, inverse, laplacian, ppr, solve.*Did you mean "laplacian"\?/);
    expect(p[2]!.message).toMatch(/"everywhere"; expected one of: global, per-task/);
    expect(p[3]!.message).toMatch(/did you mean "lambda"\?/);
    expect(p[4]!.message).toMatch(/-0\.1; expected a number > 0/);
    expect(p[5]!.message).toMatch(/"two".*expected an integer/);
  });

  it('unknown top-level keys and missing required keys', () => {
    const err = fail(`apiVersion: weightshare/v1
name: x
data: { source: csv, path: a.csv, target: y }
stage:
  propagate: { method: identity }
`);
    const msgs = err.problems.map((p) => `${at(p)} ${p.message}`);
    expect(msgs.some((m) => /^spec\.yaml:3:7 \/data missing required key "task"/.test(m))).toBe(true);
    expect(msgs.some((m) => /^spec\.yaml:1:1  missing required key "stages"/.test(m))).toBe(true);
    expect(msgs.some((m) => /^spec\.yaml:4:1 \/stage unknown key "stage".*did you mean "stages"\?/.test(m))).toBe(true);
  });

  it('a key that belongs to another method is named as unknown for this one', () => {
    const err = fail(good.replace('{ method: identity }', '{ method: identity, alpha: 0.5 }'));
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.message).toMatch(/unknown key "alpha" in stages\.propagate for identity on backend cpu\. Allowed keys: method, backend\./);
  });

  it('malformed YAML, duplicate keys and an empty file', () => {
    const y = fail('name: [unclosed\n  foo: : bar\n');
    expect(y.code).toBe('SPEC_YAML');
    expect(y.problems[0]!.location).toMatchObject({ file: 'spec.yaml', line: 1 });
    const dup = fail(good + 'name: again\n');
    expect(dup.code).toBe('SPEC_YAML');
    expect(dup.problems[0]!.message).toMatch(/unique/i);
    expect(dup.problems[0]!.location?.line).toBe(9);
    expect(fail('').code).toBe('SPEC_EMPTY');
    expect(fail('# only a comment\n').code).toBe('SPEC_EMPTY');
    expect(fail('- a list\n').code).toBe('SPEC_INVALID');
  });

  it('--set overrides are validated like the file, and errors name the flag', () => {
    const { spec } = load(good, { set: ['stages.optimize.lambda=0.5', 'rounds=3', 'relation.method=uniform'] });
    expect(spec.stages.optimize.lambda).toBe(0.5);
    expect(spec.rounds.max).toBe(3);
    expect(spec.relation.method).toBe('uniform');
    const err = fail(good, { set: ['stages.optimize.lamda=2', 'rounds=-1', 'nosuch.key=1'] });
    expect(err.problems.map((p) => p.location?.file).sort()).toEqual(['--set nosuch.key=1', '--set rounds=-1', '--set stages.optimize.lamda=2']);
    expect(err.problems.find((p) => p.location?.file === '--set stages.optimize.lamda=2')!.message).toMatch(/did you mean "lambda"/);
    expect(fail(good, { set: ['rounds'] }).code).toBe('INVALID_ARGUMENT');
    expect(fail(good, { set: ['name.x=1'] }).code).toBe('INVALID_ARGUMENT');
    expect(fail(good, { set: ['a..b=1'] }).code).toBe('INVALID_ARGUMENT');
  });

  it('--backend sets every stage, and an unknown backend is one clear error', () => {
    const { spec } = load(good, { backend: 'cpu' });
    expect(Object.values(spec.stages).map((s) => s.backend)).toEqual(['cpu', 'cpu', 'cpu']);
    const err = fail(good, { backend: 'gpu' });
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/--backend gpu.*Available backends: cpu/);
  });

  it('a non-square inline relation, and exact with logistic loss, are caught before running', () => {
    const err = fail(good + 'relation: { method: given, matrix: [[1, 0], [0]] }\nloss: logistic\n');
    expect(err.problems.map((p) => p.location?.path)).toEqual(['/stages/optimize/method', '/relation/matrix/1']);
    expect(err.problems[0]!.message).toMatch(/optimize method "exact" supports squared loss only, but the spec.s loss is logistic; on backend "cpu" use one of: adam, gd, lbfgs, newton, sgd\./);
    expect(err.problems[1]!.message).toMatch(/square: row 2 has 1 values but there are 2 rows/);
  });

  it('NaN and infinite numbers are refused with their JSON path', () => {
    const err = fail(good + 'relation: { method: given, matrix: [[1, .nan], [.inf, 1]] }\n');
    expect(err.problems.map((p) => `${at(p)} ${p.message}`)).toEqual([
      'spec.yaml:9:41 /relation/matrix/0/1 relation.matrix.0.1 is NaN; expected a finite number (NaN and infinities are not allowed).',
      'spec.yaml:9:49 /relation/matrix/1/0 relation.matrix.1.0 is Infinity; expected a finite number (NaN and infinities are not allowed).',
    ]);
  });

  it('schemas/pipeline.schema.json is the schema of the built-in plugins (regenerate with npm run schemas)', () => {
    const file = JSON.parse(readFileSync(new URL('../schemas/pipeline.schema.json', import.meta.url), 'utf8'));
    expect(file).toEqual(buildSpecSchema(reg));
  });

  it('every pipeline in pipelines/ validates', async () => {
    const { readdirSync } = await import('node:fs');
    const dir = new URL('../pipelines/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    const { loadPipeline } = await import('@weightshare/framework');
    const { cpuPlugin } = await import('@weightshare/plugin-cpu');
    for (const f of files) await loadPipeline(fileURLToPath(new URL(f, dir)), [cpuPlugin]);
  });
});

describe('error codes', () => {
  it('docs/errors.md documents exactly the codes in ErrorCode', async () => {
    const { ErrorCode } = await import('@weightshare/framework');
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.values(ErrorCode).sort());
  });
});

describe('docs/spec.md', () => {
  it('contains the current generated method and option tables', async () => {
    const { specReferenceMarkdown } = await import('@weightshare/framework');
    const doc = readFileSync(new URL('../docs/spec.md', import.meta.url), 'utf8');
    const generated = doc.split('<!-- generated:start -->\n')[1]!.split('\n<!-- generated:end -->')[0]!;
    expect(generated.trim()).toBe(specReferenceMarkdown(buildSpecSchema(reg)).trim());
  });
});

describe('the precompiled spec validator (scripts/build-validators.mjs, part of npm run build)', () => {
  it('exists for the built-in plugins\' schema and reports exactly what Ajv compiling the schema reports', async () => {
    const { createRequire } = await import('node:module');
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const { SPEC_VALIDATOR_OPTIONS, specValidatorKey } = await import('@weightshare/framework');
    const schema = buildSpecSchema(registry(), true);
    // the built framework's folder (the tests' framework resolves to its sources, which compile the schema live)
    const file = join(fileURLToPath(new URL('../packages/framework/dist/validators/', import.meta.url)), `${specValidatorKey(JSON.stringify(schema))}.cjs`);
    expect(existsSync(file), `${file}: run npm run build`).toBe(true);
    const pre = createRequire(import.meta.url)(file) as ((d: unknown) => boolean) & { errors?: unknown };
    const live = new Ajv2020(SPEC_VALIDATOR_OPTIONS).compile(schema);
    const specs: unknown[] = [
      { apiVersion: 'weightshare/v1', name: 'ok', data: { source: 'synthetic' }, stages: { propagate: { method: 'identity' }, fuse: { method: 'mean' }, optimize: { method: 'exact' } } },
      { apiVersion: 'weightshare/v2', nme: 'x', data: { source: 'csv' }, rounds: -1, stages: { optimize: { method: 'nope', lambda: 'a' } } },
      { apiVersion: 'weightshare/v1', data: { source: 'synthetic', tasks: 1.5 }, sweep: { search: 'random', samples: 0 }, loss: { method: 'huber', delta: -1 } },
      {},
    ];
    for (const s of specs) {
      const [a, b] = [structuredClone(s), structuredClone(s)];
      expect(pre(a)).toBe(live(b));
      expect(JSON.parse(JSON.stringify(pre.errors ?? null))).toEqual(JSON.parse(JSON.stringify(live.errors ?? null)));
      expect(a).toEqual(b); // the same defaults filled in
    }
  });

  it('has every built-in method\'s, loss\'s and model\'s option validator, reporting and filling in what Ajv compiling the schema does', async () => {
    const { createRequire } = await import('node:module');
    const { join } = await import('node:path');
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const { OPTION_VALIDATOR_OPTIONS, PRECOMPILED_OPTION_VALIDATORS, optionSchemaOf, validatorKey } = await import('@weightshare/framework');
    const file = join(fileURLToPath(new URL('../packages/framework/dist/validators/', import.meta.url)), PRECOMPILED_OPTION_VALIDATORS);
    const pre = createRequire(import.meta.url)(file) as Record<string, ((d: unknown) => boolean) & { errors?: unknown }>;
    const reg = registry();
    const schemas = [...reg.all().map((m) => optionSchemaOf(m.impl, 'stage')), ...[...reg.losses(), ...reg.models()].map((c) => optionSchemaOf(c.impl, 'component'))];
    expect(schemas.length).toBeGreaterThan(20);
    for (const schema of schemas) {
      const v = pre[`v${validatorKey('options', JSON.stringify(schema))}`];
      expect(v, JSON.stringify(schema).slice(0, 200)).toBeTypeOf('function');
      const live = new Ajv2020(OPTION_VALIDATOR_OPTIONS).compile(schema);
      const keys = Object.keys((schema as { properties: object }).properties);
      // nothing given (defaults filled in), an unknown key, and every option given a string (wrong for most)
      for (const input of [{ method: 'm' }, { method: 'm', nosuchoption: 1 }, Object.fromEntries(keys.map((k) => [k, 'text']))]) {
        const [a, b] = [structuredClone(input), structuredClone(input)];
        expect(v!(a)).toBe(live(b));
        expect(JSON.parse(JSON.stringify(v!.errors ?? null))).toEqual(JSON.parse(JSON.stringify(live.errors ?? null)));
        expect(a).toEqual(b);
      }
    }
  });

  it('`weightshare validate` loads neither TensorFlow.js nor Ajv\'s compiler, the DI container, the CSV parser or the progress bar', async () => {
    const { spawnSync } = await import('node:child_process');
    const probe = `const { createRequire } = await import('node:module'); const { main } = await import(${JSON.stringify(new URL('../packages/cli/dist/main.js', import.meta.url).href)});
const out = []; const code = await main(['validate', ${JSON.stringify(fileURLToPath(new URL('../pipelines/quickstart.yaml', import.meta.url)))}], { stdout: { write: (s) => out.push(s) }, stderr: { write: (s) => out.push(s) } });
const cache = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({ code, valid: out.join('').includes(': valid.'), cache }));`;
    // CommonJS modules are in require.cache; ES modules (csv-parse's, for one) only pass the loader's load hook, which
    // writes each URL it loads to stderr
    const hook = `export async function load(url, context, next) { process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }`;
    const register = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hook))});`;
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { code, valid, cache } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { code: number; valid: boolean; cache: string[] };
    const esm = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
    expect(esm.some((u) => u.includes('/packages/framework/')), 'the load hook saw the framework load').toBe(true);
    // the YAML parser is the build's one-file bundle, not the package's ~70 files
    const heavy = [...cache, ...esm].filter((k) => ['@tensorflow/', 'ajv/dist/2020', 'ajv/dist/core', 'tsyringe/', 'reflect-metadata/', 'csv-parse/', 'cli-progress/', 'ml-matrix/', 'yaml/dist/'].some((m) => k.includes('/node_modules/' + m)));
    expect({ code, valid, heavy }).toEqual({ code: 0, valid: true, heavy: [] });
  });

  it('a process compiles neither the YAML parser nor the validators: the build\'s V8 code caches are used (and a damaged one is ignored)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { copyFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dist = (p: string) => new URL(`../packages/framework/dist/${p}`, import.meta.url);
    const probe = `const fw = await import(${JSON.stringify(dist('index.js').href)}); const { cpuPlugin } = await import(${JSON.stringify(new URL('../packages/plugin-cpu/dist/index.js', import.meta.url).href)}); const { tfjsPlugin } = await import(${JSON.stringify(new URL('../packages/plugin-tfjs/dist/index.js', import.meta.url).href)});
await fw.loadPipeline(${JSON.stringify(fileURLToPath(new URL('../pipelines/quickstart.yaml', import.meta.url)))}, [cpuPlugin, tfjsPlugin]);
console.log(JSON.stringify(fw.codeCacheUses.map((u) => ({ file: u.file.split('/').slice(-2).join('/'), cached: u.cached, rejected: u.rejected }))));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const uses = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { file: string; cached: boolean; rejected: boolean }[];
    expect(uses.map((u) => u.file).sort()).toEqual([expect.stringMatching(/^validators\/[0-9a-f]{32}\.cjs$/), 'validators/options.cjs', 'vendor/yaml.cjs']);
    for (const u of uses) expect(u, u.file).toMatchObject({ cached: true, rejected: false });
    // a cache that does not fit its file is ignored: the file compiles and works
    const { loadCommonJs, codeCacheFile, codeCacheUses, writeCodeCache, scratchDir } = { ...(await import('@weightshare/framework')), scratchDir: (await import('./helpers/run.js')).scratch };
    const dir = scratchDir();
    const copy = join(dir, 'yaml.cjs');
    copyFileSync(fileURLToPath(dist('vendor/yaml.cjs')), copy);
    writeFileSync(codeCacheFile(copy), Buffer.from('not a code cache'));
    const y = loadCommonJs(copy) as typeof import('yaml');
    expect(y.parseDocument('a: [1, 2]').toJS()).toEqual({ a: [1, 2] });
    // the cache of another source of the same length (V8 itself would take it: it compares lengths) is not used
    const file = join(dir, 'check.cjs');
    writeFileSync(file, 'module.exports = (x) => x.a === 1;\n');
    let script: import('node:vm').Script | undefined;
    expect((loadCommonJs(file, (s) => (script = s)) as (x: unknown) => boolean)({ a: 1 })).toBe(true);
    writeCodeCache(file, script!);
    expect((loadCommonJs(file) as (x: unknown) => boolean)({ a: 1 })).toBe(true);
    expect(codeCacheUses.at(-1)).toMatchObject({ cached: true, rejected: false });
    writeFileSync(file, 'module.exports = (x) => x.a === 2;\n');
    expect((loadCommonJs(file) as (x: unknown) => boolean)({ a: 1 })).toBe(false);
    expect(codeCacheUses.at(-1)).toMatchObject({ cached: false });
  });

  it('the bundled YAML parser (scripts/build-startup.mjs) is the installed package: the same data, errors and positions for every spec here and for broken YAML', async () => {
    const { createRequire } = await import('node:module');
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const pkg = (await import('yaml')) as typeof import('yaml');
    const bundled = createRequire(import.meta.url)(fileURLToPath(new URL('../packages/framework/dist/vendor/yaml.cjs', import.meta.url))) as typeof import('yaml') & { bundledVersion: string };
    expect(bundled.bundledVersion).toBe((createRequire(import.meta.url)('yaml/package.json') as { version: string }).version);
    const texts: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.yaml')) texts.push(readFileSync(join(dir, e.name), 'utf8'));
      }
    };
    walk(fileURLToPath(new URL('../pipelines', import.meta.url)));
    expect(texts.length).toBeGreaterThan(10);
    texts.push('a: [1, 2\nb: {c: 1', 'x: &a [1]\ny: *a\nz: *b\n', 'k: 1\nk: 2\n', '\t- bad indent', '<<: {a: 1}\nb: 2');
    const view = (y: typeof import('yaml'), text: string) => {
      const lineCounter = new y.LineCounter();
      const doc = y.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
      const errors = doc.errors.map((e) => ({ message: e.message, at: lineCounter.linePos(e.pos[0]) }));
      const map = y.isMap(doc.contents) ? doc.contents.items.map((p) => (y.isPair(p) && y.isScalar(p.key) ? [String(p.key.value), p.key.range] : null)) : null;
      let data: unknown = null;
      if (!errors.length)
        try {
          data = doc.toJS({ maxAliasCount: 100 });
        } catch (e) {
          data = `throws ${(e as Error).name}: ${(e as Error).message}`;
        }
      return { errors, map, data };
    };
    for (const text of texts) expect(view(bundled, text), text.slice(0, 80)).toEqual(view(pkg, text));
  });

  it('`weightshare --help` loads no backend and not the framework (they are imported only when a command runs)', async () => {
    const { spawnSync } = await import('node:child_process');
    const probe = `const { createRequire } = await import('node:module'); const { main } = await import(${JSON.stringify(new URL('../packages/cli/dist/main.js', import.meta.url).href)});
const out = []; await main(['--help'], { stdout: { write: (s) => out.push(s) }, stderr: { write: () => {} } });
const cache = Object.keys(createRequire(import.meta.url).cache);
const loaded = cache.filter((k) => k.includes('@tensorflow'));
// nor the framework: its CommonJS dependencies (schema validation, DI container, CSV parser) are not loaded either
const framework = cache.filter((k) => ['ajv', 'tsyringe', 'reflect-metadata', 'csv-parse', 'yaml'].some((m) => k.includes('/node_modules/' + m + '/')));
console.log(JSON.stringify({ help: out.join('').includes('Usage'), loaded: loaded.length, framework }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ help: true, loaded: 0, framework: [] });
  });
});
