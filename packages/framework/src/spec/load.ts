/**
 * From YAML text to a {@link ResolvedSpec}: parse (keeping source positions), apply `--set`/`--backend` overrides,
 * validate against the schema built from the run's plugins, fill defaults, and check what a schema cannot
 * (e.g. that the chosen backend has the chosen method). Every problem found is reported at once, each with its
 * file:line:column (or the flag it came from), JSON path, offending value, what was expected and a suggestion.
 */
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../store/hash.js';
import { loadCommonJs } from '../code-cache.js';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { isStandIn } from '../plugin/stand-ins.js';
import type { Ajv2020 as Ajv, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { Document, LineCounter, Node } from 'yaml';
import { yaml } from './yaml-lib.js';
import {
  didYouMean,
  excerpt,
  fileNotFound,
  invalidArgument,
  specEmpty,
  specInvalid,
  specYaml,
  WeightshareError,
  type Problem,
  type SourceLocation,
} from '../errors.js';
import type { PluginRegistry, RegisteredMethod } from '../engine/registry.js';
import { NotARegularFile, readRegularFile } from '../io.js';
import { STAGE_NAMES, type JsonSchema, type StageName } from '../plugin/types.js';
import { buildSpecSchema } from './schema.js';
import { componentOptions, type ComponentSpec, type ResolvedSpec } from './types.js';

const { parseDocument, isMap, isSeq, isPair, isScalar, visit } = yaml;

/** Command-line overrides applied on top of the file. */
export interface SpecOverrides {
  /**
   * `a.b.c=value` assignments; the value is parsed as YAML (numbers, booleans, lists). An entry may name the flag it
   * came from (e.g. `--param stages.optimize.lambda=1,10`), so that errors point at that flag.
   */
  set?: readonly SetOverride[];
  /** Backend for every stage. */
  backend?: string;
}

/** One `--set` assignment, or an assignment with the flag that made it. */
export type SetOverride = string | { assignment: string; flag: string };

/** The assignment text of an override. */
export const assignmentOf = (o: SetOverride): string => (typeof o === 'string' ? o : o.assignment);

/** A loaded spec with where it came from. */
export interface LoadedSpec {
  spec: ResolvedSpec;
  /** The spec file as given. */
  file: string;
  /** Source text (for hashing and records). */
  text: string;
  /** Folder that relative paths in the spec are resolved against (default: the spec file's folder). */
  baseDir?: string;
  /** Locates a JSON path in the file (or in the flag that set it). */
  locate(path: readonly (string | number)[]): SourceLocation;
  /** The files the spec extends (`extends:`, transitively), absolute, in the order they were merged. */
  bases?: string[];
  /** For each key written in the spec, its bases or a flag: where it was set (`validate --explain`). */
  explain?: () => { path: string; location: SourceLocation }[];
}

/** Finds the place of a JSON path: in the file, or the flag that set it. */
type Locate = (path: readonly (string | number)[], wantKey?: boolean) => SourceLocation;

interface Override {
  path: (string | number)[];
  flag: string;
}

/**
 * Reads and validates a spec file.
 * @throws WeightshareError FILE_NOT_FOUND, SPEC_EMPTY, SPEC_YAML, SPEC_INVALID, INVALID_ARGUMENT
 */
export function loadSpecFile(file: string, registry: PluginRegistry, overrides: SpecOverrides = {}): LoadedSpec {
  let text: string;
  try {
    text = readRegularFile(file).toString('utf8');
  } catch (e) {
    throw fileNotFound(file, 'spec file', undefined, e instanceof NotARegularFile ? e.kind : undefined);
  }
  return loadSpecText(text, file, registry, overrides);
}

/** A spec parsed from YAML with the `--set` overrides applied, not yet validated. */
export interface ParsedSpec {
  file: string;
  text: string;
  /** The spec as plain data (mutated by overrides). */
  data: Record<string, unknown>;
  /** Locates a JSON path in the file, or in the flag that set it. */
  locate(path: readonly (string | number)[], wantKey?: boolean): SourceLocation;
  /** Records that a flag set `path` (errors there are reported against the flag). */
  noteOverride(path: (string | number)[], flag: string): void;
  /** The files the spec extends (`extends:`, transitively), absolute, in the order they were merged. */
  bases: string[];
  /** For each key set anywhere in the composed spec, the file (or flag) and line that set it (`validate --explain`). */
  explain(): { path: string; location: SourceLocation }[];
}

/** A spec text parsed: the YAML document (for source positions) and its data, the data not to be modified. */
interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

/**
 * YAML texts parsed before, by text: the runs of a sweep or a λ grid in one process load the same spec (and its bases)
 * many times, and parsing is most of loading one. A pure function of the text; the document is only read afterwards
 * and each caller gets its own copy of the data. Texts that fail to parse are not kept (they throw every time).
 */
const yamlMemo = new Map<string, ParsedYaml>();
const YAML_MEMO_SIZE = 16;
/** Longest text kept (a spec is a few KiB; a longer one is parsed each time rather than held with its syntax tree). */
const YAML_MEMO_MAX_CHARS = 64 * 1024;

/**
 * The YAML document of a spec text and its data as plain prototype-free objects, a fresh copy for each call (the
 * caller modifies it: overrides, extends).
 * @throws WeightshareError SPEC_YAML, SPEC_EMPTY
 */
function parseYaml(text: string, file: string): ParsedYaml {
  let hit = yamlMemo.get(text);
  if (!hit) {
    const lineCounter = new yaml.LineCounter();
    const pos = (offset: number): SourceLocation => {
      const { line, col } = lineCounter.linePos(offset);
      return { file, line, column: col };
    };
    // merge keys (<<: *base) are YAML 1.1's way to share a mapping within a file; aliases stay bounded (yamlData)
    const doc = guardYaml(file, pos(0), () => parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true }));
    if (doc.errors.length) {
      throw specYaml(
        file,
        doc.errors.map((e) => ({ message: e.message.split('\n')[0]!, location: pos(e.pos[0]) })),
      );
    }
    if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) throw specEmpty(file);
    hit = { doc, lineCounter, data: yamlData(doc, file, pos) };
    if (text.length <= YAML_MEMO_MAX_CHARS) {
      yamlMemo.set(text, hit);
      if (yamlMemo.size > YAML_MEMO_SIZE) yamlMemo.delete(yamlMemo.keys().next().value!);
    }
  }
  return { ...hit, data: copyPlain(hit.data) };
}

/** A deep copy of plain data (what {@link plainData} made: prototype-free objects, arrays, scalars; no cycles). */
function copyPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copyPlain);
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(value)) out[k] = copyPlain((value as Record<string, unknown>)[k]);
  return out;
}

/** Deepest chain of `extends:` files (a longer one is almost surely a mistake, and keeps recursion bounded). */
const MAX_EXTENDS_DEPTH = 16;

/**
 * Parses YAML text (keeping source positions) and applies `--set` overrides.
 * @throws WeightshareError SPEC_YAML, SPEC_EMPTY, SPEC_INVALID (top level not a mapping), INVALID_ARGUMENT
 */
export function parseSpecText(text: string, file: string, set: readonly SetOverride[] = [], chain: readonly string[] = []): ParsedSpec {
  const { doc, lineCounter, data } = parseYaml(text, file);
  const pos = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw specInvalid(file, [
      {
        message: `the top level must be a mapping of keys (apiVersion, name, data, stages, …), got ${describe(data)}`,
        location: { ...pos(doc.contents?.range?.[0] ?? 0), path: '' },
      },
    ]);
  }
  const own = data as Record<string, unknown>;
  // top-level keys x-… hold YAML anchors to reuse (<<: *name, *name) and are not part of the spec
  for (const k of Object.keys(own)) if (k.startsWith('x-')) delete own[k];
  const ownLocate: Locate = (path, wantKey = false) => ({ ...locateInDoc(doc, path, wantKey, pos), path: toPointer(path) });
  // choices of config groups given as flags (--use group=choice is --set uses.group=choice) apply before composing
  const applied: Override[] = [];
  const isUse = (o: SetOverride): boolean => /^uses(\.|=)/.test(assignmentOf(o));
  // (a plain `uses.group=choice` assignment is what --use group=choice passes: errors name --use)
  for (const o of set.filter(isUse)) applied.push(applySet(own, typeof o === 'string' && o.startsWith('uses.') ? { assignment: o, flag: `--use ${o.slice(5)}` } : o));
  const flagOf = (path: readonly (string | number)[]): string | undefined => [...applied].reverse().find((o) => isPrefix(o.path, path))?.flag;
  const placeOf = (path: (string | number)[]): SourceLocation => {
    const flag = flagOf(path);
    return flag ? { file: flag, path: toPointer(path) } : ownLocate(path);
  };
  // extends: the spec is the deep merge of its bases (in order) and its own keys
  const sources: { data: Record<string, unknown>; locate: Locate; explain: () => { path: string; location: SourceLocation }[] }[] = [];
  const bases: string[] = [];
  let obj = own;
  let composed: Record<string, unknown> | undefined;
  if ('extends' in own) {
    const ext = own.extends;
    delete own.extends;
    const list = typeof ext === 'string' ? [ext] : Array.isArray(ext) && ext.length && ext.every((e) => typeof e === 'string' && e !== '') ? (ext as string[]) : undefined;
    if (!list || list.some((e) => e === ''))
      throw specInvalid(file, [{ message: `extends must name a spec file to build on, or a list of them (relative to this spec's folder), got ${describe(ext)}.`, location: ownLocate(['extends']) }]);
    const self = resolve(file);
    if (chain.length >= MAX_EXTENDS_DEPTH)
      throw specInvalid(file, [{ message: `extends goes ${chain.length + 1} files deep (${[...chain, self].join(' → ')}); at most ${MAX_EXTENDS_DEPTH} are followed. Flatten the chain.`, location: ownLocate(['extends']) }]);
    let merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    list.forEach((rel, i) => {
      const at = ownLocate(typeof ext === 'string' ? ['extends'] : ['extends', i]);
      const shown = isAbsolute(rel) ? rel : join(dirname(file), rel);
      const abs = resolve(dirname(self), rel);
      // a spec from someone else must not make weightshare read files elsewhere: bases stay in the folder tree of the
      // spec being run (real paths, so a symbolic link out of it does not count as inside)
      const root = dirname(chain[0] ?? self);
      if (!inside(abs, root))
        throw specInvalid(file, [{ message: `extends ${rel}: ${abs}${realOf(abs) !== abs ? ` (a link to ${realOf(abs)})` : ''} is outside ${root}, the folder of the spec being run; a spec builds only on files in its own folder tree, so that one received from someone else cannot read files elsewhere. Copy the base into that folder.`, location: at }]);
      if (abs === self || chain.includes(abs))
        throw specInvalid(file, [{ message: `extends ${rel} makes a cycle (${[...chain, self, abs].join(' → ')}): a spec cannot build on itself. Remove one of the extends.`, location: at }]);
      let baseText: string;
      try {
        baseText = readRegularFile(abs).toString('utf8');
      } catch (e) {
        throw specInvalid(file, [{ message: `extends ${rel}: ${e instanceof NotARegularFile ? `${shown} is ${e.kind}, not a spec file` : `there is no file ${shown}`}. Paths are relative to this spec's folder.`, location: at }]);
      }
      const base = parseSpecText(baseText, shown, [], [...chain, self]);
      bases.push(...base.bases, abs);
      sources.push({ data: base.data, locate: base.locate, explain: base.explain });
      merged = mergeSpec(merged, base.data);
    });
    composed = merged;
  }
  // uses: { group: choice } merges conf/<group>/<choice>.yaml (next to the spec) after the bases, before own keys
  if ('uses' in own) {
    const uses = own.uses;
    delete own.uses;
    if (!isMapping(uses) || Object.values(uses).some((v) => typeof v !== 'string'))
      throw specInvalid(file, [{ message: `uses must map config groups to the choice of each, e.g. uses: { optimize: adam } for conf/optimize/adam.yaml next to the spec; got ${describe(uses)}.`, location: placeOf(['uses']) }]);
    const root = join(dirname(resolve(file)), 'conf');
    const listing = (dir: string, files: boolean): string[] => {
      try {
        return readdirSync(dir, { withFileTypes: true })
          .filter((e) => (files ? e.isFile() && e.name.endsWith('.yaml') : e.isDirectory()))
          .map((e) => (files ? e.name.slice(0, -5) : e.name))
          .sort();
      } catch {
        return [];
      }
    };
    for (const [group, choice] of Object.entries(uses) as [string, string][]) {
      const at = placeOf(['uses', group]);
      const safe = (s: string): boolean => /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) && !s.includes('..');
      const groups = listing(root, false);
      if (!safe(group))
        throw specInvalid(file, [{ message: `uses names the config group "${group}", which is not a plain folder name (letters, digits, _ . -, no ..); the groups are: ${groups.join(', ') || '(none)'}.`, location: at }]);
      if (!groups.includes(group)) {
        const hint = didYouMean(group, groups);
        throw specInvalid(file, [{ message: `uses names the config group "${group}", but there is no folder ${join(dirname(file), 'conf', group)}; ${groups.length ? `the groups are: ${groups.join(', ')}` : 'there are no config groups next to this spec (folders conf/<group>/ holding <choice>.yaml files)'}.${hint ? ` Did you mean "${hint}"?` : ''}`, location: at }]);
      }
      const choices = listing(join(root, group), true);
      if (!safe(choice))
        throw specInvalid(file, [{ message: `config group "${group}": the choice "${excerpt(choice, 60)}" is not a plain file name (letters, digits, _ . -, no ..); its choices are: ${choices.join(', ') || '(none)'}.`, location: at }]);
      if (!choices.includes(choice)) {
        const hint = didYouMean(choice, choices);
        throw specInvalid(file, [{ message: `config group "${group}" has no choice "${choice}"; its choices are: ${choices.join(', ') || '(none: the folder holds no .yaml files)'}.${hint ? ` Did you mean "${hint}"?` : ''}`, location: at }]);
      }
      const shown = join(dirname(file), 'conf', group, `${choice}.yaml`);
      const abs = join(root, group, `${choice}.yaml`);
      const top = dirname(chain[0] ?? resolve(file));
      if (!inside(abs, top))
        throw specInvalid(file, [{ message: `config group "${group}": ${abs} leads outside ${top}, the folder of the spec being run (a symbolic link?); group files are read only from its own folder tree.`, location: at }]);
      const part = parseSpecText(readRegularFile(abs).toString('utf8'), shown, [], [...chain, resolve(file)]);
      bases.push(...part.bases, abs);
      sources.push({ data: part.data, locate: part.locate, explain: part.explain });
      composed = mergeSpec(composed ?? (Object.create(null) as Record<string, unknown>), part.data);
    }
  }
  if (composed) obj = mergeSpec(composed, own);
  sources.push({ data: own, locate: ownLocate, explain: () => leafPaths(own).map((p) => ({ path: toPointer(p), location: ownLocate(p) })) });
  /** Where the value at `path` was written: the last source that sets it (or, for a key none sets, its nearest parent). */
  const composedLocate: Locate = (path, wantKey = false) => {
    if (sources.length === 1) return ownLocate(path, wantKey);
    for (let k = path.length; k >= 0; k--)
      for (let s = sources.length - 1; s >= 0; s--) if (hasPath(sources[s]!.data, path.slice(0, k))) return { ...sources[s]!.locate(path, wantKey), path: toPointer(path) };
    return ownLocate(path, wantKey);
  };
  for (const assignment of set.filter((o) => !isUse(o))) applied.push(applySet(obj, assignment));
  return {
    file,
    text,
    data: obj,
    bases,
    locate(path, wantKey = false) {
      const pointer = toPointer(path);
      for (const o of [...applied].reverse())
        if (isPrefix(o.path, path) || isPrefix(path, o.path)) return { file: o.flag, path: pointer };
      return composedLocate(path, wantKey);
    },
    noteOverride(path, flag) {
      applied.push({ path, flag });
    },
    explain() {
      const out = new Map<string, SourceLocation>();
      for (const p of leafPaths(obj)) out.set(toPointer(p), this.locate(p));
      return [...out].map(([path, location]) => ({ path, location }));
    },
  };
}

/** The real path of `p` (symbolic links resolved), or `p` resolved when it does not exist. */
function realOf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Whether `file` (resolved through symbolic links where it exists) is inside the folder `root`. */
function inside(file: string, root: string): boolean {
  const r = relative(realOf(root), realOf(file));
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/**
 * The deep merge of a base spec and the keys written over it: mappings merge key by key, anything else (lists
 * included) is replaced, and `null` deletes the key. Prototype-free objects throughout.
 */
function mergeSpec(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(base)) out[k] = v;
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (v === null) delete out[k];
    else if (isMapping(v) && isMapping(b)) out[k] = mergeSpec(b, v);
    else out[k] = v;
  }
  return out;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function hasPath(data: unknown, path: readonly (string | number)[]): boolean {
  let cur = data;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, p)) return false;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return true;
}

/** The paths of every scalar and list in `data` (lists as a whole: they are replaced, not merged). */
function leafPaths(data: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (!isMapping(data)) return [path];
  return Object.entries(data).flatMap(([k, v]) => leafPaths(v, [...path, k]));
}

/** Most nodes the aliases of a spec may expand to (a "billion laughs" document expands to billions). */
const MAX_ALIAS_COUNT = 100;

/**
 * Runs a step of the YAML library, turning what it throws on hostile input (a nesting too deep for the stack) into
 * SPEC_YAML naming the file.
 */
function guardYaml<T>(file: string, at: SourceLocation, step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (e instanceof WeightshareError) throw e;
    const why = e instanceof RangeError ? 'it is nested too deeply' : (e as Error).message.split('\n')[0];
    throw specYaml(file, [{ message: `the YAML cannot be read: ${why}.`, location: at }]);
  }
}

/**
 * The document's data as prototype-free plain objects (a key such as `__proto__` is then an ordinary key, which
 * validation reports as unknown). Aliases that expand to too many nodes (an alias bomb) or that contain themselves
 * (a recursive alias) are SPEC_YAML errors at the alias.
 */
function yamlData(doc: Document, file: string, pos: (offset: number) => SourceLocation): unknown {
  let firstAlias: number | undefined;
  visit(doc, {
    Alias(_, node) {
      firstAlias ??= node.range?.[0];
    },
  });
  const at = pos(firstAlias ?? 0);
  const js = guardYaml(file, at, () => {
    try {
      return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (e) {
      if (/alias count/i.test((e as Error).message))
        throw specYaml(file, [{ message: `its aliases (*name) expand to more than ${MAX_ALIAS_COUNT} copies of their anchors (&name), which is how "billion laughs" documents exhaust memory; write the values out, or use fewer aliases.`, location: at }]);
      throw e;
    }
  });
  try {
    return plainData(js);
  } catch (e) {
    if (!(e instanceof RecursiveValue)) throw e;
    throw specYaml(file, [{ message: `an alias refers to a value that contains it (a recursive alias), so the value would be infinite; replace the alias inside its own anchor with the value it should have.`, location: { ...locateInDoc(doc, e.path, false, pos), path: toPointer(e.path) } }]);
  }
}

/** Thrown by {@link plainData} for a value that contains itself. */
class RecursiveValue extends Error {
  constructor(readonly path: (string | number)[]) {
    super('recursive value');
  }
}

/** A deep copy of parsed data with prototype-free objects. @throws RecursiveValue */
function plainData(value: unknown, path: (string | number)[] = [], within = new Set<object>()): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (within.has(value)) throw new RecursiveValue(path);
  within.add(value);
  try {
    if (Array.isArray(value)) return value.map((v, i) => plainData(v, [...path, i], within));
    const out = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of Object.entries(value)) out[k] = plainData(v, [...path, k], within);
    return out;
  } finally {
    within.delete(value);
  }
}

/** Names every JavaScript object has: never spec keys, and unsafe to look up in lookup tables. */
const OBJECT_KEYS = new Set(['__proto__', ...Object.getOwnPropertyNames(Object.prototype)]);

/**
 * Keys named like the properties of every JavaScript object (`__proto__`, `constructor`, `toString`, …) anywhere in
 * the spec: reported as unknown keys, before the schema looks at them (a lookup of such a name finds the property
 * every object inherits, so a validator could take it for a known key).
 */
function objectKeyProblems(value: unknown, locate: Locate, path: (string | number)[] = []): Problem[] {
  if (value === null || typeof value !== 'object') return [];
  const out: Problem[] = [];
  Object.keys(value).forEach((k) => {
    const at: (string | number)[] = [...path, Array.isArray(value) ? Number(k) : k];
    if (!Array.isArray(value) && OBJECT_KEYS.has(k))
      out.push({ message: `unknown key "${k}" ${describePath(path)}: it is not a spec key (no spec key is named like a built-in property of JavaScript objects). Remove it.`, location: locate(at, true) });
    else out.push(...objectKeyProblems((value as Record<string, unknown>)[k], locate, at));
  });
  return out;
}

/** As {@link loadSpecFile}, from text already read (no plugins are loaded: `registry` is used as it is). */
export function loadSpecText(text: string, file: string, registry: PluginRegistry, overrides: SpecOverrides = {}): LoadedSpec {
  return validateSpec(parseSpecText(text, file, overrides.set), registry, overrides.backend);
}

/**
 * Validates a parsed spec against the schema built from `registry`, fills defaults and checks what a schema cannot.
 * @throws WeightshareError SPEC_INVALID, INVALID_ARGUMENT (unknown --backend)
 */
export function validateSpec(parsed: ParsedSpec, registry: PluginRegistry, backend?: string): LoadedSpec {
  const { file, text, data: obj, locate } = parsed;
  if (backend !== undefined) {
    const flag = `--backend ${backend}`;
    const backends = registry.backends();
    if (!backends.includes(backend)) {
      const hint = didYouMean(backend, backends);
      throw invalidArgument(
        `${flag}: no plugin provides the backend "${backend}". Available backends: ${backends.join(', ')}.` + (hint ? ` Did you mean "${hint}"?` : ''),
      );
    }
    obj.backend = backend;
    parsed.noteOverride(['backend'], flag);
    const stages = obj.stages;
    if (stages && typeof stages === 'object' && !Array.isArray(stages)) {
      for (const s of STAGE_NAMES) {
        const st = (stages as Record<string, unknown>)[s];
        if (st && typeof st === 'object' && !Array.isArray(st)) {
          (st as Record<string, unknown>).backend = backend;
          parsed.noteOverride(['stages', s, 'backend'], flag);
        }
      }
    }
  }

  const schema = buildSpecSchema(registry, true);
  const validate = validatorOf('spec', schema);
  const candidate = plainData(obj) as Record<string, unknown>;
  const problems: Problem[] = [];
  // every phase runs, so that all problems of a spec are reported in one go
  const reserved = objectKeyProblems(candidate, locate);
  const structural = [...reserved, ...(validate(candidate) ? [] : explainErrors(validate.errors ?? [], candidate, locate))];
  problems.push(...structural);
  // `loss: huber` is `loss: { method: huber }`: the object form gets its options' defaults in phase two
  for (const key of ['loss', 'model'] as const) {
    const v = candidate[key];
    if (v === undefined) candidate[key] = { method: key === 'loss' ? 'squared' : 'linear' };
    else if (typeof v === 'string') candidate[key] = { method: v };
  }
  problems.push(...semanticChecks(candidate as unknown as ResolvedSpec, registry, locate, structural.length > 0));
  problems.push(...validateStageOptions(candidate as unknown as ResolvedSpec, registry, locate));
  problems.push(...validateComponentOptions(candidate as unknown as ResolvedSpec, registry, locate));
  if (problems.length) throw specInvalid(file, sortProblems(dedupe(problems)));

  const spec = normalizeSpec(candidate as unknown as ResolvedSpec);
  for (const s of STAGE_NAMES) spec.stages[s].backend ??= spec.backend;
  return { spec, file, text, locate: (p) => locate(p), explain: () => parsed.explain(), ...(parsed.bases.length ? { bases: parsed.bases } : {}) };
}

/** Default tolerance of the rounds (also what `rounds: N` reports convergence against). */
export const DEFAULT_ROUNDS_TOL = 1e-6;

/**
 * Fills what depends on other keys: `rounds: N` becomes its object form, and the ridge of the initial fits and of the
 * baselines follows the optimize stage's unless given.
 */
function normalizeSpec(spec: ResolvedSpec): ResolvedSpec {
  const r = spec.rounds as unknown;
  spec.rounds =
    typeof r === 'number'
      ? { max: r, tol: DEFAULT_ROUNDS_TOL, stopEarly: false, acceleration: 'none', memory: 5 }
      : (() => {
          const o = r as Partial<ResolvedSpec['rounds']> & { max: number };
          return { max: o.max, tol: o.tol ?? DEFAULT_ROUNDS_TOL, stopEarly: o.stopEarly ?? true, acceleration: o.acceleration ?? 'none', memory: o.memory ?? 5 };
        })();
  const ridge = Number(spec.stages.optimize.ridge ?? 1);
  if (spec.init.method === 'independent' && (spec.init as { ridge?: number }).ridge === undefined) spec.init.ridge = ridge;
  spec.evaluate.baselineRidge ??= ridge;
  if (spec.relation.method === 'learn') {
    spec.relation.every ??= 1;
    if (spec.relation.form === 'covariance') spec.relation.epsilon ??= 0.01;
    else spec.relation.restarts ??= 5;
  }
  return spec;
}

/**
 * The Ajv options of the per-method option validators. Their schemas are parts of the spec schema, which was checked
 * against the JSON Schema meta-schema when it was compiled (here, or at build time for the built-in plugins), so they
 * are not checked again: compiling the draft-2020 meta-schema costs ~0.2 s per Ajv instance.
 */
export const OPTION_VALIDATOR_OPTIONS = Object.freeze({ allErrors: true, verbose: true, useDefaults: true, strict: false, allowUnionTypes: true, validateSchema: false } as const);

/** The Ajv options of the spec schema's validator (the build's precompiled validators use the same). */
export const SPEC_VALIDATOR_OPTIONS = Object.freeze({ allErrors: true, verbose: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true } as const);

/** Which validator a schema is compiled for: the whole spec, or one method's (or loss's, model's) options. */
export type ValidatorKind = 'spec' | 'options';

/**
 * The name of the precompiled validator of a schema: a hash of its kind, the schema, the Ajv options and Ajv's
 * version, so a validator is only ever used for exactly the schema it was generated from.
 */
export function validatorKey(kind: ValidatorKind, schemaJson: string): string {
  const options = kind === 'spec' ? SPEC_VALIDATOR_OPTIONS : OPTION_VALIDATOR_OPTIONS;
  return sha256(`${kind === 'spec' ? 'spec-validator 1' : 'option-validator 1'}\najv ${AJV_VERSION}\n${JSON.stringify(options)}\n${schemaJson}`).slice(0, 32);
}

/** The name of the precompiled validator of a spec schema ({@link validatorKey} of kind `spec`). */
export function specValidatorKey(schemaJson: string): string {
  return validatorKey('spec', schemaJson);
}

/**
 * Where the build writes precompiled validators (`scripts/build-validators.mjs`): dist/validators/<key>.cjs for the
 * built-in plugins' spec schema, and dist/validators/options.cjs with one export per option schema, named by key.
 */
export const PRECOMPILED_VALIDATORS = fileURLToPath(new URL('../validators/', import.meta.url));

/** The file of the precompiled option validators (exports keyed by {@link validatorKey}). */
export const PRECOMPILED_OPTION_VALIDATORS = 'options.cjs';

const requireHere = createRequire(import.meta.url);
const AJV_VERSION = (requireHere('ajv/package.json') as { version: string }).version;

// Ajv itself (~50 ms to import) is loaded only to compile a schema no build precompiled (third-party plugins' options)
let AjvClass: typeof Ajv | undefined;

/** A fresh Ajv instance with the options of `kind` (plus `extra`: the build's precompiling adds `code.source`). */
export function validatorCompiler(kind: ValidatorKind, extra: Record<string, unknown> = {}): Ajv {
  AjvClass ??= (requireHere('ajv/dist/2020.js') as { Ajv2020: typeof Ajv }).Ajv2020;
  return new AjvClass({ ...(kind === 'spec' ? SPEC_VALIDATOR_OPTIONS : OPTION_VALIDATOR_OPTIONS), ...extra });
}

let precompiledOptions: Record<string, ValidateFunction> | undefined;

/**
 * A build output of dist/validators/ (with its V8 code cache, see code-cache.ts), or undefined when absent or
 * unreadable (then the schema is compiled here).
 */
function precompiled<T>(name: string): T | undefined {
  const file = join(PRECOMPILED_VALIDATORS, name);
  if (!existsSync(file)) return undefined;
  try {
    return loadCommonJs(file) as T;
  } catch {
    return undefined; // a damaged build output costs time, never a wrong check
  }
}
const schemaCache = new Map<string, ValidateFunction>();

/**
 * The validator of a schema: precompiled at build time when the build saw this exact schema (the built-in plugins'),
 * else compiled here (and kept for the process).
 */
export function validatorOf(kind: ValidatorKind, schema: JsonSchema): ValidateFunction {
  const json = JSON.stringify(schema);
  const cacheKey = `${kind}\n${json}`;
  let v = schemaCache.get(cacheKey);
  if (!v) {
    const key = validatorKey(kind, json);
    if (kind === 'spec') v = precompiled<ValidateFunction>(`${key}.cjs`);
    else {
      precompiledOptions ??= precompiled<Record<string, ValidateFunction>>(PRECOMPILED_OPTION_VALIDATORS) ?? {};
      v = Object.hasOwn(precompiledOptions, `v${key}`) ? precompiledOptions[`v${key}`] : undefined;
    }
    v ??= validatorCompiler(kind).compile(schema);
    schemaCache.set(cacheKey, v);
  }
  return v;
}

/** Applies one `a.b.c=value` override. @throws WeightshareError INVALID_ARGUMENT for a malformed flag. */
function applySet(obj: Record<string, unknown>, override: SetOverride): Override {
  const assignment = assignmentOf(override);
  const flag = typeof override === 'string' ? `--set ${assignment}` : override.flag;
  const eq = assignment.indexOf('=');
  if (eq <= 0)
    throw invalidArgument(`${flag}: expected the form path=value, e.g. --set stages.optimize.lambda=0.5 (paths are dot-separated spec keys).`);
  const rawPath = assignment.slice(0, eq).trim();
  const rawValue = assignment.slice(eq + 1);
  const segments = rawPath.split('.');
  if (segments.some((s) => s === ''))
    throw invalidArgument(`${flag}: the path "${rawPath}" has an empty segment; write keys separated by single dots, e.g. stages.fuse.method.`);
  let value: unknown;
  try {
    value = rawValue === '' ? '' : flagValue(rawValue);
  } catch (e) {
    throw invalidArgument(`${flag}: the value "${excerpt(rawValue)}" is not valid YAML (${excerpt((e as Error).message.split('\n')[0]!, 200)}); quote strings that contain ':' or '#'.`);
  }
  const path: (string | number)[] = [];
  let cur: unknown = obj;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (Array.isArray(cur)) {
      const idx = Number(seg);
      if (!Number.isInteger(idx) || idx < 0 || idx > cur.length)
        throw invalidArgument(`${flag}: "${segments.slice(0, i).join('.')}" is a list of ${cur.length} items, so "${seg}" must be an index from 0 to ${cur.length}.`);
      path.push(idx);
      if (last) cur[idx] = value;
      else {
        if (cur[idx] === undefined || cur[idx] === null || typeof cur[idx] !== 'object') cur[idx] = Object.create(null);
        cur = cur[idx];
      }
    } else if (cur && typeof cur === 'object') {
      const o = cur as Record<string, unknown>;
      path.push(seg);
      if (last) o[seg] = value;
      else {
        if (o[seg] === undefined || o[seg] === null) o[seg] = Object.create(null);
        else if (typeof o[seg] !== 'object')
          throw invalidArgument(`${flag}: "${segments.slice(0, i + 1).join('.')}" is a ${typeof o[seg]} (${JSON.stringify(o[seg])}), not a mapping, so it has no key "${segments[i + 1]}".`);
        cur = o[seg];
      }
    }
  }
  return { path, flag };
}

/** A `--set` value: YAML, as prototype-free data. @throws Error for YAML errors, alias bombs and recursive aliases */
function flagValue(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) throw new Error(doc.errors[0]!.message);
  try {
    return plainData(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }));
  } catch (e) {
    throw new Error(e instanceof RecursiveValue ? 'a recursive alias' : e instanceof RangeError ? 'nested too deeply' : (e as Error).message);
  }
}

function locateInDoc(
  doc: Document,
  path: readonly (string | number)[],
  wantKey: boolean,
  pos: (offset: number) => SourceLocation,
): SourceLocation {
  let node: Node | null | undefined = doc.contents as Node | null;
  let best: number = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      if (last && wantKey) {
        best = keyNode.range?.[0] ?? best;
        break;
      }
      node = pair.value as Node | null;
      best = node?.range?.[0] ?? keyNode.range?.[0] ?? best;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) break;
      node = item;
      best = item.range?.[0] ?? best;
    } else break;
  }
  return pos(best);
}

/**
 * Keeps, of the errors under each failing `anyOf`, those of the branch that fits the value's type (a mapping given
 * for `rounds` is judged by the mapping branch); when no branch fits, one error listing the accepted types.
 */
function resolveAnyOf(errors: ErrorObject[], data: unknown): ErrorObject[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  if (!anyOfs.length) return errors;
  const drop = new Set<ErrorObject>();
  const add: ErrorObject[] = [];
  for (const a of anyOfs) {
    drop.add(a);
    const branches = (a.schema as JsonSchema[]) ?? [];
    const value = getAt(data, fromPointer(a.instancePath));
    const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value === 'object' ? 'object' : typeof value;
    const fits = branches.findIndex((b) => b.type === kind || (b.type === 'number' && kind === 'integer'));
    const under = errors.filter((e) => e !== a && e.schemaPath.startsWith(a.schemaPath + '/') && e.instancePath.startsWith(a.instancePath));
    for (const e of under) {
      const branch = Number(e.schemaPath.slice(a.schemaPath.length + 1).split('/')[0]);
      if (branch !== fits) drop.add(e);
    }
    if (fits < 0) {
      const types = branches.map((b) => (b.type === 'object' ? 'a mapping' : b.type === 'integer' ? 'an integer' : b.type === 'string' ? 'a string' : String(b.type)));
      add.push({ ...a, keyword: 'type', params: { type: [...new Set(types)].join(' or ').replace(/^an? /, '') }, message: 'type' } as ErrorObject);
    }
  }
  return [...errors.filter((e) => !drop.has(e)), ...add];
}

function explainErrors(allErrors: ErrorObject[], data: unknown, locate: Locate): Problem[] {
  const errors = resolveAnyOf(allErrors, data);
  const out: Problem[] = [];
  const seen = new Set<string>();
  // Objects whose method/source itself is wrong: their option keys cannot be judged, so only the method is reported.
  const badMethodObjects = new Set(
    errors
      .filter((e) => e.keyword === 'enum' && /\/(method|source)$/.test(e.instancePath))
      .map((e) => e.instancePath.replace(/\/(method|source)$/, '')),
  );
  for (const e of errors) {
    if (e.keyword === 'if') continue; // the failing `then` is reported on its own
    const path = fromPointer(e.instancePath);
    const value = getAt(data, path);
    let message: string;
    let loc: SourceLocation;
    switch (e.keyword) {
      case 'unevaluatedProperties':
      case 'additionalProperties': {
        if (badMethodObjects.has(e.instancePath)) continue;
        const key = String((e.params as { unevaluatedProperty?: string; additionalProperty?: string }).unevaluatedProperty ??
          (e.params as { additionalProperty?: string }).additionalProperty);
        if (OBJECT_KEYS.has(key)) continue; // reported by objectKeyProblems
        const allowed = allowedKeys(e.parentSchema as JsonSchema, value);
        if (allowed.includes(key)) continue; // evaluated by a `then` that failed for another reason, reported there
        const hint = didYouMean(key, allowed);
        const where = describePath(path);
        message = `unknown key "${key}" ${where}` + (hint ? `; did you mean "${hint}"?` : '.') + ` Allowed keys: ${allowed.join(', ') || '(none)'}.`;
        loc = locate([...path, key], true);
        break;
      }
      case 'required': {
        const missing = (e.params as { missingProperty: string }).missingProperty;
        message = `missing required key "${missing}" ${describePath(path)}.` + requiredHint(missing, e.parentSchema as JsonSchema);
        loc = locate(path, false);
        break;
      }
      case 'enum': {
        const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
        const hint = typeof value === 'string' ? didYouMean(value, allowed) : undefined;
        const lastKey = String(path[path.length - 1] ?? '');
        message =
          lastKey === 'method' || lastKey === 'source'
            ? `unknown ${pointerLabel(path.slice(0, -1))} ${lastKey} ${JSON.stringify(value)}; expected one of: ${allowed.join(', ')}`
            : `${pointerLabel(path)} is ${JSON.stringify(value)}; expected one of: ${allowed.join(', ')}`;
        message += hint ? `. Did you mean "${hint}"?` : '.';
        loc = locate(path);
        break;
      }
      case 'const':
        message = `${pointerLabel(path)} is ${JSON.stringify(value)}; expected ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}.`;
        loc = locate(path);
        break;
      case 'type':
        message =
          typeof value === 'number' && !Number.isFinite(value)
            ? `${pointerLabel(path)} is ${value}; expected a finite number (NaN and infinities are not allowed).`
            : `${pointerLabel(path)} is ${describe(value)}; expected ${withArticle(String((e.params as { type: string }).type).replace(',', ' or '))}.`;
        loc = locate(path);
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const p = e.params as { comparison: string; limit: number };
        message = `${pointerLabel(path)} is ${JSON.stringify(value)}; expected a number ${p.comparison} ${p.limit}.`;
        loc = locate(path);
        break;
      }
      default:
        message = `${pointerLabel(path)} ${JSON.stringify(value)} ${e.message ?? 'is invalid'}.`;
        loc = locate(path);
    }
    const key = `${loc.file}:${loc.line}:${loc.column}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ message, location: loc });
  }
  return out;
}

/** Keys an object may have under its schema, given its method/source. */
function allowedKeys(schema: JsonSchema, value: unknown): string[] {
  const keys = new Set(Object.keys((schema.properties as Record<string, unknown>) ?? {}));
  const obj = (value ?? {}) as Record<string, unknown>;
  for (const branch of (schema.allOf as JsonSchema[] | undefined) ?? []) {
    const cond = (branch.if as { properties?: Record<string, { const?: unknown }> } | undefined)?.properties ?? {};
    const match = Object.entries(cond).every(([k, c]) => obj[k] === c.const);
    if (match) for (const k of Object.keys(((branch.then as JsonSchema)?.properties as Record<string, unknown>) ?? {})) keys.add(k);
  }
  return [...keys];
}

function requiredHint(missing: string, schema: JsonSchema): string {
  const prop = (schema.properties as Record<string, JsonSchema> | undefined)?.[missing];
  if (prop?.enum) return ` Choose one of: ${(prop.enum as unknown[]).join(', ')}.`;
  if (prop?.description) return ` (${String(prop.description).split('\n')[0]})`;
  const branches = (schema.allOf as JsonSchema[] | undefined) ?? [];
  for (const b of branches) {
    const p = ((b.then as JsonSchema)?.properties as Record<string, JsonSchema> | undefined)?.[missing];
    if (p?.description) return ` (${String(p.description)})`;
  }
  return '';
}

/** Problems with the same place and message once. */
function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.location?.file}:${p.location?.line}:${p.location?.column}:${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The stage entries that are objects with a method name (what the per-stage checks can judge). */
function judgeableStages(spec: ResolvedSpec): [StageName, ResolvedSpec['stages'][StageName]][] {
  const stages = (spec as unknown as { stages?: unknown }).stages;
  if (!isObject(stages)) return [];
  return STAGE_NAMES.filter((s) => isObject(stages[s]) && typeof (stages[s] as Record<string, unknown>).method === 'string').map((s) => [s, stages[s] as ResolvedSpec['stages'][StageName]]);
}

function semanticChecks(
  spec: ResolvedSpec,
  registry: PluginRegistry,
  locate: Locate,
  structuralProblems: boolean,
): Problem[] {
  const out: Problem[] = [];
  const defaultBackend = typeof spec.backend === 'string' ? spec.backend : 'cpu';
  for (const [s, st] of judgeableStages(spec)) {
    const backend = typeof st.backend === 'string' ? st.backend : defaultBackend;
    if (!registry.backends().includes(backend) || !registry.methods(s).includes(st.method)) continue; // reported by the schema
    if (!registry.find(backend, s, st.method)) {
      const available = registry.methods(s, backend);
      const hint = didYouMean(st.method, available);
      out.push({
        message: `${s} method "${st.method}" is not available on backend "${backend}"; it offers: ${available.join(', ') || '(nothing)'}` + (hint ? `. Did you mean "${hint}"?` : '.'),
        location: locate(['stages', s, 'method']),
      });
    }
  }
  if (structuralProblems) return out; // the rest needs a spec of the right shape
  if (spec.data.source === 'synthetic' && spec.split.method === 'column')
    out.push({
      message: `split.method column assigns rows by a column of the data file, but data.source is synthetic: generated data has no such column. Use split.method random, or a csv data source that has the column "${excerpt(spec.split.column)}".`,
      location: locate(['split', 'method']),
    });
  const rel = spec.relation;
  if (rel.method === 'given') {
    const T = rel.matrix.length;
    rel.matrix.forEach((r, i) => {
      if (r.length !== T)
        out.push({ message: `relation.matrix must be square: row ${i + 1} has ${r.length} values but there are ${T} rows.`, location: locate(['relation', 'matrix', i]) });
    });
  }
  const fuseMethod = spec.stages.fuse?.method;
  const changing = rel.method === 'learn' || (rel.method === 'estimate' && rel.every !== undefined);
  if (fuseMethod === 'precision' && changing && !(rel.method === 'learn' && rel.form === 'covariance'))
    out.push({
      message: `fuse precision reads the relation as the precision matrix of a penalty, which must be positive semi-definite; a ${rel.method === 'learn' ? 'clustering' : 're-estimated similarity'} changes between rounds and is not one (a kNN or thresholded similarity in general is not). Use relation: { method: learn, form: covariance }, a fixed relation (checked once), or another fuse method.`,
      location: locate(['stages', 'fuse', 'method']),
    });
  if (rel.method === 'learn') {
    // epsilon, restarts and every have no schema defaults (normalizeSpec fills them), so here they are what the user wrote
    const given = (key: string): boolean => Object.prototype.hasOwnProperty.call(rel, key);
    if (rel.form === 'clusters' && rel.k === undefined)
      out.push({ message: 'relation.form clusters needs relation.k, the number of clusters (an integer ≥ 2; choose it by a sweep, e.g. --param relation.k=2,3,4).', location: locate(['relation']) });
    if (rel.form === 'covariance' && given('k')) out.push({ message: 'relation.k is the number of clusters of form clusters; form covariance has none. Remove k, or use form: clusters.', location: locate(['relation', 'k']) });
    if (rel.form === 'covariance' && given('restarts'))
      out.push({ message: 'relation.restarts is for form clusters (k-means restarts); form covariance has none. Remove it.', location: locate(['relation', 'restarts']) });
    if (rel.form === 'clusters' && given('epsilon'))
      out.push({ message: 'relation.epsilon is for form covariance; form clusters has none. Remove it.', location: locate(['relation', 'epsilon']) });
    const optimize = spec.stages.optimize;
    const optMethod = optimize && registry.find(optimize.backend ?? spec.backend, 'optimize', optimize.method);
    if (rel.form === 'covariance' && optMethod && !optMethod.impl.blockLambdas)
      out.push({
        message: `relation learn with form covariance leaves the bias free (λ 0 on it, λ on the weights), which needs an optimize method that reads λ per parameter; "${optimize.method}" on backend "${optimize.backend ?? spec.backend}" takes one λ for all. Use one of: ${registry.methods('optimize', optimize.backend ?? spec.backend).filter((m) => registry.find(optimize.backend ?? spec.backend, 'optimize', m)!.impl.blockLambdas).join(', ') || '(none on this backend)'}.`,
        location: locate(['stages', 'optimize', 'method']),
      });
    const prop = spec.stages.propagate?.method;
    const fuse = spec.stages.fuse?.method;
    if (rel.form === 'covariance' && (prop !== 'identity' || fuse !== 'precision'))
      out.push({
        message: `relation learn with form covariance gives the stages the task precision Ω⁻¹ (its off-diagonal entries are negative wherever tasks are positively related), which only fuse precision after propagate identity turns into targets; this spec has propagate ${String(prop)} and fuse ${String(fuse)}. Set stages.propagate.method: identity and stages.fuse.method: precision.`,
        location: locate(['stages', prop !== 'identity' ? 'propagate' : 'fuse', 'method']),
      });
  }
  const opt = spec.stages.optimize;
  const optBackend = opt.backend ?? spec.backend;
  const found = registry.find(optBackend, 'optimize', opt.method);
  const loss = spec.loss.method;
  const model = spec.model.method;
  if (found && registry.loss(loss) && registry.model(model)) {
    const why = (m: RegisteredMethod): string | undefined => fitProblem(m, spec, registry);
    const problem = why(found);
    if (problem) {
      const ableOn = (b: string): string[] => registry.methods('optimize', b).filter((m) => !why(registry.find(b, 'optimize', m)!));
      const able = ableOn(optBackend);
      const elsewhere = registry
        .backends()
        .filter((b) => b !== optBackend)
        .map((b) => [b, ableOn(b)] as const)
        .filter(([, ms]) => ms.length)
        .map(([b, ms]) => `backend "${b}" (${ms.join(', ')})`);
      out.push({
        message: able.length
          ? `${problem}; on backend "${optBackend}" use one of: ${able.join(', ')}.`
          : `${problem}, and no optimize method on backend "${optBackend}" can fit it; ${elsewhere.length ? `use ${elsewhere.join(' or ')}` : 'no backend here can (a plugin may add one)'}.`,
        location: locate(['stages', 'optimize', 'method']),
      });
    }
  }
  const lam = (opt as { lambda?: unknown }).lambda;
  if (found && lam !== null && typeof lam === 'object' && !Array.isArray(lam) && registry.model(model) && registry.loss(loss)) {
    const blockable = registry.methods('optimize', optBackend).filter((m) => registry.find(optBackend, 'optimize', m)!.impl.blockLambdas);
    if (!found.impl.blockLambdas)
      out.push({
        message: `optimize method "${opt.method}" on backend "${optBackend}" takes one λ for all parameters, but lambda gives one per block; give lambda a number, or use ${blockable.length ? `one of: ${blockable.join(', ')}` : 'another backend'}.`,
        location: locate(['stages', 'optimize', 'lambda']),
      });
    const sharedBlocks = Object.entries(lam).filter(([, v]) => v !== null && typeof v === 'object').map(([k]) => k);
    if (sharedBlocks.length) {
      const tying = registry.methods('optimize', optBackend).filter((m) => registry.find(optBackend, 'optimize', m)!.impl.tiedBlocks);
      if (!found.impl.tiedBlocks)
        out.push({
          message: `lambda ties block${sharedBlocks.length > 1 ? 's' : ''} ${sharedBlocks.join(', ')} ({ shared: true }: one copy for all tasks), which optimize method "${opt.method}" on backend "${optBackend}" cannot train; use ${tying.length ? `one of: ${tying.join(', ')}` : 'another backend'}, or give ${sharedBlocks.length > 1 ? 'them' : 'it'} a λ.`,
          location: locate(['stages', 'optimize', 'lambda', sharedBlocks[0]!]),
        });
      else if ((opt as { batchSize?: unknown }).batchSize !== undefined)
        out.push({
          message: `a tied block ({ shared: true }) is trained on the full-batch gradient of all tasks together; remove batchSize.`,
          location: locate(['stages', 'optimize', 'batchSize']),
        });
    }
    const md = registry.model(model)!;
    if (!isStandIn(md.impl)) {
      const l = registry.loss(loss)!;
      const layout = md.impl.layout({ features: 2, outputs: l.impl.target === 'multiclass' ? 3 : 1, biasColumn: 1 }, componentOptions(spec.model));
      const names = layout.blocks.map((b) => b.name);
      for (const key of Object.keys(lam))
        if (!names.includes(key))
          out.push({ message: `lambda names block "${key}", which the ${model} model does not have; its blocks are ${names.join(', ')}.`, location: locate(['stages', 'optimize', 'lambda', key]) });
      const missing = names.filter((n) => !(n in lam));
      if (missing.length)
        out.push({
          message: `lambda per block must give every block of the ${model} model its λ; missing ${missing.join(', ')} (its blocks are ${names.join(', ')}).`,
          location: locate(['stages', 'optimize', 'lambda']),
        });
    }
  }
  return out;
}

/** Why an optimize method cannot fit the spec's loss and model (one clause), or undefined. */
export function fitProblem(m: RegisteredMethod, spec: Pick<ResolvedSpec, 'loss' | 'model'>, registry: PluginRegistry): string | undefined {
  const loss = spec.loss.method;
  const model = spec.model.method;
  const impl = m.impl;
  const losses = impl.losses ?? ['squared'];
  const models = impl.models ?? ['linear'];
  if (losses !== 'any' && !losses.includes(loss)) return `optimize method "${m.method}" supports ${losses.join(' and ')} loss only, but the spec's loss is ${loss}`;
  if (models !== 'any' && !models.includes(model)) return `optimize method "${m.method}" fits ${models.join(' and ')} models only, but the spec's model is ${model}`;
  const l = registry.loss(loss)!;
  if (m.plugin.meta.apiVersion < 2) {
    if (l.plugin || (loss !== 'squared' && loss !== 'logistic')) return `optimize method "${m.method}" comes from ${m.plugin.meta.name}, a plugin API version 1 plugin, which can fit the squared and logistic losses only (the spec's loss is ${loss})`;
    if (model !== 'linear') return `optimize method "${m.method}" comes from ${m.plugin.meta.name}, a plugin API version 1 plugin, which can fit linear models only (the spec's model is ${model})`;
  }
  // a stand-in's curvature, layout and options are known only once its plugin is imported: judged then
  if (impl.supports && !isStandIn(l.impl) && !isStandIn(registry.model(model)!.impl)) {
    const md = registry.model(model)!;
    const layout = md.impl.layout({ features: 2, outputs: l.impl.target === 'multiclass' ? 3 : 1, biasColumn: 1 }, componentOptions(spec.model));
    const why = impl.supports(
      { name: loss, options: componentOptions(spec.loss), component: l.impl },
      { name: model, options: componentOptions(spec.model), component: md.impl, layout },
    );
    if (why) return `optimize method "${m.method}": ${why}`;
  }
  return undefined;
}

const componentValidators = new WeakMap<object, ValidateFunction>();

/**
 * The schema a stage method's (or a loss's, a model's) options are validated against in phase two: its options,
 * `method` (and a stage's `backend`), nothing else.
 */
export function optionSchemaOf(impl: { readonly options: Record<string, JsonSchema>; readonly required?: readonly string[] }, of: 'stage' | 'component'): JsonSchema {
  return {
    type: 'object',
    properties: { method: {}, ...(of === 'stage' ? { backend: {} } : {}), ...impl.options },
    ...(impl.required?.length ? { required: [...impl.required] } : {}),
    additionalProperties: false,
  };
}

/** Phase two for `loss` and `model`: their options against the component's schema, defaults filled in. */
function validateComponentOptions(spec: ResolvedSpec, registry: PluginRegistry, locate: Locate): Problem[] {
  const out: Problem[] = [];
  for (const key of ['loss', 'model'] as const) {
    const entry = spec[key] as unknown;
    if (!entry || typeof entry !== 'object' || typeof (entry as { method?: unknown }).method !== 'string') continue;
    const c = key === 'loss' ? registry.loss((entry as ComponentSpec).method) : registry.model((entry as ComponentSpec).method);
    if (!c) continue; // reported by the schema
    let v = componentValidators.get(c.impl);
    if (!v) {
      v = validatorOf('options', optionSchemaOf(c.impl, 'component'));
      componentValidators.set(c.impl, v);
    }
    if (!v(entry)) {
      const errors = (v.errors ?? []).map((e) => ({ ...e, instancePath: `/${key}${e.instancePath}` }));
      for (const p of explainErrors(errors, spec, locate)) out.push({ ...p, message: p.message.replace(/^unknown key (".*?") in (loss|model)\b/, `unknown key $1 in $2 ${c.name}`) });
    }
  }
  return out;
}

const stageValidators = new WeakMap<object, { validate: ValidateFunction; schema: JsonSchema }>();

/**
 * Phase two: each stage against the options of the backend that will run it — its defaults are filled in, and an
 * option that only another backend's method knows is reported.
 */
function validateStageOptions(
  spec: ResolvedSpec,
  registry: PluginRegistry,
  locate: Locate,
): Problem[] {
  const out: Problem[] = [];
  const defaultBackend = typeof spec.backend === 'string' ? spec.backend : 'cpu';
  for (const [s, entry] of judgeableStages(spec)) {
    const st = entry as unknown as Record<string, unknown>;
    const m = registry.find(typeof st.backend === 'string' ? st.backend : defaultBackend, s, st.method as string);
    if (!m) continue;
    let v = stageValidators.get(m.impl);
    if (!v) {
      const schema = optionSchemaOf(m.impl, 'stage');
      v = { validate: validatorOf('options', schema), schema };
      stageValidators.set(m.impl, v);
    }
    if (!v.validate(st)) {
      const errors = (v.validate.errors ?? []).map((e) => ({ ...e, instancePath: `/stages/${s}${e.instancePath}` }));
      for (const p of explainErrors(errors, spec, locate))
        out.push({ ...p, message: p.message.replace(/^unknown key (".*?") in (stages\.\w+)/, `unknown key $1 in $2 for ${m.method} on backend ${m.backend}`) });
    }
  }
  return out;
}

function sortProblems(p: Problem[]): Problem[] {
  const key = (x: Problem): [number, number, number, string] => [x.location?.line === undefined ? 1 : 0, x.location?.line ?? 0, x.location?.column ?? 0, x.location?.file ?? ''];
  return [...p].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return (ka[i] as number) - (kb[i] as number);
    return ka[3].localeCompare(kb[3]);
  });
}

function toPointer(path: readonly (string | number)[]): string {
  return path.length ? '/' + path.map((s) => String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('/') : '';
}

function fromPointer(p: string): (string | number)[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function isPrefix(prefix: readonly (string | number)[], path: readonly (string | number)[]): boolean {
  if (prefix.length > path.length) return false;
  return prefix.every((s, i) => String(s) === String(path[i]));
}

function getAt(data: unknown, path: readonly (string | number)[]): unknown {
  let cur = data;
  for (const s of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[s as string];
  }
  return cur;
}

function pointerLabel(path: readonly (string | number)[]): string {
  return path.length ? path.map(String).join('.') : 'the spec';
}

function describePath(path: readonly (string | number)[]): string {
  return path.length ? `in ${path.map(String).join('.')}` : 'at the top level';
}

function withArticle(s: string): string {
  return /^[aeiou]/.test(s) ? `an ${s}` : `a ${s}`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return `a list (${JSON.stringify(v).slice(0, 40)})`;
  if (typeof v === 'object') return 'a mapping';
  return `${withArticle(typeof v)} (${excerpt(JSON.stringify(v), 80)})`;
}
