/**
 * A run folder: `runs/<name>-<n>/` holding
 *   manifest.json        what ran: spec hash, seed, plugins and versions, backends, Node, platform, times, input
 *                        file checksums, and (when complete) every checkpoint and output file with its SHA-256
 *   spec.source.yaml     the spec file as it was
 *   spec.resolved.json   the spec after --set/--backend and defaults (what resume runs)
 *   checkpoints/<id>/    one folder per completed stage (see stage-store.ts)
 *   results.json, weights.csv, weights.npy, targets.csv, targets.npy, relation.npy   final outputs (a final .npy
 *                        with the bytes of a checkpoint's is a hard link of it: each matrix is stored once)
 *   .lock                the pid of the process writing it
 * Every file is written atomically. results.json and the weight files hold no clock readings: the same spec, seed and
 * backend give the same bytes; times live in manifest.json only.
 */
import { parameterNames } from '../model/parameters.js';
import type { ModelLayout } from '../plugin/types.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { RunOutcome } from '../results.js';
import type { PluginRegistry } from '../engine/registry.js';
import { excerpt, formatLocation, isWeightshareError, runCorrupt, runFolderDamaged, runNotFound, type WeightshareError } from '../errors.js';
import { createRunDir, linkFileAtomic, readRegularFile, writeFileAtomic } from '../io.js';
import { csvField, matrixCsv } from '../output.js';
import { modelFiles } from '../model/artifact.js';
import { FRAMEWORK_VERSION } from '../version.js';
import { STAGE_NAMES } from '../plugin/types.js';
import type { LoadedSpec, SpecOverrides } from '../spec/load.js';
import type { ResolvedSpec } from '../spec/types.js';
import { canonicalJson, sha256 } from './hash.js';
import { acquireLock, processAlive } from './lock.js';
import { readVerified, verifyRunFiles, type FileCheck } from './verify.js';
import { encodeNpy } from './npy.js';
import { FolderStore, type StageSource } from './stage-store.js';

export const MANIFEST_FORMAT = 1;

export interface Manifest {
  format: number;
  id: string;
  name: string;
  status: 'running' | 'completed' | 'failed';
  spec: { file: string; sha256: string; resolvedSha256: string };
  /** Folder relative spec paths resolve against. */
  baseDir: string;
  overrides: SpecOverrides;
  seed: number;
  plugins: { name: string; version: string; backend: string; precision: string }[];
  stages: Record<string, { method: string; backend: string; plugin: string; version: string }>;
  node: string;
  platform: string;
  startedAt: string;
  endedAt?: string;
  resumedAt: string[];
  /** Files the run reads (data, split, relation, init), with their checksums at start. */
  inputs: { path: string; sha256: string | null; bytes: number | null }[];
  checkpoints?: { id: string; key: string; source: StageSource; files: { file: string; sha256: string }[] }[];
  outputs?: { file: string; sha256: string }[];
  /** Why the run failed; `problems`: the first 20 places named (file, row, column: what is wrong). */
  error?: { code: string; message: string; problems?: string[] };
  forced?: string[];
}

/** Files a spec reads, resolved against its folder. */
export function specInputs(spec: ResolvedSpec, baseDir: string): string[] {
  const out: string[] = [];
  if (spec.data.source === 'csv') out.push(spec.data.path);
  if (spec.split.method === 'file') out.push(spec.split.path);
  if (spec.relation.method === 'csv') out.push(spec.relation.path);
  if (spec.init.method === 'file') out.push(spec.init.path);
  return out.map((p) => resolve(baseDir, p));
}

function fileRecord(path: string): Manifest['inputs'][number] {
  try {
    const bytes = readRegularFile(path);
    return { path, sha256: sha256(bytes), bytes: bytes.length };
  } catch {
    return { path, sha256: null, bytes: null };
  }
}

/** A run folder, locked by this process while open for writing. */
export class RunFolder {
  private release: (() => void) | undefined;

  private constructor(
    readonly dir: string,
    public manifest: Manifest,
  ) {}

  /**
   * Creates `<root>/<name>-<n>` (a new folder, never an existing one), locks it and writes the spec and manifest.
   * @throws WeightshareError OUTPUT_ERROR
   */
  static create(root: string, loaded: LoadedSpec, registry: PluginRegistry, overrides: SpecOverrides): RunFolder {
    const dir = createRunDir(root, loaded.spec.name);
    const release = acquireLock(dir);
    const spec = loaded.spec;
    const baseDir = loaded.baseDir ?? resolve(loaded.file, '..');
    const resolvedText = JSON.stringify(spec, null, 2) + '\n';
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      id: basename(dir),
      name: spec.name,
      status: 'running',
      spec: { file: resolve(loaded.file), sha256: sha256(loaded.text), resolvedSha256: sha256(canonicalJson(spec)) },
      baseDir,
      overrides: { set: [...(overrides.set ?? [])], ...(overrides.backend ? { backend: overrides.backend } : {}) },
      seed: spec.seed,
      plugins: [],
      stages: {},
      node: process.version,
      platform: `${platform()}-${arch()}`,
      startedAt: new Date().toISOString(),
      resumedAt: [],
      // the files the spec extends are inputs too: resume names a base that changed since, as it names a data file
      inputs: [...(loaded.bases ?? []), ...specInputs(spec, baseDir)].map(fileRecord),
    };
    const used = new Set<string>();
    for (const s of STAGE_NAMES) {
      const m = registry.get(spec.stages[s].backend ?? spec.backend, s, spec.stages[s].method);
      manifest.stages[s] = { method: m.method, backend: m.backend, plugin: m.plugin.meta.name, version: m.plugin.meta.version };
      if (!used.has(m.plugin.meta.name)) {
        used.add(m.plugin.meta.name);
        manifest.plugins.push({ name: m.plugin.meta.name, version: m.plugin.meta.version, backend: m.plugin.backend, precision: m.plugin.capabilities.precision });
      }
    }
    const run = new RunFolder(dir, manifest);
    run.release = release;
    writeFileAtomic(join(dir, 'spec.source.yaml'), loaded.text);
    writeFileAtomic(join(dir, 'spec.resolved.json'), resolvedText);
    run.writeManifest(); // the commit point: a folder without manifest.json never started
    return run;
  }

  /**
   * Opens an existing run folder: a path, or a run id under `root`.
   * @throws WeightshareError RUN_NOT_FOUND
   */
  static open(run: string, root = 'runs'): RunFolder {
    const dir = existsSync(run) ? run : join(root, run);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw runNotFound(run, `neither a folder nor a run id under ${root}/`);
    const file = join(dir, 'manifest.json');
    if (!existsSync(file)) {
      // an empty folder, or one with the files a starting run writes first, is a run killed before its manifest
      const names = readdirSync(dir);
      const started = names.every((n) => n.startsWith('.') || ['spec.source.yaml', 'spec.resolved.json', 'checkpoints'].includes(n));
      throw runNotFound(run, started ? 'the folder has no manifest.json (the run was stopped before it started: run the spec again)' : 'the folder is not a run folder (it has no manifest.json)');
    }
    let manifest: unknown;
    try {
      manifest = JSON.parse(readRegularFile(file).toString('utf8'));
    } catch (e) {
      throw runFolderDamaged(dir, 'manifest.json', `cannot be read as JSON (${excerpt((e as Error).message, 120)})`);
    }
    const bad = manifestProblem(manifest);
    if (bad) throw runFolderDamaged(dir, 'manifest.json', bad);
    return new RunFolder(dir, manifest as Manifest);
  }

  /** Takes the folder's lock (for resume). @throws WeightshareError RUN_LOCKED */
  lock(): void {
    this.release ??= acquireLock(this.dir);
  }

  unlock(): void {
    this.release?.();
    this.release = undefined;
  }

  /**
   * The resolved spec text this run was started with, checked against the manifest's `resolvedSha256`.
   * @throws WeightshareError RUN_CORRUPT when it is missing, truncated or edited
   */
  resolvedSpecText(): string {
    const file = 'spec.resolved.json';
    let text: string;
    try {
      text = readRegularFile(join(this.dir, file)).toString('utf8');
    } catch (e) {
      throw runFolderDamaged(this.dir, file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${excerpt((e as Error).message, 120)})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw runFolderDamaged(this.dir, file, 'is truncated or not JSON');
    }
    if (sha256(canonicalJson(parsed)) !== this.manifest.spec.resolvedSha256)
      throw runFolderDamaged(this.dir, file, "does not match the checksum recorded in manifest.json (it was edited or damaged after the run started)");
    return text;
  }

  /**
   * A final output of the completed run (`weights.npy`, `results.json`, `model/…`), checked against the SHA-256 its
   * manifest recorded: a damaged file is never read.
   * @throws WeightshareError RUN_CORRUPT
   */
  output(file: string): Buffer {
    const path = join(this.dir, file);
    const recorded = this.manifest.outputs?.find((o) => o.file === file);
    if (!recorded) throw runCorrupt(path, 'is not listed with its SHA-256 in manifest.json (the manifest was edited or damaged)');
    return readVerified(path, recorded.sha256);
  }

  /** Checks every file of the folder whose SHA-256 is recorded (final outputs, model/, checkpoints). */
  verify(): FileCheck[] {
    return verifyRunFiles(this.dir, this.manifest);
  }

  /** What changed since the run started: the spec file, input files, plugin versions. */
  changes(registry: PluginRegistry): string[] {
    const out: string[] = [];
    const spec = this.manifest.spec;
    let now: string | null = null;
    try {
      now = sha256(readFileSync(spec.file, 'utf8'));
    } catch {
      out.push(`the spec file ${spec.file} no longer exists`);
    }
    if (now !== null && now !== spec.sha256) out.push(`the spec file ${spec.file} changed (SHA-256 ${spec.sha256.slice(0, 12)}… → ${now.slice(0, 12)}…)`);
    for (const input of this.manifest.inputs) {
      const cur = fileRecord(input.path);
      if (cur.sha256 !== input.sha256)
        out.push(
          cur.sha256 === null
            ? `the input file ${input.path} no longer exists`
            : `the input file ${input.path} changed (SHA-256 ${String(input.sha256).slice(0, 12)}… → ${cur.sha256.slice(0, 12)}…)`,
        );
    }
    for (const p of this.manifest.plugins) {
      const cur = registry.plugins.find((q) => q.meta.name === p.name);
      if (!cur) out.push(`the plugin ${p.name} is no longer available`);
      else if (cur.meta.version !== p.version) out.push(`the plugin ${p.name} changed version (${p.version} → ${cur.meta.version})`);
    }
    return out;
  }

  /** The stage store of this run, with the shared cache unless `cacheDir` is null (for the stages `cached` selects, default all). */
  store(cacheDir: string | null, warn?: (message: string) => void, cached?: (id: string) => boolean): FolderStore {
    return new FolderStore(this.dir, cacheDir, warn, cached);
  }

  noteResume(forced: string[]): void {
    removeTornFiles(this.dir);
    this.manifest.status = 'running';
    this.manifest.resumedAt.push(new Date().toISOString());
    delete this.manifest.error;
    if (forced.length) this.manifest.forced = [...(this.manifest.forced ?? []), ...forced];
    this.writeManifest();
  }

  /**
   * Writes the final outputs, then marks the run completed with every checksum. The relation (T×T, the one big
   * matrix) is kept as `.npy` only; a final `.npy` whose bytes a checkpoint of this run already holds (the last W
   * and E, A) is a hard link of that file, so each distinct matrix is on disk once.
   */
  complete(outcome: RunOutcome, store: FolderStore): void {
    const { data } = outcome;
    // one column per parameter: the features for one-output linear models, `feature:class` for K outputs, and
    // `block[i]` for other models (their layout is in model/model.json)
    const m = outcome.results.model;
    const columns = m
      ? parameterNames({ layout: { linear: m.name === 'linear', outputs: m.outputs, blocks: m.blocks } as unknown as ModelLayout }, data.featureNames, data.classes)
      : data.featureNames;
    const outputs: [string, string | Buffer][] = [
      ['weights.csv', matrixCsv(outcome.weights, data.taskIds, columns)],
      ['weights.npy', encodeNpy(outcome.weights)],
      ['targets.csv', matrixCsv(outcome.targets, data.taskIds, columns)],
      ['targets.npy', encodeNpy(outcome.targets)],
      ['relation.npy', encodeNpy(outcome.relation)],
      ['results.json', JSON.stringify(outcome.results, null, 2) + '\n'],
    ];
    // a relation learned with the rounds: Ω and the task correlations it implies (form covariance), the clusters
    if (outcome.learned?.omega) outputs.push(['omega.npy', encodeNpy(outcome.learned.omega)], ['task-correlations.csv', matrixCsv(outcome.learned.correlation!, data.taskIds, data.taskIds)]);
    const clusters = outcome.results.relation.clusters;
    if (clusters) outputs.push(['clusters.csv', 'task,cluster\n' + data.taskIds.map((id, t) => `${csvField(id)},${clusters[t]}`).join('\n') + '\n']);
    const relationSha256 = sha256(outputs.find(([f]) => f === 'relation.npy')![1]);
    outputs.push(...modelFiles(outcome, { frameworkVersion: FRAMEWORK_VERSION, specSha256: this.manifest.spec.resolvedSha256, relationSha256, logisticLabels: data.labels }));
    mkdirSync(join(this.dir, 'model'), { recursive: true });
    const stored = new Map<string, string>();
    for (const r of store.records.values()) for (const f of Object.values(r.files)) stored.set(f.sha256, join(this.dir, 'checkpoints', r.id, f.file));
    const sums = outputs.map(([file, content]) => {
      const sum = sha256(content);
      const same = stored.get(sum);
      if (!(same && linkFileAtomic(same, join(this.dir, file)))) writeFileAtomic(join(this.dir, file), content);
      return { file, sha256: sum };
    });
    this.manifest.outputs = sums;
    this.manifest.checkpoints = [...store.records.values()].map((r) => ({
      id: r.id,
      key: r.key,
      source: outcome.sources[r.id] ?? 'computed',
      files: Object.values(r.files).map((f) => ({ file: `checkpoints/${r.id}/${f.file}`, sha256: f.sha256 })),
    }));
    this.manifest.status = 'completed';
    this.manifest.endedAt = new Date().toISOString();
    this.writeManifest();
  }

  /** Marks the run failed (it can be resumed). Never throws: it runs while another error is on its way out. */
  fail(err: unknown): void {
    try {
      this.manifest.status = 'failed';
      const problems = isWeightshareError(err) ? err.problems.slice(0, 20).map((p) => [formatLocation(p.location), p.message].filter(Boolean).join(': ')) : [];
      this.manifest.error = isWeightshareError(err)
        ? { code: err.code, message: err.message, ...(problems.length ? { problems } : {}) }
        : { code: 'INTERNAL', message: String((err as Error)?.message ?? err) };
      this.manifest.endedAt = new Date().toISOString();
      this.writeManifest();
    } catch {
      /* the folder may be unwritable: that is what failed */
    }
  }

  private writeManifest(): void {
    writeFileAtomic(join(this.dir, 'manifest.json'), JSON.stringify(this.manifest, null, 2) + '\n');
  }
}

/** What makes a parsed manifest unusable (a missing or mistyped field), or undefined when it has what a run records. */
function manifestProblem(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return 'is not a JSON object';
  const o = m as Record<string, unknown>;
  const spec = o.spec as Record<string, unknown> | undefined;
  const fields: [string, unknown, string][] = [
    ['format', o.format, 'number'],
    ['id', o.id, 'string'],
    ['name', o.name, 'string'],
    ['status', o.status, 'string'],
    ['spec', spec, 'object'],
    ['spec.file', spec?.file, 'string'],
    ['spec.sha256', spec?.sha256, 'string'],
    ['spec.resolvedSha256', spec?.resolvedSha256, 'string'],
    ['baseDir', o.baseDir, 'string'],
    ['overrides', o.overrides, 'object'],
    ['seed', o.seed, 'number'],
    ['plugins', o.plugins, 'array'],
    ['stages', o.stages, 'object'],
    ['startedAt', o.startedAt, 'string'],
    ['resumedAt', o.resumedAt, 'array'],
    ['inputs', o.inputs, 'array'],
  ];
  for (const [name, v, type] of fields) {
    const ok = type === 'array' ? Array.isArray(v) : typeof v === type && v !== null && !(type === 'object' && Array.isArray(v));
    if (!ok) return `has no valid "${name}" (expected ${type === 'array' ? 'a list' : type === 'object' ? 'an object' : `a ${type}`})`;
  }
  if (!['running', 'completed', 'failed'].includes(o.status as string)) return `has the unknown status ${JSON.stringify(excerpt(String(o.status)))}`;
  return undefined;
}

/** Deletes temporary files that a killed process left half-written (`.<name>.tmp-<pid>` of a pid that is gone). */
function removeTornFiles(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const m = /^\..+\.tmp-(\d+)$/.exec(entry.name);
    if (!m || !entry.isFile() || Number(m[1]) === process.pid) continue;
    if (!processAlive(Number(m[1]))) rmSync(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), { force: true });
  }
}

/** Run folders under `root` (those with a manifest), oldest first; damaged ones are left out (see {@link scanRuns}). */
export function listRuns(root: string): RunFolder[] {
  return scanRuns(root).runs;
}

/**
 * The run folders under `root` (those with a manifest), oldest first, and the folders whose manifest is damaged,
 * each with why: one bad folder never hides the others.
 */
export function scanRuns(root: string): { runs: RunFolder[]; damaged: { dir: string; error: WeightshareError }[] } {
  const runs: RunFolder[] = [];
  const damaged: { dir: string; error: WeightshareError }[] = [];
  if (!existsSync(root)) return { runs, damaged };
  for (const n of readdirSync(root).sort()) {
    const dir = join(root, n);
    if (n.startsWith('.') || !existsSync(join(dir, 'manifest.json'))) continue;
    try {
      runs.push(RunFolder.open(dir));
    } catch (e) {
      if (!isWeightshareError(e)) throw e;
      damaged.push({ dir, error: e });
    }
  }
  runs.sort((a, b) => a.manifest.startedAt.localeCompare(b.manifest.startedAt) || a.dir.localeCompare(b.dir));
  return { runs, damaged };
}
