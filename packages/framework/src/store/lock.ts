/**
 * The lock of a run folder: `.lock` holds `{pid, host}` of the process writing the folder. It is written complete to
 * a file of the process's own and then hard-linked to `.lock` (link fails when `.lock` exists, so two processes
 * cannot both hold it, and a process killed while taking it never leaves a half-written `.lock`; filesystems
 * without hard links get O_EXCL creation instead). A lock whose process is dead (same host, no such pid) is stale and is
 * taken over: the taker first creates `.lock.takeover` (mkdir is atomic, so only one process takes over at a time),
 * re-reads the lock to make sure it is still the same stale one, removes it, and then competes for a fresh lock with
 * O_EXCL like everyone else.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { outputError, runLocked } from '../errors.js';

interface Holder {
  pid: number;
  host: string;
}

/** Whether process `pid` exists on this host (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): Holder | null | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return typeof h.pid === 'number' && typeof h.host === 'string' ? h : null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : null; // null: being written or garbage
  }
}

const DRAFT = '.lock.draft-';

/** Creates `.lock` holding `me`; false when it exists. */
function tryCreate(dir: string, file: string, me: Holder): boolean {
  const draft = join(dir, `${DRAFT}${me.pid}`);
  try {
    const fd = openSync(draft, 'w');
    writeSync(fd, JSON.stringify(me));
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    throw outputError(draft, e);
  }
  try {
    linkSync(draft, file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw outputError(file, e);
  } finally {
    rmSync(draft, { force: true });
  }
  // no hard links here: exclusive creation
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, JSON.stringify(me));
    fsyncSync(fd);
    closeSync(fd);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw outputError(file, e);
  }
}

/**
 * Removes the entries of `dir` that a process which no longer exists left behind: `pidOf` reads the owner's pid from
 * an entry's name (undefined for entries that are not leftovers). This process's own entries are kept. Never throws.
 */
export function removeLeftoversOfDeadProcesses(dir: string, pidOf: (name: string) => number | undefined): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = pidOf(name);
    if (pid !== undefined && Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** Drafts left by processes killed while taking the lock. */
function removeDeadDrafts(dir: string): void {
  removeLeftoversOfDeadProcesses(dir, (name) => (name.startsWith(DRAFT) ? Number(name.slice(DRAFT.length)) : undefined));
}

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/**
 * Takes the lock of `dir`, or throws RUN_LOCKED naming the live holder. Returns the function that releases it.
 * @throws WeightshareError RUN_LOCKED, OUTPUT_ERROR
 */
export function acquireLock(dir: string): () => void {
  const file = join(dir, '.lock');
  const me: Holder = { pid: process.pid, host: hostname() };
  const release = (): void => {
    const h = readHolder(file);
    if (h && h.pid === me.pid && h.host === me.host) unlinkSync(file);
  };
  removeDeadDrafts(dir);
  let unreadable = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (tryCreate(dir, file, me)) return release;
    let holder = readHolder(file);
    if (holder === undefined) continue; // released meanwhile: try again
    if (holder === null) {
      // only an O_EXCL holder can be caught mid-write (a linked lock is complete); one that stays unreadable was left
      // by a process that died while writing it, or is garbage: stale
      if (++unreadable < 10) {
        sleep(20);
        continue;
      }
      holder = { pid: -1, host: me.host };
    } else if (holder.host !== me.host || processAlive(holder.pid))
      throw runLocked(dir, `process ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''}`);
    const takeover = join(dir, '.lock.takeover');
    try {
      mkdirSync(takeover);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputError(takeover, e);
      sleep(20); // someone else is taking over
      continue;
    }
    try {
      const again = readHolder(file);
      if (holder.pid === -1 ? again === null : again && again.pid === holder.pid && again.host === holder.host) unlinkSync(file);
    } finally {
      rmdirSync(takeover);
    }
  }
  throw runLocked(dir, 'another process (the lock kept changing hands)');
}
