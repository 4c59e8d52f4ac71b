/**
 * Checking the files of a run folder against the SHA-256 recorded for them: a completed run's manifest lists every
 * final output, every file of `model/` and every checkpoint file with its checksum, so a file edited, truncated or
 * damaged after the run completed is found (`RUN_CORRUPT`, naming the file) before anything is read from it.
 * A run that has not completed has no such list; its checkpoints are checked against their own `checkpoint.json`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runCorrupt, type WeightshareError } from '../errors.js';
import { sha256 } from './hash.js';
import type { CheckpointRecord } from './stage-store.js';

/** Why `path` does not hold the bytes recorded for it, or undefined when it does. */
export function fileProblem(path: string, expected: string): string | undefined {
  if (!existsSync(path)) return 'is missing';
  if (!statSync(path).isFile()) return 'is not a regular file';
  const actual = sha256(readFileSync(path));
  return actual === expected ? undefined : `does not match the SHA-256 recorded for it (${expected.slice(0, 12)}…, now ${actual.slice(0, 12)}…)`;
}

/**
 * Reads `path` and checks it against `expected` (no check when undefined).
 * @throws WeightshareError RUN_CORRUPT when the bytes differ; `missing()` (default RUN_CORRUPT) when there is no file
 */
export function readVerified(path: string, expected: string | undefined, missing: () => WeightshareError = () => runCorrupt(path, 'is missing')): Buffer {
  if (!existsSync(path)) throw missing();
  const bytes = readFileSync(path);
  if (expected !== undefined && sha256(bytes) !== expected) throw runCorrupt(path, `does not match the SHA-256 recorded for it (${expected.slice(0, 12)}…)`);
  return bytes;
}

/** The outcome of checking one file; `file` is relative to the run folder. */
export interface FileCheck {
  file: string;
  /** `output` (a final file or one of model/) or `checkpoint`. */
  kind: 'output' | 'checkpoint';
  ok: boolean;
  problem?: string;
}

/** What the manifest of a run records about its files (the part of `Manifest` this module reads). */
interface RecordedFiles {
  status: string;
  outputs?: { file: string; sha256: string }[];
  checkpoints?: { files: { file: string; sha256: string }[] }[];
}

/** Checks every file of the run folder `dir` whose checksum is recorded. */
export function verifyRunFiles(dir: string, manifest: RecordedFiles): FileCheck[] {
  const check = (file: string, sha: string, kind: FileCheck['kind']): FileCheck => {
    const problem = fileProblem(join(dir, file), sha);
    return { file, kind, ok: problem === undefined, ...(problem ? { problem } : {}) };
  };
  if (manifest.status === 'completed')
    return [
      ...(manifest.outputs ?? []).map((o) => check(o.file, o.sha256, 'output')),
      ...(manifest.checkpoints ?? []).flatMap((c) => c.files.map((f) => check(f.file, f.sha256, 'checkpoint'))),
    ];
  // not completed: each checkpoint that exists (its checkpoint.json written) vouches for its own files
  const root = join(dir, 'checkpoints');
  if (!existsSync(root)) return [];
  const out: FileCheck[] = [];
  for (const id of readdirSync(root).sort()) {
    const json = join('checkpoints', id, 'checkpoint.json');
    if (!existsSync(join(dir, json))) continue;
    let record: CheckpointRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, json), 'utf8')) as CheckpointRecord;
    } catch {
      out.push({ file: json, kind: 'checkpoint', ok: false, problem: 'is not valid JSON' });
      continue;
    }
    for (const f of Object.values(record.files ?? {})) out.push(check(join('checkpoints', id, f.file), f.sha256, 'checkpoint'));
  }
  return out;
}
