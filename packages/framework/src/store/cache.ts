/**
 * Housekeeping of the shared stage cache `<output.dir>/.cache/`: each entry is a folder `<key>/` (a checkpoint,
 * see stage-store.ts), added by renaming a private `.tmp-<pid>-…` folder into place. Using an entry touches its
 * folder's modification time, so the time says when it was last used: {@link pruneCache} removes the least recently
 * used entries first. Temporary folders of processes that no longer exist are removed by the next run.
 */
import { existsSync, lstatSync, readdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { removeLeftoversOfDeadProcesses } from './lock.js';

/** Marks a cache entry as used now (for least-recently-used pruning); never throws. */
export function touchEntry(entry: string): void {
  try {
    const now = new Date();
    utimesSync(entry, now, now);
  } catch {
    /* a read-only cache is still usable */
  }
}

/** Removes `.tmp-<pid>-…` folders of processes that are gone (killed while adding an entry); never throws. */
export function removeDeadTemps(cacheDir: string): void {
  removeLeftoversOfDeadProcesses(cacheDir, (name) => {
    const m = /^\.tmp-(\d+)-/.exec(name);
    return m ? Number(m[1]) : undefined;
  });
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? folderBytes(p) : lstatSync(p).size;
  }
  return total;
}

/** What {@link pruneCache} did. */
export interface PruneReport {
  /** Entries removed, least recently used first. */
  removed: { key: string; bytes: number }[];
  kept: number;
  /** Bytes of the entries before and after. */
  before: number;
  after: number;
}

/**
 * Removes least-recently-used entries of `cacheDir` until the entries take at most `maxBytes`. An entry is renamed
 * out of the way before it is deleted, so a run reading the cache meanwhile sees it whole or not at all.
 */
export function pruneCache(cacheDir: string, maxBytes: number): PruneReport {
  removeDeadTemps(cacheDir);
  const entries = existsSync(cacheDir)
    ? readdirSync(cacheDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
        .map((e) => ({ key: e.name, bytes: folderBytes(join(cacheDir, e.name)), used: lstatSync(join(cacheDir, e.name)).mtimeMs }))
        .sort((a, b) => a.used - b.used || a.key.localeCompare(b.key))
    : [];
  const before = entries.reduce((s, e) => s + e.bytes, 0);
  let total = before;
  const removed: PruneReport['removed'] = [];
  for (const e of entries) {
    if (total <= maxBytes) break;
    const tmp = join(cacheDir, `.tmp-${process.pid}-${threadId}-prune-${e.key.slice(0, 16)}`);
    try {
      renameSync(join(cacheDir, e.key), tmp);
    } catch {
      continue; // removed by someone else meanwhile
    }
    rmSync(tmp, { recursive: true, force: true });
    total -= e.bytes;
    removed.push({ key: e.key, bytes: e.bytes });
  }
  return { removed, kept: entries.length - removed.length, before, after: total };
}
