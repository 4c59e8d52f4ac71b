/**
 * Where stage outputs are kept between processes: the run's own checkpoints (for resume) and a content-addressed
 * stage cache shared by the runs of one output folder. A stage is looked up by its cache key — a hash of everything
 * it depends on, computed before it runs — so a changed option, input or plugin version misses and recomputes.
 *
 * Layout of one checkpoint (in `<run>/checkpoints/<id>/` and in `<output>/.cache/<key>/`): one `.npy` file per
 * matrix and `checkpoint.json` = { id, key, files: { name: { file, sha256, shape } }, json }. `checkpoint.json` is
 * written last (atomically), so a checkpoint either exists completely or not at all; every `.npy` is verified
 * against its SHA-256 before use.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { threadId } from 'node:worker_threads';
import { checkpointCorrupt, outputError } from '../errors.js';
import { fsyncDir, readRegularFile, writeFileAtomic, writeFileUnsynced } from '../io.js';
import { CommitQueue } from './committer.js';
import { allFinite, type DenseMatrix } from '../math/dense.js';
import { removeDeadTemps, touchEntry } from './cache.js';
import { sha256 } from './hash.js';
import { decodeNpy, encodeNpy } from './npy.js';

/** What a stage leaves behind. */
export interface StoredStage {
  matrices: Record<string, DenseMatrix>;
  /** JSON-serializable extras (diagnostics, per-task reports). */
  json: Record<string, unknown>;
}

/** Where a stage's outputs came from in this run. */
export type StageSource = 'computed' | 'cached' | 'resumed';

/** The matrices a stage leaves, by name, with their shapes [rows, cols]. */
export type StageShapes = Record<string, [number, number]>;

/**
 * The matrices each stage leaves (the table in docs/runs.md), for T tasks and d weight columns: what a stored
 * checkpoint must hold to be used.
 */
export function stageShapes(id: string, T: number, d: number, relation: StageShapes = {}): StageShapes | undefined {
  if (id === 'init') return { B: [T, d] };
  if (id === 'relation' || /^r\d+-relation$/.test(id)) return { A: [T, T], ...relation };
  if (id === 'baselines') return { independent: [T, d], pooled: [1, d] };
  const round = /^r\d+-(propagate|fuse|optimize)$/.exec(id)?.[1];
  if (round === 'propagate') return { C: [T, d] };
  if (round === 'fuse') return { E: [T, d], c: [1, T] };
  if (round === 'optimize') return { W: [T, d] };
  return undefined;
}

/** The store the engine saves stage outputs to and looks them up in. */
export interface StageStore {
  /**
   * The stored outputs of stage `id` with cache key `key`, or undefined to compute them. With `shapes`, stored
   * outputs must hold exactly those matrices with those shapes.
   */
  load(id: string, key: string, shapes?: StageShapes): { stage: StoredStage; source: StageSource } | undefined;
  /** Saves a computed stage. */
  save(id: string, key: string, stage: StoredStage): void;
  /** Deletes the run's own checkpoints whose id `drop` selects (the shared cache keeps its entries). */
  discard?(drop: (id: string) => boolean): void;
  /**
   * Whether this store can load or save stage `id` at all (default: yes). When it cannot, the engine computes the
   * stage without its key (the hashes of every input: a few MiB hashed per stage on bigger data).
   */
  holds?(id: string): boolean;
  /**
   * Resolves when everything saved so far is durable (a store may commit checkpoints in the background while the run
   * goes on); rejects with the first write that failed. `runPipeline` awaits it before it returns or throws.
   */
  flush?(): Promise<void>;
}

/** A store that keeps nothing (runs that write no output). */
export const nullStore: StageStore = { load: () => undefined, save: () => {} };

/**
 * Whether a checkpoint belongs to its run only: the round loop's state (`rNNNN-state`, `output.checkpoints: last`)
 * summarizes stages the cache holds anyway, so it is never added to the cache.
 */
const runOnly = (id: string): boolean => id.endsWith('-state');

/** The checkpoint of one stage as recorded in checkpoint.json. */
export interface CheckpointRecord {
  id: string;
  key: string;
  files: Record<string, { file: string; sha256: string; shape: [number, number] }>;
  json: Record<string, unknown>;
}

/** A checkpoint's files as bytes, and its record (checkpoint.json). */
function encodeCheckpoint(id: string, key: string, stage: StoredStage, dtype: 'float64' | 'float32'): { record: CheckpointRecord; bytes: [string, Buffer][]; json: string } {
  const files: CheckpointRecord['files'] = {};
  const bytes: [string, Buffer][] = [];
  for (const [name, m] of Object.entries(stage.matrices)) {
    const b = encodeNpy(m, dtype);
    bytes.push([`${name}.npy`, b]);
    files[name] = { file: `${name}.npy`, sha256: sha256(b), shape: [m.rows, m.cols] };
  }
  const record: CheckpointRecord = { id, key, files, json: stage.json };
  return { record, bytes, json: JSON.stringify(record, null, 1) + '\n' };
}

/** Writes a checkpoint folder: the .npy files, then checkpoint.json as the commit point (each durable before the next). */
export function writeCheckpoint(dir: string, id: string, key: string, stage: StoredStage, dtype: 'float64' | 'float32' = 'float64'): CheckpointRecord {
  mkdirSync(dir, { recursive: true });
  const { record, bytes, json } = encodeCheckpoint(id, key, stage, dtype);
  for (const [file, b] of bytes) writeFileAtomic(join(dir, file), b);
  writeFileAtomic(join(dir, 'checkpoint.json'), json);
  return record;
}

/** A cache entry's folder, written complete under a private name and renamed into place (not fsynced: entries are checked when read). */
function writeEntry(tmp: string, bytes: [string, Buffer][], json: string): void {
  mkdirSync(tmp, { recursive: true });
  for (const [file, b] of bytes) writeFileUnsynced(join(tmp, file), b);
  writeFileUnsynced(join(tmp, 'checkpoint.json'), json);
}

/** A matrix file name inside a checkpoint folder: a plain name, never a path out of it. */
const MATRIX_FILE = /^[A-Za-z0-9_-]+\.npy$/;

/**
 * Reads a checkpoint folder; undefined when it has no (complete) checkpoint.json.
 * @param shapes the matrices the stage leaves: a checkpoint with another set, another shape or a non-finite value
 *   is corrupt even when its checksums match.
 * @throws WeightshareError CHECKPOINT_CORRUPT when a file is missing, does not match its checksum, or does not hold
 *   what the stage leaves
 */
export function readCheckpoint(dir: string, shapes?: StageShapes): { record: CheckpointRecord; stage: StoredStage } | undefined {
  const file = join(dir, 'checkpoint.json');
  if (!existsSync(file)) return undefined;
  let record: CheckpointRecord;
  try {
    record = JSON.parse(readRegularFile(file).toString('utf8')) as CheckpointRecord;
  } catch (e) {
    throw checkpointCorrupt(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof record !== 'object' || record === null || typeof record.files !== 'object' || record.files === null)
    throw checkpointCorrupt(file, 'it lists no files');
  const names = Object.keys(record.files);
  if (shapes) {
    const want = Object.keys(shapes);
    const missing = want.filter((n) => !names.includes(n));
    const extra = names.filter((n) => !want.includes(n));
    if (missing.length || extra.length)
      throw checkpointCorrupt(file, `it lists the matrices ${names.join(', ') || '(none)'}, but the stage leaves ${want.join(', ')}`);
  }
  const matrices: Record<string, DenseMatrix> = {};
  for (const [name, f] of Object.entries(record.files)) {
    if (typeof f !== 'object' || f === null || typeof f.file !== 'string' || !MATRIX_FILE.test(f.file) || typeof f.sha256 !== 'string')
      throw checkpointCorrupt(file, `its entry for ${name} is not a matrix file of the folder`);
    const path = join(dir, f.file);
    let bytes: Buffer;
    try {
      bytes = readRegularFile(path);
    } catch {
      throw checkpointCorrupt(path, 'the file is missing or not a regular file');
    }
    const actual = sha256(bytes);
    if (actual !== f.sha256) throw checkpointCorrupt(path, `SHA-256 ${actual.slice(0, 12)}… does not match the recorded ${f.sha256.slice(0, 12)}…`);
    let m: DenseMatrix;
    try {
      m = decodeNpy(bytes);
    } catch (e) {
      throw checkpointCorrupt(path, (e as Error).message);
    }
    const want = shapes?.[name];
    if (want && (m.rows !== want[0] || m.cols !== want[1]))
      throw checkpointCorrupt(path, `its shape is ${m.rows}×${m.cols}, but this stage leaves ${want[0]}×${want[1]} (its checksum matches: the checkpoint was written for other data)`);
    if (!allFinite(m.data)) throw checkpointCorrupt(path, 'it holds NaN or infinite values');
    matrices[name] = m;
  }
  return { record, stage: { matrices, json: record.json ?? {} } };
}

/**
 * The store of one run folder, optionally backed by a shared cache folder.
 * Lookup order: the run's own checkpoint (resume), then the cache, else compute.
 *
 * Saving does not wait for the disk: `save` writes the checkpoint's files, with checkpoint.json under a temporary name,
 * and the committer thread (`committer.ts`) makes them durable and renames checkpoint.json into place, in order, while
 * the run goes on. A crash leaves every checkpoint complete or absent, as before; a kill loses at most the last few
 * (the committer is never more than a few behind, and resume recomputes them to the same bytes). `flush`, which
 * `runPipeline` awaits, returns when everything saved is durable; a commit that failed stops the run at its next save.
 */
export class FolderStore implements StageStore {
  /** Every checkpoint this run has, in the order stages completed. */
  readonly records = new Map<string, CheckpointRecord>();
  private readonly commits = new CommitQueue();

  constructor(
    private readonly runDir: string,
    private readonly cacheDir: string | null,
    private readonly warn: (message: string) => void = () => {},
    /** The stages that use the cache (default: all). */
    private readonly cached: (id: string) => boolean = () => true,
  ) {
    if (cacheDir) removeDeadTemps(cacheDir);
  }

  private dir(id: string): string {
    return join(this.runDir, 'checkpoints', id);
  }

  /** Whether `checkpoints/` was checked (or made) inside the run folder, not through a link that leads out of it. */
  private checkpointsChecked = false;

  /**
   * Refuses to write at `path` (a folder of the run) when it, or the nearest of its parents that exists, is reached
   * through a symbolic link that leads out of the run folder: a run folder received from someone else must not make
   * a resume write elsewhere.
   * @throws WeightshareError OUTPUT_ERROR
   */
  private checkInside(path: string): void {
    let existing = path;
    while (!existsSync(existing) && existing !== this.runDir) existing = dirname(existing);
    let root: string;
    let real: string;
    try {
      root = realpathSync(this.runDir);
      real = realpathSync(existing);
    } catch (e) {
      throw outputError(existing, e);
    }
    if (real !== root && !real.startsWith(root + sep))
      throw outputError(existing, new Error(`it leads out of the run folder (to ${real}) through a symbolic link; weightshare does not write through it. Remove the link`));
  }

  load(id: string, key: string, shapes?: StageShapes): { stage: StoredStage; source: StageSource } | undefined {
    const own = readCheckpoint(this.dir(id), shapes); // a corrupted checkpoint of this run is an error, never skipped
    if (own && own.record.key === key) {
      this.records.set(id, own.record);
      this.commits.resumed(this.dir(id));
      return { stage: own.stage, source: 'resumed' };
    }
    if (!this.cacheDir || !this.cached(id) || runOnly(id)) return undefined;
    const entry = join(this.cacheDir, key);
    let cached: ReturnType<typeof readCheckpoint>;
    try {
      cached = readCheckpoint(entry, shapes);
    } catch (e) {
      this.warn(`${(e as Error).message.split(';')[0]}; recomputing the stage and replacing the cache entry.`);
      rmSync(entry, { recursive: true, force: true });
      return undefined;
    }
    if (!cached) return undefined;
    touchEntry(entry);
    this.checkpoint(id, encodeCheckpoint(id, key, cached.stage, 'float64'));
    return { stage: cached.stage, source: 'cached' };
  }

  discard(drop: (id: string) => boolean): void {
    const root = join(this.runDir, 'checkpoints');
    if (!existsSync(root)) return;
    // never list (or delete in) a folder that a link leads to outside the run folder
    if (!this.checkpointsChecked) {
      this.checkInside(root);
      this.checkpointsChecked = true;
    }
    // every folder, not only this process's records: leftovers of a process killed while discarding go too
    const ids = readdirSync(root).filter(drop);
    const folders: string[] = [];
    for (const id of ids) {
      this.records.delete(id);
      const dir = this.dir(id);
      // a stage folder that is a symbolic link was never written by a run (a received folder's): the link goes, what
      // it leads to stays untouched (deleting checkpoint.json "in" it would delete the file at the other end)
      if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink())
        try {
          unlinkSync(dir);
        } catch (e) {
          throw outputError(dir, e);
        }
      else folders.push(dir);
    }
    if (folders.length) this.commits.discard(folders);
  }

  save(id: string, key: string, stage: StoredStage): void {
    const encoded = encodeCheckpoint(id, key, stage, 'float64');
    this.checkpoint(id, encoded);
    if (!this.cacheDir || !this.cached(id) || runOnly(id)) return;
    const entry = join(this.cacheDir, key);
    if (existsSync(join(entry, 'checkpoint.json'))) return;
    // written complete under a private name, then renamed into place: concurrent runs never see half an entry
    const tmp = join(this.cacheDir, `.tmp-${process.pid}-${threadId}-${key.slice(0, 16)}`);
    try {
      rmSync(tmp, { recursive: true, force: true });
      writeEntry(tmp, encoded.bytes, encoded.json);
      renameSync(tmp, entry);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') this.warn(`could not add stage ${id} to the cache (${(e as Error).message}); the run goes on.`);
    }
  }

  async flush(): Promise<void> {
    this.commits.flush();
  }

  /** Writes stage `id`'s checkpoint into its folder, uncommitted, and hands it to the committer. */
  private checkpoint(id: string, { record, bytes, json }: ReturnType<typeof encodeCheckpoint>): void {
    this.commits.check(); // an earlier checkpoint could not be made durable: the run stops here
    const dir = this.dir(id);
    let fresh = true; // a folder made here is empty: nothing in it to replace
    // once `checkpoints/` was checked (and made), a folder made in it needs no check of its own; an existing one
    // (a resumed run's, or one received with the run folder) is checked before anything is written into it
    for (let attempt = 0; ; attempt++) {
      if (!this.checkpointsChecked) {
        this.checkInside(dirname(dir));
        try {
          mkdirSync(dirname(dir), { recursive: true });
        } catch (e) {
          throw outputError(dirname(dir), e); // e.g. checkpoints/ is a file, or a link that leads nowhere
        }
        this.checkpointsChecked = true;
      }
      try {
        mkdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          this.checkInside(dir);
          fresh = false;
          break;
        }
        // `checkpoints/` went away since it was checked: check and make it again, once
        if (code !== 'ENOENT' || attempt > 0) throw outputError(dir, e);
        this.checkpointsChecked = false;
      }
    }
    // a checkpoint of another key in the folder (a resumed run recomputing a stage) stops being one, durably,
    // before any of its files is replaced
    if (!fresh)
      try {
        unlinkSync(join(dir, 'checkpoint.json'));
        fsyncDir(dir);
      } catch {
        /* none */
      }
    const tmp = join(dir, `.checkpoint.json.tmp-${process.pid}`);
    const files = [...bytes.map(([file]) => join(dir, file)), tmp];
    const fds: number[] = []; // open until the committer has fsynced them
    try {
      bytes.forEach(([, b], i) => fds.push(writeFileUnsynced(files[i]!, b, true, fresh)!));
      fds.push(writeFileUnsynced(tmp, json, true, fresh)!);
    } catch (e) {
      for (const fd of fds) closeSync(fd);
      throw e;
    }
    this.records.set(id, record);
    this.commits.commit({ dir, files, fds, tmp });
  }
}

/**
 * A store that only uses the shared cache (no run folder), for the stages `keep` selects: sweeps share the expensive
 * stages their candidates have in common (initial fits, the relation, the baselines) without writing every round of
 * every candidate to disk.
 */
export class CacheStore implements StageStore {
  private counter = 0;
  constructor(
    private readonly cacheDir: string,
    private readonly keep: (id: string) => boolean,
    private readonly warn: (message: string) => void = () => {},
  ) {
    removeDeadTemps(cacheDir);
  }

  holds(id: string): boolean {
    return this.keep(id);
  }

  load(id: string, key: string, shapes?: StageShapes): { stage: StoredStage; source: StageSource } | undefined {
    if (!this.keep(id)) return undefined;
    const entry = join(this.cacheDir, key);
    try {
      const hit = readCheckpoint(entry, shapes);
      if (hit) touchEntry(entry);
      return hit ? { stage: hit.stage, source: 'cached' } : undefined;
    } catch (e) {
      this.warn(`${(e as Error).message.split(';')[0]}; recomputing the stage and replacing the cache entry.`);
      rmSync(entry, { recursive: true, force: true });
      return undefined;
    }
  }

  save(id: string, key: string, stage: StoredStage): void {
    if (!this.keep(id)) return;
    const entry = join(this.cacheDir, key);
    if (existsSync(join(entry, 'checkpoint.json'))) return;
    const tmp = join(this.cacheDir, `.tmp-${process.pid}-${threadId}-${this.counter++}`);
    try {
      const { bytes, json } = encodeCheckpoint(id, key, stage, 'float64');
      writeEntry(tmp, bytes, json);
      renameSync(tmp, entry);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') this.warn(`could not add stage ${id} to the cache (${(e as Error).message}).`);
    }
  }
}
